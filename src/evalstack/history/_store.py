"""The run store: an index of finished runs in one SQLite file, for history and drift alarms.

Location: ``$EVALSTACK_STORE`` (a folder; a shared mounted volume works), else ``store/`` beside the
cache file (``$EVALSTACK_CACHE_DIR``). One row per run (keyed by the sha256 of its run.json, so adding
the same run twice changes nothing) and one per (run, task, model, metric) with value, CI, n and
unscored. Writers use one transaction each under SQLite's own locking (WAL, a busy timeout), so runs
that finish at the same moment lose no rows. Only finished runs (run.json written) are indexed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_key TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL, created_at TEXT NOT NULL,
  baseline TEXT, config_digest TEXT, evalstack_version TEXT, indexed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
  run_key TEXT NOT NULL REFERENCES runs(run_key), task TEXT NOT NULL, model TEXT NOT NULL, metric TEXT NOT NULL,
  value REAL, ci_low REAL, ci_high REAL, n INTEGER, unscored INTEGER, higher_is_better INTEGER,
  checkpoint_step INTEGER, PRIMARY KEY (run_key, task, model, metric));
CREATE INDEX IF NOT EXISTS points_series ON points (task, metric, model);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
CREATE TABLE IF NOT EXISTS baselines (
  name TEXT NOT NULL, folder TEXT NOT NULL, run_key TEXT NOT NULL, model TEXT NOT NULL, set_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS digests (
  run_key TEXT NOT NULL, task TEXT NOT NULL, comparable TEXT NOT NULL, detail TEXT NOT NULL,
  PRIMARY KEY (run_key, task));
"""


def default_store() -> Path:
    env = os.environ.get("EVALSTACK_STORE")
    if env:
        return Path(env)
    from ..models import default_cache_path

    return default_cache_path().parent / "store"


@dataclass(frozen=True)
class Point:
    created_at: str
    name: str
    run_key: str
    path: str
    baseline: str | None
    config_digest: str | None
    task: str
    model: str
    metric: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int | None
    unscored: int | None
    higher_is_better: bool
    checkpoint_step: int | None
    comparable: str | None = None
    """Digest of the task's data, prompt, labels, metrics, judges and scoring version (None: an older run)."""


class RunStore:
    """The SQLite index (created on first use)."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder is not None else default_store()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the run store: {exc.strerror}",
                where=str(self.folder),
                hint="set EVALSTACK_STORE to a writable folder",
            ) from None
        self.path = self.folder / "runs.sqlite"
        self.con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA busy_timeout=30000")
        self.con.executescript(SCHEMA)

    def close(self) -> None:
        self.con.close()

    def add(self, run_dir: Path) -> tuple[str, bool]:
        """Index a finished run folder; (run key, whether it was new)."""
        run_json = Path(run_dir) / "run.json"
        if not run_json.is_file():
            raise DataError(
                "not a finished run folder (no run.json)",
                where=str(run_dir),
                hint="only runs that finished are indexed",
            )
        raw = run_json.read_bytes()
        try:
            meta = json.loads(raw)
        except ValueError:
            raise DataError("run.json is not valid JSON", where=str(run_json)) from None
        key = hashlib.sha256(raw).hexdigest()[:20]
        steps = {name: (m or {}).get("checkpoint_step") for name, m in (meta.get("models") or {}).items()}
        points = []
        for task, ts in (meta.get("tasks") or {}).items():
            for model, mts in (ts.get("models") or {}).items():
                for metric, ms in (mts.get("metrics") or {}).items():
                    points.append(
                        (
                            key,
                            task,
                            model,
                            metric,
                            ms.get("value"),
                            ms.get("ci_low"),
                            ms.get("ci_high"),
                            ms.get("n"),
                            ms.get("unscored"),
                            int(bool(ms.get("higher_is_better", True))),
                            steps.get(model),
                        )
                    )
        from datetime import datetime

        now = datetime.now(UTC).isoformat(timespec="seconds")
        cur = self.con.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            new = cur.execute("SELECT 1 FROM runs WHERE run_key=?", (key,)).fetchone() is None
            if new:
                cur.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        str(meta.get("name", "")),
                        str(Path(run_dir).resolve()),
                        str(meta.get("created_at", now)),
                        meta.get("baseline"),
                        meta.get("config_digest"),
                        meta.get("evalstack_version"),
                        now,
                    ),
                )
                cur.executemany("INSERT INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", points)
                cur.executemany("INSERT INTO digests VALUES (?, ?, ?, ?)", comparable_rows(key, meta.get("digests")))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return key, new

    def points(
        self,
        *,
        task: str | None = None,
        metric: str | None = None,
        model: str | None = None,
        since: str | None = None,
        name: str | None = None,
    ) -> Iterator[Point]:
        """Index rows matching the filters, oldest first."""
        where, args = [], []
        for col, val in (("p.task", task), ("p.metric", metric), ("p.model", model), ("r.name", name)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        if since is not None:
            where.append("r.created_at >= ?")
            args.append(since)
        sql = (
            "SELECT r.created_at, r.name, r.run_key, r.path, r.baseline, r.config_digest, p.task, p.model, p.metric, "
            "p.value, p.ci_low, p.ci_high, p.n, p.unscored, p.higher_is_better, p.checkpoint_step, d.comparable "
            "FROM points p JOIN runs r ON r.run_key = p.run_key "
            "LEFT JOIN digests d ON d.run_key = p.run_key AND d.task = p.task"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY r.created_at, r.run_key, p.task, p.model, p.metric"
        )
        for row in self.con.execute(sql, args):
            yield Point(*(*row[:14], bool(row[14]), row[15], row[16]))

    def set_baseline(self, name: str, folder: Path, run_key: str, model: str) -> None:
        """Record that ``name`` now means the baseline in ``folder`` (earlier settings are kept, for history)."""
        from datetime import datetime

        now = datetime.now(UTC).isoformat(timespec="microseconds")
        self.con.execute("INSERT INTO baselines VALUES (?, ?, ?, ?, ?)", (name, str(folder), run_key, model, now))

    def baseline(self, name: str) -> tuple[str, str, str] | None:
        """(folder, run key, model) of the newest setting of ``name``."""
        row = self.con.execute(
            "SELECT folder, run_key, model FROM baselines WHERE name = ? ORDER BY set_at DESC, rowid DESC LIMIT 1",
            (name,),
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]))

    def baseline_names(self) -> list[str]:
        return [str(r[0]) for r in self.con.execute("SELECT DISTINCT name FROM baselines ORDER BY name")]

    def count_runs(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM runs").fetchone()[0])


def comparable_rows(key: str, digests: object) -> list[tuple[str, str, str, str]]:
    """(run key, task, digest of what must be equal for a delta, the digests as JSON) per task (models left out)."""
    rows = []
    for task, dg in (digests or {}).items() if isinstance(digests, dict) else ():
        if isinstance(dg, dict):
            same = {k: v for k, v in dg.items() if k != "models"}
            blob = json.dumps(same, sort_keys=True)
            rows.append((key, str(task), hashlib.sha256(blob.encode()).hexdigest(), json.dumps(dg, sort_keys=True)))
    return rows


def index_finished(run_dir: Path, store: Path | None = None) -> None:
    """Index a run that just finished (the end of every `evalstack run`): a store that cannot be written is
    one warning line on stderr, never a failed run."""
    import sys

    try:
        rs = RunStore(store)
        try:
            rs.add(Path(run_dir))
        finally:
            rs.close()
    except (OSError, sqlite3.Error, ConfigError, DataError) as exc:
        print(f"warning: the run was not indexed in the run store: {exc}", file=sys.stderr)


def series_key(p: Point) -> tuple[str, str, str]:
    return (p.task, p.metric, p.model)


def as_dict(p: Point) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(p)

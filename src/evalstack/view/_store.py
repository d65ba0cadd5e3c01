"""The review workbench's data: run folders' examples.jsonl in an in-process DuckDB, queried per page.

Nothing is loaded whole into the browser: every list is one SQL query with its filters, sort and page.
Tables: ``ex`` (one row per run x task x model x example), ``sc`` (one row per score: the long form of
``scores``), ``lab`` (the labels, latest per reviewer and example). Metric names and filter values are
always bound parameters, never spliced into SQL.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from ._labels import read_labels

PER_PAGE = 50
_SURROGATE = re.compile("[\ud800-\udfff]")
SORTS = ("score", "delta", "id")


@dataclass
class RunInfo:
    key: str
    path: Path
    result: Any  # RunResult
    baseline: str
    tasks: list[str]
    models: dict[str, list[str]]  # task -> models
    metrics: dict[str, list[str]]  # task -> metric keys with per-example scores
    higher: dict[tuple[str, str], bool]  # (task, metric) -> higher is better
    slices: dict[str, list[str]] = field(default_factory=dict)  # task -> field columns


@dataclass
class Filters:
    """A list page's query: what the URL's query string says, checked."""

    model: str | None = None
    metric: str | None = None
    lo: float | None = None
    hi: float | None = None
    regression: bool = False
    status: str | None = None  # failed | unscored | scored
    slice_col: str | None = None
    slice_val: str | None = None
    q: str | None = None
    label: str | None = None  # a label value, or "none"
    sort: str = "score"
    desc: bool = False
    page: int = 1


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f else None


class Store:
    """Run folders loaded into DuckDB; thread-safe (one connection, one lock: queries are short)."""

    def __init__(self, run_dirs: list[Path], *, allow_unfinished: bool = False):
        import duckdb

        from ..api import load

        self.con = duckdb.connect(":memory:")
        self.lock = threading.Lock()
        self.runs: dict[str, RunInfo] = {}
        for path in run_dirs:
            try:
                ev = load(path, allow_unfinished=allow_unfinished)
            except TypeError:  # a reader without the unfinished-folder check
                ev = load(path)
            key = path.resolve().name or "run"
            while key in self.runs:
                key += "'"
            run = ev.run
            info = RunInfo(
                key=key,
                path=ev.out_dir,
                result=run,
                baseline=run.baseline,
                tasks=list(run.tasks),
                models={t: list(ts.models) for t, ts in run.tasks.items()},
                metrics={},
                higher={},
            )
            for t, ts in run.tasks.items():
                for mts in ts.models.values():
                    for mk, ms in mts.metrics.items():
                        info.higher[(t, mk)] = bool(ms.higher_is_better)
            self.runs[key] = info
        # The overview page needs only run.json: it is served at once while the examples load in the
        # background; list and example queries wait for the load (and re-raise its error, if any).
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._load_guarded, name="evalstack-view-load", daemon=True)
        self._thread.start()

    def _load_guarded(self) -> None:
        try:
            self._load()
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    def wait(self) -> None:
        """Block until the examples are loaded; raise the load's error if it failed."""
        self._ready.wait()
        if self._error is not None:
            raise self._error

    # ---- loading ------------------------------------------------------------------------------------
    def _load(self) -> None:
        cols = (
            "{task:'VARCHAR', model:'VARCHAR', id:'VARCHAR', input:'VARCHAR', output:'VARCHAR', "
            "reference:'JSON', scores:'JSON', judge:'JSON', fields:'JSON', error:'JSON', conversation:'JSON'}"
        )
        parts: list[str] = []
        for info in self.runs.values():
            path = info.path / "examples.jsonl"
            if not path.is_file():
                raise DataError("no examples.jsonl in the run folder", where=str(info.path))
            parts.append(
                f"SELECT '{len(parts)}' AS ri, * FROM read_json(?, format='newline_delimited', columns={cols}, "
                "maximum_object_size=1073741824)"
            )
        keys = list(self.runs)
        with self.lock:
            try:
                self.con.execute(
                    "CREATE TABLE ex0 AS " + " UNION ALL ".join(parts),
                    [str(self.runs[k].path / "examples.jsonl") for k in keys],
                )
            except Exception:
                self._load_slow(keys)
            case = " ".join(f"WHEN '{i}' THEN ?" for i in range(len(keys)))
            self.con.execute(f"CREATE TABLE ex AS SELECT CASE ri {case} END AS run, * EXCLUDE (ri) FROM ex0", keys)
            self.con.execute("DROP TABLE ex0")
            self.con.execute("""CREATE TEMP TABLE sc0 AS SELECT run, task, model, id, k AS metric,
                                TRY_CAST(scores->>k AS DOUBLE) AS value
                                FROM (SELECT run, task, model, id, scores, unnest(json_keys(scores)) AS k FROM ex)""")
            self.con.execute("CREATE TEMP TABLE runs (run VARCHAR, baseline VARCHAR)")
            self.con.executemany("INSERT INTO runs VALUES (?, ?)", [(k, i.baseline) for k, i in self.runs.items()])
            # each score with the baseline's score of the same example beside it: deltas need no join later
            self.con.execute("""CREATE TABLE sc AS SELECT s.*, b.value AS base FROM sc0 s JOIN runs r ON r.run = s.run
                                LEFT JOIN sc0 b ON b.run = s.run AND b.task = s.task AND b.id = s.id
                                AND b.metric = s.metric AND b.model = r.baseline""")
            self.con.execute("DROP TABLE sc0")
            for key, info in self.runs.items():
                for (task,) in self.con.execute("SELECT DISTINCT task FROM ex WHERE run=?", [key]).fetchall():
                    info.metrics[task] = [
                        m
                        for (m,) in self.con.execute(
                            "SELECT DISTINCT metric FROM sc WHERE run=? AND task=? ORDER BY metric", [key, task]
                        ).fetchall()
                    ]
                    info.slices[task] = [
                        c
                        for (c,) in self.con.execute(
                            "SELECT DISTINCT unnest(json_keys(fields)) FROM ex WHERE run=? AND task=? AND fields IS NOT NULL",
                            [key, task],
                        ).fetchall()
                    ]
            self.con.execute(
                "CREATE TABLE lab (run VARCHAR, task VARCHAR, model VARCHAR, id VARCHAR, label VARCHAR, "
                "corrected VARCHAR, note VARCHAR, who VARCHAR, ts VARCHAR)"
            )
        self.reload_labels()

    def _load_slow(self, keys: list[str]) -> None:
        """The examples read by Python's json (which accepts lone surrogate escapes and any object size),
        with unencodable characters replaced by U+FFFD, then handed to DuckDB in one frame."""
        import pandas as pd

        def text(v: Any) -> Any:
            if v is None:
                return None
            s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            return _SURROGATE.sub("\ufffd", s)  # a lone surrogate (a pair is one character already)

        cols = (
            "task",
            "model",
            "id",
            "input",
            "output",
            "reference",
            "scores",
            "judge",
            "fields",
            "error",
            "conversation",
        )
        data: dict[str, list[Any]] = {"ri": [], **{c: [] for c in cols}}
        for i, key in enumerate(keys):
            path = self.runs[key].path / "examples.jsonl"
            with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                for n, line in enumerate(fh, 1):
                    try:
                        row = json.loads(line)
                    except ValueError:
                        raise DataError(f"line {n} is not JSON", where=str(path)) from None
                    data["ri"].append(str(i))
                    for c in cols:
                        v = row.get(c)
                        data[c].append(
                            text(v)
                            if c in ("task", "model", "id", "input", "output")
                            else (None if v is None else text(json.dumps(v, ensure_ascii=False)))
                        )
        frame = pd.DataFrame(data)
        self.con.register("ex_frame", frame)
        self.con.execute(
            "CREATE TABLE ex0 AS SELECT ri, task, model, id, input, output, CAST(reference AS JSON) AS "
            "reference, CAST(scores AS JSON) AS scores, CAST(judge AS JSON) AS judge, CAST(fields AS JSON) "
            "AS fields, CAST(error AS JSON) AS error, CAST(conversation AS JSON) AS conversation FROM ex_frame"
        )
        self.con.unregister("ex_frame")

    def reload_labels(self) -> None:
        if threading.current_thread() is not self._thread:
            self.wait()
        rows = []
        for key, info in self.runs.items():
            for r in read_labels(info.path):
                rows.append(
                    (
                        key,
                        r["task"],
                        r["model"],
                        r["id"],
                        r["label"],
                        None if r.get("corrected") is None else str(r["corrected"]),
                        r.get("note") or "",
                        r.get("who") or "",
                        r.get("at") or "",
                    )
                )
        with self.lock:
            self.con.execute("DELETE FROM lab")
            if rows:
                self.con.executemany("INSERT INTO lab VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    # ---- queries ------------------------------------------------------------------------------------
    def exists(self, run: str, task: str, model: str, ex_id: str) -> bool:
        self.wait()
        with self.lock:
            return (
                self.con.execute(
                    "SELECT 1 FROM ex WHERE run=? AND task=? AND model=? AND id=? LIMIT 1", [run, task, model, ex_id]
                ).fetchone()
                is not None
            )

    def _query(self, run: str, task: str, f: Filters) -> tuple[str, list[Any], str, list[Any], str]:
        """(joins, their args, where, its args, order) once the store is loaded."""
        self.wait()
        return *self._where(run, task, f), self._order(run, task, f)

    def _where(self, run: str, task: str, f: Filters) -> tuple[str, list[Any], str, list[Any]]:
        info = self.runs[run]
        model = f.model or next((m for m in info.models.get(task, []) if m != info.baseline), info.baseline)
        joins = (
            "LEFT JOIN sc s ON s.run=e.run AND s.task=e.task AND s.model=e.model AND s.id=e.id AND s.metric=? "
            "LEFT JOIN (SELECT run, task, model, id, arg_max(label, ts) AS label FROM lab GROUP BY ALL) l "
            "ON l.run=e.run AND l.task=e.task AND l.model=e.model AND l.id=e.id"
        )
        jargs: list[Any] = [f.metric or ""]
        where = ["e.run=?", "e.task=?", "e.model=?"]
        args: list[Any] = [run, task, model]
        if f.lo is not None:
            where.append("s.value >= ?")
            args.append(f.lo)
        if f.hi is not None:
            where.append("s.value <= ?")
            args.append(f.hi)
        if f.regression and f.metric:
            better = info.higher.get((task, f.metric), True)
            where.append("s.value < s.base" if better else "s.value > s.base")
        if f.status == "failed":
            where.append("e.error IS NOT NULL")
        elif f.status == "unscored":
            where.append("e.error IS NULL AND s.value IS NULL")
        elif f.status == "scored":
            where.append("s.value IS NOT NULL")
        if f.slice_col and f.slice_val is not None:
            where.append("json_extract_string(e.fields, ?) = ?")
            args += ["$." + json.dumps(f.slice_col), f.slice_val]
        if f.q:
            pat = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                "(e.output ILIKE ? ESCAPE '\\' OR CAST(e.reference AS VARCHAR) ILIKE ? ESCAPE '\\' "
                "OR CAST(e.judge AS VARCHAR) ILIKE ? ESCAPE '\\' OR e.input ILIKE ? ESCAPE '\\')"
            )
            args += [pat] * 4
        if f.label == "none":
            where.append("l.label IS NULL")
        elif f.label:
            where.append("l.label = ?")
            args.append(f.label)
        return joins, jargs, " AND ".join(where), args

    def _order(self, run: str, task: str, f: Filters) -> str:
        desc = " DESC" if f.desc else ""
        if f.sort == "delta" and f.metric:
            return f"(s.value - s.base){desc} NULLS LAST, e.id"
        if f.sort == "score" and f.metric:
            return f"s.value{desc} NULLS LAST, e.id"
        return f"e.id{desc}"

    def list_examples(
        self, run: str, task: str, f: Filters, per_page: int = PER_PAGE
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total, one page of rows). Narrow columns are filtered, sorted and counted in one query; the texts
        are fetched for the page's rows only."""
        joins, jargs, where, args, order = self._query(run, task, f)
        with self.lock:
            keys = self.con.execute(
                f"SELECT e.model, e.id, s.value, s.base, l.label, count(*) OVER () FROM ex e {joins} WHERE {where} "
                f"ORDER BY {order} LIMIT ? OFFSET ?",
                jargs + args + [per_page, (max(1, f.page) - 1) * per_page],
            ).fetchall()
            if not keys:
                total = (
                    self.con.execute(f"SELECT count(*) FROM ex e {joins} WHERE {where}", jargs + args).fetchone()
                    or (0,)
                )[0]
                return int(total), []
            texts = {
                (r[0], r[1]): r[2:]
                for r in self.con.execute(
                    "SELECT model, id, left(output, 300), error IS NOT NULL, left(coalesce(reference->>'$', ''), 200) "
                    "FROM ex WHERE run=? AND task=? AND model=? AND list_contains(?, id)",
                    [run, task, keys[0][0], [k[1] for k in keys]],
                ).fetchall()
            }
        out = []
        for model, ex_id, value, base, label, _ in keys:
            output, failed, ref = texts.get((model, ex_id), ("", False, ""))
            out.append(
                {
                    "id": ex_id,
                    "model": model,
                    "output": output,
                    "failed": failed,
                    "score": value,
                    "base": base,
                    "delta": None if value is None or base is None else value - base,
                    "label": label,
                    "reference": ref,
                }
            )
        return int(keys[0][5]), out

    def neighbours(self, run: str, task: str, f: Filters, ex_id: str) -> tuple[str | None, str | None]:
        joins, jargs, where, args, order = self._query(run, task, f)
        with self.lock:
            row = self.con.execute(
                f"SELECT prev, nxt FROM (SELECT e.id AS id, lag(e.id) OVER w AS prev, lead(e.id) OVER w AS nxt "
                f"FROM ex e {joins} WHERE {where} WINDOW w AS (ORDER BY {order})) WHERE id = ?",
                jargs + args + [ex_id],
            ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def example(self, run: str, task: str, ex_id: str) -> list[dict[str, Any]]:
        self.wait()
        with self.lock:
            rows = self.con.execute(
                "SELECT model, input, output, reference, scores, judge, fields, error, conversation FROM ex "
                "WHERE run=? AND task=? AND id=?",
                [run, task, ex_id],
            ).fetchall()
            labs = self.con.execute(
                "SELECT model, label, corrected, note, who, ts FROM lab WHERE run=? AND task=? AND id=? ORDER BY ts",
                [run, task, ex_id],
            ).fetchall()
        order = self.runs[run].models.get(task, [])
        out = []
        for r in rows:
            out.append(
                {
                    "model": r[0],
                    "input": r[1],
                    "output": r[2],
                    "reference": _json_text(r[3]),
                    "scores": json.loads(r[4]) if r[4] else {},
                    "judge": json.loads(r[5]) if r[5] else {},
                    "fields": json.loads(r[6]) if r[6] else {},
                    "error": json.loads(r[7]) if r[7] else None,
                    "conversation": json.loads(r[8]) if r[8] else None,
                    "labels": [
                        dict(zip(("label", "corrected", "note", "who", "at"), lab[1:]))
                        for lab in labs
                        if lab[0] == r[0]
                    ],
                }
            )
        out.sort(key=lambda d: order.index(d["model"]) if d["model"] in order else len(order))
        return out

    def label_counts(self, run: str, task: str) -> dict[str, int]:
        self.wait()
        with self.lock:
            rows = self.con.execute(
                "SELECT label, count(*) FROM (SELECT arg_max(label, ts) AS label FROM lab "
                "WHERE run=? AND task=? GROUP BY model, id) GROUP BY label",
                [run, task],
            ).fetchall()
        return {k: int(v) for k, v in rows}


def _json_text(raw: Any) -> str:
    if raw is None:
        return ""
    try:
        v = json.loads(raw)
    except (TypeError, ValueError):
        return str(raw)
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)

"""`evalstack cache merge CACHE... --into CACHE`: the response caches of several machines (shards) in one file.

Every response row of every source ends up in the target exactly once (the key is the primary key; a key
already in the target keeps its row, so merging twice adds nothing). Each source is read read-only and
copied in one transaction (``BEGIN IMMEDIATE`` on the target, SQLite's busy timeout for a run or another
merge writing it at the same time), so a merge that is interrupted leaves the target as it was before
that source. Batch ids in flight are carried over too. A source that is not an evalstack cache, or is
damaged, is refused before anything is written (`evalstack cache repair` salvages one).
"""

from __future__ import annotations

__all__ = ["CacheMerge", "merge_caches"]

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ._cache import Cache, damaged_hint, header_problem, schema_problem


@dataclass
class CacheMerge:
    """What a merge did, per source and in all."""

    target: Path
    read: dict[str, int] = field(default_factory=dict)
    """Source path -> response rows it holds."""
    added: dict[str, int] = field(default_factory=dict)
    """Source path -> rows it added to the target (the others were there already)."""
    differing: int = 0
    """Keys present in the target and a source with a different response (the target's row was kept)."""
    total: int = 0
    """Response rows in the target after the merge."""

    def lines(self) -> list[str]:
        out = [
            f"{src}: {self.read[src]} row(s), {self.added[src]} added, {self.read[src] - self.added[src]} there already"
            for src in self.read
        ]
        if self.differing:
            out.append(f"{self.differing} key(s) had another response in an earlier file: the first one kept")
        out.append(f"{self.target}: {self.total} row(s)")
        return out


def _open_source(path: Path) -> sqlite3.Connection:
    """A read-only connection on a source cache, checked (ConfigError naming the file otherwise)."""
    if not path.is_file():
        raise ConfigError("no cache file here", where=str(path), hint="give the cache.sqlite files the shards wrote")
    problem = header_problem(path)
    db = None
    try:
        if problem is None:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            problem = schema_problem(db) or (
                None
                if db.execute("SELECT 1 FROM sqlite_master WHERE name='responses'").fetchone()
                else "it holds no responses table"
            )
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    if problem is not None:
        if db is not None:
            db.close()
        raise ConfigError(f"cannot merge this cache: {problem}", where=str(path), hint=damaged_hint(path))
    assert db is not None
    return db


def merge_caches(sources: Sequence[str | os.PathLike[str]], into: str | os.PathLike[str]) -> CacheMerge:
    """Copy every response row (and batch id) of ``sources`` into the cache file ``into`` (created when
    missing); return what was added. ConfigError (exit 2) for a missing or damaged source, or ``into``
    among the sources."""
    target = Path(into)
    paths = [Path(s) for s in sources]
    if not paths:
        raise ConfigError("cache merge: no source cache given", hint="evalstack cache merge CACHE... --into CACHE")
    for p in paths:
        if p.exists() and target.exists() and p.resolve() == target.resolve():
            raise ConfigError("--into is one of the caches to merge", where=str(p), hint="merge into another file")
    for p in paths:  # every source checked before anything is written
        _open_source(p).close()
    Cache(target).close()  # creates the target (schema, WAL) or refuses a damaged one
    rep = CacheMerge(target=target)
    db = sqlite3.connect(target, timeout=60, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=60000")
        for p in paths:
            src = _open_source(p)
            try:
                rep.read[str(p)] = int(src.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
            finally:
                src.close()
            db.execute("ATTACH DATABASE ? AS src", (f"file:{p.resolve()}?mode=ro",))
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    rep.differing += int(
                        db.execute(
                            "SELECT COUNT(*) FROM src.responses s JOIN main.responses m ON m.key = s.key "
                            "WHERE CAST(m.response AS BLOB) != CAST(s.response AS BLOB)"
                        ).fetchone()[0]
                    )
                    cur = db.execute(
                        "INSERT OR IGNORE INTO main.responses(key, provider, model, response, created) "
                        "SELECT key, provider, model, response, created FROM src.responses"
                    )
                    rep.added[str(p)] = cur.rowcount
                    if db.execute("SELECT 1 FROM src.sqlite_master WHERE name='batches'").fetchone():
                        db.execute(
                            "INSERT OR IGNORE INTO main.batches(batch_id, provider, status, keys, created, updated) "
                            "SELECT batch_id, provider, status, keys, created, updated FROM src.batches"
                        )
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            finally:
                db.execute("DETACH DATABASE src")
        rep.total = int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
    except sqlite3.OperationalError as exc:
        raise ConfigError(
            f"cannot merge into the cache: {exc}", where=str(target), hint="retry when no run is writing it"
        ) from None
    finally:
        db.close()
    return rep

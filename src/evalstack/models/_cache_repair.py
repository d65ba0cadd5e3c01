"""`evalstack cache check FILE` and `evalstack cache repair FILE`: find and salvage a damaged cache.

A run treats a damaged *row* as a miss by itself (re-requested, overwritten, counted as ``cache_repaired``).
A damaged *file* (not a database, truncated, a wrong schema or version, a corrupt page) stops the run
with one line naming these two commands:

- ``check`` opens the file read-only and reports the header, SQLite's ``integrity_check``, the schema and
  every row (good, or why not); it changes nothing.
- ``repair`` copies every readable, valid row (and every readable batch id) into a new file and keeps the
  original untouched. Reading goes round damage: rows are read by rowid range and a range that fails is
  split until only unreadable rows are left; a file whose first 100 bytes (the SQLite header) are
  garbage is read through a copy with a rebuilt header.
"""

from __future__ import annotations

__all__ = ["CacheReport", "check_cache", "repair_cache"]

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._base import _CACHE_FIELDS, Generation
from ._cache import _COLUMNS, Cache, header_problem, schema_problem

_PAGE_SIZES = (4096, 1024, 2048, 8192, 16384, 32768, 65536, 512)


@dataclass
class CacheReport:
    """What `cache check` found."""

    path: Path
    problems: list[str] = field(default_factory=list)
    """File-level problems (header, integrity, schema, version, unreadable ranges)."""
    rows: int = 0
    good: int = 0
    bad: Counter[str] = field(default_factory=Counter)
    """Damaged rows by kind (bad JSON, unknown key, text null, ...)."""
    batches: int = 0

    @property
    def healthy(self) -> bool:
        return not self.problems and not self.bad

    def lines(self) -> list[str]:
        out = [f"{self.path}: {'ok' if self.healthy else 'damaged'}"]
        out += [f"  problem: {p}" for p in self.problems]
        bad = ", ".join(f"{k} {v}" for k, v in sorted(self.bad.items()))
        out.append(
            f"  rows: {self.rows} read, {self.good} good, {sum(self.bad.values())} damaged"
            + (f" ({bad})" if bad else "")
        )
        if not self.healthy:
            out.append(f"  fix: evalstack cache repair {self.path}  (good rows go to a new file; this one is kept)")
        return out


def row_problem(blob: Any) -> str | None:
    """Why a stored response is not usable (None: it is)."""
    if isinstance(blob, bytes):
        try:
            blob = blob.decode("utf-8")
        except UnicodeDecodeError:
            return "not UTF-8"
    if not isinstance(blob, str):
        return "not text"
    if Generation.from_cache_checked(blob) is not None:
        return None
    try:
        d = json.loads(blob)
    except (ValueError, RecursionError):
        return "bad JSON"
    if not isinstance(d, dict):
        return "not a JSON object"
    if not d.keys() <= _CACHE_FIELDS:
        return "unknown key"
    if d.get("text") is None:
        return "text null"
    return "wrong type"


def _connect_ro(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return db


@contextlib.contextmanager
def _readable(path: Path, problems: list[str]) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection to ``path``, or to a copy with a rebuilt header when its header is garbage."""
    hp = header_problem(path)
    tmp: str | None = None
    db: sqlite3.Connection | None = None
    try:
        if hp is None:
            try:
                db = _connect_ro(path)
            except sqlite3.DatabaseError as exc:
                problems.append(f"cannot open: {exc}")
        else:
            problems.append(hp)
            tmp = tempfile.mkdtemp(prefix="evalstack-cache-repair-")
            db = _with_rebuilt_header(path, Path(tmp))
        yield db
    finally:
        if db is not None:
            db.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _with_rebuilt_header(path: Path, tmp: Path) -> sqlite3.Connection | None:
    """Copy ``path`` into ``tmp`` and give it a fresh SQLite header for each common page size until the
    schema reads; None when none does (then nothing can be salvaged)."""
    if path.stat().st_size < 512:
        return None
    for size in _PAGE_SIZES:
        tpl = tmp / f"tpl{size}.sqlite"
        t = sqlite3.connect(tpl)
        t.execute(f"PRAGMA page_size={size}")
        t.execute("CREATE TABLE x(a)")
        t.close()
        header = bytearray(tpl.read_bytes()[:100])
        header[28:32] = b"\0\0\0\0"  # the page count: 0 makes SQLite take it from the file size
        copy = tmp / f"copy{size}.sqlite"
        shutil.copyfile(path, copy)
        with open(copy, "r+b") as fh:
            fh.write(bytes(header))
        try:
            db = _connect_ro(copy)
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "responses" in tables:
                db.execute("SELECT count(*) FROM (SELECT rowid FROM responses LIMIT 1)").fetchone()
                return db
            db.close()
        except sqlite3.DatabaseError:
            continue
    return None


def _rows(db: sqlite3.Connection, table: str, cols: str, problems: list[str]) -> Iterator[tuple[Any, ...]]:
    """Every readable row of ``table``, read by rowid ranges; a range that fails is split in two until
    single rowids, and what stays unreadable is counted in ``problems``."""
    try:
        hi = db.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError:
        hi = 1 << 20
    if hi is None:
        return
    unreadable = 0
    stack = [(1, int(hi))]
    while stack:
        lo, up = stack.pop()
        try:
            got = db.execute(
                f"SELECT {cols} FROM {table} WHERE rowid BETWEEN ? AND ? ORDER BY rowid",
                (lo, up),
            ).fetchall()
        except sqlite3.DatabaseError:
            if lo == up:
                unreadable += 1
            else:
                mid = (lo + up) // 2
                stack += [(mid + 1, up), (lo, mid)]
            continue
        yield from got
    if unreadable:
        problems.append(f"{unreadable} rowid(s) of table '{table}' are unreadable (a damaged or missing page)")


def _inspect(
    path: Path, keep: list[tuple[str, str, str, str]] | None, batches: list[tuple[str, str, str, list[str]]] | None
) -> CacheReport:
    rep = CacheReport(path=path)
    if not path.is_file():
        raise ConfigError("no such cache file", where=str(path), hint="give the path of a cache.sqlite file")
    with _readable(path, rep.problems) as db:
        if db is None:
            rep.problems.append("nothing readable: no row can be salvaged")
            return rep
        try:
            res = [r[0] for r in db.execute("PRAGMA integrity_check(20)")]
        except sqlite3.DatabaseError as exc:
            res = [str(exc)]
        if res != ["ok"]:
            rep.problems.append(f"integrity check: {len(res)} problem(s), first: {res[0]}")
        try:
            sp = schema_problem(db)
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            sp, tables = f"the schema cannot be read: {exc}", set()
        if sp:
            rep.problems.append(sp)
        if "responses" not in tables:
            if tables:
                rep.problems.append("table 'responses' is missing (a run recreates it empty)")
        else:
            have = {r[1] for r in db.execute("PRAGMA table_info(responses)")}
            if {"key", "response"} <= have:
                cols = (
                    "key, provider, model, CAST(response AS BLOB)"
                    if _COLUMNS["responses"] <= have
                    else "key, '', '', CAST(response AS BLOB)"
                )
                for key, prov, model, blob in _rows(db, "responses", cols, rep.problems):
                    rep.rows += 1
                    why = row_problem(blob) if isinstance(key, str) else "bad key"
                    if why:
                        rep.bad[why] += 1
                    else:
                        rep.good += 1
                        if keep is not None:
                            keep.append((key, str(prov or ""), str(model or ""), blob.decode("utf-8")))
        if "batches" in tables and batches is not None:
            with contextlib.suppress(sqlite3.DatabaseError):
                for bid, prov, status, keys in _rows(
                    db, "batches", "batch_id, provider, status, CAST(keys AS BLOB)", rep.problems
                ):
                    with contextlib.suppress(ValueError, TypeError, UnicodeDecodeError):
                        ks = json.loads(keys)
                        if isinstance(ks, list) and all(isinstance(k, str) for k in ks):
                            batches.append((str(bid), str(prov), str(status), ks))
                            rep.batches += 1
    return rep


def check_cache(path: str | os.PathLike[str]) -> CacheReport:
    """Inspect a cache file read-only."""
    return _inspect(Path(path), None, None)


def repair_cache(path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> tuple[CacheReport, Path]:
    """Copy the good rows of ``path`` into ``out`` (default ``<name>.repaired.sqlite`` beside it); the
    original is not changed. ``out`` must not exist yet."""
    src = Path(path)
    dst = Path(out) if out is not None else src.with_name(src.stem + ".repaired" + (src.suffix or ".sqlite"))
    if dst.exists() or dst.is_symlink():
        raise ConfigError(
            "the output file exists already",
            where=str(dst),
            hint="pass --out NEW_FILE, or remove it if an earlier repair wrote it",
        )
    if dst.resolve() == src.resolve():
        raise ConfigError("--out is the damaged file itself", where=str(dst), hint="repair writes a new file")
    keep: list[tuple[str, str, str, str]] = []
    batches: list[tuple[str, str, str, list[str]]] = []
    rep = _inspect(src, keep, batches)
    cache = Cache(dst)
    try:
        for i in range(0, len(keep), 5000):
            cache.put_many(keep[i : i + 5000])
        for bid, prov, status, ks in batches:
            cache.save_batch(bid, prov, status, ks)
    finally:
        cache.close()
    return rep, dst

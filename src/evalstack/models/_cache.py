"""The response cache: SQLite in WAL mode, one row per finished request.

Why each setting:
- WAL + ``synchronous=NORMAL``: a commit is durable against a killed process (``kill -9``) without an
  fsync per row; only a power loss can drop the last commits, which are then simply re-requested.
- a commit per finished request: a request that finished is never sent again after a crash, and commits
  in WAL mode cost tens of microseconds, so no batching is needed to keep up with hundreds of requests/s.
- ``busy_timeout``: two evalstack processes may share one cache file.
- Failed requests are not stored: ``--resume`` retries exactly those.
The key is a sha256 of what changes the output (``Provider.cache_key``: provider identity, messages, every
output param sent, repeat); the row holds the output, logprobs and token counts. No key, header or secret
is ever written.
"""

from __future__ import annotations

__all__ = ["Cache", "CacheDamaged", "default_cache_path", "damaged_hint"]

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from .._secrets import redact_secrets
from ..errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    status TEXT NOT NULL,
    keys TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""
_VERSION = "1"
_HEADER = b"SQLite format 3\x00"
_COLUMNS = {
    "responses": {"key", "provider", "model", "response", "created"},
    "batches": {"batch_id", "provider", "status", "keys", "created", "updated"},
    "meta": {"k", "v"},
}


def damaged_hint(path: Path | str) -> str:
    return (
        f"run `evalstack cache check {path}` to see what is wrong and `evalstack cache repair {path}` to "
        "salvage the good rows into a new file (the original is kept), or run with --no-cache"
    )


class CacheDamaged(ConfigError):
    """The cache file cannot be used as a whole (not a database, truncated, wrong schema or version)."""

    def __init__(self, path: Path | str, reason: str):
        self.reason = reason
        super().__init__(f"the cache file is damaged: {reason}", where=str(path), hint=damaged_hint(path))


def schema_problem(db: sqlite3.Connection) -> str | None:
    """Why the open database is not a usable evalstack cache (None: it is one, or it is empty)."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        return None
    if not tables & set(_COLUMNS) or (tables - set(_COLUMNS) and "meta" not in tables):
        return f"not an evalstack cache (it holds the tables {', '.join(sorted(tables))})"
    for table in tables & set(_COLUMNS):
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if not _COLUMNS[table] <= have:
            return f"table '{table}' lacks the column(s) {', '.join(sorted(_COLUMNS[table] - have))}"
    if "meta" in tables:
        row = db.execute("SELECT v FROM meta WHERE k='schema_version'").fetchone()
        if row is not None and str(row[0]) != _VERSION:
            return f"schema version {row[0]!r}, this evalstack reads version {_VERSION}"
    return None


def header_problem(path: Path) -> str | None:
    """A file that exists, is not empty and does not start like an SQLite database."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
    except FileNotFoundError:
        return None
    if head and not head.startswith(_HEADER):
        return "not an SQLite database (the file header is wrong)"
    if 0 < len(head) < 100:
        return "the file is truncated (shorter than an SQLite header)"
    if head:
        size = int.from_bytes(head[16:18], "big")
        size = 65536 if size == 1 else size
        pages = int.from_bytes(head[28:32], "big")
        valid = head[24:28] == head[92:96]  # the page count is only meaningful when these agree
        have = path.stat().st_size
        wal = Path(f"{path}-wal")
        pending = wal.exists() and wal.stat().st_size > 0  # pages not yet copied back are in the WAL file
        if valid and pages and not pending and (have < pages * size or have % size):
            return f"the file is truncated ({have} bytes; its header counts {pages} pages of {size} bytes)"
    return None


def default_cache_path() -> Path:
    """$EVALSTACK_CACHE_DIR, else $XDG_CACHE_HOME/evalstack, else ~/.cache/evalstack; file cache.sqlite."""
    base = os.environ.get("EVALSTACK_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = os.path.join(xdg, "evalstack") if xdg else os.path.join(Path.home(), ".cache", "evalstack")
    return Path(base) / "cache.sqlite"


class Cache:
    """A thread-safe handle on the cache file. ``Cache(None)`` is a disabled cache (``--no-cache``)."""

    def __init__(self, path: str | os.PathLike[str] | None):
        self.path = Path(path) if path is not None else None
        self.hits = 0
        self.writes = 0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            problem = header_problem(self.path)
            if problem:
                raise CacheDamaged(self.path, problem)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=30000")
            # before anything is written: never alter a file that is not ours
            problem = schema_problem(self._db)
            if problem:
                raise CacheDamaged(self.path, problem)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)  # a dropped table of ours comes back empty: its rows are misses
            self._db.execute("INSERT OR IGNORE INTO meta(k, v) VALUES ('schema_version', ?)", (_VERSION,))
        except CacheDamaged:
            self.close()
            raise
        except sqlite3.OperationalError as exc:
            self.close()
            if "locked" in str(exc) or "busy" in str(exc) or "unable to open" in str(exc):
                raise ConfigError(
                    f"cannot open the cache: {exc}",
                    where=str(self.path),
                    hint="point `cache:` or $EVALSTACK_CACHE_DIR elsewhere, or run with --no-cache",
                ) from None
            raise CacheDamaged(self.path, str(exc)) from None
        except sqlite3.DatabaseError as exc:
            self.close()
            raise CacheDamaged(self.path, str(exc)) from None
        except OSError as exc:
            raise ConfigError(
                f"cannot create the cache folder: {exc.strerror}",
                where=str(self.path.parent),
                hint="set $EVALSTACK_CACHE_DIR to a writable folder",
            ) from None

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def get_many(self, keys: Iterable[str]) -> dict[str, str | None]:
        """key -> stored response JSON, for the keys present (None for a row whose bytes are not UTF-8 text:
        the caller treats it, like any row that does not parse, as a miss to re-request and overwrite)."""
        if self._db is None:
            return {}
        keys = list(keys)
        out: dict[str, str | None] = {}
        with self._guard():
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT key, CAST(response AS BLOB) FROM responses WHERE key IN ({marks})"
                for k, v in self._db.execute(sql, chunk):
                    try:
                        out[k] = v.decode("utf-8") if isinstance(v, bytes) else None
                    except UnicodeDecodeError:
                        out[k] = None
        self.hits += len(out)
        return out

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """The lock, and a damaged file (found only now, e.g. a truncated one) as one clear line."""
        with self._lock:
            try:
                yield
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
                    raise
                db, self._db = self._db, None  # the file is damaged: this handle is of no further use
                if db is not None:
                    with contextlib.suppress(sqlite3.Error):
                        db.close()
                raise CacheDamaged(self.path or "", str(exc)) from None

    def put(self, key: str, provider: str, model: str, response: str) -> None:
        """Store one finished request (committed at once: it survives kill -9)."""
        if self._db is None:
            return
        with self._guard():
            self._db.execute(
                "INSERT OR REPLACE INTO responses(key, provider, model, response, created) VALUES (?,?,?,?,?)",
                (key, provider, redact_secrets(model), redact_secrets(response), time.time()),
            )
        self.writes += 1

    def put_many(self, rows: list[tuple[str, str, str, str]]) -> None:
        """Store several finished requests in one transaction."""
        if self._db is None or not rows:
            return
        now = time.time()
        with self._guard():
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO responses(key, provider, model, response, created) VALUES (?,?,?,?,?)",
                    [(k, p, redact_secrets(m), redact_secrets(r), now) for k, p, m, r in rows],
                )
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        self.writes += len(rows)

    # batches (Batch API runs that are in flight survive a restart by their ids)
    def save_batch(self, batch_id: str, provider: str, status: str, keys: list[str]) -> None:
        if self._db is None:
            return
        import json

        now = time.time()
        with self._guard():
            self._db.execute(
                "INSERT INTO batches(batch_id, provider, status, keys, created, updated) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(batch_id) DO UPDATE SET status=excluded.status, updated=excluded.updated",
                (batch_id, provider, status, json.dumps(keys), now, now),
            )

    def open_batches(self, provider: str) -> list[tuple[str, str, list[str]]]:
        if self._db is None:
            return []
        import json

        with self._guard():
            rows = self._db.execute(
                "SELECT batch_id, status, CAST(keys AS BLOB) FROM batches WHERE provider=? AND "
                "status NOT IN ('completed','failed','expired','cancelled','collected')",
                (provider,),
            ).fetchall()
        out = []
        for b, st, k in rows:
            try:
                keys = json.loads(k)
            except (TypeError, ValueError):
                continue  # a damaged batch row: its requests are simply misses, sent again
            if isinstance(keys, list) and all(isinstance(x, str) for x in keys):
                out.append((b, st, keys))
        return out

    def count(self) -> int:
        if self._db is None:
            return 0
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def integrity_check(self) -> str:
        if self._db is None:
            return "ok"
        with self._lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            with self._lock:
                db.close()
            self._db = None

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

__all__ = ["Cache", "default_cache_path"]

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable

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
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta(k, v) VALUES ('schema_version', ?)", (_VERSION,))
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"cannot open the cache: {exc}", where=str(self.path),
                              hint="point `cache:` or $EVALSTACK_CACHE_DIR elsewhere, or run with --no-cache") from None
        except OSError as exc:
            raise ConfigError(f"cannot create the cache folder: {exc.strerror}", where=str(self.path.parent),
                              hint="set $EVALSTACK_CACHE_DIR to a writable folder") from None

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        """key -> stored response JSON, for the keys present."""
        if self._db is None:
            return {}
        keys = list(keys)
        out: dict[str, str] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for k, v in self._db.execute(f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk):  # noqa: S608
                    out[k] = v
        self.hits += len(out)
        return out

    def put(self, key: str, provider: str, model: str, response: str) -> None:
        """Store one finished request (committed at once: it survives kill -9)."""
        if self._db is None:
            return
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses(key, provider, model, response, created) VALUES (?,?,?,?,?)",
                             (key, provider, redact_secrets(model), redact_secrets(response), time.time()))
        self.writes += 1

    def put_many(self, rows: list[tuple[str, str, str, str]]) -> None:
        """Store several finished requests in one transaction."""
        if self._db is None or not rows:
            return
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO responses(key, provider, model, response, created) VALUES (?,?,?,?,?)",
                                 [(k, p, redact_secrets(m), redact_secrets(r), now) for k, p, m, r in rows])
            self._db.execute("COMMIT")
        self.writes += len(rows)

    # batches (Batch API runs that are in flight survive a restart by their ids)
    def save_batch(self, batch_id: str, provider: str, status: str, keys: list[str]) -> None:
        if self._db is None:
            return
        import json

        now = time.time()
        with self._lock:
            self._db.execute("INSERT INTO batches(batch_id, provider, status, keys, created, updated) VALUES (?,?,?,?,?,?) "
                             "ON CONFLICT(batch_id) DO UPDATE SET status=excluded.status, updated=excluded.updated",
                             (batch_id, provider, status, json.dumps(keys), now, now))

    def open_batches(self, provider: str) -> list[tuple[str, str, list[str]]]:
        if self._db is None:
            return []
        import json

        with self._lock:
            rows = self._db.execute("SELECT batch_id, status, keys FROM batches WHERE provider=? AND status NOT IN "
                                    "('completed','failed','expired','cancelled','collected')", (provider,)).fetchall()
        return [(b, s, json.loads(k)) for b, s, k in rows]

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
        if self._db is not None:
            with self._lock:
                self._db.close()
            self._db = None

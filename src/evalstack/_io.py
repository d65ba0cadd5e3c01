"""Atomic file writes: a reader never sees a half-written report, even after ``kill -9``."""

from __future__ import annotations

__all__ = ["atomic_write_text", "atomic_write_bytes", "atomic_write_json", "AtomicWriter"]

import json
import os
import tempfile
from pathlib import Path
from typing import Any, IO

from ._crash import crash_point


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()  # mkstemp makes 0600 files; reports get the usual permissions


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a temp file in the same folder, fsync it, then rename it over ``path``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _MODE)
        crash_point(f"write:{p.name}")
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return p


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """UTF-8 text, written atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> Path:
    """JSON (sorted keys for byte-stable output, NaN refused), written atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n")


class AtomicWriter:
    """A streamed file (e.g. examples.jsonl) that appears under its name only when closed cleanly."""

    def __init__(self, path: str | os.PathLike[str], mode: str = "w"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self.file: IO[Any] = os.fdopen(fd, mode, encoding="utf-8" if "b" not in mode else None)

    def __enter__(self) -> IO[Any]:
        return self.file

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.chmod(self._tmp, _MODE)
            crash_point(f"write:{self.path.name}")
            os.replace(self._tmp, self.path)
        else:
            self.file.close()
            try:
                os.unlink(self._tmp)
            except OSError:
                pass

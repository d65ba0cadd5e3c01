"""Atomic file writes: a reader never sees a half-written report, even after ``kill -9``."""

from __future__ import annotations

__all__ = ["atomic_write_text", "atomic_write_bytes", "atomic_write_json", "AtomicWriter", "read_input_file",
           "MAX_INPUT_BYTES"]

import json
import os
import stat
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
    """UTF-8 text, written atomically, with every registered secret redacted (:mod:`evalstack._secrets`)."""
    from ._secrets import redact_secrets

    return atomic_write_bytes(path, redact_secrets(text).encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> Path:
    """JSON (sorted keys for byte-stable output, NaN refused), written atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n")


class _Redacting:
    """A text file whose writes go through :func:`evalstack._secrets.redact_secrets`."""

    def __init__(self, file: IO[Any]):
        self._file = file

    def write(self, text: str) -> int:
        from ._secrets import redact_secrets

        self._file.write(redact_secrets(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class AtomicWriter:
    """A streamed file (e.g. examples.jsonl) that appears under its name only when closed cleanly; text
    written to it has every registered secret redacted."""

    def __init__(self, path: str | os.PathLike[str], mode: str = "w"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self.file: IO[Any] = os.fdopen(fd, mode, encoding="utf-8" if "b" not in mode else None)

    def __enter__(self) -> IO[Any]:
        return self.file if "b" in self.file.mode else _Redacting(self.file)  # type: ignore[return-value]

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


MAX_INPUT_BYTES = 2 * 1024**3
"""Largest data, replay or curves file read (2 GiB): a file is read whole, so bigger would exhaust memory."""

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def read_input_file(path: str | os.PathLike[str], *, error: type[Exception], what: str = "file",
                    max_bytes: int = MAX_INPUT_BYTES, hint: str = "check the path") -> bytes:
    """The bytes of a user's input file: a regular file only (never /dev/zero, a FIFO, a socket), at most
    ``max_bytes``; every problem is ``error(message, where=path, hint=...)``.

    Opened non-blocking and checked on the open descriptor, so a FIFO cannot block and a file swapped after
    the check is not the one read.
    """
    p = str(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{what} not found", where=p, hint=hint) from None
    except IsADirectoryError:
        raise error(f"expected a {what}, found a folder", where=p) from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}", where=p) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a file")
            raise error(f"not a regular file ({kind})", where=p, hint=f"point it at a {what} on disk")
        limit = f"{max_bytes / 2**30:g} GiB" if max_bytes >= 2**30 else f"{max_bytes / 2**20:g} MiB"
        if st.st_size > max_bytes:
            raise error(f"{what} is larger than {limit} ({st.st_size:,} bytes)", where=p,
                        hint="split it, or sample it with data.sample / data.limit")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"cannot read {what}: {exc.strerror}", where=p) from None
        if len(data) > max_bytes:
            raise error(f"{what} is larger than {limit}", where=p)
    return data

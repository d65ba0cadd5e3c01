"""Atomic file writes: a reader never sees a half-written report, even after ``kill -9``.

Every write goes to a fresh temp file (``O_CREAT | O_EXCL | O_NOFOLLOW``: never an existing file or a
symlink), is fsynced, then renamed over its name. A symlink at that name is refused
(:class:`SymlinkRefused`, exit 2), never followed. With ``root`` (the run folder), the folders between
``root`` and the file are opened without following symlinks too, so ``OUT/review -> /elsewhere`` is refused
rather than written through.
"""

from __future__ import annotations

__all__ = [
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_write_json",
    "AtomicWriter",
    "read_input_file",
    "read_user_text",
    "MAX_INPUT_BYTES",
    "SymlinkRefused",
    "open_nofollow_dir",
]

import errno
import json
import os
import secrets
import stat
from pathlib import Path
from typing import IO, Any

from ._crash import crash_point
from .errors import ConfigError, EvalstackError


class SymlinkRefused(ConfigError):
    """evalstack was about to write through a symlink: refused (exit 2), nothing written."""

    def __init__(self, path: Path | str):
        super().__init__(
            "is a symlink; evalstack does not write through symlinks",
            where=str(path),
            hint="remove the link, or choose another output folder",
        )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()  # temp files are made 0600; reports get the usual permissions
_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def open_nofollow_dir(path: Path, *, root: Path | None = None, create: bool = True) -> int:
    """An fd of folder ``path``; below ``root`` no folder may be a symlink. Missing folders are created
    when ``create``."""
    path = Path(path)
    if root is None:  # a folder the caller named (e.g. `review --out FILE`): symlinks above the file are theirs
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return os.open(path, _DIR)
    root = Path(root)
    rel = path.relative_to(root).parts if path != root else ()
    if create:
        root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, _DIR)  # the output folder itself: where the user pointed us
    where = root
    try:
        for part in rel:
            where = where / part
            try:
                sub = os.open(part, _DIR | _NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o777, dir_fd=fd)
                sub = os.open(part, _DIR | _NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and where.is_symlink():
                    raise SymlinkRefused(where) from None
                raise
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_target(dfd: int, name: str, path: Path) -> None:
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise SymlinkRefused(path)


class _Temp:
    """A temp file beside ``path`` (same folder fd), renamed over ``path`` by :meth:`commit`."""

    def __init__(self, path: str | os.PathLike[str], root: str | os.PathLike[str] | None):
        self.path = Path(path)
        self.dfd = open_nofollow_dir(self.path.parent, root=Path(root) if root is not None else None)
        try:
            _check_target(self.dfd, self.path.name, self.path)
            self.tmp = f".{self.path.name}.{secrets.token_hex(4)}.tmp"
            self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=self.dfd)
        except BaseException:
            os.close(self.dfd)
            raise

    def commit(self) -> None:
        crash_point(f"write:{self.path.name}")
        _check_target(self.dfd, self.path.name, self.path)
        os.replace(self.tmp, self.path.name, src_dir_fd=self.dfd, dst_dir_fd=self.dfd)
        try:
            os.fsync(self.dfd)  # the rename itself survives a power cut
        except OSError:
            pass

    def discard(self) -> None:
        try:
            os.unlink(self.tmp, dir_fd=self.dfd)
        except OSError:
            pass

    def close_dir(self) -> None:
        os.close(self.dfd)


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, root: str | os.PathLike[str] | None = None
) -> Path:
    """Write ``data`` to a temp file in the same folder, fsync it, then rename it over ``path``.

    ``root``: the run folder ``path`` lies in; no folder between it and ``path`` may be a symlink.
    """
    t = _Temp(path, root)
    try:
        with os.fdopen(t.fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), _MODE)
        t.commit()
    except BaseException:
        t.discard()
        raise
    finally:
        t.close_dir()
    return t.path


def atomic_write_text(path: str | os.PathLike[str], text: str, *, root: str | os.PathLike[str] | None = None) -> Path:
    """UTF-8 text, written atomically, with every registered secret redacted (:mod:`evalstack._secrets`)."""
    from ._secrets import redact_secrets

    return atomic_write_bytes(path, redact_secrets(text).encode("utf-8"), root=root)


def atomic_write_json(
    path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2, root: str | os.PathLike[str] | None = None
) -> Path:
    """JSON (sorted keys for byte-stable output, NaN refused), written atomically."""
    return atomic_write_text(
        path, json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n", root=root
    )


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

    def __init__(self, path: str | os.PathLike[str], mode: str = "w", *, root: str | os.PathLike[str] | None = None):
        self.path = Path(path)
        self._t = _Temp(self.path, root)
        self.file: IO[Any] = os.fdopen(self._t.fd, mode, encoding="utf-8" if "b" not in mode else None)

    def __enter__(self) -> IO[Any]:
        return self.file if "b" in self.file.mode else _Redacting(self.file)  # type: ignore[return-value]

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self.file.flush()
                os.fsync(self.file.fileno())
                os.fchmod(self.file.fileno(), _MODE)
                self.file.close()
                try:
                    self._t.commit()
                except BaseException:
                    self._t.discard()
                    raise
            else:
                self.file.close()
                self._t.discard()
        finally:
            self._t.close_dir()


MAX_INPUT_BYTES = 2 * 1024**3
"""Largest data, replay or curves file read (2 GiB): a file is read whole, so bigger would exhaust memory."""

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_input_file(
    path: str | os.PathLike[str],
    *,
    error: type[EvalstackError],
    what: str = "file",
    max_bytes: int = MAX_INPUT_BYTES,
    hint: str = "check the path",
) -> bytes:
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
            raise error(
                f"{what} is larger than {limit} ({st.st_size:,} bytes)",
                where=p,
                hint="split it, or sample it with data.sample / data.limit",
            )
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"cannot read {what}: {exc.strerror}", where=p) from None
        if len(data) > max_bytes:
            raise error(f"{what} is larger than {limit}", where=p)
    return data


UTF8_HINT = "save the file as UTF-8, e.g. iconv -f latin1 -t utf-8"


def read_user_text(
    path: str | os.PathLike[str],
    what: str = "file",
    *,
    error: type[EvalstackError] = EvalstackError,
    hint: str = "check the path",
    max_bytes: int = MAX_INPUT_BYTES,
    utf8_hint: str = UTF8_HINT,
) -> str:
    """The text of a user's file (config, gate rules, rubric, data, labels, replay outputs, curves, run.json):
    the bytes by :func:`read_input_file`'s rules, decoded as UTF-8 (a leading BOM dropped). Every reader gets
    the same one-line errors, as ``error``: not found, a folder, not a regular file, too large, and text
    that is not UTF-8 (naming the line and byte offset: ``path:LINE: not UTF-8 text (byte N)``)."""
    raw = read_input_file(path, error=error, what=what, max_bytes=max_bytes, hint=hint)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)  # utf-8-sig counts after the BOM
        line = raw[:start].count(b"\n") + 1
        raise error(f"not UTF-8 text (byte {start})", where=f"{path}:{line}", hint=utf8_hint) from None

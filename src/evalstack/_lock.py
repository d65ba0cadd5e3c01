"""One writer per output folder, and a record of unfinished runs.

``OUT/.evalstack.lock`` is held with ``flock`` for the whole run: a second run on the same folder is
refused at once (the lock dies with its process, even on ``kill -9``, so a stale file never blocks). If
the file is still there when a new run starts, the previous run did not finish: the new run needs
``--resume`` (which reuses every cached request) so that a half-finished folder is never silently mixed
with a fresh run.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import stat
import time
from pathlib import Path
from typing import Any

from .errors import ConfigError

# ".<file we write>.<mkstemp suffix>.tmp": only our own temp files are ever removed
_OWN_TEMP = re.compile(
    r"^\.(\.evalstack-run|run\.json|examples\.jsonl|report\.md|report\.html|junit\.xml|lowest\.csv|"
    r"lowest\.jsonl|regressions\.csv|analysis\.json|[\w.\-]+\.png)\.[\w]+\.tmp$"
)


def _open_lock(path: Path) -> int:
    """Open (or create) the lock file without following a symlink; only a plain file of ours is accepted."""
    from ._io import SymlinkRefused

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            raise SymlinkRefused(path) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:  # a FIFO, a device, or a hard link to a file elsewhere
        os.close(fd)
        raise ConfigError(
            "is not a plain lock file written by evalstack",
            where=str(path),
            hint="remove it, or choose another output folder",
        )
    return fd


class RunLock:
    def __init__(self, out_dir: Path, *, resume: bool):
        self.path = Path(out_dir) / ".evalstack.lock"
        self.resume = resume
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_lock(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                "another evalstack run is writing to this output folder",
                where=str(self.path.parent),
                hint="wait for it, or choose another folder with --out",
            ) from None
        previous = os.read(fd, 4096)
        if previous.strip() and not self.resume:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise ConfigError(
                "the previous run in this folder did not finish",
                where=str(self.path.parent),
                hint="continue it with --resume (finished requests come from the cache), "
                "or delete the folder to start over",
            )
        out = self.path.parent
        for folder in (out, out / "review", out / "plots", out / "curves"):  # a killed run's atomic-write temps
            if folder.is_symlink() or not folder.is_dir():
                continue
            for stale in folder.glob(".*.tmp"):
                if _OWN_TEMP.match(stale.name) and stat.S_ISREG(os.lstat(stale).st_mode):
                    try:
                        stale.unlink()
                    except OSError:
                        pass
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "started": time.time()}).encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def reports_complete(self) -> None:
        """Every report file is written (trackers may still be logging): readers may read the folder, while a
        plain re-run still needs --resume until :meth:`finish`."""
        if self._fd is None:
            return
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, json.dumps({"pid": os.getpid(), "reports_complete": True}).encode())
        os.fsync(self._fd)

    def finish(self) -> None:
        """The run wrote everything: the folder is complete."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        from .errors import EvalstackError

        if exc_type is not None and issubclass(exc_type, EvalstackError) and exc.exit_code == 2:
            self.finish()  # bad input found mid-run: nothing to resume, the user fixes the input and reruns
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

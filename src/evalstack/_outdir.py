"""The output folder: where evalstack may write, what it may delete, and whether a folder is finished.

* A run writes only into a folder that is absent, empty, or marked as evalstack's own by ``.evalstack-run``,
  the first file it writes there. Never into ``/``, the home folder, or a folder holding the config or a
  data file (or any parent of one): those are refused with exit 2 before any request.
* ``.evalstack-run`` holds the manifest: every file evalstack wrote in the folder (paths relative to it).
  evalstack deletes a file only if the manifest lists it (a stale plot of an earlier run), never one that
  someone else put there.
* A symlink at a name evalstack writes (``run.json``, ``.evalstack.lock``, ``review/``...) is refused.
* Readers (``gate``, ``review``, :func:`evalstack.api.load`) refuse an unfinished folder: the run's lock
  file is still there, or examples.jsonl is not the one run.json was built with (its sha256 differs).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import ConfigError, DataError

MARKER = ".evalstack-run"
LOCK = ".evalstack.lock"
OWN_DIRS = ("review", "plots", "curves")
_OWN_FILES = (MARKER, LOCK, "run.json", "examples.jsonl", "report.md", "report.html", "junit.xml")
_MARKER_TEMP = re.compile(r"^\.\.evalstack-run\.[0-9a-f]+\.tmp$")
_FIX = "set `output:` (or --out) to a new or empty folder, e.g. output: reports/<name>"


def _refused(out: Path, protected: Iterable[tuple[str, Path]]) -> str | None:
    """Why ``out`` (resolved) can never be an output folder, or None."""
    if out == Path(out.anchor):
        return "it is the root folder /"
    home = Path(os.path.expanduser("~"))
    if home.is_absolute() and out == home.resolve():
        return "it is the home folder"
    for what, path in protected:
        p = Path(os.path.abspath(path)).resolve()
        if out == p:
            return f"it is the {what}"
        if out in p.parents:
            return f"it holds the {what} {p.relative_to(out)}"
    return None


def protected_paths(cfg: Any) -> list[tuple[str, Path]]:
    """The files of a config that an output folder must not hold: the config itself, data files (and
    replay, curves and rubric files)."""
    out: list[tuple[str, Path]] = [("config", cfg.source)] if cfg.source else []
    models = [*cfg.models.values(), *([cfg.judge] if cfg.judge else [])]
    for t in cfg.tasks:
        out.append(("data file", t.data.path))
        for j in [*t.judges, *t.pairwise]:
            models.append(j.judge) if j.judge is not None else None
            if j.rubric.endswith((".yaml", ".yml")) or "/" in j.rubric:
                out.append(("rubric file", Path(j.rubric)))
    out += [("data file", m.path) for m in models if isinstance(getattr(m, "path", None), Path)]
    out += [("curves file", c.path) for c in cfg.curves]
    return out


def claim(out: Path, *, where: str, protected: Iterable[tuple[str, Path]] = ()) -> None:
    """Check ``out`` and make it evalstack's own (marker first). ``protected``: (what, path) of files the
    folder must not hold, e.g. ("config", cfg.yaml), ("data file", data.jsonl). ``where`` names the key
    (``cfg.yaml: output`` or ``--out``) in the one-line error."""
    real = Path(os.path.abspath(out)).resolve()
    reason = _refused(real, protected)
    if reason:
        raise ConfigError(f"evalstack will not write into {out}: {reason}", where=where, hint=_FIX)
    if real.exists() and not real.is_dir():
        raise ConfigError(f"{out} is a file, not a folder", where=where, hint=_FIX)
    if real.is_dir():
        marked = os.path.lexists(real / MARKER)
        if not marked:
            _drop_marker_temps(real)  # a run killed while writing its marker left only its temp file
        if not marked and any(os.scandir(real)):
            raise ConfigError(
                f"{out} is not empty and has no {MARKER} marker (evalstack did not write it)",
                where=where,
                hint=f"{_FIX}; evalstack never writes over files it did not write",
            )
        check_symlinks(real)
    try:
        real.mkdir(parents=True, exist_ok=True)
        files = manifest(real)
        _write_manifest(real, files)  # also the writability probe: O_EXCL temp file + rename
    except OSError as exc:
        raise ConfigError(
            f"output folder is not writable: {exc.strerror}",
            where=str(out),
            hint="choose another with --out or `output:`",
        ) from None


def _drop_marker_temps(out: Path) -> None:
    for entry in os.scandir(out):
        if _MARKER_TEMP.match(entry.name) and entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)


def check_symlinks(out: Path) -> None:
    """Refuse a symlink at any name evalstack writes in ``out`` (exit 2)."""
    from ._io import SymlinkRefused

    for name in (*_OWN_FILES, *OWN_DIRS):
        p = out / name
        if p.is_symlink():
            raise SymlinkRefused(p)
    for d in OWN_DIRS:
        if (out / d).is_dir():
            for entry in os.scandir(out / d):
                if entry.is_symlink():
                    raise SymlinkRefused(Path(entry.path))


# ---------------------------------------------------------------- the manifest


def manifest(out: Path) -> set[str]:
    """The files evalstack wrote in ``out`` (empty when the folder has no readable marker)."""
    try:
        data = json.loads((Path(out) / MARKER).read_text(encoding="utf-8"))
        files = data.get("files", []) if isinstance(data, dict) else []
        return {f for f in files if isinstance(f, str)}
    except (OSError, ValueError):
        return set()


def _write_manifest(out: Path, files: set[str]) -> None:
    from . import __version__
    from ._io import atomic_write_json

    atomic_write_json(
        Path(out) / MARKER,
        {
            "written_by": f"evalstack {__version__}",
            "note": "evalstack writes into this folder and deletes only the files listed here",
            "files": sorted(files),
        },
        root=out,
    )


def _rel(out: Path, paths: Iterable[Path]) -> set[str]:
    return {Path(p).relative_to(out).as_posix() for p in paths}


def record(out: Path, paths: Iterable[Path]) -> None:
    """Add ``paths`` (inside ``out``) to the manifest before they are written. A folder without a marker is
    not evalstack's: nothing is recorded (and so nothing there is ever deleted)."""
    out = Path(out)
    if not os.path.lexists(out / MARKER):
        return
    have = manifest(out)
    new = have | _rel(out, paths)
    if new != have:
        _write_manifest(out, new)


def remove_stale(out: Path, folder: str, keep: Iterable[Path], patterns: tuple[str, ...] = ("*.png",)) -> None:
    """Delete the files of ``out/folder`` that the manifest lists, match ``patterns`` and are not in
    ``keep`` (an earlier run's plots); then drop them from the manifest. Nothing else is touched."""
    out = Path(out)
    have = manifest(out)
    keep_rel = _rel(out, keep)
    stale = {
        f for f in have if f.startswith(f"{folder}/") and f not in keep_rel and any(Path(f).match(p) for p in patterns)
    }
    if not stale:
        return
    for rel in sorted(stale):
        p = out / rel
        try:
            if stat.S_ISREG(os.lstat(p).st_mode):
                p.unlink()
        except FileNotFoundError:
            pass
    _write_manifest(out, have - stale)


# ---------------------------------------------------------------- readers


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _reports_complete(lock: Path) -> bool:
    """The lock of a run that wrote every report file (only its trackers were left): readable."""
    try:
        fd = os.open(lock, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
        try:
            info = json.loads(os.read(fd, 4096) or b"null")
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("reports_complete") is True


def unfinished_reason(folder: Path, examples_sha256: str | None) -> str | None:
    """Why the run folder ``folder`` is not a finished run, or None."""
    if os.path.lexists(folder / LOCK) and not _reports_complete(folder / LOCK):
        return f"the run writing this folder did not finish ({LOCK} is still there)"
    examples = folder / "examples.jsonl"
    if examples_sha256 and examples.is_file() and sha256_file(examples) != examples_sha256:
        return "examples.jsonl is not the one run.json was built with (its sha256 differs): a mix of two runs"
    return None


def ensure_finished(folder: Path, examples_sha256: str | None, *, allow_unfinished: bool) -> None:
    """Raise DataError (exit 2) for an unfinished folder; with ``allow_unfinished`` warn instead."""
    reason = unfinished_reason(folder, examples_sha256)
    if reason is None:
        return
    if allow_unfinished:
        warnings.warn(f"{folder}: {reason}; read as it is (--allow-unfinished)", RuntimeWarning, stacklevel=3)
        return
    raise DataError(
        reason,
        where=str(folder),
        hint="run --resume first: evalstack run CONFIG --out FOLDER --resume; or read it as it is "
        "with --allow-unfinished (allow_unfinished=True in Python)",
    )

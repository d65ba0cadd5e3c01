"""Review labels: append-only JSONL files in the run folder, one per reviewer file, merged on read.

A label says what a reviewer found on one example and model: ``ok``, ``model_wrong``, ``gold_wrong`` or
``judge_wrong``, with an optional corrected label or score and a note, who and when. Each write is one
line appended under an exclusive ``flock`` with ``O_APPEND`` (and ``O_NOFOLLOW``: a symlink planted
under the name is refused) and fsynced, so two reviewers writing at once lose nothing. Reading merges
``labels.jsonl`` and ``labels-*.jsonl`` (several reviewers' files copied into the folder); a torn last
line (a crash mid-write) is skipped, never fatal.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import DataError

LABELS = ("ok", "model_wrong", "gold_wrong", "judge_wrong")
FILE = "labels.jsonl"
MAX_NOTE = 4000


def check_label(label: str, corrected: Any, note: str | None) -> tuple[str, Any, str]:
    """The label, corrected value and note, validated (DataError naming the fix otherwise)."""
    if label not in LABELS:
        raise DataError(f"unknown label {label!r}", hint=f"one of: {', '.join(LABELS)}")
    if corrected is not None and not isinstance(corrected, (str, int, float)):
        raise DataError("corrected must be a label or a number")
    if isinstance(corrected, str):
        corrected = corrected.strip() or None
    if corrected is not None and len(str(corrected)) > 1000:
        raise DataError("corrected is over 1,000 characters")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise DataError(f"the note is over {MAX_NOTE:,} characters")
    return label, corrected, note


def append_label(
    run_dir: Path,
    *,
    task: str,
    model: str,
    ex_id: str,
    label: str,
    corrected: Any = None,
    note: str | None = None,
    who: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Append one validated label line to ``run_dir/labels.jsonl`` (atomic append, fsynced)."""
    label, corrected, note = check_label(label, corrected, note)
    row = {
        "task": task,
        "model": model,
        "id": ex_id,
        "label": label,
        "corrected": corrected,
        "note": note,
        "who": who,
        "at": (now or datetime.now(UTC)).isoformat(timespec="microseconds"),
    }
    data = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace")
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(Path(run_dir) / FILE, flags, 0o644)
    except OSError as exc:
        raise DataError(f"cannot write labels: {exc.strerror}", where=str(Path(run_dir) / FILE)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock
    return row


def read_labels(run_dir: Path) -> list[dict[str, Any]]:
    """Every label of the run folder's label files, in file order (torn or foreign lines skipped)."""
    out = []
    for path in sorted(Path(run_dir).glob("labels*.jsonl")):
        if path.is_symlink() or not path.is_file():
            continue
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if (
                    isinstance(row, dict)
                    and row.get("label") in LABELS
                    and all(isinstance(row.get(k), str) for k in ("task", "model", "id"))
                ):
                    out.append(row)
    return out


def latest_labels(run_dir: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The newest label per (task, model, id), whoever wrote it."""
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in read_labels(run_dir):
        key = (row["task"], row["model"], row["id"])
        if key not in latest or str(row.get("at", "")) >= str(latest[key].get("at", "")):
            latest[key] = row
    return latest

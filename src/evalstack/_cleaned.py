"""A run on a cleaned held-out set says how many rows the cleaning changed (issue 18).

`evalstack labels export RUN --as cleaned-data --out FILE` writes FILE and ``FILE.changelog.jsonl`` (a head
row ``{source, task, dropped, corrected}``, then one row per change). When a task's data file has that
changelog beside it, the run records (run.json ``settings.cleaned_data``, only then) and the reports say:
how many rows were corrected or dropped against the original, and which (ids, with the old and new gold
of a corrected row, and each kept row's path in `evalstack view`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["cleaned_data", "cleaned_lines"]

SHOWN = 20


def _one(data_path: Path) -> dict[str, Any] | None:
    log = data_path.with_name(data_path.name + ".changelog.jsonl")
    if not log.is_file():
        return None
    try:
        rows = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines() if x.strip()]
    except (OSError, ValueError):
        return None
    if not rows or not isinstance(rows[0], dict) or "source" not in rows[0]:
        return None
    head, changes = rows[0], [r for r in rows[1:] if isinstance(r, dict) and "id" in r]
    return {
        "changelog": log.name,
        "source": Path(str(head.get("source"))).name,
        "corrected": int(head.get("corrected") or 0),
        "dropped": int(head.get("dropped") or 0),
        "changes": [
            {k: r.get(k) for k in ("id", "change", "old", "new")}
            if r.get("change") == "corrected"
            else {"id": r["id"], "change": "dropped"}
            for r in changes
        ],
    }


def cleaned_data(plans: Sequence[Any]) -> dict[str, Any]:
    """``{"cleaned_data": {task: record}}`` for the tasks whose data file carries an evalstack changelog
    (``{}`` when none does, so run.json of other runs is unchanged)."""
    found = {p.name: rec for p in plans if (rec := _one(Path(p.cfg.data.path))) is not None}
    return {"cleaned_data": found} if found else {}


def cleaned_lines(settings: dict[str, Any], task: str, run_name: str | None = None) -> list[str]:
    """What the reports say about a task's cleaned data ([] when its data was not cleaned)."""
    rec = (settings.get("cleaned_data") or {}).get(task)
    if not rec:
        return []
    out = [
        f"Cleaned data: this task's held-out set is `labels export` of {rec['source']}: {rec['corrected']} "
        f"row(s) corrected, {rec['dropped']} dropped against the original (changelog: {rec['changelog']})"
    ]
    for c in rec["changes"][:SHOWN]:
        if c["change"] == "corrected":
            where = f"e/{run_name}/{task}/{c['id']}" if run_name else ""
            out.append(f"{c['id']}: gold {c.get('old')!s} -> {c.get('new')!s}" + (f" (view: {where})" if where else ""))
        else:
            out.append(f"{c['id']}: dropped")
    if len(rec["changes"]) > SHOWN:
        out.append(f"... and {len(rec['changes']) - SHOWN} more in {rec['changelog']}")
    return out

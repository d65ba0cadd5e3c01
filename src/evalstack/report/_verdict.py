"""The verdict headline, with the note that deltas are not like-for-like (runs whose digests differ, compared
with ``--allow-mismatch``: run.json ``settings.not_like_for_like``)."""

from __future__ import annotations

__all__ = ["verdict"]

from ..results import RunResult
from ._view import Verdict
from ._view import verdict as _verdict


def verdict(run: RunResult) -> Verdict:
    """:func:`evalstack.report._view.verdict`, its headline saying when the deltas are not like-for-like."""
    v = _verdict(run)
    from ..cost import stop_sentence

    stop = stop_sentence((run.settings or {}).get("max_cost"))  # run --max-cost stopped sending
    if v.status == "incomplete" and stop:
        v.headline = f"INCOMPLETE: {stop}; the gate was not judged." if run.gate else f"INCOMPLETE: {stop}."
    marks = (run.settings or {}).get("not_like_for_like")
    if marks:
        v.headline += f" Deltas are NOT LIKE-FOR-LIKE ({'; '.join(map(str, marks))})."
    return v

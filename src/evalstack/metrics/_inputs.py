"""Checks and shapes shared by metrics: predictions, references (one or several per example), context columns.

Bad data (a references column of the wrong length, a reference that is not text) is a
:class:`~evalstack.errors.DataError` naming the metric and the example index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError


def check_predictions(metric: str, predictions: Sequence[Any]) -> list[str | None]:
    """Predictions as a list; each item a string or None (failed generation)."""
    preds = list(predictions)
    for i, p in enumerate(preds):
        if p is not None and not isinstance(p, str):
            raise DataError(f"metric '{metric}': prediction {i} is {type(p).__name__}, expected text or null")
    return preds


def reference_lists(metric: str, references: Sequence[Any] | None, n: int) -> list[list[str] | None]:
    """References as one list of strings per example (None where the example has no reference).

    A string is one reference; a list/tuple of strings is several. Raises DataError when references are
    missing or their count differs from the predictions'.
    """
    if references is None:
        raise DataError(
            f"metric '{metric}' needs references",
            hint="set `reference:` (or `target:`) of the task to the column that holds them",
        )
    refs = list(references)
    if len(refs) != n:
        raise DataError(f"metric '{metric}': {len(refs)} references for {n} predictions")
    out: list[list[str] | None] = []
    for i, r in enumerate(refs):
        if r is None:
            out.append(None)
        elif isinstance(r, str):
            out.append([r])
        elif isinstance(r, (list, tuple)) and all(isinstance(x, str) for x in r):
            out.append(list(r) if r else None)
        else:
            raise DataError(f"metric '{metric}': reference {i} is {type(r).__name__}, expected text or a list of texts")
    return out


def context_column(metric: str, context: dict[str, Any], key: str, n: int) -> list[Any]:
    """A per-example context column, checked for presence and length."""
    col = context.get(key)
    if col is None:
        raise DataError(
            f"metric '{metric}' needs the per-example column '{key}'",
            hint="set the task's `context:` to the column that holds it"
            if key == "knowledge"
            else f"give the task a `{key}` column",
        )
    col = list(col)
    if len(col) != n:
        raise DataError(f"metric '{metric}': column '{key}' has {len(col)} rows for {n} predictions")
    return col


def scored_mask(preds: Sequence[Any], refs: Sequence[Any] | None = None) -> np.ndarray:
    """True where the prediction (and the reference, when given) exist."""
    ok = np.array([p is not None for p in preds], dtype=bool)
    if refs is not None:
        ok &= np.array([r is not None for r in refs], dtype=bool)
    return ok

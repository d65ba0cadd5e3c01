"""One metric of one model: the value and its CI (:func:`metric_summary`).

- **0/1 scores** (accuracy, exact match, toxicity rate...): the **Wilson** score interval. The percentile
  bootstrap used before over-covered a rate at small n (exact coverage at a nominal 95%: 99.7% at n = 50,
  p = 0.95; 99.8% at n = 20, p = 0.9) and collapses to a point at 0/n. Wilson's exact coverage at those
  two points: 96.2% and 95.7%; averaged over p in [0.05, 0.95]: 95.3% (n = 20) to 95.0% (n = 300), lowest
  92.5% (n = 20), the oscillation of any interval for a discrete rate. In the simulated intent task
  (n = 300, accuracy 0.8): 95.0%. All measured by ``bench/verdict_quality.py`` (``--coverage`` for the
  exact table).
- **Everything else** (ROUGE, BERTScore, judge scores, macro F1, BLEU): the percentile bootstrap over
  examples (sufficient statistics resampled, so corpus metrics are recomputed per resample); macro F1's
  95% interval covered 94.8% in the same simulation. Known limit: when every scored example has the same
  non-binary score, the interval has zero width.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np

from ..metrics import MetricResult
from ..results import MetricSummary
from ._binary import wilson_interval
from ._resample import percentile_interval, resampled_sums


def restrict(result: MetricResult, mask: np.ndarray) -> MetricResult:
    """The same metric over the examples where ``mask`` is True only (rows outside are dropped).

    The value is recomputed from the sufficient statistics; ``details`` (a confusion matrix of the
    whole task, for instance) no longer apply and are dropped. Use the same mask for every model so that
    the restricted results stay aligned example by example.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != result.scored.shape:
        raise ValueError(f"mask has shape {mask.shape}, the metric has {result.scored.shape[0]} examples")
    scored = result.scored[mask]
    stats = result.suff_stats[mask]
    value = _finite(result.from_stats(stats[scored].sum(axis=0))) if scored.any() else None
    per_example = None if result.per_example is None else [x for x, m in zip(result.per_example, mask) if m]
    return replace(result, value=value, per_example=per_example, scored=scored.copy(), suff_stats=stats, details={})


def metric_summary(
    result: MetricResult, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> MetricSummary:
    """Value, CI (Wilson for 0/1 scores, else percentile bootstrap), n and unscored count of one metric result.

    Resamples the scored examples with replacement ``n_resamples`` times (count matrices over the
    sufficient statistics, so corpus metrics like macro F1 and BLEU are recomputed per resample).
    Deterministic for a given ``seed``. No CI (None) for fewer than 2 scored examples; resamples where
    the metric is undefined (NaN) are left out. JSON-able entries of ``result.details`` are kept.
    """
    _check_settings(confidence, n_resamples)
    stats = result.suff_stats[result.scored]
    ci = None
    if len(stats) >= 2 and not _binary_mean(result):
        (sums,) = resampled_sums([stats], n_resamples=n_resamples, seed=seed)
        ci = percentile_interval(np.asarray(result.from_stats(sums), dtype=float), confidence)
    value = result.value
    if value is None and len(stats):
        value = float(result.from_stats(stats.sum(axis=0)))
    method = "percentile_bootstrap" if ci is not None else None
    if len(stats) >= 2 and value is not None and _binary_mean(result):
        ci, method = wilson_interval(int(round(value * len(stats))), len(stats), confidence), "wilson"
    return MetricSummary(
        value=_finite(value),
        ci_low=None if ci is None else ci[0],
        ci_high=None if ci is None else ci[1],
        n=result.n,
        unscored=result.unscored,
        higher_is_better=result.higher_is_better,
        corpus_only=result.corpus_only,
        ci_method=method,
        details=jsonable(result.details),
    )


def _binary_mean(result: MetricResult) -> bool:
    """A mean of 0/1 per-example scores (accuracy, toxicity rate, exact match...)."""
    if result.corpus_only or result.per_example is None:
        return False
    vals = [v for v in result.per_example if v is not None]
    return bool(vals) and all(v in (0.0, 1.0) for v in vals)


def _check_settings(confidence: float, n_resamples: int) -> None:
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0.5 and 1 (got {confidence})")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1 (got {n_resamples})")


def _finite(x: Any) -> float | None:
    """A plain float, or None for None/NaN/inf (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def jsonable(details: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``details`` that survive JSON (numpy arrays/scalars converted, others dropped)."""
    out: dict[str, Any] = {}
    for key, val in details.items():
        try:
            json.dumps(val, default=_to_builtin, allow_nan=False)
        except (TypeError, ValueError):
            continue
        out[key] = json.loads(json.dumps(val, default=_to_builtin))
    return out


def _to_builtin(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(type(obj).__name__)

"""Per-task statistics as the pipeline needs them: every metric of every model, deltas, slices, Holm."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..metrics import MetricResult
from ..results import DeltaSummary, MetricSummary, SliceSummary
from ._paired import paired_delta
from ._summary import metric_summary, restrict

ResultsByModel = Mapping[str, Mapping[str, MetricResult]]


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in the input order (None/NaN stay None and are not counted).

    Sorted ascending, the i-th smallest (0-based) of m p-values becomes ``max_{j <= i} min(1, (m - j) p_(j))``;
    rejecting where the adjusted p < alpha controls the family-wise error rate at alpha.
    """
    valid = {i: float(p) for i, p in enumerate(p_values) if p is not None and not math.isnan(p)}
    m = len(valid)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, i in enumerate(sorted(valid, key=valid.__getitem__)):
        running = max(running, min(1.0, (m - rank) * valid[i]))
        out[i] = running
    return out


def _settings(settings: Any) -> tuple[float, int, int]:
    if settings is None:
        from ..config import StatsSettings

        settings = StatsSettings()
    return float(settings.confidence), int(settings.n_resamples), int(settings.seed)


def task_summaries(
    results_by_model: ResultsByModel,
    baseline: str,
    settings: Any = None,
    *,
    keep_quantiles: bool = True,
) -> tuple[dict[str, dict[str, MetricSummary]], dict[str, dict[str, DeltaSummary]]]:
    """Summaries of one task: ``(metrics[model][key], deltas[model][key])``.

    ``results_by_model`` maps each model name to its results by metric key, all aligned on the task's
    examples; ``settings`` is a :class:`~evalstack.config.StatsSettings` (confidence, n_resamples, seed;
    default when None). Deltas are ``model - baseline`` for every non-baseline model and every key the
    baseline has too. Every summary uses the same seed, so all metrics of a model see the same resamples.
    """
    if baseline not in results_by_model:
        raise ValueError(f"baseline '{baseline}' has no results (models: {', '.join(results_by_model)})")
    confidence, n_resamples, seed = _settings(settings)
    metrics = {
        model: {
            key: metric_summary(r, confidence=confidence, n_resamples=n_resamples, seed=seed)
            for key, r in by_key.items()
        }
        for model, by_key in results_by_model.items()
    }
    base = results_by_model[baseline]
    deltas = {
        model: {
            key: paired_delta(
                r, base[key], confidence=confidence, n_resamples=n_resamples, seed=seed, keep_quantiles=keep_quantiles
            )
            for key, r in by_key.items()
            if key in base
        }
        for model, by_key in results_by_model.items()
        if model != baseline
    }
    return metrics, deltas


def slice_summaries(
    results_by_model: ResultsByModel, baseline: str, slice_values: Sequence[Any], column: str, settings: Any = None
) -> list[SliceSummary]:
    """Metrics and deltas per value of a slice column (e.g. ticket category), sorted by value.

    ``slice_values`` holds the column's value for each example of the task (aligned with the results);
    examples whose value is None belong to no slice. ``n`` of a slice counts its examples, scored or not.
    Slice deltas carry no quantile sketch (the gate judges whole tasks).
    """
    values = [None if v is None else str(v) for v in slice_values]
    sizes = {r.scored.size for by_key in results_by_model.values() for r in by_key.values()}
    if sizes and sizes != {len(values)}:
        raise ValueError(f"slice column '{column}' has {len(values)} values, the results {sorted(sizes)} examples")
    arr = np.array(values, dtype=object)
    out = []
    for value in sorted({v for v in values if v is not None}):
        mask = arr == value
        restricted = {
            model: {key: restrict(r, mask) for key, r in by_key.items()} for model, by_key in results_by_model.items()
        }
        metrics, deltas = task_summaries(restricted, baseline, settings, keep_quantiles=False)
        out.append(SliceSummary(column=column, value=value, n=int(mask.sum()), metrics=metrics, deltas=deltas))
    return out

"""Statistics: bootstrap CIs, paired deltas with tests, Holm, slices (pure numpy; scipy imported lazily).

Public API::

    from evalstack.stats import metric_summary, paired_delta, task_summaries
    summary = metric_summary(result, confidence=0.95, n_resamples=2000, seed=0)   # -> MetricSummary
    delta = paired_delta(finetuned, base, confidence=0.95, n_resamples=2000, seed=0)  # -> DeltaSummary
    metrics, deltas = task_summaries({"base": {...}, "ft": {...}}, "base", settings)

Everything resamples sufficient statistics through multinomial count matrices (see ``_resample``), so
corpus metrics (macro F1, balanced accuracy, BLEU) are recomputed per resample without Python loops.
"""

from ._paired import (
    binomial_two_sided,
    bootstrap_p_value,
    mcnemar_exact,
    paired_delta,
    paired_test,
    verdict,
    wins_losses_ties,
)
from ._quantiles import TAIL_LEVELS, BootstrapQuantiles, quantile_sketch
from ._resample import percentile_interval, resampled_sums
from ._summary import metric_summary, restrict
from ._tasks import holm, slice_summaries, task_summaries

__all__ = [
    "TAIL_LEVELS",
    "BootstrapQuantiles",
    "binomial_two_sided",
    "bootstrap_p_value",
    "holm",
    "mcnemar_exact",
    "metric_summary",
    "paired_delta",
    "paired_test",
    "percentile_interval",
    "quantile_sketch",
    "resampled_sums",
    "restrict",
    "slice_summaries",
    "task_summaries",
    "verdict",
    "wins_losses_ties",
]

"""Statistics: bootstrap CIs, paired deltas with tests, Holm, slices (pure numpy; scipy imported lazily).

Public API::

    from evalstack.stats import metric_summary, paired_delta, task_summaries
    summary = metric_summary(result, confidence=0.95, n_resamples=2000, seed=0)   # -> MetricSummary
    delta = paired_delta(finetuned, base, confidence=0.95, n_resamples=2000, seed=0)  # -> DeltaSummary
    metrics, deltas = task_summaries({"base": {...}, "ft": {...}}, "base", settings)

Everything resamples sufficient statistics through multinomial count matrices (see ``_resample``), so
corpus metrics (macro F1, balanced accuracy, BLEU) are recomputed per resample without Python loops.

Also here, for the other packages (which import only these names, never a ``stats._module``): closed-form
binary intervals (Wilson, Tango), the gate's power planning (``evalstack plan``), length bias of pairwise
judges, judge-mean corrections by human labels (PPI++, Rogan-Gladen) and label-suspect ranking.
"""

from ._binary import tango_interval, tango_p_at_least, tango_p_at_most, wilson_interval
from ._correct import ppi_mean, rogan_gladen
from ._lengthbias import length_bias
from ._paired import (
    binary_counts,
    binomial_two_sided,
    bootstrap_p_value,
    mcnemar_exact,
    paired_delta,
    paired_test,
    verdict,
    wins_losses_ties,
)
from ._power import (
    MAX_N,
    Plan,
    connor_n,
    mcnemar_mde,
    mcnemar_n,
    mcnemar_power,
    null_differences,
    ttest_n,
    wilcoxon_mde,
    wilcoxon_n,
    wilcoxon_power,
)
from ._quantiles import TAIL_LEVELS, BootstrapQuantiles, quantile_sketch, sketch_levels
from ._resample import percentile_interval, resampled_sums
from ._summary import metric_summary, restrict
from ._suspects import agreement_probs, find_suspects, label_token_probs, probs_from_label_probs
from ._tasks import holm, slice_summaries, task_summaries

__all__ = [
    "BootstrapQuantiles",
    "MAX_N",
    "Plan",
    "TAIL_LEVELS",
    "agreement_probs",
    "binary_counts",
    "binomial_two_sided",
    "bootstrap_p_value",
    "connor_n",
    "find_suspects",
    "label_token_probs",
    "probs_from_label_probs",
    "holm",
    "length_bias",
    "mcnemar_exact",
    "mcnemar_mde",
    "mcnemar_n",
    "mcnemar_power",
    "metric_summary",
    "null_differences",
    "paired_delta",
    "paired_test",
    "percentile_interval",
    "ppi_mean",
    "quantile_sketch",
    "sketch_levels",
    "resampled_sums",
    "restrict",
    "rogan_gladen",
    "slice_summaries",
    "tango_interval",
    "tango_p_at_least",
    "tango_p_at_most",
    "task_summaries",
    "ttest_n",
    "verdict",
    "wilcoxon_mde",
    "wilcoxon_n",
    "wilcoxon_power",
    "wilson_interval",
    "wins_losses_ties",
]

"""``model - baseline`` on the examples both scored: paired bootstrap CI, paired test, wins/losses/ties.

The paired test (two-sided), chosen from the per-example scores of the jointly scored examples:

- ``mcnemar_exact`` when every per-example score of both models is 0 or 1: the exact binomial test on
  the discordant pairs (model right / baseline wrong vs the reverse), p = min(1, 2 P(X <= min(b, c)))
  with X ~ Binomial(b + c, 1/2).
- ``sign`` when the scores are not binary but every non-zero difference has the same size (e.g. a
  half-credit metric): then Wilcoxon's ranks are all tied and it reduces to the sign test, done exactly.
- ``wilcoxon`` otherwise (ROUGE, BERTScore, judge scores): Wilcoxon signed-rank with
  ``zero_method="pratt"``: tied pairs (identical outputs, common in LLM evaluation) are ranked, then
  dropped, which keeps their weight in the ranks of the others (Pratt 1959; the "wilcox" default drops
  them first and overstates significance when many pairs tie). scipy picks exact vs normal-approximation.
- ``paired_bootstrap`` for corpus-only metrics (macro F1, BLEU): p = min(1, 2 min(P*(d <= 0), P*(d >= 0)))
  over the joint resamples, with +1 smoothing; it is the p-value that inverts the percentile CI, so
  p < 1 - confidence exactly when the CI excludes 0 (up to interpolation).

Differences within 1e-12 count as ties. The verdict reads the CI (not the test): the CI of the delta
excludes 0 on the good or the bad side of the metric's direction, or not.
"""

from __future__ import annotations

import numpy as np

from ..metrics._base import MetricResult
from ..results import DeltaSummary
from ._quantiles import quantile_sketch
from ._resample import percentile_interval, resampled_sums
from ._summary import _check_settings, _finite

_TIE = 1e-12


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of k successes in n fair coin flips: min(1, 2 P(X <= min(k, n - k)))."""
    if n == 0:
        return 1.0
    from scipy.stats import binom

    return float(min(1.0, 2.0 * binom.cdf(min(k, n - k), n, 0.5)))


def mcnemar_exact(model: np.ndarray, baseline: np.ndarray) -> float:
    """Exact McNemar p-value of two paired 0/1 score arrays (the binomial test on discordant pairs)."""
    m, b = np.asarray(model) > 0.5, np.asarray(baseline) > 0.5
    return binomial_two_sided(int((m & ~b).sum()), int((m ^ b).sum()))


def paired_test(model: np.ndarray, baseline: np.ndarray) -> tuple[str, float]:
    """(test name, two-sided p) for paired per-example scores; see the module docstring for the choice."""
    x, y = np.asarray(model, dtype=float), np.asarray(baseline, dtype=float)
    if np.isin(x, (0.0, 1.0)).all() and np.isin(y, (0.0, 1.0)).all():
        return "mcnemar_exact", mcnemar_exact(x, y)
    d = x - y
    nonzero = d[np.abs(d) > _TIE]
    if nonzero.size == 0:
        return "wilcoxon", 1.0
    if np.ptp(np.abs(nonzero)) <= _TIE:
        return "sign", binomial_two_sided(int((nonzero > 0).sum()), int(nonzero.size))
    from scipy.stats import wilcoxon

    d = np.where(np.abs(d) > _TIE, d, 0.0)
    return "wilcoxon", float(wilcoxon(d, zero_method="pratt").pvalue)


def wins_losses_ties(model: np.ndarray, baseline: np.ndarray, higher_is_better: bool) -> tuple[int, int, int]:
    """Examples where the model scored better / worse / the same as the baseline (direction-aware)."""
    d = np.asarray(model, dtype=float) - np.asarray(baseline, dtype=float)
    if not higher_is_better:
        d = -d
    win, loss = d > _TIE, d < -_TIE
    return int(win.sum()), int(loss.sum()), int((~win & ~loss).sum())


def bootstrap_p_value(deltas: np.ndarray) -> float | None:
    """Two-sided paired-bootstrap p-value of ``delta == 0`` from the resampled deltas (see module doc)."""
    d = deltas[np.isfinite(deltas)]
    if d.size == 0:
        return None
    tail = min((d <= 0).sum(), (d >= 0).sum())
    return float(min(1.0, 2.0 * (tail + 1) / (d.size + 1)))


def verdict(ci: tuple[float, float] | None, higher_is_better: bool) -> str:
    """better / worse when the delta's CI excludes 0 on that side; no_significant_change; unknown (no CI)."""
    if ci is None:
        return "unknown"
    if ci[0] > 0:
        return "better" if higher_is_better else "worse"
    if ci[1] < 0:
        return "worse" if higher_is_better else "better"
    return "no_significant_change"


def paired_delta(model: MetricResult, baseline: MetricResult, *, confidence: float = 0.95,
                 n_resamples: int = 2000, seed: int = 0, keep_quantiles: bool = True) -> DeltaSummary:
    """``model - baseline`` over the examples both scored, with a paired bootstrap CI and a paired test.

    Both results must be aligned example by example (same task, same order). The same resample indices
    are used for both (joint resampling), so the CI accounts for the pairing, corpus metrics included:
    each resampled delta is ``model.from_stats(C @ S_m) - baseline.from_stats(C @ S_b)``. With
    ``keep_quantiles`` the delta keeps a quantile sketch of its bootstrap distribution (for gates at
    another confidence, and Holm). No CI for fewer than 2 jointly scored examples.
    """
    _check_settings(confidence, n_resamples)
    if model.scored.shape != baseline.scored.shape:
        raise ValueError(f"'{model.key}': model has {model.scored.size} examples, baseline {baseline.scored.size}")
    if model.higher_is_better != baseline.higher_is_better:
        raise ValueError(f"'{model.key}': model and baseline disagree on higher_is_better")
    hib = model.higher_is_better
    both = model.scored & baseline.scored
    n = int(both.sum())
    if n == 0:
        return DeltaSummary(delta=None, n=0, confidence=confidence)
    sm, sb = model.suff_stats[both], baseline.suff_stats[both]
    delta = _finite(float(model.from_stats(sm.sum(0))) - float(baseline.from_stats(sb.sum(0))))
    ci = sketch = boot_p = None
    if n >= 2:
        rm, rb = resampled_sums([sm, sb], n_resamples=n_resamples, seed=seed)
        deltas = np.asarray(model.from_stats(rm), dtype=float) - np.asarray(baseline.from_stats(rb), dtype=float)
        ci = percentile_interval(deltas, confidence)
        sketch = quantile_sketch(deltas, confidence) if keep_quantiles else None
        boot_p = bootstrap_p_value(deltas)
    x, y = _per_example_pairs(model, baseline, both)
    test, p = "paired_bootstrap", boot_p
    if x is not None and not (model.corpus_only or baseline.corpus_only) and len(x):
        test, p = paired_test(x, y)
    wins, losses, ties = wins_losses_ties(x, y, hib) if x is not None else (0, 0, 0)
    return DeltaSummary(delta=delta, ci_low=None if ci is None else ci[0], ci_high=None if ci is None else ci[1],
                        p_value=_finite(p), test=test, n=n, wins=wins, losses=losses, ties=ties,
                        verdict=verdict(ci, hib), confidence=confidence, quantiles=sketch)


def _per_example_pairs(model: MetricResult, baseline: MetricResult, both: np.ndarray):
    """Per-example scores of both models where both have one (None when either has no per-example list)."""
    if model.per_example is None or baseline.per_example is None:
        return None, None
    idx = [i for i in np.flatnonzero(both) if model.per_example[i] is not None and baseline.per_example[i] is not None]
    return (np.array([model.per_example[i] for i in idx], dtype=float),
            np.array([baseline.per_example[i] for i in idx], dtype=float))

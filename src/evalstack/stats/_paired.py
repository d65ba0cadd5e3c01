"""``model - baseline`` on the examples both scored: the CI and the p-value of one method, so they agree.

For each delta the CI, the p-value and the verdict come from one method (the verdict says "better" /
"worse" exactly when p < 1 - confidence, exactly when the CI excludes 0):

- ``mcnemar`` when every per-example score of both models is 0 or 1: McNemar's asymptotic test (no
  continuity correction) on the discordant pairs, with **Tango's score interval** of the difference, the
  interval that inverts the same score test (``_binary``). The gate recomputes it at its own confidence
  from the stored counts (wins, losses, n).
- ``paired_bootstrap`` otherwise (ROUGE, BERTScore, judge scores, corpus-only metrics like macro F1 and
  BLEU): the percentile CI of the paired bootstrap, and the p-value that inverts it,
  ``p = min(1, 2 min(P*(d <= 0), P*(d >= 0)))`` read from the same quantile function as the CI.

:func:`paired_test` (exact McNemar, sign test, Wilcoxon signed-rank with Pratt's zero handling) stays
available as a library function; deltas no longer show it, because its decision can differ from the
CI's (a row once read ``p 0.0625 (mcnemar_exact) ... worse``).

Differences within 1e-12 count as ties.
"""

from __future__ import annotations

import numpy as np

from ..metrics import MetricResult
from ..results import DeltaSummary
from ._binary import mcnemar_p, tango_interval
from ._quantiles import BootstrapQuantiles, quantile_sketch
from ._resample import resampled_sums
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


def paired_delta(
    model: MetricResult,
    baseline: MetricResult,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    keep_quantiles: bool = True,
) -> DeltaSummary:
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
    pairs = _per_example_pairs(model, baseline, both)
    x, y = pairs if pairs is not None else (np.empty(0), np.empty(0))
    wins, losses, ties = wins_losses_ties(x, y, hib) if pairs is not None else (0, 0, 0)
    binary = (
        pairs is not None
        and len(x) == n
        and not (model.corpus_only or baseline.corpus_only)
        and np.isin(x, (0.0, 1.0)).all()
        and np.isin(y, (0.0, 1.0)).all()
    )
    ci = sketch = p = None
    test = "mcnemar" if binary else "paired_bootstrap"
    if n >= 2:
        rm, rb = resampled_sums([sm, sb], n_resamples=n_resamples, seed=seed)
        deltas = np.asarray(model.from_stats(rm), dtype=float) - np.asarray(baseline.from_stats(rb), dtype=float)
        full = quantile_sketch(deltas, confidence)
        sketch = full if keep_quantiles else None
        if binary:
            b, c = int(np.count_nonzero((x > 0.5) & (y < 0.5))), int(np.count_nonzero((x < 0.5) & (y > 0.5)))
            ci, p = tango_interval(b, c, n, confidence), mcnemar_p(b, c)
        elif full is not None:
            ci, p = _bootstrap_ci_p(BootstrapQuantiles(full), confidence)
    return DeltaSummary(
        delta=delta,
        ci_low=None if ci is None else ci[0],
        ci_high=None if ci is None else ci[1],
        p_value=_finite(p),
        test=test,
        n=n,
        wins=wins,
        losses=losses,
        ties=ties,
        verdict=verdict(ci, hib),
        confidence=confidence,
        quantiles=sketch,
    )


def _bootstrap_ci_p(q: BootstrapQuantiles, confidence: float) -> tuple[tuple[float, float], float]:
    """Percentile CI and the two-sided p that inverts it, from one quantile function: the CI at
    ``confidence`` excludes 0 exactly when p < 1 - confidence."""
    return q.interval(confidence), min(1.0, 2.0 * min(q.prob_at_most(0.0), q.prob_at_least(0.0)))


def binary_counts(d: DeltaSummary, higher_is_better: bool) -> tuple[int, int]:
    """(b, c) of a ``mcnemar`` delta: pairs where only the model / only the baseline scored 1."""
    return (d.wins, d.losses) if higher_is_better else (d.losses, d.wins)


def _per_example_pairs(
    model: MetricResult, baseline: MetricResult, both: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-example scores of both models where both have one (None when either has no per-example list)."""
    if model.per_example is None or baseline.per_example is None:
        return None
    idx = [i for i in np.flatnonzero(both) if model.per_example[i] is not None and baseline.per_example[i] is not None]
    return (
        np.array([model.per_example[i] for i in idx], dtype=float),
        np.array([baseline.per_example[i] for i in idx], dtype=float),
    )

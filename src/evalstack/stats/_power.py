"""How many examples a paired comparison needs, and the smallest effect a given n can see.

Every figure is for the paired test the gate itself runs (see ``_paired``), two-sided at level ``alpha``:

- **Paired 0/1 scores** (accuracy, exact match): McNemar's test as the gate runs it (``_binary``:
  Z = (B - C) / sqrt(B + C), no continuity correction, the test that Tango's interval inverts). Its power
  at n is computed exactly, not by a normal approximation: the number of discordant pairs is
  D ~ Binomial(n, psi), where psi is the discordance rate P(model and baseline disagree on an example);
  given D = d, the pairs the model alone got right are B ~ Binomial(d, (psi + delta) / (2 psi)), where
  delta is the difference in accuracy (model - baseline); the test rejects when |2B - d| > z sqrt(d).
  Connor's (1987) normal-approximation formula for the same test is given beside it as the cross-check.
- **Continuous per-example scores** (ROUGE, BERTScore, judge scores): the Wilcoxon signed-rank test
  (Pratt's zero handling), whose power has no closed form: it is simulated. The paired differences come
  from a pilot run (centred and symmetrised about 0, which makes "no difference" true, then shifted by the effect) or,
  without a pilot, from a normal distribution with the given SD. The paired t-test's n from statsmodels'
  ``TTestPower`` is given beside it as the textbook cross-check.

Power of a test on counts is not monotone in n (it saw-tooths); :func:`mcnemar_n` returns the smallest n at
which the power reaches the target and says so. Corpus-only metrics (macro F1, BLEU) are not planned here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_N",
    "Plan",
    "connor_n",
    "mcnemar_mde",
    "mcnemar_n",
    "mcnemar_power",
    "null_differences",
    "ttest_n",
    "wilcoxon_mde",
    "wilcoxon_n",
    "wilcoxon_power",
]

MAX_N = 2_000_000


@dataclass(frozen=True)
class Plan:
    """The answer of ``evalstack plan``: the test, the n needed, and what that n can see."""

    test: str
    n: int | None  # examples per model (paired) to reach ``power`` for ``mde``; None if unreachable
    power_at_n: float | None
    mde: float
    power: float
    alpha: float
    reference_n: float | None  # the textbook approximation's n (Connor / paired t), for comparison
    assumption: str  # where the discordance rate / the spread came from


def _check(alpha: float, power: float) -> None:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must lie strictly between 0 and 1")


def mcnemar_power(n: int, psi: float, delta: float, alpha: float = 0.05) -> float:
    """Power of the gate's McNemar test for n pairs, computed exactly (see the module docstring)."""
    from scipy.stats import binom, norm

    if not 0 < psi <= 1 or abs(delta) > psi:
        raise ValueError("need 0 < discordance <= 1 and |delta| <= discordance")
    d = np.arange(n + 1)
    weight = binom.pmf(d, n, psi)
    # the gate rejects when |B - (d - B)| / sqrt(d) > z, i.e. B < (d - z sqrt d) / 2 or B > (d + z sqrt d) / 2
    z = norm.isf(alpha / 2)
    lo = np.ceil((d - z * np.sqrt(d)) / 2) - 1
    hi = np.floor((d + z * np.sqrt(d)) / 2)
    pi = (psi + delta) / (2 * psi)
    reject = np.where(d > 0, binom.cdf(lo, d, pi) + binom.sf(hi, d, pi), 0.0)
    return float(np.clip((weight * reject).sum(), 0.0, 1.0))


def _smallest_n(power_at: Callable[[int], float], target: float) -> int | None:
    """Smallest n with power_at(n) >= target: doubling, then bisection (on the saw-tooth's envelope)."""
    hi = 8
    while power_at(hi) < target:
        hi *= 2
        if hi > MAX_N:
            return None
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power_at(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def mcnemar_n(psi: float, mde: float, *, power: float = 0.8, alpha: float = 0.05) -> int | None:
    """Smallest number of pairs for the exact McNemar test to see |delta| = mde with the given power."""
    _check(alpha, power)
    if not 0 < mde <= psi:
        raise ValueError(
            f"the effect {mde:g} must be above 0 and at most the discordance rate {psi:g}: "
            "two models that disagree on a fraction psi of examples cannot differ by more"
        )
    return _smallest_n(lambda n: mcnemar_power(n, psi, -mde, alpha), power)


def connor_n(psi: float, mde: float, *, power: float = 0.8, alpha: float = 0.05) -> float:
    """Connor (1987): n = (z_{a/2} sqrt(psi) + z_b sqrt(psi - mde^2))^2 / mde^2 (normal approximation)."""
    from scipy.stats import norm

    za, zb = norm.isf(alpha / 2), norm.isf(1 - power)
    return float((za * np.sqrt(psi) + zb * np.sqrt(psi - mde**2)) ** 2 / mde**2)


def mcnemar_mde(n: int, psi: float, *, power: float = 0.8, alpha: float = 0.05) -> float | None:
    """Smallest |delta| that n pairs with discordance psi detect with the given power (None: none can)."""
    _check(alpha, power)
    if mcnemar_power(n, psi, -psi, alpha) < power:
        return None
    lo, hi = 0.0, psi
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if mcnemar_power(n, psi, -mid, alpha) >= power else (mid, hi)
    return hi


def null_differences(diffs: np.ndarray) -> np.ndarray:
    d = np.asarray(diffs, dtype=float)
    d = d[np.isfinite(d)]
    if d.size < 2 or not np.any(d != 0):
        raise ValueError("the pilot's paired differences are all 0 (or fewer than 2): no spread to plan from")
    d = d - d.mean()  # the pilot's own difference is not spread: only the scatter around it is
    return np.concatenate([d, -d])  # symmetric about 0: the null hypothesis holds exactly


def wilcoxon_power(
    null_diffs: np.ndarray, n: int, effect: float, *, alpha: float = 0.05, reps: int = 2000, seed: int = 0
) -> float:
    """Simulated power of the gate's Wilcoxon test (Pratt) for n pairs drawn from null_diffs + effect."""
    from scipy.stats import wilcoxon

    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, reps, 500):  # in blocks: bounded memory for large n
        size = min(500, reps - start)
        sample = rng.choice(null_diffs, size=(size, n)) + effect
        p = wilcoxon(sample, axis=1, zero_method="pratt", method="approx").pvalue
        hits += int(np.count_nonzero(np.nan_to_num(p, nan=1.0) < alpha))
    return hits / reps


def wilcoxon_n(
    null_diffs: np.ndarray, mde: float, *, power: float = 0.8, alpha: float = 0.05, reps: int = 2000, seed: int = 0
) -> int | None:
    """Smallest n at which the simulated Wilcoxon power reaches ``power`` for a drop of ``mde``."""
    _check(alpha, power)
    if mde <= 0:
        raise ValueError("the effect must be above 0")
    return _smallest_n(lambda n: wilcoxon_power(null_diffs, n, -mde, alpha=alpha, reps=reps, seed=seed), power)


def wilcoxon_mde(
    null_diffs: np.ndarray, n: int, *, power: float = 0.8, alpha: float = 0.05, reps: int = 2000, seed: int = 0
) -> float:
    """Smallest drop that n pairs detect with the given power under the Wilcoxon test (simulated)."""
    _check(alpha, power)
    spread = float(np.max(np.abs(null_diffs)))
    lo, hi = 0.0, spread
    while wilcoxon_power(null_diffs, n, -hi, alpha=alpha, reps=reps, seed=seed) < power:
        lo, hi = hi, hi * 2
    for _ in range(20):
        mid = (lo + hi) / 2
        ok = wilcoxon_power(null_diffs, n, -mid, alpha=alpha, reps=reps, seed=seed) >= power
        lo, hi = (lo, mid) if ok else (mid, hi)
    return hi


def ttest_n(sd: float, mde: float, *, power: float = 0.8, alpha: float = 0.05) -> float | None:
    """The paired t-test's n (statsmodels ``TTestPower``): the textbook figure beside the Wilcoxon one
    (None when it has none: a zero or underflowing SD, or an effect so large the solver does not converge)."""
    import warnings

    from statsmodels.stats.power import TTestPower

    if not sd > 0 or not np.isfinite(mde / sd):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = float(TTestPower().solve_power(effect_size=mde / sd, alpha=alpha, power=power, alternative="two-sided"))
    return n if np.isfinite(n) else None

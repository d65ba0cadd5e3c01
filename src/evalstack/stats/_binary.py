"""Closed-form intervals for 0/1 scores: Wilson for a rate, Tango's score interval for a paired difference.

Why not the bootstrap for 0/1 scores: at small n the percentile bootstrap of a rate is a discrete,
lumpy interval (at n = 50 and p = 0.95 it covered 99.1% at a nominal 95%; at 0/n or n/n it collapses to a
point), and for a paired difference it does not match McNemar's test, so a delta's CI and its p-value could
disagree. The two intervals here are score intervals: each is the set of values a score test does not
reject, so the verdict read from the CI and the p-value of the test shown are one decision.

- **Wilson** (1927): the interval of a binomial rate; close to nominal coverage at small n and at 0/n.
- **Tango** (1998): the asymptotic score interval of ``p_model - p_baseline`` for paired 0/1 scores.
  With ``b`` = examples only the model got right, ``c`` = only the baseline, ``n`` = pairs, the score
  statistic of ``H0: delta = d0`` is

      Z(d0) = (b - c - n d0) / sqrt(n (2 q + d0 (1 - d0)))

  where ``q`` is the restricted MLE of the probability of a baseline-only success (a root of a
  quadratic). At ``d0 = 0`` it is McNemar's statistic ``(b - c) / sqrt(b + c)`` (asymptotic, no
  continuity correction), so the CI excludes 0 exactly when McNemar's two-sided p < 1 - confidence.
  Fagerland, Lydersen & Laake (2013, 2014) recommend this test and interval for paired proportions
  (the exact conditional test is needlessly conservative). ``Z`` decreases in ``d0``; the interval's
  ends are found by bisection, and the one-sided p-values of margin hypotheses are ``Phi(Z(d0))``.

``bench/verdict_quality.py`` measures the coverage of both (README, "Statistics and the gate").
"""

from __future__ import annotations

import math
from statistics import NormalDist

_N = NormalDist()


def wilson_interval(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a binomial rate (``successes`` of ``n``), two-sided at ``confidence``."""
    if n <= 0:
        raise ValueError("wilson_interval needs n >= 1")
    z = _N.inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def tango_z(b: int, c: int, n: int, d0: float) -> float:
    """Tango's score statistic of ``H0: p_model - p_baseline = d0`` (see the module docstring)."""
    if n <= 0:
        raise ValueError("tango_z needs n >= 1")
    num = b - c - n * d0
    a_ = 2.0 * n
    b_ = -b - c + (2.0 * n - b + c) * d0
    c_ = -c * d0 * (1.0 - d0)
    disc = max(0.0, b_ * b_ - 4.0 * a_ * c_)
    q = (math.sqrt(disc) - b_) / (2.0 * a_)
    var = n * (2.0 * q + d0 * (1.0 - d0))
    if var <= 1e-300:
        return 0.0 if abs(num) <= 1e-12 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def _root(b: int, c: int, n: int, target: float, lo: float, hi: float) -> float:
    """The d0 in [lo, hi] where the decreasing Z(d0) crosses ``target`` (bisection)."""
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if tango_z(b, c, n, mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    return (lo + hi) / 2.0


def tango_interval(b: int, c: int, n: int, confidence: float) -> tuple[float, float]:
    """Tango's score interval of the paired difference ``(b - c) / n`` at ``confidence``.

    ``b``: pairs where only the model scored 1; ``c``: only the baseline; ``n``: all pairs.
    """
    if n <= 0 or b < 0 or c < 0 or b + c > n:
        raise ValueError(f"tango_interval needs 0 <= b, c and b + c <= n >= 1 (got b={b}, c={c}, n={n})")
    z = _N.inv_cdf(0.5 + confidence / 2)
    est = (b - c) / n
    low = -1.0 if tango_z(b, c, n, -1.0) <= z else _root(b, c, n, z, -1.0, est)
    high = 1.0 if tango_z(b, c, n, 1.0) >= -z else _root(b, c, n, -z, est, 1.0)
    return max(-1.0, low), min(1.0, high)


def mcnemar_p(b: int, c: int) -> float:
    """Two-sided p of McNemar's asymptotic test (no continuity correction): ``Z = (b - c) / sqrt(b + c)``."""
    if b + c == 0:
        return 1.0
    z = abs(b - c) / math.sqrt(b + c)
    return min(1.0, 2.0 * (1.0 - _N.cdf(z)))


def tango_p_at_most(b: int, c: int, n: int, d0: float) -> float:
    """One-sided p of ``H0: delta >= d0`` (small when the data say the delta is below ``d0``): Phi(Z(d0))."""
    return _N.cdf(tango_z(b, c, n, d0)) if math.isfinite(tango_z(b, c, n, d0)) else float(tango_z(b, c, n, d0) > 0)


def tango_p_at_least(b: int, c: int, n: int, d0: float) -> float:
    """One-sided p of ``H0: delta <= d0`` (small when the data say the delta is above ``d0``): 1 - Phi(Z(d0))."""
    return 1.0 - tango_p_at_most(b, c, n, d0)

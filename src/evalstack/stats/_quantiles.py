"""A bootstrap distribution kept as a few quantiles, so a saved run can be judged at any confidence.

The gate may ask for a CI at a confidence other than the run's, or (with Holm) for p-values of
margin hypotheses; run.json holds no per-example statistics for corpus metrics, so each delta keeps a
*quantile sketch* of its paired-bootstrap distribution: ``[probability, value]`` pairs at
:data:`TAIL_LEVELS`, their mirror images, the median and the run's own CI levels (so the run's CI is
read back exactly). Between stored levels the quantile function is interpolated linearly in the normal
score ``z = Phi^-1(p)`` (exact for a normal distribution, close for the near-normal ones); beyond the
outermost levels (probabilities < 0.0005, which 2,000 resamples cannot resolve anyway) its tails are
extended as a normal distribution through the median and the outermost stored quantile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from statistics import NormalDist

import numpy as np

TAIL_LEVELS = (
    0.0005,
    0.001,
    0.002,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.0125,
    0.015,
    0.02,
    0.025,
    0.03,
    0.04,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
)
"""Lower-tail probabilities stored in a sketch (and ``1 - p`` for each): CIs at confidence ``1 - 2p`` (0.8,
0.9, 0.95, 0.98, 0.99, 0.999 among others) are read back exactly, others interpolated."""

_N = NormalDist()


def sketch_levels(confidence: float | None = None) -> np.ndarray:
    """The sorted probabilities a sketch stores (plus the two CI levels of ``confidence``)."""
    levels = set(TAIL_LEVELS) | {1.0 - p for p in TAIL_LEVELS} | {0.5}
    if confidence is not None:
        tail = (1.0 - confidence) / 2.0
        levels |= {tail, 1.0 - tail}
    return np.array(sorted(round(p, 12) for p in levels))


def quantile_sketch(values: np.ndarray, confidence: float | None = None) -> list[list[float]] | None:
    """``[[p, q(p)], ...]`` of the finite bootstrap ``values`` (linear-interpolated quantiles, as the CI)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    levels = sketch_levels(confidence)
    qs = np.quantile(finite, levels)
    return [[float(p), float(q)] for p, q in zip(levels, qs)]


class BootstrapQuantiles:
    """The quantile function of a sketched bootstrap distribution, and the tail probabilities it implies.

    ``prob_at_most(x)`` is the largest p with ``quantile(p) <= x`` and ``prob_at_least(x)`` is
    ``1 - (smallest p with quantile(p) >= x)``. They are consistent with the intervals by construction:
    ``quantile(a) > x`` exactly when ``prob_at_most(x) < a``, and ``quantile(1 - a) < x`` exactly when
    ``prob_at_least(x) < a`` (up to 1e-12), so a CI test and a p-value test never disagree.
    """

    def __init__(self, pairs: Sequence[Sequence[float]]):
        arr = np.asarray(pairs, dtype=float).reshape(-1, 2)
        order = np.argsort(arr[:, 0])
        self.levels = arr[order, 0]
        self.values = np.maximum.accumulate(arr[order, 1])
        if len(self.levels) < 2 or not (0 < self.levels[0] < 0.5 < self.levels[-1] < 1):
            raise ValueError("a quantile sketch needs levels on both sides of the median")
        self._z = np.array([_N.inv_cdf(p) for p in self.levels])
        self.median = float(np.interp(0.0, self._z, self.values))

    def quantile(self, p: float) -> float:
        """Value of the bootstrap distribution at probability ``p`` (0 < p < 1)."""
        lo, hi = self.levels[0], self.levels[-1]
        if lo <= p <= hi:
            return float(np.interp(_N.inv_cdf(p), self._z, self.values))
        if p <= 0.0 or p >= 1.0:
            edge = self.values[0] if p <= 0 else self.values[-1]
            return float(edge) if edge == self.median else (-np.inf if p <= 0 else np.inf)
        ref_p, ref_q = (lo, self.values[0]) if p < lo else (hi, self.values[-1])
        return float(self.median + (ref_q - self.median) * _N.inv_cdf(p) / _N.inv_cdf(ref_p))

    def interval(self, confidence: float) -> tuple[float, float]:
        """Two-sided percentile interval at ``confidence``."""
        tail = (1.0 - confidence) / 2.0
        return self.quantile(tail), self.quantile(1.0 - tail)

    def prob_at_most(self, x: float) -> float:
        """Largest p with ``quantile(p) <= x`` (0 when even the far lower tail exceeds x)."""
        return self._search(lambda p: self.quantile(p) <= x, want_largest=True)

    def prob_at_least(self, x: float) -> float:
        """``1 -`` the smallest p with ``quantile(p) >= x`` (0 when even the far upper tail is below x)."""
        return 1.0 - self._search(lambda p: self.quantile(p) >= x, want_largest=False)

    @staticmethod
    def _search(ok: Callable[[float], bool], *, want_largest: bool) -> float:
        """Bisection for the boundary of a monotone predicate over p in (0, 1)."""
        eps = 1e-15
        if want_largest:
            if ok(1.0 - eps):
                return 1.0
            if not ok(eps):
                return 0.0
            good, bad = eps, 1.0 - eps
        else:
            if ok(eps):
                return 0.0
            if not ok(1.0 - eps):
                return 1.0
            good, bad = 1.0 - eps, eps
        for _ in range(100):
            mid = (good + bad) / 2.0
            if ok(mid):
                good = mid
            else:
                bad = mid
            if abs(good - bad) < 1e-13:
                break
        return good

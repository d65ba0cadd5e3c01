"""Drift alarms over a metric's history: a sustained decline that no single run crossed the gate for.

Two one-sided tests on the per-run estimates, oldest first:

- **weighted trend**: the least-squares slope of the estimates on the run index, each run weighted by
  1 / SE^2 (SE from its CI: (high - low) / (2 z)), with the z-test of slope = 0 against "getting worse"
  (the metric's direction decides which sign is worse). It uses each run's own precision, so a history of
  precise runs can show a small decline early.
- **Mann-Kendall**: Kendall's tau between run order and estimate (``scipy.stats.kendalltau``), one-sided;
  distribution-free, it needs no CI, but it cannot see a decline in fewer than 5 runs at the 5% level.

A series is flagged when the weighted trend's p-value is below ``alpha`` and the fitted decline per run
is at least ``min_decline`` (default 0: any significant decline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np

__all__ = ["Trend", "trend"]


@dataclass(frozen=True)
class Trend:
    runs: int
    slope: float | None  # change per run, in the metric's units (signed)
    decline_per_run: float | None  # positive when getting worse (direction-aware)
    p_weighted: float | None  # one-sided, H1: getting worse
    p_mann_kendall: float | None  # one-sided, H1: getting worse
    flagged: bool


def trend(values: Sequence[float], ci_low: Sequence[float | None], ci_high: Sequence[float | None], *,
          higher_is_better: bool = True, confidence: float = 0.95, alpha: float = 0.05,
          min_decline: float = 0.0) -> Trend:
    """The one-sided trend tests of one metric's per-run estimates (oldest first)."""
    y = np.asarray(values, dtype=float)
    n = int(y.size)
    if n < 3:
        return Trend(n, None, None, None, None, False)
    t = np.arange(n, dtype=float)
    sign = 1.0 if higher_is_better else -1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    se = np.array([(h - lo) / (2 * z) if lo is not None and h is not None and h > lo else np.nan
                   for lo, h in zip(ci_low, ci_high)], dtype=float)
    p_w = slope = None
    if np.all(np.isfinite(se)) and np.all(se > 0):
        w = 1.0 / se**2
        tb = float(np.sum(w * t) / np.sum(w))
        sxx = float(np.sum(w * (t - tb) ** 2))
        slope = float(np.sum(w * (t - tb) * (y - np.sum(w * y) / np.sum(w))) / sxx)
        zstat = sign * slope / math.sqrt(1.0 / sxx)
        p_w = float(NormalDist().cdf(zstat))  # small when the metric gets worse
    else:
        slope = float(np.polyfit(t, y, 1)[0])
    from scipy.stats import kendalltau

    tau = kendalltau(t, sign * y, alternative="less")
    p_mk = float(tau.pvalue) if np.isfinite(tau.pvalue) else None
    decline = -sign * slope
    flagged = p_w is not None and p_w < alpha and decline >= min_decline
    return Trend(n, slope, decline, p_w, p_mk, flagged)

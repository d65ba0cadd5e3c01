"""Drift alarms over a metric's history: a sustained decline that no single run crossed the gate for.

Two one-sided tests on the per-run estimates, oldest first:

- **weighted trend**: the least-squares slope of the estimates on the run index, each run weighted by
  1 / (SE^2 + tau^2) (SE from its CI: (high - low) / (2 z); tau^2 the between-run variance beyond
  sampling, estimated from the residuals as in a DerSimonian-Laird meta-regression, 0 when the runs
  scatter no more than their CIs say), with the z-test of slope = 0 against "getting worse" (the metric's
  direction decides which sign is worse). It uses each run's own precision, so a history of precise runs
  can show a small decline early, and real run-to-run scatter does not pass for a trend.
- **Mann-Kendall**: Kendall's tau between run order and estimate (``scipy.stats.kendalltau``), one-sided;
  distribution-free, it needs no CI, but it cannot see a decline in fewer than 5 runs at the 5% level.

A series is flagged when the weighted trend's p-value (Mann-Kendall's where a run has no CI) is below
``alpha`` and the fitted decline per run is at least ``min_decline`` (default 0: any significant decline).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

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
    between_run_variance: float = 0.0  # tau^2 added to each run's sampling variance


def trend(
    values: Sequence[float],
    ci_low: Sequence[float | None],
    ci_high: Sequence[float | None],
    *,
    higher_is_better: bool = True,
    confidence: float = 0.95,
    alpha: float = 0.05,
    min_decline: float = 0.0,
) -> Trend:
    """The one-sided trend tests of one metric's per-run estimates (oldest first)."""
    y = np.asarray(values, dtype=float)
    n = int(y.size)
    if n < 3:
        return Trend(n, None, None, None, None, False, 0.0)
    t = np.arange(n, dtype=float)
    sign = 1.0 if higher_is_better else -1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    se = np.array(
        [
            (h - lo) / (2 * z) if lo is not None and h is not None and h > lo else np.nan
            for lo, h in zip(ci_low, ci_high)
        ],
        dtype=float,
    )
    p_w = slope = None
    tau2 = 0.0
    if np.all(np.isfinite(se)) and np.all(se > 0):
        # Runs also differ by more than their sampling error (a new judge sample, a provider change...):
        # the between-run variance tau^2 is estimated from the residuals (DerSimonian-Laird for a
        # meta-regression on the run index) and added to every run's variance before the test.
        slope, sxx, resid_q, w = _wls(t, y, 1.0 / se**2)
        design = np.column_stack([np.ones(n), t])
        xtwx_inv = np.linalg.inv(design.T @ (design * w[:, None]))
        denom = float(np.sum(w) - np.trace(xtwx_inv @ (design.T @ (design * (w**2)[:, None]))))
        tau2 = max(0.0, (resid_q - (n - 2)) / denom) if denom > 0 else 0.0
        if tau2 > 0:
            slope, sxx, _, _ = _wls(t, y, 1.0 / (se**2 + tau2))
        zstat = sign * slope / math.sqrt(1.0 / sxx)
        p_w = float(NormalDist().cdf(zstat))  # small when the metric gets worse
    else:
        slope = float(np.polyfit(t, y, 1)[0])
    from scipy.stats import kendalltau

    tau = kendalltau(t, sign * y, alternative="less")
    p_mk = float(tau.pvalue) if np.isfinite(tau.pvalue) else None
    decline = -sign * slope
    # without CIs for every run, the distribution-free test decides
    p_use = p_w if p_w is not None else p_mk
    flagged = p_use is not None and p_use < alpha and decline >= min_decline
    return Trend(n, slope, decline, p_w, p_mk, flagged, tau2)


def _wls(t: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """(slope, weighted Sxx, weighted residual sum of squares Q, weights) of y on t."""
    tb = float(np.sum(w * t) / np.sum(w))
    yb = float(np.sum(w * y) / np.sum(w))
    sxx = float(np.sum(w * (t - tb) ** 2))
    slope = float(np.sum(w * (t - tb) * (y - yb)) / sxx)
    resid = y - (yb + slope * (t - tb))
    return slope, sxx, float(np.sum(w * resid**2)), w

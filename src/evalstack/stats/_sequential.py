"""A sequential regression gate: look at the paired deltas in batches and stop when the answer is clear.

The examples are taken in a fixed random order and looked at after each batch (10% of the set by
default). At every look the mean paired difference d = model - baseline (sign set so that positive is
better) gets an **asymptotic confidence sequence** (Waudby-Smith, Arnold, Wu, Howard & Ramdas,
"Time-uniform central limit theory and asymptotic confidence sequences", 2024): with the running mean
m_t and SD s_t of t differences,

    m_t +- s_t * sqrt( 2 (t r^2 + 1) / (t^2 r^2) * log( sqrt(t r^2 + 1) / alpha ) ),

valid at all t at once (so looking after every batch does not inflate the error), with r^2 tuned to be
tightest near t* = the full set: r^2 = (-2 log alpha + log(-2 log alpha + 1)) / t*.

A ``max_regression: margin`` rule stops with **fail** as soon as the whole sequence lies below -margin
(significantly worse by more than the margin) and with **pass** as soon as it lies above -margin (no
regression beyond the margin); otherwise it goes on, and at the full set the gate's ordinary fixed-n
decision is taken (``final``). ``bench/bench_sequential.py`` measures its false alarms and savings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SequentialDecision", "asymptotic_cs", "sequential_gate"]


def _rho2(alpha: float, t_star: int) -> float:
    a = -2 * math.log(alpha)
    return (a + math.log(a + 1)) / t_star


def asymptotic_cs(diffs: np.ndarray, t: int, *, alpha: float = 0.05, t_star: int | None = None) -> tuple[float, float]:
    """(low, high) of the asymptotic confidence sequence for the mean of ``diffs[:t]`` at time t."""
    d = np.asarray(diffs[:t], dtype=float)
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if t > 1 else float("inf")
    r2 = _rho2(alpha, t_star or t)
    half = sd * math.sqrt(2 * (t * r2 + 1) / (t * t * r2) * math.log(math.sqrt(t * r2 + 1) / alpha))
    return mean - half, mean + half


@dataclass(frozen=True)
class SequentialDecision:
    outcome: str  # "pass" | "fail"
    stopped_at: int  # examples used
    n_total: int
    reason: str  # "sequence above -margin" | "sequence below -margin" | "final fixed-n test"
    low: float
    high: float


def sequential_gate(
    diffs: Sequence[float],
    *,
    margin: float = 0.0,
    alpha: float = 0.05,
    batch: float = 0.1,
    min_examples: int = 30,
    final_ci: tuple[float, float] | None = None,
    order_seed: int = 0,
) -> SequentialDecision:
    """Decide a ``max_regression: margin`` rule on paired differences (positive = better), looking in batches.

    ``final_ci`` is the gate's own fixed-n CI of the mean difference over the whole set, used when no look
    decided; without it a normal CI of the full set is used.
    """
    d = np.asarray(diffs, dtype=float)
    d = d[np.isfinite(d)]
    n = int(d.size)
    if n < 2:
        raise ValueError("need at least 2 paired examples")
    order = np.random.default_rng(order_seed).permutation(n)
    d = d[order]
    step = max(1, int(math.ceil(batch * n)))
    for t in range(step, n, step):
        if t < min_examples:
            continue
        lo, hi = asymptotic_cs(d, t, alpha=alpha, t_star=n)
        if hi < -margin:
            return SequentialDecision("fail", t, n, "sequence below -margin", lo, hi)
        if lo > -margin:
            return SequentialDecision("pass", t, n, "sequence above -margin", lo, hi)
    if final_ci is None:
        from statistics import NormalDist

        half = NormalDist().inv_cdf(1 - alpha / 2) * float(d.std(ddof=1)) / math.sqrt(n)
        final_ci = (float(d.mean()) - half, float(d.mean()) + half)
    lo, hi = final_ci
    return SequentialDecision("fail" if hi < -margin else "pass", n, n, "final fixed-n test", lo, hi)

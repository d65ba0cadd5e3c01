"""Noise of a measured series and the tests the SFT rules put changes to (see ``_thresholds``).

``sigma`` is robust: ``SIGMA_FACTOR`` x the median absolute residual of each value from the median of its
4 neighbours (2 each side; a local fit that follows a slow trend and ignores spikes, and leaves the value
itself out so that it cannot hide its own noise). The trend test is Mann-Kendall via ``scipy.stats.kendalltau`` (imported when first used).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._table import median
from ._thresholds import NOISE_FIT, SIGMA_FACTOR


def running_median(values: Sequence[float], window: int = NOISE_FIT) -> list[float]:
    """Centred running median (the window shrinks at both ends)."""
    half = window // 2
    n = len(values)
    return [median(values[max(0, i - half) : min(n, i + half + 1)]) for i in range(n)]


def noise_sigma(values: Sequence[float]) -> float:
    """Robust standard deviation of the noise around a local median fit (0 for fewer than 5 values)."""
    n = len(values)
    if n < NOISE_FIT:
        return 0.0
    half = NOISE_FIT // 2
    resid = []
    for i in range(n):
        lo = min(max(0, i - half), n - NOISE_FIT)
        nb = [values[j] for j in range(lo, lo + NOISE_FIT) if j != i]
        resid.append(abs(values[i] - median(nb)))
    return SIGMA_FACTOR * median(resid)


def mann_kendall(values: Sequence[float]) -> tuple[float, float]:
    """Kendall's tau of the values against their order and its two-sided p-value ((0, 1) below 3 values)."""
    if len(values) < 3 or len(set(values)) < 2:
        return 0.0, 1.0
    from scipy.stats import kendalltau

    res = kendalltau(range(len(values)), list(values))
    tau, p = float(res[0]), float(res[1])
    if not (math.isfinite(tau) and math.isfinite(p)):
        return 0.0, 1.0
    return tau, p


def reversals(values: Sequence[float], threshold: float) -> list[int]:
    """Indices of the confirmed turning points of a zigzag filter: a turn counts once the series has moved
    ``threshold`` back from the last extreme (the start of the series is not a turn)."""
    if len(values) < 3 or threshold <= 0:
        return []
    turns: list[int] = []
    hi = lo = ext = 0
    direction = 0
    for i in range(1, len(values)):
        v = values[i]
        if direction == 0:
            hi = i if v > values[hi] else hi
            lo = i if v < values[lo] else lo
            if values[hi] - values[lo] >= threshold:
                direction, ext = (1, hi) if hi > lo else (-1, lo)
        elif direction == 1:
            if v > values[ext]:
                ext = i
            elif values[ext] - v >= threshold:
                turns.append(ext)
                direction, ext = -1, i
        else:
            if v < values[ext]:
                ext = i
            elif v - values[ext] >= threshold:
                turns.append(ext)
                direction, ext = 1, i
    return turns

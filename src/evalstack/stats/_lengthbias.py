"""Length bias of a pairwise judge, and the length-controlled win rate (as AlpacaEval 2.0 does it).

Per example the pairwise score y is 1 (model preferred), 0.5 (tie) or 0 (baseline preferred). The
judge's preference is modelled as logit P(y) = theta + beta * x with x = tanh(d / sd(d)), d the length
difference (model - baseline, in words) and sd its standard deviation over the examples: a fractional
logistic regression (quasi-likelihood; ties count as half a win), fitted by Newton's method. beta is the
length bias (> 0: longer answers win more), with a robust (sandwich) standard error; the
length-controlled win rate is sigmoid(theta), the predicted win rate at equal length, with its CI from
theta's. Checked against statsmodels' binomial GLM and a saturated two-point fit worked by hand
(``tests/test_lengthbias.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["LengthBias", "length_bias"]


@dataclass(frozen=True)
class LengthBias:
    n: int
    win_rate: float  # raw: mean of y (ties count half)
    lc_win_rate: float  # sigmoid(theta): predicted at equal length
    lc_ci: tuple[float, float]
    slope: float  # beta, per unit of tanh(d / sd)
    slope_ci: tuple[float, float]
    mean_length_difference: float
    separated: bool = False  # the fit diverged: length (nearly) decides every verdict; no CI is given


def _sigmoid(z: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-z))


def fit_fractional_logit(y: np.ndarray, x: np.ndarray, *, iters: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(theta, beta) and their robust covariance for logit E[y] = theta + beta x (Newton-Raphson)."""
    design = np.column_stack([np.ones_like(x), x])
    coef = np.zeros(2)
    for _ in range(iters):
        p = np.asarray(_sigmoid(np.clip(design @ coef, -700, 700)))
        w = p * (1 - p)
        hess = design.T @ (design * w[:, None])
        step = np.linalg.solve(hess + 1e-12 * np.eye(2), design.T @ (y - p))
        coef = coef + step
        if np.max(np.abs(step)) < 1e-12:
            break
    p = np.asarray(_sigmoid(design @ coef))
    bread = np.linalg.inv(design.T @ (design * (p * (1 - p))[:, None]))
    meat = design.T @ (design * ((y - p) ** 2)[:, None])
    return coef, bread @ meat @ bread


def length_bias(scores: ArrayLike, length_differences: ArrayLike, *, confidence: float = 0.95) -> LengthBias:
    """Length bias and length-controlled win rate from per-example pairwise scores and length differences."""
    from statistics import NormalDist

    y = np.asarray(scores, dtype=float)
    d = np.asarray(length_differences, dtype=float)
    keep = np.isfinite(y) & np.isfinite(d)
    y, d = y[keep], d[keep]
    if y.size < 3:
        raise ValueError("need at least 3 judged pairs")
    if np.any((y < 0) | (y > 1)):
        raise ValueError("pairwise scores must lie in [0, 1]")
    sd = float(np.std(d, ddof=1))
    x = np.tanh(d / sd) if sd > 0 else np.zeros_like(d)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    if sd == 0 or np.all(y == y[0]) and y[0] in (0.0, 1.0):
        rate = float(y.mean())
        return LengthBias(
            int(y.size), rate, rate, (float("nan"), float("nan")), 0.0, (float("nan"), float("nan")), float(d.mean())
        )
    coef, cov = fit_fractional_logit(y, x)
    if not np.all(np.isfinite(coef)) or np.max(np.abs(coef)) > 25:  # complete separation: the MLE is infinite
        nan = (float("nan"), float("nan"))
        return LengthBias(
            int(y.size),
            float(y.mean()),
            float(_sigmoid(np.clip(coef[0], -50, 50))),
            nan,
            float(np.sign(coef[1]) * np.inf),
            nan,
            float(d.mean()),
            separated=True,
        )
    se_t, se_b = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    return LengthBias(
        int(y.size),
        float(y.mean()),
        float(_sigmoid(coef[0])),
        (float(_sigmoid(coef[0] - z * se_t)), float(_sigmoid(coef[0] + z * se_t))),
        float(coef[1]),
        (float(coef[1] - z * se_b), float(coef[1] + z * se_b)),
        float(d.mean()),
    )

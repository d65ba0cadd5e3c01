"""Judge scores corrected by human labels on a random subset.

- :func:`ppi_mean`: prediction-powered inference (Angelopoulos et al. 2023) with power tuning (PPI++,
  Angelopoulos, Duchi & Zrnic 2023) for the mean of a score: the judge's mean over all judged examples,
  rectified by the judge's error measured where a person scored the same examples. Written out for the
  one-dimensional mean (no import of ``ppi_py``, which takes seconds to load); ``tests/test_correct.py``
  checks it against ``ppi_py.ppi_mean_pointestimate`` / ``ppi_mean_ci`` on many random problems.
  For a paired delta (model - baseline) pass per-example differences: the same estimator applies.
- :func:`rogan_gladen`: for pass/fail judges, the true pass rate from the judged rate and the judge's
  sensitivity and specificity measured against people (Rogan & Gladen 1978), with the delta-method CI
  that carries the uncertainty of all three (Greenland 1996), clipped to [0, 1].

Both assume the human-labelled subset is a random sample of the judged examples.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ppi_lambda", "ppi_mean", "rogan_gladen"]


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def ppi_lambda(y: np.ndarray, yhat: np.ndarray, yhat_unlabeled: np.ndarray) -> float:
    """PPI++'s power-tuning weight for the mean: Cov(Y, Yhat) / ((1 + n/N) Var(Yhat)), clipped to [0, 1]."""
    n, big_n = y.size, yhat_unlabeled.size
    cov = float(np.mean((y - y.mean()) * (yhat - yhat.mean())))
    var = float(np.var(np.concatenate([yhat, yhat_unlabeled]), ddof=1))
    if var <= 0:
        return 0.0
    return float(np.clip(cov / ((1 + n / big_n) * var), 0.0, 1.0))


def ppi_mean(
    y: ArrayLike, yhat: ArrayLike, yhat_unlabeled: ArrayLike, *, confidence: float = 0.95, lam: float | None = None
) -> tuple[float, float, float, float]:
    """(estimate, CI low, CI high, lambda) of the mean score from human labels ``y`` and judge scores.

    ``y`` and ``yhat`` are the human and judge scores of the labelled examples (same order);
    ``yhat_unlabeled`` the judge scores of the other judged examples. ``lam=None`` tunes the weight
    (PPI++); ``lam=1`` is plain PPI; ``lam=0`` ignores the judge (the human mean and its CLT interval).
    """
    y, yhat, yu = (np.asarray(a, dtype=float) for a in (y, yhat, yhat_unlabeled))
    if y.size != yhat.size or y.size < 2 or yu.size < 1:
        raise ValueError("need >= 2 labelled examples (human and judge score each) and >= 1 unlabelled")
    if lam is None:
        lam = ppi_lambda(y, yhat, yu)
    est = float(np.mean(lam * yu) + np.mean(y - lam * yhat))
    se = math.sqrt(float(np.std(lam * yu)) ** 2 / yu.size + float(np.std(y - lam * yhat)) ** 2 / y.size)
    half = _z(confidence) * se
    return est, est - half, est + half, float(lam)


def rogan_gladen(
    judged_rate: float,
    n_judged: int,
    sensitivity: float,
    n_positive: int,
    specificity: float,
    n_negative: int,
    *,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """(estimate, CI low, CI high) of the true pass rate from the judge's pass rate and its error rates.

    estimate = (q + Sp - 1) / (Se + Sp - 1); variance by the delta method over q (from ``n_judged``),
    Se (from ``n_positive`` human passes) and Sp (from ``n_negative`` human fails).
    """
    youden = sensitivity + specificity - 1
    if youden <= 0:
        raise ValueError(
            f"the judge is no better than chance (sensitivity {sensitivity:.3g} + specificity "
            f"{specificity:.3g} <= 1): its pass rate cannot be corrected"
        )
    if min(n_judged, n_positive, n_negative) < 1:
        raise ValueError("need judged examples and human labels of both outcomes")
    est = (judged_rate + specificity - 1) / youden
    var = (
        judged_rate * (1 - judged_rate) / n_judged
        + est**2 * sensitivity * (1 - sensitivity) / n_positive
        + (1 - est) ** 2 * specificity * (1 - specificity) / n_negative
    ) / youden**2
    half = _z(confidence) * math.sqrt(var)
    return _clip01(est), _clip01(est - half), _clip01(est + half)


def _clip01(v: float) -> float:
    return min(1.0, max(0.0, v))

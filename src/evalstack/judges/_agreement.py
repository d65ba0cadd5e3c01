"""Agreement of two raters: Cohen's kappa (unweighted, linear, quadratic) and the statistics ``judge validate``
reports (exact agreement, kappa, Spearman, confusion matrix, mean bias)."""

from __future__ import annotations

__all__ = ["cohen_kappa", "agreement"]

from collections.abc import Sequence
from typing import Any

import numpy as np


def cohen_kappa(
    y1: Sequence[Any], y2: Sequence[Any], labels: Sequence[Any], weights: str | None = None
) -> float | None:
    """Cohen's kappa of two raters over ``labels`` (weights None, 'linear' or 'quadratic').

    The same number as ``sklearn.metrics.cohen_kappa_score(y1, y2, labels=labels, weights=weights)``;
    None where kappa is undefined (both raters used a single, identical category).
    """
    index = {lab: i for i, lab in enumerate(labels)}
    k = len(labels)
    conf = np.zeros((k, k), dtype=float)
    for a, b in zip(y1, y2):
        conf[index[a], index[b]] += 1
    total = conf.sum()
    if total == 0:
        return None
    expected = np.outer(conf.sum(axis=1), conf.sum(axis=0)) / total
    i, j = np.indices((k, k))
    if weights is None:
        w = (i != j).astype(float)
    elif weights == "linear":
        w = np.abs(i - j).astype(float)
    elif weights == "quadratic":
        w = ((i - j) ** 2).astype(float)
    else:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', not {weights!r}")
    denom = float((w * expected).sum())
    if denom == 0.0:
        return None
    return float(1.0 - (w * conf).sum() / denom)


def agreement(
    human: Sequence[Any],
    verdict: Sequence[Any],
    *,
    labels: Sequence[Any],
    weights: str | None,
    human_num: Sequence[float] | None = None,
    judge_num: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Agreement of judge verdicts with human labels (aligned lists, scored items only).

    Exact agreement, kappa and the confusion matrix compare the categories ``human`` and ``verdict``
    (both from ``labels``); Spearman and mean bias compare the numbers ``human_num`` and ``judge_num``
    (default: the categories themselves as numbers).
    """
    n = len(human)
    out: dict[str, Any] = {"n": n, "labels": list(labels), "kappa_weights": weights or "none"}
    if n == 0:
        return {
            **out,
            "exact_agreement": None,
            "kappa": None,
            "spearman": None,
            "spearman_p": None,
            "mean_bias": None,
            "confusion": [],
        }
    idx = {lab: i for i, lab in enumerate(labels)}
    conf = np.zeros((len(labels), len(labels)), dtype=int)
    for h, v in zip(human, verdict):
        conf[idx[h], idx[v]] += 1
    h_num = np.array([float(x) for x in (human if human_num is None else human_num)])
    j_num = np.array([float(x) for x in (verdict if judge_num is None else judge_num)])
    rho = p = None
    if n >= 3 and np.ptp(h_num) > 0 and np.ptp(j_num) > 0:
        from scipy.stats import spearmanr

        res = spearmanr(h_num, j_num)
        rho, p = float(res.statistic), float(res.pvalue)
    out.update(
        exact_agreement=float(np.trace(conf) / n),
        kappa=cohen_kappa(list(human), list(verdict), labels, weights),
        spearman=rho,
        spearman_p=p,
        mean_bias=float(np.mean(j_num - h_num)),
        confusion=conf.tolist(),
    )
    if weights is not None:
        out["within_one"] = float(np.mean(np.abs(np.array(verdict, dtype=float) - np.array(human, dtype=float)) <= 1))
    return out

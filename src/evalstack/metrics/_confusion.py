"""Confusion matrices with an invalid column, and the classification formulas over them (vectorised).

:class:`Confusion` holds one (task, model)'s gold and extracted labels as one-hot confusion cells, its
sufficient statistics; the formulas take summed matrices and broadcast over resamples. How an invalid
prediction enters each formula is in :mod:`evalstack.metrics._classification`'s docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from ._base import MetricResult
from ._inputs import check_predictions, reference_lists
from ._labels import extract_labels, normalize_label

AVERAGES = ("micro", "macro", "weighted")


# ----------------------------------------------------------------------------------------------- formulas
# All take confusion matrices ``cm`` of shape (..., L, L+1) (last column: invalid) and broadcast.


def _divide(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    """num / den with ``zero_division`` where den == 0 (sklearn's _prf_divide)."""
    zero = den == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / np.where(zero, 1.0, den)
    return np.where(zero, zero_division, out)


def _average(per_class: np.ndarray, support: np.ndarray, average: str) -> np.ndarray:
    """macro: nan-mean over classes; weighted: support-weighted nan-average (plain mean if all weights 0)."""
    ok = ~np.isnan(per_class)
    vals = np.where(ok, per_class, 0.0)
    count = ok.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(count > 0, vals.sum(-1) / np.maximum(count, 1), np.nan)
        if average == "macro":
            return mean
        w = np.where(ok, support, 0.0)
        wsum = w.sum(-1)
        weighted = (vals * w).sum(-1) / np.where(wsum == 0, 1.0, wsum)
    return np.where(wsum == 0, mean, weighted)


def _counts(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per class: tp, predicted (valid predictions of that class), true (support), and total n."""
    L = cm.shape[-2]
    tp = np.diagonal(cm[..., :L], axis1=-2, axis2=-1)
    pred = cm[..., :L].sum(-2)
    true = cm.sum(-1)
    n = true.sum(-1)
    return tp, pred, true, n


def accuracy(cm: np.ndarray) -> np.ndarray:
    """Correct / all scored (invalid = wrong)."""
    tp, _, true, n = _counts(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        return tp.sum(-1) / n


def precision_recall_f1(cm: np.ndarray, average: str | None, zero_division: float):
    """(precision, recall, f1) as sklearn's precision_recall_fscore_support(labels=labels)."""
    tp, pred, true, _ = _counts(cm)
    if average == "micro":
        tp, pred, true = tp.sum(-1), pred.sum(-1), true.sum(-1)
    p = _divide(tp, pred, zero_division)
    r = _divide(tp, true, zero_division)
    f = _divide(2.0 * tp, true + pred, zero_division)
    if average in (None, "micro"):
        return p, r, f
    return tuple(_average(x, true, average) for x in (p, r, f))


def specificity(cm: np.ndarray, average: str | None, zero_division: float) -> np.ndarray:
    """TN / (TN + FP) per class (one-vs-rest, from sklearn's multilabel_confusion_matrix), averaged."""
    tp, pred, true, n = _counts(cm)
    fp = pred - tp
    tn = n[..., None] - true - fp
    if average == "micro":
        return _divide(tn.sum(-1), (tn + fp).sum(-1), zero_division)
    per_class = _divide(tn, tn + fp, zero_division)
    return per_class if average is None else _average(per_class, true, average)


def balanced_accuracy(cm: np.ndarray, adjusted: bool = False) -> np.ndarray:
    """Mean recall over the classes present in the references (sklearn's balanced_accuracy_score)."""
    tp, _, true, _ = _counts(cm)
    present = true > 0
    k = present.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(present, tp / np.where(present, true, 1), 0.0).sum(-1) / k
        if adjusted:
            chance = 1.0 / k
            score = (score - chance) / (1.0 - chance)
    return score


def _padded_sums(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """True counts padded with the (empty) invalid row, predicted counts incl. invalid, trace, n."""
    tp, _, true, n = _counts(cm)
    t_sum = np.concatenate([true, np.zeros(true.shape[:-1] + (1,))], axis=-1)
    p_sum = cm.sum(-2)
    return t_sum, p_sum, tp.sum(-1), n


def mcc(cm: np.ndarray) -> np.ndarray:
    """Matthews correlation (multiclass), 0 where undefined (sklearn's matthews_corrcoef)."""
    t_sum, p_sum, correct, n = _padded_sums(cm)
    cov_ytyp = correct * n - (t_sum * p_sum).sum(-1)
    cov_ypyp = n**2 - (p_sum * p_sum).sum(-1)
    cov_ytyt = n**2 - (t_sum * t_sum).sum(-1)
    prod = cov_ypyp * cov_ytyt
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(prod == 0, 0.0, cov_ytyp / np.sqrt(np.where(prod == 0, 1.0, prod)))


def cohen_kappa(cm: np.ndarray, replace_undefined_by: float = 0.0) -> np.ndarray:
    """Unweighted Cohen's kappa (sklearn's cohen_kappa_score with ``replace_undefined_by``)."""
    t_sum, p_sum, correct, n = _padded_sums(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected_off = (n**2 - (p_sum * t_sum).sum(-1)) / n  # sum of off-diagonal expected counts
        k = 1.0 - (n - correct) / expected_off
    undefined = (n == 0) | (expected_off == 0)
    return np.where(undefined, replace_undefined_by, k)


# --------------------------------------------------------------------------------------------- the data


class Confusion:
    """Gold and extracted labels of one (task, model), and their confusion-cell sufficient statistics."""

    def __init__(self, labels: list[str], y_true: np.ndarray, y_pred: np.ndarray, scored: np.ndarray):
        self.labels = labels
        self.L = len(labels)
        self.y_true, self.y_pred, self.scored = y_true, y_pred, scored
        width = self.L + 1
        cell = np.where(scored, y_true * width + y_pred, -1)
        self.cells = np.unique(cell[scored])  # only the cells that occur: resamples never create others
        stats = np.zeros((len(cell), len(self.cells)))
        rows = np.flatnonzero(scored)
        stats[rows, np.searchsorted(self.cells, cell[rows])] = 1.0
        self.stats = stats
        self.matrix = self.to_matrix(stats.sum(0))

    def to_matrix(self, summed: np.ndarray) -> np.ndarray:
        """Summed stats (..., k) -> confusion matrices (..., L, L+1)."""
        summed = np.asarray(summed, dtype=float)
        cm = np.zeros(summed.shape[:-1] + (self.L * (self.L + 1),))
        cm[..., self.cells] = summed
        return cm.reshape(summed.shape[:-1] + (self.L, self.L + 1))

    def details(self) -> dict[str, Any]:
        """JSON-able: labels, confusion matrix (rows true, columns labels + invalid), invalid count."""
        cm = self.matrix.astype(int)
        return {
            "labels": list(self.labels),
            "columns": list(self.labels) + ["invalid"],
            "confusion_matrix": cm.tolist(),
            "invalid": int(cm[:, -1].sum()),
            "support": cm.sum(1).tolist(),
        }

    def correct(self) -> list[float | None]:
        """Per-example correctness 0/1 (None = unscored), for review lists."""
        return [float(t == p) if s else None for t, p, s in zip(self.y_true, self.y_pred, self.scored)]

    def result(self, key: str, formula, *, corpus_only: bool, extra: dict | None = None) -> MetricResult:
        """A MetricResult whose value and resamples come from ``formula(confusion matrices)``."""

        def from_stats(summed: np.ndarray) -> np.ndarray:
            return formula(self.to_matrix(summed))

        value = float(from_stats(self.stats.sum(0))) if self.scored.any() else None
        details = self.details()
        details.update(extra or {})
        return MetricResult(
            key=key,
            value=value,
            higher_is_better=True,
            per_example=self.correct(),
            scored=self.scored.copy(),
            suff_stats=self.stats,
            from_stats=from_stats,
            details=details,
            corpus_only=corpus_only,
        )


def build_confusion(
    metric: str,
    predictions: Sequence[str | None],
    references: Sequence[Any] | None,
    labels: Sequence[str] | None,
    extract=extract_labels,
) -> Confusion:
    """Extract predicted labels (``extract(outputs, labels)``) and check the gold ones (DataError)."""
    preds = check_predictions(metric, predictions)
    refs = reference_lists(metric, references, len(preds))
    gold: list[str | None] = []
    for i, r in enumerate(refs):
        if r is not None and len(r) != 1:
            raise DataError(f"metric '{metric}': example {i} has {len(r)} references, a class label is one text")
        gold.append(None if r is None else r[0])
    if labels is None:
        labels = sorted({g for g in gold if g is not None})
        if not labels:
            raise DataError(f"metric '{metric}': no reference labels", hint="set `labels:` of the task")
    labels = list(labels)
    index = {lab: i for i, lab in enumerate(labels)}
    by_norm = {normalize_label(lab): i for i, lab in enumerate(labels)}
    y_true = np.full(len(preds), -1)
    for i, g in enumerate(gold):
        if g is None:
            continue
        j = index.get(g, by_norm.get(normalize_label(g)))
        if j is None:
            raise DataError(
                f"metric '{metric}': reference label '{g}' of example {i} is not one of the task's labels",
                hint=f"labels are: {', '.join(labels)}",
            )
        y_true[i] = j
    extracted = extract(preds, labels)
    y_pred = np.array([len(labels) if e is None else index[e] for e in extracted])
    scored = (y_true >= 0) & np.array([p is not None for p in preds], dtype=bool)
    return Confusion(labels, y_true, np.where(scored, y_pred, -1), scored)

"""Classification metrics from free-text outputs, equal to scikit-learn's, resampled through confusion cells.

Outputs are mapped to the task's labels by :func:`~evalstack.metrics.extract_labels` (options from the
metric's ``label_parsing`` option, else the task's ``context["label_parsing"]``). Outputs that match no
label are **invalid predictions**: never dropped, counted in ``details["invalid"]`` and shown as the last
column (``"invalid"``) of ``details["confusion_matrix"]`` (rows: true labels; columns: labels + invalid).
Every value equals scikit-learn's on ``y_true`` and ``y_pred`` where an invalid prediction is a label
outside ``labels``. How an invalid prediction enters each metric:

- accuracy: wrong.
- precision/recall/F1 (``labels=labels`` in sklearn): a false negative of the true class (lowers its
  recall and F1) and a false positive of no class (precision ignores it). Hence micro precision is taken
  over the valid predictions only and micro F1 may exceed accuracy when there are invalid outputs.
- specificity: a true negative of every class but the true one (it predicted none of them).
- balanced accuracy: a miss of the true class (mean recall over the classes present in the references).
- MCC, Cohen's kappa: one more predicted category ("invalid") that never occurs in the references.

Failed generations (None) are *unscored*, not invalid. Sufficient statistics are one-hot confusion cells
(only the cells that occur, so k stays small); ``from_stats`` rebuilds the summed confusion matrices and
computes the metric vectorised, so a bootstrap resample equals sklearn on the resampled examples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ._base import MetricResult, register_metric
from ._confusion import (
    AVERAGES,
    Confusion,
    accuracy,
    balanced_accuracy,
    build_confusion,
    cohen_kappa,
    mcc,
    precision_recall_f1,
    specificity,
)
from ._labels import LABEL_MODES, extract_labels
from ._options import BaseMetric, Option, boolean, choice, mapping, number, one_or_more, optional, string_list

# ------------------------------------------------------------------------------------------- the metrics

_ZERO_DIVISION = {"warn": 0.0, 0: 0.0, 1: 1.0, "nan": float("nan")}

_COMMON = {
    "labels": Option(None, optional(string_list), "allowed labels, default: the task's labels"),
    "label_parsing": Option(
        None,
        optional(mapping),
        f"mode ({'|'.join(LABEL_MODES)}), aliases, regex, case_sensitive, default: the task's label_parsing",
    ),
}
_LABEL_PARSING_KEYS = ("mode", "aliases", "regex", "case_sensitive")


class _ClassificationMetric(BaseMetric):
    """Shared: label options, confusion building, and the one-key result."""

    OPTIONS = dict(_COMMON)
    PER_EXAMPLE = False  # per_example holds correctness 0/1 as a proxy for review lists
    uses_labels = True

    def _validate(self) -> None:
        lp = self.opts["label_parsing"]
        if lp is not None:
            bad = [k for k in lp if k not in _LABEL_PARSING_KEYS]
            if bad:
                self.fail("label_parsing", f"unknown key '{bad[0]}'", hint=f"use {', '.join(_LABEL_PARSING_KEYS)}")
        if self.opts["labels"] is not None:  # validate mapping/regex now, not at the end of a run
            self._extract([], self.opts["labels"], lp or {})

    def _extract(self, outputs, labels, label_parsing: dict[str, Any]) -> list[str | None]:
        try:
            return extract_labels(outputs, labels, **label_parsing)
        except ConfigError as exc:
            raise exc.at(f"metric '{self.name}'") from None  # the same error: its hint is kept
        except TypeError as exc:  # a label_parsing key with the wrong kind of value
            raise ConfigError(f"metric '{self.name}': label_parsing: {exc}") from None

    def confusion(self, predictions, references, context: dict[str, Any]) -> Confusion:
        """The confusion for these predictions, with option values overriding the task's context."""
        labels = self.opts["labels"] if self.opts["labels"] is not None else context.get("labels")
        lp = (
            self.opts["label_parsing"]
            if self.opts["label_parsing"] is not None
            else (context.get("label_parsing") or {})
        )
        bad = [k for k in lp if k not in _LABEL_PARSING_KEYS]
        if bad:
            raise ConfigError(
                f"metric '{self.name}': label_parsing: unknown key '{bad[0]}'",
                hint=f"use {', '.join(_LABEL_PARSING_KEYS)}",
            )
        return build_confusion(
            self.name, predictions, references, labels, lambda outs, labs: self._extract(outs, labs, dict(lp))
        )

    def compute(self, predictions, references=None, **context) -> list[MetricResult]:
        conf = self.confusion(predictions, references, context)
        return [conf.result(self.name, self.formula, corpus_only=not self.PER_EXAMPLE)]

    def formula(self, cm: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


@register_metric("accuracy")
class Accuracy(_ClassificationMetric):
    KEYS = "accuracy"
    PER_EXAMPLE = True
    DESCRIPTION = "Share of outputs whose extracted label is the reference label (invalid = wrong)."

    def formula(self, cm):
        return accuracy(cm)


class _Averaged(_ClassificationMetric):
    """Metrics with ``average`` (one key per average) and per-class values in details."""

    OPTIONS = dict(
        _COMMON,
        average=Option("macro", one_or_more(*AVERAGES), "micro|macro|weighted or a list"),
        zero_division=Option("warn", choice("warn", 0, 1, "nan"), "value where undefined (warn = 0)"),
    )

    @classmethod
    def keys(cls, options=None) -> tuple[str, ...]:
        return tuple(f"{cls.name}_{avg}" for avg in cls.option_values(options)["average"])

    def compute(self, predictions, references=None, **context) -> list[MetricResult]:
        conf = self.confusion(predictions, references, context)
        zd = _ZERO_DIVISION[self.opts["zero_division"]]
        per_class = self.per_class(conf.matrix, zd)
        extra = {"per_class": {lab: _json_float(v) for lab, v in zip(conf.labels, per_class)}}
        return [
            conf.result(f"{self.name}_{avg}", lambda cm, a=avg: self.averaged(cm, a, zd), corpus_only=True, extra=extra)
            for avg in self.opts["average"]
        ]

    def per_class(self, cm, zd):  # pragma: no cover - abstract
        raise NotImplementedError

    def averaged(self, cm, average, zd):  # pragma: no cover - abstract
        raise NotImplementedError


def _json_float(v: float) -> float | None:
    return None if v != v else float(v)


class _PRF(_Averaged):
    WHICH = 0

    def per_class(self, cm, zd):
        return precision_recall_f1(cm, None, zd)[self.WHICH]

    def averaged(self, cm, average, zd):
        return precision_recall_f1(cm, average, zd)[self.WHICH]


@register_metric("precision")
class Precision(_PRF):
    WHICH = 0
    KEYS = "precision_macro | precision_micro | precision_weighted"
    DESCRIPTION = "Precision per class, averaged; invalid outputs are no class's positives."


@register_metric("recall")
class Recall(_PRF):
    WHICH = 1
    KEYS = "recall_macro | recall_micro | recall_weighted"
    DESCRIPTION = "Recall per class, averaged; invalid outputs are misses of the true class."


@register_metric("f1")
class F1(_PRF):
    WHICH = 2
    KEYS = "f1_macro | f1_micro | f1_weighted"
    DESCRIPTION = "F1 per class (2TP / (2TP+FP+FN)), averaged; invalid outputs are false negatives."


@register_metric("specificity")
class Specificity(_Averaged):
    KEYS = "specificity_macro | specificity_micro | specificity_weighted"
    DESCRIPTION = "True-negative rate per class (one-vs-rest), averaged."

    def per_class(self, cm, zd):
        return specificity(cm, None, zd)

    def averaged(self, cm, average, zd):
        return specificity(cm, average, zd)


@register_metric("balanced_accuracy")
class BalancedAccuracy(_ClassificationMetric):
    KEYS = "balanced_accuracy"
    DESCRIPTION = "Mean recall over the classes present in the references (robust to imbalance)."
    OPTIONS = dict(_COMMON, adjusted=Option(False, boolean, "rescale so chance = 0"))

    def formula(self, cm):
        return balanced_accuracy(cm, self.opts["adjusted"])


@register_metric("mcc")
class MCC(_ClassificationMetric):
    KEYS = "mcc"
    DESCRIPTION = "Matthews correlation coefficient (multiclass), in [-1, 1]; 0 where undefined."

    def formula(self, cm):
        return mcc(cm)


@register_metric("cohen_kappa")
class CohenKappa(_ClassificationMetric):
    KEYS = "cohen_kappa"
    DESCRIPTION = "Cohen's kappa between references and extracted labels (agreement beyond chance)."
    OPTIONS = dict(_COMMON, replace_undefined_by=Option(0.0, number(-1, 1), "value where kappa is undefined"))

    def formula(self, cm):
        return cohen_kappa(cm, self.opts["replace_undefined_by"])


@register_metric("classification")
class Classification(_ClassificationMetric):
    KEYS = (
        "accuracy, balanced_accuracy, f1_macro, precision_macro, recall_macro, specificity_macro, mcc, "
        "cohen_kappa (averages as asked)"
    )
    PER_EXAMPLE = True
    DESCRIPTION = "Every classification metric at once from one label extraction (accuracy first)."
    OPTIONS = dict(_Averaged.OPTIONS)

    @classmethod
    def keys(cls, options=None) -> tuple[str, ...]:
        averages = cls.option_values(options)["average"]
        return (
            "accuracy",
            "balanced_accuracy",
            *(f"{name}_{avg}" for name in ("f1", "precision", "recall") for avg in averages),
            *(f"specificity_{avg}" for avg in averages),
            "mcc",
            "cohen_kappa",
        )

    def compute(self, predictions, references=None, **context) -> list[MetricResult]:
        conf = self.confusion(predictions, references, context)
        zd = _ZERO_DIVISION[self.opts["zero_division"]]
        out = [
            conf.result("accuracy", accuracy, corpus_only=False),
            conf.result("balanced_accuracy", balanced_accuracy, corpus_only=True),
        ]
        for name, which in (("f1", 2), ("precision", 0), ("recall", 1)):  # precision_recall_f1 returns (p, r, f)
            for avg in self.opts["average"]:
                out.append(
                    conf.result(
                        f"{name}_{avg}", lambda cm, a=avg, w=which: precision_recall_f1(cm, a, zd)[w], corpus_only=True
                    )
                )
        for avg in self.opts["average"]:
            out.append(conf.result(f"specificity_{avg}", lambda cm, a=avg: specificity(cm, a, zd), corpus_only=True))
        out.append(conf.result("mcc", mcc, corpus_only=True))
        out.append(conf.result("cohen_kappa", cohen_kappa, corpus_only=True))
        return out

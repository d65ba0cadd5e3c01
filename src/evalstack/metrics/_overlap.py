"""Exact match, token-level F1 (SQuAD v1.1) and Knowledge-F1.

Normalisation follows the official SQuAD v1.1 evaluation script: lower case, drop ASCII punctuation,
drop the articles a/an/the, collapse whitespace. Token F1 is that script's ``f1_score`` (0 when no token
is shared, including two empty answers), maximised over the references. Knowledge-F1 (Shuster et al.,
2021) is the same F1 between the output and the example's knowledge/context text(s): a cheap signal that
an answer is grounded in what it was given (low = possibly hallucinated).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable

from ._base import MetricResult, mean_result, register_metric
from ._inputs import check_predictions, context_column, reference_lists
from ._options import BaseMetric, Option, boolean

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def make_normalizer(
    *, ignore_case: bool = True, ignore_punctuation: bool = True, ignore_articles: bool = True
) -> Callable[[str], str]:
    """A text normaliser; with every option on it is SQuAD v1.1's ``normalize_answer``."""

    def normalize(s: str) -> str:
        if ignore_case:
            s = s.lower()
        if ignore_punctuation:
            s = "".join(ch for ch in s if ch not in _PUNCT)
        if ignore_articles:
            s = _ARTICLES.sub(" ", s)
        return " ".join(s.split())

    return normalize


normalize_answer = make_normalizer()
"""SQuAD v1.1's answer normalisation."""


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD v1.1 ``f1_score`` of one prediction against one reference."""
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(reference).split()
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred)
    recall = same / len(ref)
    return (2 * precision * recall) / (precision + recall)


@register_metric("exact_match")
class ExactMatch(BaseMetric):
    KEYS = "exact_match"
    DESCRIPTION = "1 if the normalised output equals a normalised reference (any of several), else 0."
    OPTIONS = {
        "ignore_case": Option(True, boolean, "lower-case both sides"),
        "ignore_punctuation": Option(True, boolean, "drop ASCII punctuation"),
        "ignore_articles": Option(False, boolean, "drop a/an/the (all three on = SQuAD's exact match)"),
    }

    def compute(self, predictions, references=None, **context) -> list[MetricResult]:
        preds = check_predictions(self.name, predictions)
        refs = reference_lists(self.name, references, len(preds))
        norm = make_normalizer(**self.opts)
        scores = [
            None if p is None or r is None else float(any(norm(p) == norm(x) for x in r)) for p, r in zip(preds, refs)
        ]
        return [mean_result(self.name, scores)]


@register_metric("token_f1")
class TokenF1(BaseMetric):
    KEYS = "token_f1"
    DESCRIPTION = "SQuAD v1.1 token F1 (normalised bag of words), best over the references."

    def compute(self, predictions, references=None, **context) -> list[MetricResult]:
        preds = check_predictions(self.name, predictions)
        refs = reference_lists(self.name, references, len(preds))
        return [mean_result(self.name, _best_f1(preds, refs))]


@register_metric("knowledge_f1")
class KnowledgeF1(BaseMetric):
    needs_reference = False
    needs_context = True
    KEYS = "knowledge_f1"
    DESCRIPTION = (
        "Token F1 between the output and the task's `context:` column (text or list of "
        "texts, best taken): grounding / hallucination signal."
    )

    def compute(self, predictions, references=None, **context) -> list[MetricResult]:
        preds = check_predictions(self.name, predictions)
        knowledge = reference_lists(self.name, context_column(self.name, context, "knowledge", len(preds)), len(preds))
        return [mean_result(self.name, _best_f1(preds, knowledge))]


def _best_f1(preds: list[str | None], refs: list[list[str] | None]) -> list[float | None]:
    return [None if p is None or r is None else max(token_f1(p, x) for x in r) for p, r in zip(preds, refs)]

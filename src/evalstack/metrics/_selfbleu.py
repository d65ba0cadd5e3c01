"""Self-BLEU (Zhu et al., Texygen 2018): how alike a model's outputs are to each other (lower = more diverse).

Per output i: sentence BLEU (sacrebleu's ``sentence_bleu``: 13a tokens, exp smoothing, effective order) of
output i against all the other outputs as references. The corpus value is the mean over outputs. Naively
that is n calls with n-1 references each (quadratic n-gram extraction); here each output's n-grams are
counted once and, per n-gram, the largest and second-largest counts over the outputs are kept, so the
clipping count "max over the other outputs" is read in O(1). The closest reference length is taken over
the other outputs' lengths with sacrebleu's tie rule (shorter wins). Equality with ``sentence_bleu`` is
tested.
"""

from __future__ import annotations

import bisect
from typing import cast

import numpy as np

from ._base import MetricResult, mean_result, register_metric
from ._bleu import TOKENIZERS, bleu_from_stats, bleu_scorer, check_tokenizer
from ._inputs import check_predictions
from ._options import BaseMetric, Option, boolean, choice, integer


def _closest_other_length(h: int, sorted_lens: list[int]) -> int | None:
    """Closest length to ``h`` among ``sorted_lens`` minus one occurrence of ``h`` (ties: the shorter)."""
    lo = bisect.bisect_left(sorted_lens, h)
    hi = bisect.bisect_right(sorted_lens, h)
    if hi - lo >= 2:
        return h
    below = sorted_lens[lo - 1] if lo > 0 else None
    above = sorted_lens[hi] if hi < len(sorted_lens) else None
    if below is None:
        return above
    if above is None or h - below <= above - h:
        return below
    return above


def self_bleu_stats(
    texts: list[str], *, tokenize: str = "13a", lowercase: bool = False, max_order: int = 4
) -> np.ndarray:
    """BLEU sentence statistics of each text against all the others, shape (n, 2 + 2 * max_order)."""
    from sacrebleu.metrics.helpers import extract_all_word_ngrams

    bleu = bleu_scorer({"tokenize": tokenize, "lowercase": lowercase, "max_ngram_order": max_order})
    counted = [extract_all_word_ngrams(bleu._preprocess_segment(t), 1, max_order) for t in texts]
    top: dict[tuple, list] = {}  # n-gram -> [largest count, index holding it, second largest count]
    for i, (ngrams, _) in enumerate(counted):
        for g, c in ngrams.items():
            slot = top.get(g)
            if slot is None:
                top[g] = [c, i, 0]
            elif c > slot[0]:
                slot[2], slot[0], slot[1] = slot[0], c, i
            elif c > slot[2]:
                slot[2] = c
    sorted_lens = sorted(length for _, length in counted)
    rows = np.zeros((len(texts), 2 + 2 * max_order))
    for i, (ngrams, hyp_len) in enumerate(counted):
        correct = [0] * max_order
        total = [0] * max_order
        for g, c in ngrams.items():
            n = len(g) - 1
            total[n] += c
            best, holder, second = top[g]
            other = second if holder == i else best
            if other:
                correct[n] += min(c, other)
        rows[i] = [hyp_len, _closest_other_length(hyp_len, sorted_lens)] + correct + total
    return rows


@register_metric("self_bleu")
class SelfBleu(BaseMetric):
    needs_reference = False
    KEYS = "self_bleu"
    HIGHER_IS_BETTER = False
    DESCRIPTION = (
        "Diversity of a model's outputs: mean sentence BLEU (0-100) of each output against the "
        "others; lower = more diverse. No references needed."
    )
    OPTIONS = {
        "tokenize": Option("13a", choice(*TOKENIZERS), "sacrebleu tokenizer"),
        "lowercase": Option(False, boolean, "lower-case before scoring"),
        "max_ngram_order": Option(4, integer(1, 10), "highest n-gram order"),
    }

    def _validate(self) -> None:
        check_tokenizer(self)

    def compute(self, predictions, references=None, **context) -> list[MetricResult]:
        preds = check_predictions(self.name, predictions)
        idx = [i for i, p in enumerate(preds) if p is not None]
        per_example: list[float | None] = [None] * len(preds)
        if len(idx) >= 2:  # one output has no "others"
            o = self.opts
            rows = self_bleu_stats(
                cast(list[str], [preds[i] for i in idx]),
                tokenize=o["tokenize"],
                lowercase=o["lowercase"],
                max_order=o["max_ngram_order"],
            )
            for i, v in zip(idx, bleu_from_stats(rows, max_order=o["max_ngram_order"], effective_order=True)):
                per_example[i] = float(v)
        return [mean_result(self.name, per_example, higher_is_better=False, details={"scale": "0-100"})]

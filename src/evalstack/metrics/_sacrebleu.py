"""BLEU, chrF and TER through sacrebleu, resampled exactly through per-sentence statistics.

sacrebleu reduces a corpus to per-sentence statistics and sums them: BLEU keeps [hyp_len, closest ref_len,
matches_1..N, totals_1..N], chrF keeps [hyp, ref, match] per n-gram order, TER keeps [edits, ref_len]. Those
rows are our ``suff_stats`` and the ``from_stats`` functions below are vectorised ports of sacrebleu's
``compute_bleu`` / ``_compute_f_score`` / TER score, so the corpus value equals ``sacrebleu.corpus_bleu``
(``corpus_chrf``, ``corpus_ter``) and a bootstrap resample equals sacrebleu on the resampled corpus.
Per-example values are the sentence-level scores (``sentence_bleu`` with effective order, ``sentence_chrf``,
``sentence_ter``): a proxy for review lists, the corpus value is not their mean. Scores are on sacrebleu's
0-100 scale. Several references per example are all used (padded with None, as sacrebleu allows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from ._base import MetricResult
from ._inputs import check_predictions, reference_lists, scored_mask
from ._options import BaseMetric

__all__ = ["SacrebleuMetric", "reference_streams"]


def reference_streams(refs: Sequence[list[str]]) -> list[list[str | None]]:
    """Per-example reference lists -> sacrebleu's reference streams, padded with None."""
    width = max((len(r) for r in refs), default=0)
    return [[r[k] if k < len(r) else None for r in refs] for k in range(width)]


class SacrebleuMetric(BaseMetric):
    """Shared: sentence statistics from sacrebleu, corpus value and sentence scores from them."""

    PER_EXAMPLE = False

    def scorer(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def corpus_from_stats(self, s: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def sentence_from_stats(self, s: np.ndarray) -> np.ndarray:
        return self.corpus_from_stats(s)

    def sentence_stats(self, hyps: list[str], refs: list[list[str]]) -> np.ndarray:
        """sacrebleu's per-sentence statistics (rows) for these hypotheses and references."""
        return np.asarray(self.scorer()._extract_corpus_statistics(hyps, reference_streams(refs)), dtype=float)

    def compute(self, predictions, references=None, **context) -> list[MetricResult]:
        preds = check_predictions(self.name, predictions)
        refs = reference_lists(self.name, references, len(preds))
        scored = scored_mask(preds, refs)
        idx = np.flatnonzero(scored)
        rows = (
            self.sentence_stats(cast(list[str], [preds[i] for i in idx]), cast(list[list[str]], [refs[i] for i in idx]))
            if len(idx)
            else None
        )
        width = rows.shape[1] if rows is not None else self.width()
        stats = np.zeros((len(preds), width))
        per_example: list[float | None] = [None] * len(preds)
        if rows is not None:
            stats[idx] = rows
            for i, v in zip(idx, self.sentence_from_stats(rows)):
                per_example[i] = float(v)
        value = float(self.corpus_from_stats(stats[scored].sum(0))) if len(idx) else None
        return [
            MetricResult(
                key=self.name,
                value=value,
                higher_is_better=self.HIGHER_IS_BETTER,
                per_example=per_example,
                scored=scored,
                suff_stats=stats,
                from_stats=self.corpus_from_stats,
                details={"scale": "0-100"},
                corpus_only=True,
            )
        ]

    def width(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

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

from typing import Sequence

import numpy as np

from ._base import MetricResult, register_metric
from ._inputs import check_predictions, reference_lists, scored_mask
from ._options import BaseMetric, Option, boolean, choice, integer, number, optional

_SMOOTH_DEFAULTS = {"none": None, "floor": 0.1, "add-k": 1, "exp": None}
_TOKENIZERS = ("13a", "none", "intl", "char", "zh", "ja-mecab", "ko-mecab", "spm", "flores101", "flores200")


def bleu_from_stats(stats: np.ndarray, *, max_order: int = 4, smooth_method: str = "exp",
                    smooth_value: float | None = None, effective_order: bool = False) -> np.ndarray:
    """Vectorised ``sacrebleu.BLEU.compute_bleu`` over summed stats of shape (..., 2 + 2 * max_order)."""
    stats = np.asarray(stats, dtype=float)
    sys_len, ref_len = stats[..., 0], stats[..., 1]
    correct = stats[..., 2:2 + max_order].copy()
    total = stats[..., 2 + max_order:2 + 2 * max_order].copy()
    if smooth_value is None:
        smooth_value = _SMOOTH_DEFAULTS[smooth_method]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        bp = np.where(sys_len < ref_len, np.where(sys_len > 0, np.exp(1 - ref_len / sys_len), 0.0), 1.0)
        any_correct = (correct != 0).any(-1)
        precisions = np.zeros_like(correct)
        smooth = np.ones_like(sys_len)
        active = np.ones_like(sys_len, dtype=bool)      # not yet hit a zero total (sacrebleu's `break`)
        eff = np.full_like(sys_len, float(max_order))
        for n in range(max_order):
            if smooth_method == "add-k" and n > 0:
                correct[..., n] += smooth_value
                total[..., n] += smooth_value
            active &= total[..., n] != 0
            if effective_order:
                eff = np.where(active, n + 1.0, eff)
            c, t = correct[..., n], total[..., n]
            zero = c == 0
            p = np.where(zero, 0.0, 100.0 * c / t)
            if smooth_method == "exp":
                smooth = np.where(active & zero, smooth * 2, smooth)
                p = np.where(zero, 100.0 / (smooth * t), p)
            elif smooth_method == "floor":
                p = np.where(zero, 100.0 * smooth_value / t, p)
            precisions[..., n] = np.where(active, p, 0.0)
        logs = np.where(precisions == 0, -9999999999.0, np.log(np.where(precisions == 0, 1.0, precisions)))
        order_mask = np.arange(max_order) < eff[..., None]
        score = bp * np.exp(np.where(order_mask, logs, 0.0).sum(-1) / eff)
    return np.where(any_correct, score, 0.0)


def chrf_from_stats(stats: np.ndarray, *, beta: float = 2, eps_smoothing: bool = False) -> np.ndarray:
    """Vectorised ``sacrebleu.CHRF._compute_f_score`` over stats of shape (..., 3 * orders)."""
    stats = np.asarray(stats, dtype=float)
    order = stats.shape[-1] // 3
    eps = 1e-16
    factor = beta ** 2
    shape = stats.shape[:-1]
    score, avg_prec, avg_rec, eff = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(order):
            n_hyp, n_ref, n_match = stats[..., 3 * i], stats[..., 3 * i + 1], stats[..., 3 * i + 2]
            prec = np.where(n_hyp > 0, n_match / n_hyp, eps)
            rec = np.where(n_ref > 0, n_match / n_ref, eps)
            denom = factor * prec + rec
            score = score + np.where(denom > 0, (1 + factor) * prec * rec / denom, eps)
            both = (n_hyp > 0) & (n_ref > 0)
            avg_prec = avg_prec + np.where(both, prec, 0.0)
            avg_rec = avg_rec + np.where(both, rec, 0.0)
            eff = eff + both
        if eps_smoothing:
            return 100 * score / order
        avg_prec = np.where(eff == 0, 0.0, avg_prec / eff)
        avg_rec = np.where(eff == 0, 0.0, avg_rec / eff)
        f = (1 + factor) * avg_prec * avg_rec
        f = f / ((factor * avg_prec) + avg_rec)
    return np.where(avg_prec + avg_rec != 0, 100 * f, 0.0)


def ter_from_stats(stats: np.ndarray) -> np.ndarray:
    """sacrebleu's TER from summed [edits, ref_len] (..., 2): 100 * edits / ref_len."""
    stats = np.asarray(stats, dtype=float)
    edits, ref_len = stats[..., 0], stats[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(ref_len > 0, edits / ref_len, np.where(edits > 0, 1.0, 0.0))
    return 100 * score


def reference_streams(refs: Sequence[list[str]]) -> list[list[str | None]]:
    """Per-example reference lists -> sacrebleu's reference streams, padded with None."""
    width = max((len(r) for r in refs), default=0)
    return [[r[k] if k < len(r) else None for r in refs] for k in range(width)]


def bleu_scorer(opts: dict):
    """A ``sacrebleu.metrics.BLEU`` from our option names."""
    from sacrebleu.metrics import BLEU

    return BLEU(lowercase=opts["lowercase"], tokenize=opts["tokenize"], smooth_method=opts.get("smooth_method", "exp"),
                smooth_value=opts.get("smooth_value"), max_ngram_order=opts["max_ngram_order"], force=True)


def check_tokenizer(metric: BaseMetric) -> None:
    """Build the BLEU scorer now so that an unusable tokenizer is a config error, not a crash mid-run."""
    try:
        bleu_scorer(metric.opts)
    except Exception as exc:  # noqa: BLE001 - e.g. a tokenizer whose extra package is missing
        metric.fail("tokenize", f"sacrebleu cannot use '{metric.opts['tokenize']}': {exc}")


class _Sacre(BaseMetric):
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
        rows = self.sentence_stats([preds[i] for i in idx], [refs[i] for i in idx]) if len(idx) else None
        width = rows.shape[1] if rows is not None else self.width()
        stats = np.zeros((len(preds), width))
        per_example: list[float | None] = [None] * len(preds)
        if rows is not None:
            stats[idx] = rows
            for i, v in zip(idx, self.sentence_from_stats(rows)):
                per_example[i] = float(v)
        value = float(self.corpus_from_stats(stats[scored].sum(0))) if len(idx) else None
        return [MetricResult(key=self.name, value=value, higher_is_better=self.HIGHER_IS_BETTER,
                             per_example=per_example, scored=scored, suff_stats=stats,
                             from_stats=self.corpus_from_stats, details={"scale": "0-100"}, corpus_only=True)]

    def width(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError


@register_metric("bleu")
class Bleu(_Sacre):
    KEYS = "bleu"
    DESCRIPTION = "Corpus BLEU (0-100) equal to sacrebleu.corpus_bleu; per example: sentence BLEU."
    OPTIONS = {
        "tokenize": Option("13a", choice(*_TOKENIZERS), "sacrebleu tokenizer"),
        "lowercase": Option(False, boolean, "lower-case before scoring"),
        "smooth_method": Option("exp", choice(*_SMOOTH_DEFAULTS), "none|floor|add-k|exp"),
        "smooth_value": Option(None, optional(number(0)), "for floor / add-k"),
        "max_ngram_order": Option(4, integer(1, 10), "highest n-gram order"),
    }

    def _validate(self) -> None:
        check_tokenizer(self)

    def scorer(self):
        return bleu_scorer(self.opts)

    def width(self) -> int:
        return 2 + 2 * self.opts["max_ngram_order"]

    def corpus_from_stats(self, s, effective_order: bool = False):
        o = self.opts
        return bleu_from_stats(s, max_order=o["max_ngram_order"], smooth_method=o["smooth_method"],
                               smooth_value=o["smooth_value"], effective_order=effective_order)

    def sentence_from_stats(self, s):
        return self.corpus_from_stats(s, effective_order=True)


@register_metric("chrf")
class Chrf(_Sacre):
    KEYS = "chrf"
    DESCRIPTION = ("Corpus chrF, 0-100, equal to sacrebleu.corpus_chrf: character n-grams only by default "
                   "(word_order: 0, as sacrebleu's CHRF()); word_order: 2 gives chrF++.")
    OPTIONS = {
        "char_order": Option(6, integer(1, 20), "character n-gram order"),
        "word_order": Option(0, integer(0, 10), "word n-gram order (2 = chrF++)"),
        "beta": Option(2, integer(0, 100), "recall weight"),
        "lowercase": Option(False, boolean, "lower-case before scoring"),
        "whitespace": Option(False, boolean, "keep whitespace in character n-grams"),
        "eps_smoothing": Option(False, boolean, "chrF++.py-style smoothing"),
    }

    def scorer(self):
        from sacrebleu.metrics import CHRF

        return CHRF(**self.opts)

    def width(self) -> int:
        return 3 * (self.opts["char_order"] + self.opts["word_order"])

    def corpus_from_stats(self, s):
        return chrf_from_stats(s, beta=self.opts["beta"], eps_smoothing=self.opts["eps_smoothing"])


@register_metric("ter")
class Ter(_Sacre):
    KEYS = "ter"
    HIGHER_IS_BETTER = False
    DESCRIPTION = "Translation edit rate (0-100+, lower is better), equal to sacrebleu.corpus_ter."
    OPTIONS = {
        "normalized": Option(False, boolean, "tercom normalisation"),
        "no_punct": Option(False, boolean, "remove punctuation"),
        "asian_support": Option(False, boolean, "split Asian characters"),
        "case_sensitive": Option(False, boolean, "do not lower-case"),
    }

    def scorer(self):
        from sacrebleu.metrics import TER

        return TER(**self.opts)

    def width(self) -> int:
        return 2

    def corpus_from_stats(self, s):
        return ter_from_stats(s)


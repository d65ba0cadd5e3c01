"""BLEU equal to ``sacrebleu.corpus_bleu``, resampled exactly through per-sentence n-gram counts.

Per-sentence statistics are [hyp_len, closest ref_len, matches_1..N, totals_1..N] (see ``_sacrebleu``);
``bleu_from_stats`` is a vectorised port of sacrebleu's ``compute_bleu``. Per example: ``sentence_bleu``
with effective order.
"""

from __future__ import annotations

import numpy as np

from ._base import register_metric
from ._options import BaseMetric, Option, boolean, choice, integer, number, optional
from ._sacrebleu import SacrebleuMetric

__all__ = ["Bleu", "TOKENIZERS", "bleu_from_stats", "bleu_scorer", "check_tokenizer"]

_SMOOTH_DEFAULTS = {"none": None, "floor": 0.1, "add-k": 1, "exp": None}
TOKENIZERS = ("13a", "none", "intl", "char", "zh", "ja-mecab", "ko-mecab", "spm", "flores101", "flores200")


def bleu_from_stats(
    stats: np.ndarray,
    *,
    max_order: int = 4,
    smooth_method: str = "exp",
    smooth_value: float | None = None,
    effective_order: bool = False,
) -> np.ndarray:
    """Vectorised ``sacrebleu.BLEU.compute_bleu`` over summed stats of shape (..., 2 + 2 * max_order)."""
    stats = np.asarray(stats, dtype=float)
    sys_len, ref_len = stats[..., 0], stats[..., 1]
    correct = stats[..., 2 : 2 + max_order].copy()
    total = stats[..., 2 + max_order : 2 + 2 * max_order].copy()
    if smooth_value is None:
        smooth_value = _SMOOTH_DEFAULTS[smooth_method]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        bp = np.where(sys_len < ref_len, np.where(sys_len > 0, np.exp(1 - ref_len / sys_len), 0.0), 1.0)
        any_correct = (correct != 0).any(-1)
        precisions = np.zeros_like(correct)
        smooth = np.ones_like(sys_len)
        active = np.ones_like(sys_len, dtype=bool)  # not yet hit a zero total (sacrebleu's `break`)
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
                assert smooth_value is not None  # floor's default is 0.1
                p = np.where(zero, 100.0 * smooth_value / t, p)
            precisions[..., n] = np.where(active, p, 0.0)
        logs = np.where(precisions == 0, -9999999999.0, np.log(np.where(precisions == 0, 1.0, precisions)))
        order_mask = np.arange(max_order) < eff[..., None]
        score = bp * np.exp(np.where(order_mask, logs, 0.0).sum(-1) / eff)
    return np.where(any_correct, score, 0.0)


def bleu_scorer(opts: dict):
    """A ``sacrebleu.metrics.BLEU`` from our option names."""
    from sacrebleu.metrics import BLEU

    return BLEU(
        lowercase=opts["lowercase"],
        tokenize=opts["tokenize"],
        smooth_method=opts.get("smooth_method", "exp"),
        smooth_value=opts.get("smooth_value"),
        max_ngram_order=opts["max_ngram_order"],
        force=True,
    )


def check_tokenizer(metric: BaseMetric) -> None:
    """Build the BLEU scorer now so that an unusable tokenizer is a config error, not a crash mid-run."""
    try:
        bleu_scorer(metric.opts)
    except Exception as exc:
        metric.fail("tokenize", f"sacrebleu cannot use '{metric.opts['tokenize']}': {exc}")


@register_metric("bleu")
class Bleu(SacrebleuMetric):
    KEYS = "bleu"
    DESCRIPTION = "Corpus BLEU (0-100) equal to sacrebleu.corpus_bleu; per example: sentence BLEU."
    OPTIONS = {
        "tokenize": Option("13a", choice(*TOKENIZERS), "sacrebleu tokenizer"),
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
        return bleu_from_stats(
            s,
            max_order=o["max_ngram_order"],
            smooth_method=o["smooth_method"],
            smooth_value=o["smooth_value"],
            effective_order=effective_order,
        )

    def sentence_from_stats(self, s):
        return self.corpus_from_stats(s, effective_order=True)

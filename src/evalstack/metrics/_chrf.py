"""chrF and chrF++ equal to ``sacrebleu.corpus_chrf``, resampled exactly through per-sentence statistics.

Per-sentence statistics are [hyp, ref, match] per character (then word) n-gram order (see ``_sacrebleu``);
``chrf_from_stats`` is a vectorised port of sacrebleu's ``CHRF._compute_f_score``.
"""

from __future__ import annotations

import numpy as np

from ._base import register_metric
from ._options import Option, boolean, integer
from ._sacrebleu import SacrebleuMetric

__all__ = ["Chrf", "chrf_from_stats"]


def chrf_from_stats(stats: np.ndarray, *, beta: float = 2, eps_smoothing: bool = False) -> np.ndarray:
    """Vectorised ``sacrebleu.CHRF._compute_f_score`` over stats of shape (..., 3 * orders)."""
    stats = np.asarray(stats, dtype=float)
    order = stats.shape[-1] // 3
    eps = 1e-16
    factor = beta**2
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


@register_metric("chrf")
class Chrf(SacrebleuMetric):
    KEYS = "chrf"
    DESCRIPTION = (
        "Corpus chrF, 0-100, equal to sacrebleu.corpus_chrf: character n-grams only by default "
        "(word_order: 0, as sacrebleu's CHRF()); word_order: 2 gives chrF++."
    )
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

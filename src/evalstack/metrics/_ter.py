"""Translation edit rate equal to ``sacrebleu.corpus_ter``, resampled exactly through [edits, ref_len] rows."""

from __future__ import annotations

import numpy as np

from ._base import register_metric
from ._options import Option, boolean
from ._sacrebleu import SacrebleuMetric

__all__ = ["Ter", "ter_from_stats"]


def ter_from_stats(stats: np.ndarray) -> np.ndarray:
    """sacrebleu's TER from summed [edits, ref_len] (..., 2): 100 * edits / ref_len."""
    stats = np.asarray(stats, dtype=float)
    edits, ref_len = stats[..., 0], stats[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(ref_len > 0, edits / ref_len, np.where(edits > 0, 1.0, 0.0))
    return 100 * score


@register_metric("ter")
class Ter(SacrebleuMetric):
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

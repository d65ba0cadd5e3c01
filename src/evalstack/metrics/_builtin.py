"""Imports every built-in metric module so that its ``@register_metric`` classes are registered.

Each module imports its heavy libraries (sklearn, sacrebleu, torch, bert_score, evaluate...) only inside
the functions that compute, so importing this stays fast.
"""

from . import (  # noqa: F401
    _bertscore,
    _bleu,
    _chrf,
    _classification,
    _evaluate,
    _overlap,
    _perplexity,
    _rouge,
    _selfbleu,
    _ter,
    _toxicity,
)

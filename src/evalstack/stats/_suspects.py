"""Suspect gold labels: examples whose held-out label is likely wrong, found by confident learning.

Confident learning (Northcutt, Jiang & Chuang 2021) estimates, from per-class probabilities of each
example, the joint distribution of given and true labels, and flags the examples that fall off its
diagonal; ``cleanlab.filter.find_label_issues`` is the reference implementation and is what runs here
(imported when asked; it takes seconds to load). The probabilities come from either

- the label tokens' probabilities (the provider's logprobs mapped to labels), when a run has them, or
- the agreement of several models or repeated samples on an example: the share of answers for each
  label, smoothed by ``alpha`` per class (an answer that parses to no label counts for none).

Only classification tasks (``labels:``) have gold labels to suspect.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["agreement_probs", "find_suspects", "logprob_probs"]


def agreement_probs(votes: Sequence[Sequence[int | None]], n_classes: int, *, alpha: float = 0.5) -> np.ndarray:
    """(n, C) probabilities from each example's answers (class indices; None: no valid answer)."""
    out = np.full((len(votes), n_classes), alpha, dtype=float)
    for i, answers in enumerate(votes):
        for a in answers:
            if a is not None:
                out[i, a] += 1.0
    out /= out.sum(axis=1, keepdims=True)
    return out


def logprob_probs(
    top_logprobs: Sequence[dict[str, float]], labels: Sequence[str], *, floor: float = 1e-6
) -> np.ndarray:
    """(n, C) probabilities from each example's first-token top logprobs, keyed by label text.

    A label missing from an example's top list gets ``floor``; each row is renormalised over the labels.
    """
    idx = {lab: j for j, lab in enumerate(labels)}
    out = np.full((len(top_logprobs), len(labels)), floor, dtype=float)
    for i, top in enumerate(top_logprobs):
        for tok, lp in (top or {}).items():
            j = idx.get(tok.strip())
            if j is not None:
                out[i, j] = max(out[i, j], float(np.exp(lp)))
    out /= out.sum(axis=1, keepdims=True)
    return out


def find_suspects(gold: Sequence[int], pred_probs: np.ndarray) -> np.ndarray:
    """Indices of likely-wrong gold labels, most suspicious first (cleanlab, ranked by self-confidence)."""
    from cleanlab.filter import find_label_issues

    gold_arr = np.asarray(gold, dtype=int)
    if gold_arr.size == 0:
        return np.array([], dtype=int)
    return np.asarray(
        find_label_issues(gold_arr, np.asarray(pred_probs, dtype=float), return_indices_ranked_by="self_confidence"),
        dtype=int,
    )

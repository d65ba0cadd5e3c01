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

__all__ = ["agreement_probs", "find_suspects", "label_token_probs", "logprob_probs", "probs_from_label_probs"]


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


def label_token_probs(
    top_logprobs: Sequence[dict[str, float]] | None,
    labels: Sequence[str],
    *,
    aliases: dict[str, str] | None = None,
    case_sensitive: bool = False,
) -> dict[str, float] | None:
    """Each label's probability from the first answer token's top logprobs (None when no candidate token
    names a label).

    A candidate token counts for a label when its text (stripped; lower-cased unless ``case_sensitive``) is a
    prefix of exactly one label's text or alias (``" bill"`` for billing); a token that begins several labels
    tells them apart no better than chance and is left out. The first output position whose candidates name
    a label is used (a leading space or quote token is skipped). Values are probabilities, not renormalised:
    their sum is the mass the labels got.
    """
    if not top_logprobs:
        return None
    fold = (lambda x: x) if case_sensitive else str.lower
    names = [(fold(lab), lab) for lab in labels] + [(fold(a), t) for a, t in (aliases or {}).items() if t in labels]
    for top in top_logprobs:
        got: dict[str, float] = {}
        for tok, lp in (top or {}).items():
            t = fold(str(tok).strip())
            if not t:
                continue
            hits = {lab for text, lab in names if text.startswith(t)}
            if len(hits) == 1:
                lab = hits.pop()
                got[lab] = got.get(lab, 0.0) + float(np.exp(lp))
        if got:
            return {lab: got[lab] for lab in labels if lab in got}
    return None


def probs_from_label_probs(
    rows: Sequence[Sequence[dict[str, float]]], labels: Sequence[str], *, floor: float = 1e-4
) -> np.ndarray:
    """(n, C) probabilities: per example, each model's label probabilities renormalised over the labels (a
    label no candidate named gets ``floor``), averaged over the models that gave them."""
    out = np.zeros((len(rows), len(labels)))
    for i, per_model in enumerate(rows):
        for lp in per_model:
            v = np.array([max(float(lp.get(lab, 0.0)), floor) for lab in labels])
            out[i] += v / v.sum()
        out[i] /= max(1, len(per_model))
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

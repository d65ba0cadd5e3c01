"""G-Eval style scores: the probability-weighted mean over the valid scale values of the score token.

Where the endpoint returned ``top_logprobs`` for the output tokens, the token that carries the judge's
answer is found by character offsets (the tokens concatenate to the reply text), its top alternatives that
are valid answers (``"1"``..``"5"``, ``"pass"``/``"fail"``) are turned into probabilities, renormalised over
the valid answers, and averaged: ``sum_v p(v) * v``. When that is impossible the caller keeps the plain
score and records ``method="plain"`` with the reason (``note``): never a silent fallback.
"""

from __future__ import annotations

__all__ = ["Weighted", "weighted_score"]

import math
from dataclasses import dataclass


@dataclass
class Weighted:
    """A logprob-weighted score, or why there is none."""

    score: float | None
    """Probability-weighted mean over valid values; None when weighting was impossible."""
    probs: dict[str, float] | None = None
    """Renormalised probability of each valid answer seen among the top logprobs."""
    note: str | None = None
    """Why no weighted score (no top_logprobs, score split over tokens...)."""
    mass: float | None = None
    """Probability mass (before renormalising) of the valid answers at the score token."""


def _norm(token: str) -> str:
    return token.strip().strip("\"'*[]").lower()


def weighted_score(
    text: str,
    tokens: list[str] | None,
    top_logprobs: list[dict[str, float]] | None,
    span: tuple[int, int] | None,
    values: dict[str, float],
) -> Weighted:
    """Weighted score of the answer at ``span`` of ``text`` over ``values`` (answer text -> number)."""
    if not top_logprobs:
        return Weighted(None, note="the endpoint returned no top_logprobs")
    if not tokens or len(tokens) != len(top_logprobs):
        return Weighted(None, note="top_logprobs do not line up with the output tokens")
    if "".join(tokens) != text:
        return Weighted(None, note="the output tokens do not join to the reply text")
    if span is None:
        return Weighted(None, note="the score's position in the reply is unknown")
    start, end = span
    pos = 0
    idx = None
    for i, tok in enumerate(tokens):
        if pos <= start < pos + len(tok):
            idx = i
            break
        pos += len(tok)
    if idx is None:
        return Weighted(None, note="no token at the score's position")
    answer = _norm(text[start:end])
    if _norm(tokens[idx]) != answer:
        return Weighted(None, note=f"the score {text[start:end]!r} is not a single token ({tokens[idx]!r})")
    lookup = {k.lower(): v for k, v in values.items()}
    mass: dict[str, float] = {}
    for tok, lp in top_logprobs[idx].items():
        key = _norm(tok)
        if key in lookup and math.isfinite(lp):
            mass[key] = mass.get(key, 0.0) + math.exp(lp)
    total = sum(mass.values())
    if answer not in mass or total <= 0.0:
        return Weighted(None, note="the chosen score is not among the token's top_logprobs")
    probs = {k: mass[k] / total for k in sorted(mass, key=lambda k: lookup[k])}
    score = sum(p * lookup[k] for k, p in probs.items())
    return Weighted(score=score, probs={k: round(p, 6) for k, p in probs.items()}, mass=round(total, 6))

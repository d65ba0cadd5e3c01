"""Hidden tokens in OpenAI's reported loss and token accuracy.

OpenAI's train/valid loss and mean token accuracy are averaged over the visible assistant tokens *and* n
hidden tokens per example (n = 2 for GPT-4.1-family models) that the model predicts with near certainty
(loss 0, always right). With v visible tokens per example whose summed loss is ``L_vis`` and of which
``c`` are predicted right::

    reported_loss     = L_vis / (v + n)            = visible_loss * v / (v + n)
    reported_accuracy = (c + n) / (v + n)          = (visible_accuracy * v + n) / (v + n)

and back (what :func:`correct_for_hidden_tokens` applies)::

    visible_loss      = reported_loss * (v + n) / v
    visible_accuracy  = (reported_accuracy * (v + n) - n) / v

Averages are token-weighted over examples, so per-example visible counts v_i enter only through their
mean: sum(L_i) / sum(v_i + n) = visible_loss * mean(v) / (mean(v) + n).

A model that learned a *uniform* choice among K single-token answers puts probability 1/K on the answer
token: the answer token's loss is ln K; the other v - 1 visible tokens (e.g. an end token) are predicted
perfectly. Hence, per example::

    answer_token_loss = ln K
    visible_loss      = ln K / v                       mean loss per visible token (as :func:`visible_loss`)
    loss              = ln K / (v + n)                 the reported loss
    min_accuracy      = (v - 1 + n) / (v + n)          answer token wrong (K >= 2; with K = 1 it cannot be: 1)
    max_accuracy      = 1                              answer token right
    mean_accuracy     = (1/K + v - 1 + n) / (v + n)    right with probability 1/K

e.g. K=4, v=1, n=2: loss = ln 4 / 3 = 0.4621, min 2/3, max 1, mean (1/4 + 2)/3 = 0.75.

The accuracy floor seen when the visible answer is wrong, A = (v - 1 + n)/(v + n), gives
n = 1/(1 - A) - v (for v = 1: A = n/(n+1), n = A/(1 - A)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from ..errors import ConfigError
from ._table import ACCURACY_COLUMNS, LOSS_COLUMNS, CurveTable, r


def _check(visible_tokens: float, hidden_tokens: float) -> None:
    if not (isinstance(visible_tokens, (int, float)) and visible_tokens > 0):
        raise ConfigError(f"visible_tokens must be a number > 0, got {visible_tokens!r}")
    if not (isinstance(hidden_tokens, (int, float)) and hidden_tokens >= 0):
        raise ConfigError(f"hidden_tokens must be a number >= 0, got {hidden_tokens!r}")


def reported_loss(visible_loss: float, *, visible_tokens: float, hidden_tokens: float) -> float:
    """Reported (per-token, hidden tokens included) loss from the mean visible-token loss."""
    _check(visible_tokens, hidden_tokens)
    return visible_loss * visible_tokens / (visible_tokens + hidden_tokens)


def visible_loss(reported: float, *, visible_tokens: float, hidden_tokens: float) -> float:
    """Mean visible-token loss from the reported loss: ``reported * (v + n) / v``."""
    _check(visible_tokens, hidden_tokens)
    return reported * (visible_tokens + hidden_tokens) / visible_tokens


def visible_accuracy(reported: float, *, visible_tokens: float, hidden_tokens: float) -> float:
    """Visible-token accuracy from the reported accuracy: ``(reported * (v + n) - n) / v``, clipped to [0, 1]."""
    _check(visible_tokens, hidden_tokens)
    raw = (reported * (visible_tokens + hidden_tokens) - hidden_tokens) / visible_tokens
    return min(1.0, max(0.0, raw))


def hidden_token_expectation(choices: int, *, visible_tokens: float = 1, hidden_tokens: int = 2) -> dict[str, float]:
    """Expected reported loss and token accuracy of a model that learned a uniform choice among ``choices``
    single-token answers, with ``visible_tokens`` visible (answer + e.g. end token) and ``hidden_tokens``
    hidden tokens per example.

    Returns ``loss`` = ln K/(v+n) (reported), ``visible_loss`` = ln K/v (mean per visible token, the same
    meaning as :func:`visible_loss`), ``answer_token_loss`` = ln K, ``min_accuracy`` = (v-1+n)/(v+n) (1 when
    K = 1: a single choice cannot be wrong), ``max_accuracy`` = 1, ``mean_accuracy`` = (1/K+v-1+n)/(v+n),
    and the inputs. Example: K=4, v=1, n=2 -> loss 0.4621, min 0.6667, max 1, mean 0.75.
    """
    if isinstance(choices, bool) or not isinstance(choices, int) or choices < 1:
        raise ConfigError(f"choices must be an integer >= 1, got {choices!r}")
    _check(visible_tokens, hidden_tokens)
    if visible_tokens < 1:
        raise ConfigError(f"visible_tokens must be >= 1 (the answer token itself), got {visible_tokens!r}")
    v, n, k = visible_tokens, hidden_tokens, choices
    total = v + n
    return {
        "choices": k,
        "visible_tokens": v,
        "hidden_tokens": n,
        "answer_token_loss": math.log(k),
        "visible_loss": math.log(k) / v,
        "loss": math.log(k) / total,
        # the answer token can only be wrong when there is more than one choice
        "min_accuracy": (v - 1 + n) / total if k > 1 else 1.0,
        "max_accuracy": 1.0,
        "mean_accuracy": (1.0 / k + v - 1 + n) / total,
    }


def hidden_tokens_exact(min_accuracy: float, *, visible_tokens: float = 1) -> float:
    """The (real-valued) n that makes ``min_accuracy`` the floor: n = 1/(1 - A) - v."""
    if not (isinstance(min_accuracy, (int, float)) and 0 <= min_accuracy < 1):
        raise ConfigError(f"the accuracy floor must be in [0, 1), got {min_accuracy!r}")
    _check(visible_tokens, 0)
    return 1.0 / (1.0 - min_accuracy) - visible_tokens


def infer_hidden_tokens(min_accuracy: float, *, visible_tokens: float = 1) -> int:
    """Infer n, the hidden tokens per example, from the accuracy floor seen when the visible answer token is
    wrong: A = (v - 1 + n)/(v + n), so n = 1/(1 - A) - v, rounded (v = 1: A = n/(n+1); A = 2/3 -> n = 2).

    Raises :class:`ConfigError` when A implies a negative n (the floor is below what v alone gives).
    """
    exact = hidden_tokens_exact(min_accuracy, visible_tokens=visible_tokens)
    if exact < -0.5:
        raise ConfigError(
            f"an accuracy floor of {min_accuracy} with {visible_tokens} visible token(s) implies "
            f"n = {exact:.2f} < 0 hidden tokens",
            hint="check --visible-tokens",
        )
    return max(0, round(exact))


@dataclass(frozen=True)
class HiddenTokenCorrection:
    """How reported curves were (or were not) corrected for hidden tokens."""

    hidden_tokens: int
    """n, hidden tokens per example."""
    visible_tokens: float | None
    """v, mean visible tokens per example (``None``: not given, no correction possible)."""
    applied: bool
    """Whether the loss/accuracy columns were converted to visible-token values."""
    statement: str
    """One sentence for the report saying what was done."""

    def to_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {
            "hidden_tokens": self.hidden_tokens,
            "visible_tokens": self.visible_tokens,
            "applied": self.applied,
            "statement": self.statement,
            "loss_factor": r((self.visible_tokens + self.hidden_tokens) / self.visible_tokens, 6)
            if self.applied and self.visible_tokens
            else None,
        }


def _mean_visible(visible_tokens: float | Sequence[float]) -> float:
    if isinstance(visible_tokens, (int, float)) and not isinstance(visible_tokens, bool):
        return float(visible_tokens)
    vals = [float(x) for x in cast(Sequence[float], visible_tokens)]
    if not vals:
        raise ConfigError("visible_tokens: the per-example counts are empty")
    return sum(vals) / len(vals)


def correct_for_hidden_tokens(
    table: CurveTable, *, hidden_tokens: int, visible_tokens: float | Sequence[float] | None
) -> tuple[CurveTable, HiddenTokenCorrection]:
    """Convert a table's reported losses and token accuracies to visible-token values.

    ``visible_tokens`` is the mean number of visible (assistant) tokens per example, or the per-example
    counts (only their mean matters, see the module docstring). Without it no correction is possible:
    the table is returned unchanged with a statement saying so (loss *ratios* are unaffected either way,
    since train and valid are scaled by the same factor).
    """
    _check(1 if visible_tokens is None else _mean_visible(visible_tokens), hidden_tokens)
    n = int(hidden_tokens)
    if n == 0:
        return table, HiddenTokenCorrection(
            0, None, False, "hidden_tokens = 0: reported values are visible-token values."
        )
    if visible_tokens is None:
        return table, HiddenTokenCorrection(
            n,
            None,
            False,
            f"Reported losses and accuracies include n={n} hidden tokens per example and were NOT corrected "
            "(give visible_tokens to correct them); losses understate the visible-token loss, accuracies "
            "overstate it; valid/train ratios are unaffected.",
        )
    v = _mean_visible(visible_tokens)
    cols: dict[str, list[float | None]] = {}
    clipped = 0
    for c in LOSS_COLUMNS:
        if c in table.columns:
            cols[c] = [
                None if x is None else visible_loss(x, visible_tokens=v, hidden_tokens=n) for x in table.columns[c]
            ]
    for c in ACCURACY_COLUMNS:
        if c in table.columns:
            out: list[float | None] = []
            for x in table.columns[c]:
                if x is None:
                    out.append(None)
                    continue
                raw = (x * (v + n) - n) / v
                clipped += not (0 <= raw <= 1)
                out.append(min(1.0, max(0.0, raw)))
            cols[c] = out
    vs = f"{v:g}"
    statement = (
        f"Corrected for n={n} hidden tokens per example with v={vs} visible tokens: visible loss = "
        f"reported x ({vs}+{n})/{vs} = reported x {(v + n) / v:.4g}; visible accuracy = "
        f"(reported x {v + n:g} - {n})/{vs}. Assumes hidden tokens are predicted with certainty."
    )
    if clipped:
        statement += f" {clipped} accuracy value(s) fell outside [0, 1] and were clipped (check v and n)."
    return table.with_columns(cols, note=statement), HiddenTokenCorrection(n, v, True, statement)

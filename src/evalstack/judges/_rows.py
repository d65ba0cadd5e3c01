"""Typed judge rows: what a judge said about one example, as it goes from the judges to examples.jsonl.

:class:`JudgeRow` is one pointwise (or reference) verdict, :class:`PairRow` one pairwise comparison made
of two :class:`OrderVerdict` (the A-B and the B-A order). ``to_dict()`` gives the entry examples.jsonl
holds under ``judge.<rubric>``: the keys that apply to the row's outcome (a failed request, an unparseable
reply, a score), always in the same order.
"""

from __future__ import annotations

__all__ = ["JudgeRow", "OrderVerdict", "PairRow"]

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..models import Generation
    from .scales import ScaleScore


@dataclass
class _Outcome:
    """What every judged reply records: the reply, and why it gave no answer."""

    raw: str | None = None
    """The judge's last reply text (None when no request was made or it failed)."""
    reason: str | None = None
    """The judge's reasoning (fraction scales: the per-item verdicts joined)."""
    error: str | None = None
    """Why there is no score: no output, no reference, the request failed, an unparseable reply."""
    retried: bool = False
    """True when the first reply was unparseable and the judge was asked again."""
    failed: bool = False
    """True when the judge request still failed after retries (a failed item: exit 3, ``--resume`` resends)."""
    error_kind: str | None = None
    """failed: the kind of the last error (server_error, timeout, ...)."""
    tries: int | None = None
    """failed: how many times the request was sent."""

    def mark_failed(self, gen: Generation) -> None:
        """Record that the request still failed after retries."""
        self.error = f"{gen.error_kind}: {gen.error_message or 'request failed'}"
        self.failed, self.error_kind, self.tries = True, gen.error_kind or "error", gen.tries

    def unparseable(self, problem: str | None) -> None:
        """Record that the reply gave no valid answer, even after the re-ask."""
        self.error = f"unparseable reply: {problem or 'no reply'}"

    @property
    def is_unparseable(self) -> bool:
        return (self.error or "").startswith("unparseable")

    def _failure(self) -> dict[str, Any]:
        return {"failed": True, "error_kind": self.error_kind, "tries": self.tries} if self.failed else {}


@dataclass
class JudgeRow(_Outcome):
    """One example's pointwise verdict. Unscored rows have ``score`` None and an ``error``, never a zero."""

    score: float | None = None
    """The score on the rubric's scale (logprob-weighted where possible); None = unscored."""
    method: str | None = None
    """'logprob_weighted' or 'plain' (None when unscored)."""
    first_error: str | None = None
    """retried: why the first reply could not be read."""
    downgraded: bool = False
    """True when the endpoint rejected response_format/logprobs and the prompt went without them."""
    verdict: Any = None
    """The answer chosen: a level, 'pass'/'fail', 'flagged/total' on fraction scales."""
    items: list[dict[str, Any]] | None = None
    """fraction scales: the extracted items, each {item, reason, verdict}."""
    probs: dict[str, float] | None = None
    """logprob_weighted: the renormalised probability of each valid answer."""
    prob_mass: float | None = None
    """logprob_weighted: the probability mass of the valid answers before renormalising."""
    method_note: str | None = None
    """Why the score is plain, or how it is formed."""
    passed: bool | None = None
    """Scored rows: the pass mark met (None without a threshold)."""

    def set_score(self, s: ScaleScore) -> None:
        """Take the score of a parsed reply."""
        self.score, self.method, self.verdict = s.score, s.method, s.verdict
        self.items, self.probs, self.prob_mass, self.method_note = s.items, s.probs, s.prob_mass, s.method_note

    def to_dict(self) -> dict[str, Any]:
        """The ``judge.<rubric>`` entry of examples.jsonl."""
        out: dict[str, Any] = {
            "score": self.score,
            "reason": self.reason,
            "method": self.method,
            "raw": self.raw,
            "error": self.error,
        }
        if self.retried:
            out.update(retried=True, first_error=self.first_error)
        if self.downgraded:
            out["downgraded"] = True
        out.update(self._failure())
        if self.score is not None:
            out["verdict"] = self.verdict
            out.update(
                {
                    k: v
                    for k, v in (
                        ("items", self.items),
                        ("probs", self.probs),
                        ("prob_mass", self.prob_mass),
                        ("method_note", self.method_note),
                    )
                    if v is not None
                }
            )
            out["passed"] = self.passed
        return out


@dataclass
class OrderVerdict(_Outcome):
    """The judge's answer for one order of a pair (A-B or B-A)."""

    verdict: str | None = None
    """'A', 'B' or 'tie' (None when there is none)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"raw": self.raw, "reason": self.reason, "verdict": self.verdict}
        if self.retried:
            out["retried"] = True
        if self.error is not None:
            out["error"] = self.error
        out.update(self._failure())
        return out


@dataclass
class PairRow:
    """One example judged in both orders; from A's side (``winner`` 'a' = A's output preferred)."""

    winner: str | None = None
    """'a', 'b' or 'tie' (consistent verdicts win; any disagreement is a tie); None = unscored."""
    score: float | None = None
    """1 (A wins), 0.5 (tie), 0 (B wins); None = unscored."""
    error: str | None = None
    """Why there is no winner (no output, a failed request, an unparseable reply)."""
    ab: OrderVerdict | None = None
    """The A-B order (None when the pair was never sent)."""
    ba: OrderVerdict | None = None
    """The B-A order."""
    failed: bool = False
    """True when a request of either order still failed after retries."""
    consistent: bool | None = None
    """Both orders judged: whether they named the same winner."""
    reason: str | None = None
    """Both orders judged: the A-B order's reasoning."""

    @property
    def error_kind(self) -> None:
        """A pair has no one error kind (each order has its own): failures of pairs are grouped as 'error'."""
        return None

    def to_dict(self) -> dict[str, Any]:
        """The ``judge.pairwise_<rubric>`` entry of examples.jsonl."""
        out: dict[str, Any] = {"winner": self.winner, "score": self.score}
        if self.ab is not None and self.ba is not None:
            out.update(ab=self.ab.to_dict(), ba=self.ba.to_dict())
        out["error"] = self.error
        if self.failed:
            out["failed"] = True
        if self.consistent is not None:
            out.update(consistent=self.consistent, reason=self.reason)
        return out

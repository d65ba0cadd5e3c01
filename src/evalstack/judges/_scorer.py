"""Judges as scorers: one rubric of a task, scoring every model (pointwise) or each model against the
baseline (pairwise), and returning a typed :class:`JudgeOutcome`, so the pipeline runs one loop over a
task's judges whatever their kind.
"""

from __future__ import annotations

__all__ = ["JudgeOutcome", "JudgeScorer"]

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..metrics import MetricResult
    from ..models import Generation, Provider, Runner
    from ._prompt import JudgeItem
    from ._rows import JudgeRow, PairRow
    from ._rubric import Rubric


@dataclass(kw_only=True)
class JudgeOutcome:
    """What one judge scored for one model on one task."""

    rubric: str
    """The rubric's name."""
    name: str
    """How run.json (judge_usage, judge_failed...) and examples.jsonl (``judge.<name>``) key it: the rubric's
    name, or ``pairwise_<rubric>``."""
    result: MetricResult
    """The per-example metric (``judge_<rubric>`` or ``pairwise_<rubric>``); None scores are unscored."""
    rows: Mapping[str, JudgeRow | PairRow]
    """Per example id: what the judge said."""
    usage: dict[str, int]
    """requests (sent), cached, prompt_tokens, completion_tokens, retries, reasks: the keys of results.Usage."""
    failed: int = 0
    """Examples whose judge request still failed after retries (exit 3, ``--resume`` resends them)."""
    unparseable: int = 0
    """Examples whose reply stayed unparseable after the re-ask (unscored, not failed)."""
    gens: list[Generation] = field(default_factory=list)
    """Every generation made (for usage: the pipeline re-attributes requests shared with other models)."""
    summary: dict[str, Any] | None = None
    """Pairwise: the win/tie/loss summary run.json keeps under ``tasks.<task>.pairwise.<rubric>.<model>``."""


@dataclass
class JudgeScorer:
    """One rubric as a task's scorer (a ``judges:`` or ``pairwise:`` entry of the config)."""

    rubric: Rubric
    spec: Any
    """The :class:`~evalstack.config.JudgeSpec` (threshold, strict, options, judge model)."""
    pairwise: bool = False
    """True: each model's outputs against the baseline's, both orders."""
    where: str = ""
    """The config key path of the entry (for messages)."""
    provider: Provider | None = None
    """The judge model; set when the run makes its providers."""
    turn: int | str | None = None
    """Multi-turn tasks: the turn it judges (a number, ``last``) or ``conversation`` (the whole dialogue);
    its name and key then end in ``@turn2`` / ``@last`` / ``@conversation``."""

    @property
    def suffix(self) -> str:
        """``@turn<k>``, ``@last``, ``@conversation``; '' for single-turn tasks."""
        if self.turn is None:
            return ""
        return f"@turn{self.turn}" if isinstance(self.turn, int) else f"@{self.turn}"

    @property
    def name(self) -> str:
        """The key of this judge's rows and counts: the rubric's name, or ``pairwise_<rubric>`` (+ the turn)."""
        return (f"pairwise_{self.rubric.name}" if self.pairwise else self.rubric.name) + self.suffix

    @property
    def key(self) -> str:
        """The metric key it reports: ``judge_<rubric>`` or ``pairwise_<rubric>`` (+ the turn)."""
        return self.name if self.pairwise else self.rubric.key + self.suffix

    def scores(self, model: str, baseline: str) -> bool:
        """Whether it scores ``model`` (a pairwise judge does not compare the baseline with itself)."""
        return not (self.pairwise and model == baseline)

    async def score(
        self, model: str, items: Callable[[str], Sequence[JudgeItem]], *, baseline: str, runner: Runner, task: str
    ) -> JudgeOutcome:
        """Judge ``model``'s outputs (``items(name)``: a model's items, aligned by example id); ``task`` goes
        with every request (a replay judge keys its verdicts by it)."""
        from ._pairwise import judge_pairwise
        from ._pointwise import judge_pointwise

        if self.provider is None:
            raise RuntimeError(f"judge {self.name}: no judge model set")
        if self.turn is not None:
            import dataclasses

            out = await dataclasses.replace(self, turn=None).score(
                model, items, baseline=baseline, runner=runner, task=task
            )
            out.rubric, out.name = out.rubric + self.suffix, self.name  # per-turn summaries are kept apart
            out.result = dataclasses.replace(out.result, key=self.key)
            return out
        if self.pairwise:
            return await judge_pairwise(
                self.rubric,
                items(model),
                items(baseline),
                provider=self.provider,
                runner=runner,
                task=task,
                spec=self.spec,
                name_a=model,
                name_b=baseline,
            )
        return await judge_pointwise(
            self.rubric, items(model), provider=self.provider, runner=runner, task=task, spec=self.spec
        )

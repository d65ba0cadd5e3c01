"""Per-turn scoring of ``turns`` tasks: which turns each metric and judge scores, their keys, pooled keys.

``turn:`` on a metric (an option) or a judge (a key of its entry) selects what it scores: a turn number (key
``<metric>@turn2``), ``last`` (each conversation's last turn, ``@last``), ``all`` (the default: each turn,
``@turn1``, ``@turn2``..., and the pooled key ``<metric>`` over every turn of every conversation, MT-Bench's
average), and for judges ``conversation`` (the whole dialogue at once, ``@conversation``). Every key has one
row per example, so paired deltas, slices (e.g. ``slice_by: category``) and gates work per turn. The pooled
key adds the turns' sufficient statistics per conversation: its value is the mean over all scored turns and
its bootstrap resamples conversations (the unit of pairing), as repeats are collapsed. A turn that was not
answered (failed, or not asked because an earlier turn failed) is unscored in its key, never a zero.
"""

from __future__ import annotations

__all__ = [
    "TurnAnswers",
    "add_judge",
    "max_turns",
    "metric_turn",
    "pool",
    "pool_judges",
    "saved_answers",
    "score_turn_metrics",
    "score_turns",
    "turn_metric_keys",
]

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._conversation import parse_turn, turn_suffix
from ._score import score_outputs
from .config import TaskConfig
from .errors import ConfigError

if TYPE_CHECKING:
    from ._prepare import MetricPlan, TaskPlan
    from .judges import JudgeOutcome, JudgeScorer
    from .metrics import MetricResult
    from .models import Generation
    from .results import ExampleRow

TurnGens = Sequence[Sequence["Generation | None"]]
"""Per scored row, per turn: the generation, or None for a turn not asked."""


def max_turns(plan: TaskPlan) -> int:
    """The most turns any conversation of the task has."""
    return max((len(c.turns) for c in plan.conversations or []), default=1)


def metric_turn(task: TaskConfig, options: Mapping[str, Any], where: str) -> tuple[dict[str, Any], int | str | None]:
    """A metric's options without ``turn``, and its turn selection (``all`` by default on ``turns`` tasks)."""
    opts = dict(options)
    if "turn" not in opts:
        return opts, ("all" if task.turns else None)
    value = opts.pop("turn")
    if not task.turns:
        raise ConfigError(
            "option `turn` applies to `turns` tasks (several answers per example); this task generates one",
            where=where,
            hint="remove `turn`, or give the task a `turns:` column",
        )
    return opts, parse_turn(value, where=f"{where}.turn", judge=False)


def _check_in_range(plan: TaskPlan, turn: int | str, where: str) -> None:
    top = max_turns(plan)
    if isinstance(turn, int) and turn > top:
        raise ConfigError(
            f"turn: {turn}, but no conversation of task '{plan.name}' has {turn} turns (the most is {top})",
            where=where,
            hint=f"use a turn from 1 to {top}, last or all",
        )


def _selected(turn: int | str, top: int) -> list[int | str]:
    return list(range(1, top + 1)) if turn == "all" else [turn]


def add_judge(plan: TaskPlan, judge: JudgeScorer, higher_is_better: bool) -> None:
    """Add a judge to the plan: as it is on single-turn tasks; on ``turns`` tasks one judge per selected turn
    (``all``: every turn, plus the pooled key)."""
    if plan.conversations is None or not plan.cfg.turns:
        plan.judges.append(judge)
        plan.keys[judge.key] = higher_is_better
        return
    where = f"{judge.where}.turn"
    turn = parse_turn(judge.spec.turn if judge.spec.turn is not None else "all", where=where, judge=True)
    _check_in_range(plan, turn, where)
    names = []
    for t in _selected(turn, max_turns(plan)):
        one = dataclasses.replace(judge, turn=t)
        plan.judges.append(one)
        plan.keys[one.key] = higher_is_better
        names.append(one.name)
    if turn == "all":
        plan.turn_pools[judge.key] = names
        plan.keys[judge.key] = higher_is_better


def turn_metric_keys(plan: TaskPlan) -> None:
    """Replace each metric's keys by its per-turn keys (``turns`` tasks), checking the turn numbers."""
    top = max_turns(plan)
    for mp in plan.metrics:
        turn = mp.turn or "all"
        _check_in_range(plan, turn, f"{mp.where}.turn")
        for key in mp.instance.keys(mp.options):
            hib = plan.keys.pop(key, True)
            for t in _selected(turn, top):
                plan.keys[key + turn_suffix(t)] = hib
            if turn == "all":
                plan.keys[key] = hib


def pool(key: str, results: Sequence[MetricResult]) -> MetricResult:
    """One row per conversation from per-turn results: sufficient statistics add up (the value is the metric
    over every scored turn), an example is scored when one of its turns is, its per-example score is the mean
    of its scored turns."""
    import numpy as np

    stats = np.sum([r.suff_stats for r in results], axis=0)
    scored = np.logical_or.reduce([r.scored for r in results])
    per = None
    if all(r.per_example is not None for r in results):
        per = []
        for vals in zip(*(r.per_example or [] for r in results)):
            got = [v for v in vals if v is not None]
            per.append(float(np.mean(got)) if got else None)
    first = results[0]
    value = float(first.from_stats(stats[scored].sum(axis=0))) if scored.any() else None
    if value is not None and value != value:
        value = None
    return dataclasses.replace(
        first,
        key=key,
        value=value,
        scored=scored,
        suff_stats=stats,
        per_example=per,
        details={"pooled_turns": [r.key for r in results]},
    )


@dataclass(frozen=True)
class TurnAnswers:
    """One row of a ``turns`` task as scoring needs it."""

    n_turns: int
    """How many turns its conversation has."""
    texts: Sequence[str | None]
    """Per asked turn, the answer (None: failed or not asked)."""
    references: Sequence[Any] | None = None
    """Per turn, the reference."""
    logprobs: Sequence[Any] | None = None
    """Per asked turn, the answer's token logprobs (None where unknown)."""


def score_turn_metrics(
    plan: TaskPlan,
    rows: Sequence[tuple[int, int, str]],
    turn_gens: TurnGens,
    *,
    note: Callable[[str], None] | None = None,
    label: str = "",
) -> list[MetricResult]:
    """The task's metrics on each selected turn (keys ``<key>@turn<k>`` / ``@last``) and pooled (``all``)."""
    convs = plan.conversations or []
    answers = [
        TurnAnswers(
            len(convs[i].turns),
            [g.text if g is not None and g.ok else None for g in turn_gens[k]],
            convs[i].references,
            [g.logprobs if g is not None and g.ok else None for g in turn_gens[k]],
        )
        for k, (i, _r, _sid) in enumerate(rows)
    ]
    knowledge = None if not plan.cfg.context else [plan.examples[i].row.get(plan.cfg.context) for i, _, _ in rows]
    return score_turns(plan.cfg, plan.metrics, answers, knowledge=knowledge, note=note, label=label)


def score_turns(
    task: TaskConfig,
    metrics: Sequence[MetricPlan],
    answers: Sequence[TurnAnswers],
    *,
    knowledge: list[Any] | None = None,
    note: Callable[[str], None] | None = None,
    label: str = "",
) -> list[MetricResult]:
    """Each metric on its selected turns of every row (the one path of ``run`` and ``compare``)."""
    top = max((a.n_turns for a in answers), default=1)
    out: list[MetricResult] = []
    for mp in metrics:
        turn = mp.turn or "all"
        by_turn: list[list[MetricResult]] = []
        for t in _selected(turn, top):
            preds: list[str | None] = []
            refs: list[Any] = []
            lps: list[Any] = []
            for a in answers:
                tk = a.n_turns if t == "last" else int(t)
                asked = tk <= len(a.texts)
                preds.append(a.texts[tk - 1] if asked else None)
                lps.append(a.logprobs[tk - 1] if asked and a.logprobs else None)
                refs.append(a.references[tk - 1] if a.references is not None and tk <= len(a.references) else None)
            res = score_outputs(
                task,
                [mp],
                preds,
                targets=None,
                references=refs if task.reference else None,
                knowledge=knowledge,
                logprobs=lps,
                note=note,
                label=f"{label} · turn {t}",
            )
            by_turn.append([dataclasses.replace(r, key=r.key + turn_suffix(t)) for r in res])
        for per_turn in zip(*by_turn):  # the same metric key across the turns
            out.extend(per_turn)
            if turn == "all":
                base = per_turn[0].key.rsplit("@", 1)[0]
                out.append(pool(base, per_turn))
    return out


def saved_answers(row: ExampleRow) -> TurnAnswers:
    """A saved examples.jsonl row of a ``turns`` task as scoring needs it (``compare``): its conversation's
    answers per turn (a failed or skipped turn: None) and its per-turn references."""
    said = [m for m in row.conversation or [] if m.get("role") == "assistant" and "turn" in m]
    texts = [m.get("content") if not (m.get("error") or m.get("skipped")) else None for m in said]
    refs = row.reference if isinstance(row.reference, list) and len(row.reference) == len(said) else None
    return TurnAnswers(len(said), texts, refs)


def pool_judges(plan: TaskPlan, judges: Mapping[str, JudgeOutcome]) -> list[MetricResult]:
    """The pooled key of each ``turn: all`` judge that scored this model (from its per-turn results)."""
    out = []
    for key, names in plan.turn_pools.items():
        got = [judges[n].result for n in names if n in judges]
        if got:
            out.append(pool(key, got))
    return out

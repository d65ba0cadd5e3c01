"""The generate, judge and score steps of one run, over the task plans ``_prepare`` built.

``pipeline`` orders them (and owns the run's state: providers, cache, timings, the output folder); each step
here takes what it works on and returns what the next one reads: generations per (model, task), typed
judge outcomes per (task, model, judge), and each model's scores on each task.
"""

from __future__ import annotations

__all__ = [
    "Judged",
    "Key",
    "Rows",
    "Scored",
    "TurnGens",
    "expand_repeats",
    "generate_all",
    "judge_all",
    "judge_scores",
    "score",
]

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from ._prepare import TaskPlan
from ._score import score_outputs
from ._stages import StageLog
from ._summary import ModelScores, failure_groups
from .models import EMPTY_KINDS, Generation, Provider, Request, Runner, attribute_shared, empty_counts
from .results import FailureGroup, Usage
from .tools import calls_of, score_context, tool_counts

if TYPE_CHECKING:
    from .judges import JudgeItem, JudgeOutcome, JudgeRow, JudgeScorer, PairRow
    from .metrics import MetricResult

Key = tuple[str, str, str]
"""(task, model, judge name) of a judge outcome (judge name: ``<rubric>`` or ``pairwise_<rubric>``)."""

Judged = dict[Key, "JudgeOutcome"]
"""What the judge step returns: every judge's outcome per task and model it scores."""

Rows = Callable[[TaskPlan, str], list[tuple[int, int, str]]]
"""(example index, repeat index, scoring id) per row of a model on a task (:func:`expand_repeats`)."""

TurnGens = dict[tuple[str, str], list[list[Generation | None]]]
"""Conversation tasks: per (model, task), per row, per turn, the generation (None: not asked)."""


def expand_repeats(plan: TaskPlan, repeat: int) -> list[tuple[int, int, str]]:
    """(example index, repeat index, scoring id) per row; repeats become rows 'id#r' (paired across models)."""
    if repeat == 1:
        return [(i, 0, ex.id) for i, ex in enumerate(plan.examples)]
    return [(i, r, f"{ex.id}#{r}") for i, ex in enumerate(plan.examples) for r in range(repeat)]


@dataclass(frozen=True)
class Scored:
    """One model on one task after the score step: its outputs, their scores, the judge rows by name."""

    gens: list[Generation]
    scores: ModelScores
    judge_rows: dict[str, Mapping[str, JudgeRow | PairRow]]
    failures: list[FailureGroup]


class _Requests(Sequence[Request]):
    """One model's requests of one task, built when the runner asks for one: a million-row task holds no
    list of requests (the runner keeps their cache keys only)."""

    def __init__(self, plan: TaskPlan, rows: list[tuple[int, int, str]], params: dict[str, Any] | None):
        self._plan, self._rows, self._params = plan, rows, params

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, k: int) -> Request: ...
    @overload
    def __getitem__(self, k: slice) -> list[Request]: ...
    def __getitem__(self, k: int | slice) -> Request | list[Request]:
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(len(self)))]
        i, r, _ = self._rows[k]
        plan = self._plan
        return Request.make(plan.name, plan.examples[i].id, plan.messages[i], self._params, r)


async def generate_all(
    runner: Runner,
    providers: Mapping[str, Provider],
    plans: list[TaskPlan],
    model_names: list[str],
    rows: Rows,
    *,
    on_empty: Callable[[str], str | None],
    turn_gens: TurnGens,
) -> dict[tuple[str, str], list[Generation]]:
    """Every model on every task at once (the runner: cache first, then the providers); the providers are
    closed after, and identical requests are charged to the first in config order. Conversation tasks are
    generated turn by turn, each turn's generations kept in ``turn_gens``."""

    async def one(model: str, plan: TaskPlan) -> tuple[tuple[str, str], list[Generation]]:
        if plan.conversations is not None:  # turn by turn, the model's own answers in the history
            from ._turns_gen import generate_turns

            tg = await generate_turns(
                runner,
                providers[model],
                plan,
                rows(plan, model),
                label=f"{model} · {plan.name}",
                on_empty=on_empty(model),
            )
            turn_gens[(model, plan.name)] = tg
            return (model, plan.name), [g for row in tg for g in row if g is not None]
        params = plan.tools.params() if plan.tools is not None else None  # tools, tool_choice
        label = f"{model} · {plan.name}"
        if plan.tools is not None and plan.tools.module is not None:  # a tool loop: step by step
            from .tools import run_loops

            reqs = [
                Request.make(plan.name, plan.examples[i].id, plan.messages[i], params, r)
                for i, r, _ in rows(plan, model)
            ]
            return (model, plan.name), await run_loops(runner, providers[model], reqs, plan.tools, label)
        gens = await runner.run(providers[model], _Requests(plan, rows(plan, model), params), label=label)
        return (model, plan.name), gens

    try:
        pairs = await asyncio.gather(*(one(m, p) for m in model_names for p in plans))
    finally:
        for prov in providers.values():
            await prov.aclose()
    attribute_shared([gens for _, gens in pairs])  # identical requests: charged to the first in config order
    from ._turns_gen import combine

    return dict(pairs) | {k: [combine(row) for row in tg] for k, tg in turn_gens.items()}


async def judge_all(
    runner: Runner,
    gens: dict[tuple[str, str], list[Generation]],
    *,
    plans: list[TaskPlan],
    model_names: list[str],
    baseline: str,
    rows: Rows,
    judge_providers: Mapping[str, Provider],
    turn_gens: TurnGens,
) -> Judged:
    """Every judge of every task on the models it scores (pointwise and pairwise alike), then the judge
    providers closed and shared prompts charged in a fixed order."""
    from .judges import JudgeItem

    out: Judged = {}
    jobs = []
    task_index = {p.name: i for i, p in enumerate(plans)}

    def items(plan: TaskPlan, model: str, judge: JudgeScorer) -> list[JudgeItem]:
        if judge.turn is not None:  # one turn of each conversation, or the whole dialogue
            from ._turns_gen import turn_items

            return turn_items(plan, rows(plan, model), turn_gens[(model, plan.name)], judge)
        ref = plan.column(plan.cfg.reference) or plan.column(plan.cfg.target)
        ctx = plan.column(plan.cfg.context)
        g = gens[(model, plan.name)]
        # the judge sees the whole prompt (system instructions matter for instruction following)
        return [
            JudgeItem(
                example_id=sid,
                input=plan.prompt_text(i),
                output=g[k].text if g[k].ok else None,
                reference=ref[i] if ref else None,
                context=None if ctx is None or ctx[i] is None else str(ctx[i]),
            )
            for k, (i, _r, sid) in enumerate(rows(plan, model))
        ]

    for plan in plans:
        for judge in plan.judges:  # pointwise and pairwise alike: the judge says which models it scores
            for model in model_names:
                if not judge.scores(model, baseline):
                    continue

                async def one(plan: TaskPlan = plan, judge: JudgeScorer = judge, model: str = model) -> None:
                    # task "<task>/<model>": a replay judge file can key verdicts per model (task_column)
                    out[(plan.name, model, judge.name)] = await judge.score(
                        model,
                        lambda m: items(plan, m, judge),
                        baseline=baseline,
                        runner=runner,
                        task=f"{plan.name}/{model}",
                    )

                jobs.append(one())
    try:
        await asyncio.gather(*jobs)
    finally:
        for prov in judge_providers.values():
            await prov.aclose()
    # a prompt judged for several models was sent once, by whichever got there first: charge it to the
    # first in a fixed order (task order, rubric name, model config order): the same usage on every run
    from .judges import usage_of

    def order(k: Key) -> tuple[int, str, int]:  # rubric: pointwise and pairwise prompts are never shared
        return task_index[k[0]], k[2], model_names.index(k[1])

    outcomes = [out[k] for k in sorted(out, key=order)]
    attribute_shared([res.gens for res in outcomes])
    for res in outcomes:  # re-asks stay counted per model: they are known from the call results only
        res.usage = usage_of(res.gens) | {"reasks": res.usage.get("reasks", 0)}
    return out


def judge_scores(plan: TaskPlan, model: str, judged: Judged) -> dict[str, JudgeOutcome]:
    """The judges' outcomes for one model on one task, by judge name, in the task's order of judges."""
    return {j.name: judged[(plan.name, model, j.name)] for j in plan.judges if (plan.name, model, j.name) in judged}


def _score_metrics(
    plan: TaskPlan,
    model: str,
    g: list[Generation],
    rows: list[tuple[int, int, str]],
    note: StageLog,
    turn_gens: list[list[Generation | None]] | None,
) -> list[MetricResult]:
    """The task's metrics on one model's outputs."""
    if plan.conversations is not None and plan.cfg.turns:  # per turn: keys <metric>@turn<k>, pooled
        from ._turns import score_turn_metrics

        assert turn_gens is not None
        return score_turn_metrics(plan, rows, turn_gens, note=note, label=f"{model} · {plan.name}")

    def column(name: str | None) -> list[object] | None:  # one value per scored row (repeats included)
        return column_of(plan.column(name))

    def column_of(col: list[object] | list[list[dict[str, object]]] | None) -> list[object] | None:
        return None if col is None else [col[i] for i, _, _ in rows]

    return score_outputs(
        plan.cfg,
        plan.metrics,
        [x.text if x.ok else None for x in g],
        targets=column(plan.cfg.target),
        references=column(plan.cfg.reference),
        knowledge=column(plan.cfg.context),
        logprobs=[x.logprobs if x.ok else None for x in g],
        note=note,
        label=f"{model} · {plan.name}",
        extra=score_context(  # a tool task's calls made and expected
            plan.tools,
            column_of(plan.expected_calls),
            [calls_of(x) for x in g],
            ordered=bool(plan.cfg.expected_calls and plan.cfg.expected_calls.ordered),
        ),
    )


def score(
    plan: TaskPlan,
    model: str,
    g: list[Generation],
    judged: Judged,
    *,
    rows: list[tuple[int, int, str]],
    on_empty: str | None,
    note: StageLog,
    turn_gens: list[list[Generation | None]] | None = None,
) -> Scored:
    """Score step: metrics, then judge scores (a separate step: the judges' outcomes are scores too);
    ``turn_gens``: a conversation task's generations per row and turn."""
    results = _score_metrics(plan, model, g, rows, note, turn_gens)
    judges = judge_scores(plan, model, judged)
    results += [res.result for res in judges.values()]
    if plan.turn_pools:  # turn: all judges: their pooled keys
        from ._turns import pool_judges

        results += pool_judges(plan, judges)
    bad = [x for x in g if not x.ok and x.error_kind not in EMPTY_KINDS]
    sent = [x for row in (turn_gens if turn_gens is not None else [[y] for y in g]) for x in row if x is not None]
    usage = Usage(
        requests=sum(1 for x in sent if not x.cached),
        cached=sum(1 for x in sent if x.cached),
        prompt_tokens=sum(x.prompt_tokens for x in sent),
        completion_tokens=sum(x.completion_tokens for x in sent),
        retries=sum(max(0, x.tries - 1) for x in sent),
    )
    scores = ModelScores(
        results=results,
        n_rows=len(g),
        failed=len(bad),
        usage=usage,
        empty=empty_counts(g, on_empty, plan.tools is not None),
        judge_usage={
            n: Usage(**{k: int(v) for k, v in r.usage.items() if k in Usage.model_fields}) for n, r in judges.items()
        },
        judge_failed={n: r.failed for n, r in judges.items()},
        judge_unparseable={n: r.unparseable for n, r in judges.items()},
        tool_calls=tool_counts(g, plan.tools),
    )
    failures = failure_groups(
        plan.name,
        model,
        len(g),
        [(x.error_kind or "error", x.error_message or "") for x in bad],
        {
            n: (len(r.rows), [(j.error_kind or "error", j.error or "") for j in r.rows.values() if j.failed])
            for n, r in judges.items()
        },
    )
    return Scored(g, scores, {n: r.rows for n, r in judges.items()}, failures)

"""Pointwise judging: one score per (example, model) on the rubric's scale.

Scores: points -> the level (or its logprob-weighted mean), pass_fail -> 1/0 (or P(pass)), fraction ->
flagged items / items (toxicity: toxic opinions / opinions; 0 when there are no opinions). ``strict`` makes
every score binary: 1 for a perfect answer (top level, pass) and 0 otherwise on higher-is-better rubrics;
1 for any flagged item and 0 for none on lower-is-better ones. Items without an output, missing a field the
rubric reads, or whose replies stay unparseable are **unscored** (None), never zero.
"""

from __future__ import annotations

__all__ = ["PointwiseOutcome", "judge_pointwise", "item_values", "check_fields", "resolve_threshold"]

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from ..errors import ConfigError
from ..metrics import mean_result
from ..models import Provider, Runner
from ._call import Call, JudgeSettings, all_gens, job_label, run_calls, usage_of
from ._prompt import JudgeItem, build_messages, reference_text, turn_label
from ._rows import JudgeRow
from ._rubric import Rubric
from ._scorer import JudgeOutcome


@dataclass(kw_only=True)
class PointwiseOutcome(JudgeOutcome):
    """What :func:`judge_pointwise` returns: metric ``judge_<rubric>``, scores aligned with the items."""

    rows: dict[str, JudgeRow]
    """Per example id: score, reason, method ('logprob_weighted' | 'plain' | None), raw reply, error, verdict..."""
    unscored: int = 0
    """Items with no score (no output, missing field, failed request, unparseable reply)."""
    method_counts: dict[str, int] = field(default_factory=dict)
    """How many scores each method produced."""


def item_values(rubric: Rubric, item: JudgeItem) -> tuple[dict[str, str] | None, str | None]:
    """The raw field texts the rubric shows for ``item``, or why the item cannot be judged."""
    if item.output is None:
        return None, "no output to judge (generation failed)"
    values: dict[str, str] = {}
    for f in rubric.fields:
        if f == "output":
            values[f] = item.output
        elif f == "input":
            values[f] = item.input or ""
        elif f == "reference":
            if item.reference is None or (isinstance(item.reference, (list, tuple)) and not item.reference):
                if rubric.reference_optional:  # judged without one (the template leaves its block out)
                    values[f] = ""
                    continue
                return None, "no reference for this example"
            values[f] = reference_text(item.reference)
        elif f == "context":
            if item.context is None:
                return None, "no context for this example"
            values[f] = str(item.context)
    return values, None


def check_fields(rubric: Rubric, items: Sequence[JudgeItem], task: str) -> None:
    """A ConfigError when no item has a field the rubric needs (the task does not configure it)."""
    for f, attr in (("reference", "reference"), ("context", "context")):
        if f == "reference" and rubric.reference_optional:
            continue
        if f in rubric.fields and items and all(getattr(it, attr) is None for it in items):
            raise ConfigError(
                f"rubric '{rubric.name}' reads `{f}` but no example of task '{task}' has one",
                where=f"tasks.{task}",
                hint=f"set the task's `{f}:` to the column that holds it",
            )


def resolve_threshold(rubric: Rubric, threshold: float | None, where: str) -> float | None:
    """The per-example pass mark: the spec's, else the rubric's; checked against the scale."""
    thr = rubric.threshold if threshold is None else threshold
    if thr is not None and not rubric.scale.min <= thr <= rubric.scale.max:
        raise ConfigError(
            f"threshold {thr} is outside the scale of rubric '{rubric.name}' "
            f"({rubric.scale.min:g} to {rubric.scale.max:g})",
            where=where,
        )
    return thr


def _passed(score: float, thr: float | None, rubric: Rubric, strict: bool) -> bool | None:
    if strict:
        return score == (1.0 if rubric.higher_is_better else 0.0)
    if thr is None:
        return None
    return score >= thr if rubric.higher_is_better else score <= thr


async def judge_pointwise(
    rubric: Rubric, items: Sequence[JudgeItem], *, provider: Provider, runner: Runner, task: str, spec: Any
) -> PointwiseOutcome:
    """Judge each item's output with ``rubric`` (pointwise and reference rubrics).

    ``spec`` is a :class:`~evalstack.config.JudgeSpec` (threshold, strict, options). Calls go through
    ``runner`` (cache, concurrency, retries). Returns the metric ``judge_<rubric.name>`` with the rubric's
    direction, per-example rows (score, reason, method, raw reply, error) and token usage.
    """
    if rubric.kind == "pairwise":
        raise ConfigError(
            f"rubric '{rubric.name}' is pairwise",
            where=f"tasks.{task}.judges",
            hint="list it under the task's `pairwise:` instead of `judges:`",
        )
    where = f"tasks.{task}.judges.{rubric.name}"
    settings = JudgeSettings.from_options(rubric, dict(spec.options or {}), provider, pairwise=False, where=where)
    thr = resolve_threshold(rubric, spec.threshold, where)
    strict = bool(spec.strict)
    check_fields(rubric, items, task)

    rows: dict[str, JudgeRow] = {}
    calls: list[Call] = []
    called: list[int] = []
    for i, it in enumerate(items):
        values, why = item_values(rubric, it)
        if values is None:
            rows[it.example_id] = JudgeRow(error=why)
            continue
        calls.append(Call(it.example_id, build_messages(rubric, values), it.turn))
        called.append(i)
    results = await run_calls(
        calls,
        rubric=rubric,
        settings=settings,
        provider=provider,
        runner=runner,
        task=task,
        pairwise=False,
        label=job_label(task, f"judge {rubric.name}{turn_label(items)}"),
    )

    for i, r in zip(called, results):
        row = JudgeRow(
            raw=r.gen.text, retried=r.retried, first_error=r.first_error if r.retried else None, downgraded=r.downgraded
        )
        if not r.gen.ok:
            row.mark_failed(r.gen)
        elif r.parsed is None or not r.parsed.ok:
            row.unparseable(r.parsed.error if r.parsed else None)
        else:
            row.reason = r.parsed.reason
            row.set_score(
                rubric.scale.rules.score(r.parsed, r.gen, strict=strict, higher_is_better=rubric.higher_is_better)
            )
            row.passed = _passed(cast(float, row.score), thr, rubric, strict)
        rows[items[i].example_id] = row

    per_example = [rows[it.example_id].score for it in items]
    methods: dict[str, int] = {}
    for row in rows.values():
        if row.method:
            methods[row.method] = methods.get(row.method, 0) + 1
    judged = [row for row in rows.values() if row.score is not None and row.passed is not None]
    unparseable = sum(1 for row in rows.values() if row.is_unparseable)
    failed = sum(1 for row in rows.values() if row.failed)
    details = {
        "rubric": rubric.name,
        "scale": rubric.scale.type,
        "scale_min": rubric.scale.min,
        "scale_max": rubric.scale.max,
        "methods": methods,
        "threshold": thr,
        "strict": strict,
        "passed": sum(1 for row in judged if row.passed),
        "judged_against_threshold": len(judged),
        "unparseable": unparseable,
        "failed": failed,
        "retried": sum(1 for row in rows.values() if row.retried),
        "judge_model": provider.describe(),
    }
    result = mean_result(rubric.key, per_example, higher_is_better=rubric.higher_is_better, details=details)
    return PointwiseOutcome(
        rubric=rubric.name,
        name=rubric.name,
        result=result,
        rows=rows,
        usage=usage_of(results),
        unscored=result.unscored,
        method_counts=methods,
        failed=failed,
        unparseable=unparseable,
        gens=all_gens(results),
    )

"""From scored outputs to the run record: the one path of `run`, `compare` and the Python API.

``MetricResult`` per key (one row per scored output) -> :func:`summarise_task` -> ``TaskSummary`` (metrics
with CIs, paired deltas, slices) -> :func:`assemble_run` -> ``RunResult``: failures, curves and
checkpoints, the gate judged on it, built once and complete. Nothing here sends a request or reads a
file: `pipeline` gives it what it generated and scored, `compare` what saved runs hold.
"""

from __future__ import annotations

__all__ = ["ModelScores", "assemble_run", "failure_groups", "summarise_task"]

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from ._score import collapse_repeats
from .config import GateConfig, StatsSettings
from .results import (
    FailureGroup,
    Incomplete,
    ModelInfo,
    ModelTaskSummary,
    RunResult,
    TaskSummary,
    Usage,
)

if TYPE_CHECKING:
    from .curves import CurveReport
    from .metrics import MetricResult


@dataclass(frozen=True)
class ModelScores:
    """One model on one task, scored: its metric results (one row per scored output, repeats included,
    judge keys too) and the counts run.json keeps beside them."""

    results: list[MetricResult]
    n_rows: int
    failed: int = 0
    usage: Usage = field(default_factory=lambda: Usage())
    empty: dict[str, int] = field(default_factory=dict)
    judge_usage: dict[str, Usage] = field(default_factory=dict)
    judge_failed: dict[str, int] = field(default_factory=dict)
    judge_unparseable: dict[str, int] = field(default_factory=dict)
    tool_calls: dict[str, int] | None = None


def failure_groups(
    task: str,
    model: str,
    total: int,
    generation_errors: Sequence[tuple[str, str]],
    judge_errors: Mapping[str, tuple[int, Sequence[tuple[str, str]]]],
) -> list[FailureGroup]:
    """Items that failed after retries, per stage: the generations (``(kind, message)`` of each failed
    one, of ``total``; an empty reply is the endpoint's final answer, not a failure), then each judge's
    requests (name -> (rows judged, ``(kind, message)`` of each failed one))."""
    groups = [FailureGroup.of(task, model, "generation", total, list(generation_errors))] if generation_errors else []
    for name, (judged, bad) in judge_errors.items():
        if bad:
            groups.append(FailureGroup.of(task, model, f"judge {name}", judged, list(bad)))
    return groups


def summarise_task(
    name: str,
    n_examples: int,
    scores: Mapping[str, ModelScores],
    *,
    baseline: str,
    settings: StatsSettings,
    repeat: int = 1,
    slices: Sequence[tuple[str, list[str | None]]] = (),
    pairwise: Mapping[str, Mapping[str, dict[str, Any]]] | None = None,
    note: Callable[[str], None] | None = None,
) -> TaskSummary:
    """One task's summary: per model its counts and metrics (value, CI), paired deltas against
    ``baseline``, and per slice column (``(column, value per example)``) the same restricted to each
    value. ``repeat`` > 1: the rows are k samples per example, collapsed so that the unit of resampling
    and pairing is the example. ``pairwise``: rubric -> model -> pairwise judge summary."""
    from .stats import slice_summaries, task_summaries

    by_model = {m: {r.key: r for r in s.results} for m, s in scores.items()}
    if repeat > 1:
        by_model = {m: {k: collapse_repeats(r, repeat) for k, r in res.items()} for m, res in by_model.items()}
    if note is not None:
        note(
            f"statistics {name}: {len(by_model)} models, {settings.n_resamples} resamples"
            + (f", slices by {', '.join(col for col, _ in slices)}" if slices else "")
        )
    metrics, deltas = task_summaries(by_model, baseline, settings)
    models = {
        m: ModelTaskSummary(
            n_examples=s.n_rows,
            failed=s.failed,
            metrics=metrics[m],
            usage=s.usage,
            judge_usage=s.judge_usage,
            judge_failed=s.judge_failed,
            empty=s.empty,
            judge_unparseable=s.judge_unparseable,
            tool_calls=s.tool_calls,
        )
        for m, s in scores.items()
    }
    return TaskSummary(
        name=name,
        n_examples=n_examples,
        models=models,
        deltas=deltas,
        slices=[s for col, values in slices for s in slice_summaries(by_model, baseline, values, col, settings)],
        pairwise={r: dict(by) for r, by in (pairwise or {}).items()},
    )


def _checkpoints(
    report: CurveReport, models: Mapping[str, ModelInfo], tasks: Mapping[str, TaskSummary]
) -> list[dict[str, Any]]:
    """Rows joining the curve's valid loss with the task scores of models that name a checkpoint step."""
    steps = {}
    for name, info in models.items():
        if info.checkpoint_step is not None:
            scores = {
                f"{t}/{k}": m.value
                for t, ts in tasks.items()
                for k, m in ts.models[name].metrics.items()
                if m.value is not None
            }
            steps[name] = (info.checkpoint_step, scores)
    if not steps:
        return []
    from .curves import join_checkpoints

    hib = {
        f"{t}/{k}": m.higher_is_better
        for t, ts in tasks.items()
        for mts in ts.models.values()
        for k, m in mts.metrics.items()
    }
    return join_checkpoints(report, steps, higher_is_better=hib)


def assemble_run(
    *,
    name: str,
    baseline: str,
    config_digest: str,
    models: Mapping[str, ModelInfo],
    tasks: Mapping[str, TaskSummary],
    config: dict[str, Any],
    settings: dict[str, Any],
    examples_sha256: str | None,
    failures: Sequence[FailureGroup] = (),
    resume_command: str = "",
    gate: GateConfig | None = None,
    gate_source: str | None = None,
    curve_reports: Sequence[CurveReport] = (),
    requests: Mapping[str, dict[str, Any]] | None = None,
    timings: Mapping[str, float] | None = None,
    sources: Sequence[str] = (),
    cost: dict[str, Any] | None = None,
    digests: Mapping[str, dict[str, Any]] | None = None,
    store: Path | None = None,
) -> RunResult:
    """The :class:`RunResult`, complete: ``incomplete`` when items failed (with the command that finishes
    the run), curve analyses and checkpoint rows, and the gate's decision judged on all of it (``gate_source``
    says where the rules came from when not the run's own config). Never changed afterwards."""
    record: dict[str, Any] = dict(
        name=name,
        created_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        evalstack_version=__version__,
        config_digest=config_digest,
        baseline=baseline,
        models=dict(models),
        tasks=dict(tasks),
        config=config,
        settings=settings,
        examples_sha256=examples_sha256,
        incomplete=Incomplete(
            failed=sum(f.failed for f in failures), groups=list(failures), resume_command=resume_command
        )
        if failures
        else None,
        curves=[r.to_dict() for r in curve_reports],
        checkpoints=_checkpoints(curve_reports[0], models, tasks) if curve_reports else [],
        requests=dict(requests or {}),
        timings=dict(timings or {}),
        sources=list(sources),
        cost=cost,
        digests=dict(digests or {}),
    )
    if gate is not None:
        from .gate import evaluate_gate

        decision = evaluate_gate(RunResult(**record), gate, store)  # the rules read the record without the decision
        record["gate"] = decision if gate_source is None else decision.model_copy(update={"source": gate_source})
    return RunResult(**record)

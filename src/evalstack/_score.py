"""Scoring after generation: every metric of a task on the outputs, and k samples collapsed to one row.

``_prepare`` checks and builds everything before the first request (its metric dry run scores one
plausible output through :func:`score_outputs` too); the pipeline and ``compare`` call these once the
outputs exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .config import TaskConfig
from .errors import EvalstackError

if TYPE_CHECKING:
    from ._prepare import MetricPlan
    from .metrics import MetricContext, MetricResult, Reference

__all__ = ["collapse_repeats", "score_outputs"]


def score_outputs(
    task: TaskConfig,
    metrics: list[MetricPlan],
    predictions: list[str | None],
    *,
    targets: Sequence[object] | None,
    references: Sequence[object] | None,
    knowledge: Sequence[object] | None = None,
    logprobs: Sequence[Sequence[float] | None] | None = None,
    note: Callable[[str], None] | None = None,
    label: str = "",
    extra: MetricContext | None = None,
) -> list[MetricResult]:
    """Every metric of a task on its outputs: the one place that decides what a metric is scored against.

    Label metrics get ``targets``, the others ``references`` (else ``targets``). Gold labels and scalar
    references compare as text (an integer column 0/1 matches labels ["0", "1"]; the answer 144 matches
    "144"). A metric's error names its place in the config. ``note(text)`` gets a stage line (labelled
    ``label``) for the quick metrics together and for each metric that loads a backend. ``extra``: more
    per-row context (a tool task's calls made and expected, :func:`evalstack.tools.score_context`).
    """
    gold = None if targets is None else [None if x is None else str(x) for x in targets]
    refs: list[Reference] | None = None
    if references is not None:
        refs = [x if x is None or isinstance(x, (str, list)) else str(x) for x in references]
    context: MetricContext = {
        "labels": task.labels,
        "label_parsing": task.label_parsing.model_dump(),
        "logprobs": logprobs if logprobs is not None else [None] * len(predictions),
    }
    if knowledge is not None:
        context["knowledge"] = knowledge
    if extra:
        context.update(extra)
    results: list[MetricResult] = []
    if note is not None:
        quick = [mp.name for mp in metrics if not mp.instance.loads_backend()]
        if quick:
            note(f"scoring {label}: {', '.join(quick)} ({len(predictions)} outputs)")
    for mp in metrics:
        if note is not None and mp.instance.loads_backend():
            note(f"scoring {label}: {mp.name} ({len(predictions)} outputs)")
        against = gold if mp.uses_labels else (refs if refs is not None else gold)
        try:
            results.extend(mp.instance.compute(predictions, against, **context))
        except EvalstackError as exc:
            raise exc.at(mp.where) from None
    return results


def collapse_repeats(result: MetricResult, k: int) -> MetricResult:
    """One row per example from k sample rows (example-major order): sufficient statistics add up, so the
    metric value is unchanged while the bootstrap resamples whole examples (a cluster bootstrap) and the
    paired tests see one per-example mean each."""
    import dataclasses

    import numpy as np

    n = result.scored.size // k
    stats = result.suff_stats.reshape(n, k, -1).sum(axis=1)
    scored = np.asarray(result.scored.reshape(n, k).any(axis=1))
    per: list[float | None] | None = None
    if result.per_example is not None:
        per = []
        for i in range(n):
            vals = [v for v in result.per_example[i * k : (i + 1) * k] if v is not None]
            per.append(float(np.mean(vals)) if vals else None)
    return dataclasses.replace(result, suff_stats=stats, scored=scored, per_example=per)

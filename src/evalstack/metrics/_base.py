"""The metric contract: what every metric returns, and the one registry that maps a YAML name to code.

A metric is computed once per (task, model) over all examples. Its result must let `stats` resample it
without calling the metric again, for corpus-level metrics too (macro F1, balanced accuracy, BLEU). So a
result carries **sufficient statistics**: one row of numbers per example (``suff_stats``, shape
``(n_examples, k)``) and a vectorised function ``from_stats`` that maps *summed* rows (shape ``(..., k)``)
to metric values (shape ``(...)``). A bootstrap resample is then a count matrix ``C`` (B x n) and the
resampled values are ``from_stats(C @ suff_stats)``: no Python loop per resample.

- mean-type metrics (accuracy, ROUGE, BERTScore, judge scores): ``suff_stats = [[x_i, 1]]`` and
  ``from_stats = s[..., 0] / s[..., 1]`` (use :func:`mean_result`).
- classification: one-hot confusion cells (k = L*L), ``from_stats`` computes F1/kappa/... from the
  summed confusion matrices.
- BLEU: n-gram match/total counts and lengths per sentence.

Rows of examples that could not be scored (failed generation, unparseable judge reply) have
``scored[i] = False`` and an all-zero stats row; they are counted in ``unscored``, never scored as zero.
"""

from __future__ import annotations

__all__ = [
    "MetricResult",
    "Metric",
    "MetricInfo",
    "register_metric",
    "get_metric",
    "list_metrics",
    "mean_result",
]

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypedDict, Unpack

import numpy as np


@dataclass
class MetricResult:
    """One metric key (e.g. ``f1_macro``) of one model on one task."""

    key: str
    """Name used in reports and gates after the task prefix: ``accuracy``, ``f1_macro``, ``rougeL``..."""
    value: float | None
    """The corpus score over scored examples (None when no example could be scored)."""
    higher_is_better: bool
    """Direction; deltas and gates use it (toxicity_rate: False)."""
    per_example: list[float | None] | None
    """Per-example scores aligned with the task's examples (None = unscored); None for corpus-only metrics."""
    scored: np.ndarray
    """Boolean mask, shape (n_examples,): which examples entered the metric."""
    suff_stats: np.ndarray
    """Float array (n_examples, k): per-example sufficient statistics (zero rows where not scored)."""
    from_stats: Callable[[np.ndarray], np.ndarray]
    """Vectorised: summed stats of shape (..., k) -> metric values of shape (...)."""
    details: dict[str, Any] = field(default_factory=dict)
    """JSON-able extras kept in run.json: confusion matrix, labels, per-class scores, invalid count..."""
    corpus_only: bool = False
    """True where no per-example form exists (macro F1, BLEU); per_example then holds None or a proxy."""

    @property
    def n(self) -> int:
        """Number of scored examples."""
        return int(self.scored.sum())

    @property
    def unscored(self) -> int:
        """Examples that could not be scored (failed generation, unparseable reply)."""
        return int(self.scored.size - self.scored.sum())

    def recompute(self, mask: np.ndarray | None = None) -> float | None:
        """Metric value over the scored examples (optionally restricted by a boolean mask)."""
        m = self.scored if mask is None else (self.scored & mask)
        if not m.any():
            return None
        return float(self.from_stats(self.suff_stats[m].sum(axis=0)))


def _mean_from_stats(s: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = s[..., 0] / s[..., 1]
    return out


def mean_result(
    key: str,
    per_example: Sequence[float | None],
    *,
    higher_is_better: bool = True,
    details: dict[str, Any] | None = None,
) -> MetricResult:
    """A mean-type metric from per-example scores (None = unscored)."""
    scored = np.array([x is not None for x in per_example], dtype=bool)
    vals = np.array([0.0 if x is None else float(x) for x in per_example], dtype=float)
    stats = np.stack([vals * scored, scored.astype(float)], axis=1) if len(vals) else np.zeros((0, 2))
    value = float(vals[scored].mean()) if scored.any() else None
    return MetricResult(
        key=key,
        value=value,
        higher_is_better=higher_is_better,
        per_example=[None if x is None else float(x) for x in per_example],
        scored=scored,
        suff_stats=stats,
        from_stats=_mean_from_stats,
        details=details or {},
    )


@dataclass(frozen=True)
class MetricInfo:
    """What `evalstack metrics` lists."""

    name: str
    keys: str
    higher_is_better: bool
    per_example: bool
    options: str
    description: str


Reference = str | Sequence[str] | None
"""One example's reference: a text, several texts, or None (the example has none)."""


class MetricContext(TypedDict, total=False):
    """What :meth:`Metric.compute` may read beside the predictions: the task's labels and label parsing, and
    per-example columns (one value per prediction)."""

    labels: list[str] | None
    """The task's allowed labels (None: taken from the references)."""
    label_parsing: Mapping[str, object]
    """The task's ``label_parsing`` section, dumped (mode, aliases, regex, case_sensitive)."""
    logprobs: Sequence[Sequence[float] | None]
    """Per output, its token logprobs (None where the provider gave none)."""
    knowledge: Sequence[object]
    """Per example, the task's ``context:`` column (source text for knowledge-F1)."""
    tool_calls: Sequence[Sequence[Mapping[str, object]] | None]
    """Tool tasks, per output: every call the model made (OpenAI shape); None for a failed generation."""
    expected_calls: Sequence[Sequence[Mapping[str, object]]] | None
    """Tool tasks, per example: the expected calls ``[{"name", "arguments"}]`` (None: no expected_calls column)."""
    tool_schemas: Mapping[str, object]
    """Tool tasks: function name -> its ``parameters`` JSON Schema."""
    tools_ordered: bool
    """Tool tasks: expected calls must come in order."""


class Metric(Protocol):
    """A plug-in metric. Registered with :func:`register_metric` (deriving from
    :class:`~evalstack.metrics.BaseMetric` gives every member but ``compute``).

    ``compute`` receives predictions (None = failed generation), references (None for reference-free
    metrics; a list of strings per example where several references exist) and a ``context`` dict of
    extra per-example columns (e.g. ``labels``, ``knowledge``, ``logprobs``). It returns one or more
    :class:`MetricResult` (ROUGE with three types returns three).

    What it needs is declared, so that the pipeline checks a task before any request without naming a
    metric: ``uses_labels`` (scored against the gold ``target``), ``needs_reference``, ``needs_context``
    (the task's ``context:`` column), ``needs_logprobs`` (token logprobs from the provider; an instance
    answers for its options), ``keys(options)`` (the result keys, so gate rules are checked without
    computing) and ``loads_backend()`` (a slow model or library: checked after every cheap check).
    """

    name: ClassVar[str]
    info: ClassVar[MetricInfo]
    uses_labels: ClassVar[bool]
    needs_reference: ClassVar[bool]
    needs_context: ClassVar[bool]
    needs_logprobs: bool

    def __init__(self, **options: object) -> None: ...

    @classmethod
    def keys(cls, options: Mapping[str, object] | None = None) -> tuple[str, ...]: ...

    def loads_backend(self) -> bool: ...

    def compute(
        self,
        predictions: Sequence[str | None],
        references: Sequence[Reference] | None = None,
        **context: Unpack[MetricContext],
    ) -> list[MetricResult]: ...


def register_metric(name: str) -> Callable[[type], type]:
    """Class decorator: make a metric available under ``name`` in YAML and in ``compute`` (a plug-in's
    ``metric.<name>`` entry point goes through it too: :mod:`evalstack.registry`)."""

    def deco(cls: type) -> type:
        from ..registry import register

        target: Any = cls  # the registered class gets its name (and info)
        target.name = name
        build = getattr(cls, "_build_info", None)
        if build is not None:  # metrics built on BaseMetric derive `info` from their declared options
            target.info = build()
        register("metric", name, cls)
        return cls

    return deco


def get_metric(name: str) -> type[Metric]:
    """The metric class registered under ``name`` (built-in or plug-in); a ConfigError with a "did you
    mean" otherwise."""
    from ..registry import lookup

    cls: type[Metric] = lookup("metric", name, known="known metrics")
    return cls


def list_metrics() -> list[MetricInfo]:
    """Every registered metric's info (built-ins and installed plug-ins), sorted by name."""
    from ..registry import entries

    return [cls.info for cls in entries("metric").values()]

"""The tool-call metrics, registered: each a mean of per-example scores (definitions: ``_toolcalls``).

They read the task's tool context that the pipeline (and ``compare``) pass with the outputs:
``tool_calls`` (per row, the calls made: every call of the reply or of the whole tool loop; None for a
failed row), ``expected_calls`` (per row, ``[{"name", "arguments"}]``), ``tool_schemas`` (function name ->
parameters schema) and ``tools_ordered``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ..errors import ConfigError
from ._base import MetricResult, mean_result, register_metric
from ._options import BaseMetric
from ._toolcalls import ToolScores, score_calls


class _ToolMetric(BaseMetric):
    needs_reference = False
    needs_tools: ClassVar[bool] = True
    """Scored on the calls of a task with ``tools:``."""
    needs_expected_calls: ClassVar[bool] = True
    """Needs the task's ``expected_calls:`` column."""
    FIELD: ClassVar[str] = ""

    def compute(
        self, predictions: Sequence[str | None], references: Sequence[Any] | None = None, **context: Any
    ) -> list[MetricResult]:
        if "tool_calls" not in context:
            raise ConfigError(
                f"metric '{self.name}' scores tool calls: the task needs `tools:`",
                hint="offer the model tools (and name the expected_calls column)",
            )
        calls = context["tool_calls"]
        expected = context.get("expected_calls")
        if expected is None:
            if self.needs_expected_calls:
                raise ConfigError(f"metric '{self.name}' needs `expected_calls:` (the column of expected calls)")
            expected = [[] for _ in predictions]
        schemas, ordered = context.get("tool_schemas") or {}, bool(context.get("tools_ordered"))
        per: list[float | None] = []
        for pred, made, exp in zip(predictions, calls, expected):
            if pred is None or exp is None:
                per.append(None)
                continue
            scores: ToolScores = score_calls(made, exp, schemas=schemas, ordered=ordered)
            per.append(getattr(scores, self.FIELD))
        return [mean_result(self.name, per)]


@register_metric("tool_name_accuracy")
class ToolNameAccuracy(_ToolMetric):
    FIELD = "name"
    DESCRIPTION = (
        "Share of examples whose called function names equal the expected ones (no call where none is expected)."
    )


@register_metric("tool_args_exact")
class ToolArgsExact(_ToolMetric):
    FIELD = "exact"
    DESCRIPTION = "Share of examples whose calls are exactly the expected calls (names and arguments, order-free)."


@register_metric("tool_args_f1")
class ToolArgsF1(_ToolMetric):
    FIELD = "f1"
    DESCRIPTION = "F1 over argument key/value pairs of the made vs expected calls (optimal one-to-one matching)."


@register_metric("tool_call_valid")
class ToolCallValid(_ToolMetric):
    FIELD = "valid"
    needs_expected_calls = False
    DESCRIPTION = (
        "Share of examples where every call made names a tool and has JSON arguments valid against its schema."
    )


@register_metric("no_call_accuracy")
class NoCallAccuracy(_ToolMetric):
    FIELD = "no_call"
    DESCRIPTION = "Share of examples where the model calls nothing exactly when no call is expected."

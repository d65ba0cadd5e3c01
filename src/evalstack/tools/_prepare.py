"""A tool-calling task checked and built before any request: its :class:`ToolSet` and expected calls."""

from __future__ import annotations

__all__ = ["as_made", "check_tool_loops", "prepare_tools", "score_context"]

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ._schema import ToolSet, check_schemas, check_tool_choice, expected_calls, load_schema_file

if TYPE_CHECKING:
    from .._prepare import TaskPlan
    from ..config import TaskConfig
    from ..data import Example
    from ..metrics import MetricContext
    from ..models import Provider


def prepare_tools(
    task: TaskConfig, examples: Sequence[Example], key: str, source: str
) -> tuple[ToolSet | None, list[list[dict[str, Any]]] | None]:
    """The task's tools (None without ``tools:``) and each example's expected calls (None without
    ``expected_calls:``); a ConfigError / DataError naming the file and key path otherwise."""
    tc = task.tools
    if tc is None:
        for name in ("tool_choice", "expected_calls"):
            if getattr(task, name) is not None:
                raise ConfigError(
                    f"`{name}` needs `tools:` on the task",
                    where=f"{source}: {key}.{name}",
                    hint="add the tools offered",
                )
        return None, None
    for conv in ("turns", "messages"):
        if getattr(task, conv, None) is not None:
            raise ConfigError(
                f"a task with `{conv}:` cannot offer tools yet",
                where=f"{source}: {key}.tools",
                hint="put the tool-calling set in a task of its own",
            )
    schemas: list[dict[str, Any]] = []
    functions: list[str] = []
    if tc.module is not None:
        from ._describe import describe_module

        described = describe_module(tc, where=f"{source}: {key}.tools.module")
        functions = [t["function"]["name"] for t in described]
        schemas = described
    if tc.schemas is not None:
        if isinstance(tc.schemas, list):
            given = check_schemas(tc.schemas, f"{source}: {key}.{tc.schemas_key()}")
        else:
            data, where = load_schema_file(tc.schemas, f"{source}: {key}.{tc.schemas_key()}")
            given = check_schemas(data, where)
        if tc.module is not None:  # explicit schemas override derived ones, and must name functions that exist
            missing = [t["function"]["name"] for t in given if t["function"]["name"] not in functions]
            if missing:
                raise ConfigError(
                    f"schema for '{missing[0]}', which {tc.module.name} does not define as a tool",
                    where=f"{source}: {key}.{tc.schemas_key()}",
                    hint=f"its tools: {', '.join(functions)}",
                )
            by_name = {t["function"]["name"]: t for t in given}
            schemas = [by_name.get(t["function"]["name"], t) for t in schemas]
        else:
            schemas = given
    names = [t["function"]["name"] for t in schemas]
    tools = ToolSet(
        schemas=schemas,
        tool_choice=check_tool_choice(task.tool_choice, names, f"{source}: {key}.tool_choice"),
        module=tc.module,
        functions=functions,
        max_steps=tc.max_steps if tc.module is not None else 1,
        timeout=tc.timeout,
        network=tc.network,
    )
    if task.expected_calls is None:
        return tools, None
    col = task.expected_calls.column
    path = task.data.path
    expected = [
        expected_calls(ex.row.get(col), names, f"{path.name}:{ex.line or '?'} (example '{ex.id}')", col)
        for ex in examples
    ]
    return tools, expected


def score_context(
    tools: ToolSet | None,
    expected: Sequence[Any] | None,
    calls: Sequence[Any],
    *,
    ordered: bool = False,
) -> MetricContext | None:
    """What the tool metrics read beside the outputs (None for a task without tools): ``calls`` per scored
    row (the calls made, None for a failed row), ``expected`` per scored row."""
    if tools is None:
        return None
    return {
        "tool_calls": list(calls),
        "expected_calls": None if expected is None else list(expected),
        "tool_schemas": tools.by_name,
        "tools_ordered": ordered,
    }


def as_made(expected: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Expected calls in the shape a provider gives made calls (for the metrics' dry run)."""
    import json

    return [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
        }
        for i, c in enumerate(expected)
    ]


def check_tool_loops(plans: Sequence[TaskPlan], name: str, provider: Provider) -> None:
    """A tool loop asks the model again after each tool result: a replay file, one recorded reply per example,
    cannot answer that (it would repeat its calls until ``max_steps``). Refused before any request."""
    if provider.kind != "replay":
        return
    for plan in plans:
        if plan.tools is not None and plan.tools.module is not None:
            raise ConfigError(
                f"model '{name}' replays recorded replies, which cannot run the tool loop of task '{plan.name}'",
                where=f"models.{name}",
                hint="use a live model (each step is cached), or drop tools.module to score the recorded calls",
            )

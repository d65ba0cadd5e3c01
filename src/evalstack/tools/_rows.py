"""What a tool task's generation puts into scoring and into its examples.jsonl row."""

from __future__ import annotations

__all__ = ["calls_of", "flat_calls", "row_fields"]

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..models import Generation
    from ._schema import ToolSet


def calls_of(gen: Generation) -> list[dict[str, Any]] | None:
    """Every call the model made for this example (a tool loop: every step's), OpenAI shape; None when the
    generation failed (the row is unscored)."""
    if not gen.ok:
        return None
    trace = gen.trace
    if trace is not None:
        return list(trace.calls)
    return list(gen.tool_calls or [])


def flat_calls(calls: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """``[{name, arguments}]`` (arguments as the model wrote them) from OpenAI-shaped calls."""
    out = []
    for c in calls or []:
        fn = c.get("function") or {}
        out.append({"name": fn.get("name"), "arguments": fn.get("arguments")})
    return out


def row_fields(gen: Generation, tools: ToolSet | None, prompt: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The examples.jsonl fields of a tool task's row: its calls and, for a tool loop, the conversation
    (``prompt`` then the loop's messages, OpenAI-style) and what the loop did ({} for other tasks)."""
    if tools is None:
        return {}
    out: dict[str, Any] = {"tool_calls": flat_calls(calls_of(gen) if gen.ok else gen.tool_calls)}
    trace = gen.trace
    if trace is not None:
        out["conversation"] = [dict(m) for m in prompt] + list(trace.messages)
        out["tool_loop"] = {"steps": trace.steps, "tool_errors": trace.errors, "step_cap_hit": trace.cap_hit}
    return out

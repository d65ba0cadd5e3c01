"""What a tool task's generation puts into scoring and into its examples.jsonl row."""

from __future__ import annotations

__all__ = ["calls_of", "flat_calls", "row_fields", "tool_counts"]

import json
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


def tool_counts(gens: Sequence[Generation], tools: ToolSet | None) -> dict[str, int] | None:
    """run.json's tool summary of one model on one task (None for a task without tools): calls made,
    invalid calls, tool errors, step-cap hits."""
    if tools is None:
        return None
    from ..metrics import valid_call

    schemas = tools.by_name
    calls = invalid = errors = capped = 0
    for g in gens:
        made = calls_of(g) or []
        calls += len(made)
        for c in flat_calls(made):
            try:
                args = json.loads(c["arguments"]) if isinstance(c["arguments"], str) else c["arguments"]
            except (ValueError, RecursionError):
                args = None
            invalid += not valid_call(str(c["name"]), args if isinstance(args, dict) else None, schemas)
        if g.trace is not None:
            errors += g.trace.errors
            capped += bool(g.trace.cap_hit)
    return {"calls": calls, "invalid": invalid, "tool_errors": errors, "step_cap_hits": capped}

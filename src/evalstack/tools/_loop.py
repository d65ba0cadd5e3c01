"""Tool loops: the model's calls run, their results go back as ``tool`` messages, until it answers.

Steps go in lock-step over a task's examples: step k sends every example still looping through the
runner (cache first, retries, concurrency), so each step is one cached request keyed by the conversation
so far; deterministic tools then make a re-run (or ``--resume`` after a kill) a sequence of cache hits. A
call that raises, times out, names no tool or has arguments that are not a JSON object gets an error
message back (and is counted); a reply still calling tools at ``max_steps`` ends the loop (counted too).
"""

from __future__ import annotations

__all__ = ["ToolTrace", "run_loops"]

import asyncio
import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._crash import crash_point
from ..models import Generation, Request
from ._exec import ToolResult, call_tool

if TYPE_CHECKING:
    from ..models import Provider, Runner
    from ._schema import ToolSet


@dataclass
class ToolTrace:
    """What one example's tool loop did."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    """The conversation after the prompt (assistant replies with their calls, tool results)."""
    calls: list[dict[str, Any]] = field(default_factory=list)
    """Every call the model made, in order (OpenAI shape)."""
    steps: int = 0
    """Requests sent (replies received)."""
    errors: int = 0
    """Calls that got an error back instead of a result."""
    cap_hit: bool = False
    """The last reply still called tools at ``max_steps``."""


async def _run_call(tools: ToolSet, call: dict[str, Any]) -> ToolResult:
    fn = call.get("function") or {}
    name = str(fn.get("name") or "")
    if tools.module is None or name not in tools.functions:
        return ToolResult(False, f"error: no tool named {name!r} (tools: {', '.join(tools.functions)})")
    try:
        args = json.loads(fn.get("arguments") or "{}")
    except (ValueError, RecursionError):
        args = None
    if not isinstance(args, dict):
        return ToolResult(False, "error: the arguments are not a JSON object")
    return await call_tool(tools.module, name, args, timeout=tools.timeout, network=tools.network)


async def run_loops(
    runner: Runner, provider: Provider, requests: list[Request], tools: ToolSet, label: str
) -> list[Generation]:
    """The final reply of each request's tool loop, with its :class:`ToolTrace` (``trace``) and the tokens
    of every step; a step that failed after retries fails the example (``--resume`` continues it)."""
    history = [list(r.message_dicts) for r in requests]
    traces = [ToolTrace() for _ in requests]
    final: list[Generation | None] = [None] * len(requests)
    sums = [[0, 0, 0, True] for _ in requests]  # prompt tokens, completion tokens, retries, all cached
    active = list(range(len(requests)))
    step = 0
    while active:
        step += 1
        batch = [
            Request.make(
                requests[i].task, requests[i].example_id, history[i], requests[i].param_dict, requests[i].repeat
            )
            for i in active
        ]
        gens = await runner.run(provider, batch, label=f"{label} · step {step}" if step > 1 else label)
        running: list[tuple[int, list[dict[str, Any]]]] = []
        for i, g in zip(active, gens):
            tr, s = traces[i], sums[i]
            tr.steps += 1
            s[0], s[1], s[2] = s[0] + g.prompt_tokens, s[1] + g.completion_tokens, s[2] + max(0, g.tries - 1)
            s[3] = s[3] and g.cached
            if not g.ok:
                final[i] = g
                continue
            message: dict[str, Any] = {"role": "assistant", "content": g.text or None}
            if g.tool_calls:
                message["tool_calls"] = g.tool_calls
                tr.calls.extend(g.tool_calls)
            tr.messages.append(message)
            if not g.tool_calls:
                final[i] = g
            elif step >= tools.max_steps:
                tr.cap_hit, final[i] = True, g
            else:
                running.append((i, g.tool_calls))
        results = await asyncio.gather(*(asyncio.gather(*(_run_call(tools, c) for c in calls)) for _, calls in running))
        for (i, calls), res in zip(running, results):
            for call, r in zip(calls, res):
                traces[i].messages.append({"role": "tool", "tool_call_id": call.get("id") or "", "content": r.text})
                traces[i].errors += 0 if r.ok else 1
            history[i] = [*requests[i].message_dicts, *traces[i].messages]
        crash_point(f"tool_step:{step}")  # crash-consistency tests: killed between two steps of the loops
        active = [i for i, _ in running]
    out = []
    for i, last in enumerate(final):
        assert last is not None
        p, c, retries, cached = sums[i]
        out.append(
            dataclasses.replace(
                last,
                prompt_tokens=int(p),
                completion_tokens=int(c),
                tries=int(retries) + 1 if last.ok else last.tries,
                cached=bool(cached),
                trace=traces[i],
            )
        )
    return out

"""Run one tool call (or describe a module's tools) in a child Python process with a timeout.

One process per call: a call that hangs is killed at its timeout without touching the others, and one
tool's state never leaks into the next call (tools should be deterministic for their steps to be cached).
"""

from __future__ import annotations

__all__ = ["ToolResult", "call_tool", "child_command", "parse_answer"]

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_MARK = "\x00evalstack-tool-result "
MAX_RESULT_CHARS = 20_000
"""A tool result longer than this is cut (and says so) before it goes back to the model."""
_SLOTS: dict[int, asyncio.Semaphore] = {}


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    """False when the tool raised, timed out, or could not be called."""
    text: str
    """The result sent back to the model (an error message when not ok)."""


def child_command() -> list[str]:
    """``python -I -c <the child's source>`` (isolated: no PYTHONPATH, no user site, no cwd on sys.path)."""
    return [sys.executable, "-I", "-c", (Path(__file__).parent / "_child.py").read_text(encoding="utf-8")]


def parse_answer(stdout: bytes) -> dict[str, Any] | None:
    """The child's JSON answer (its last marked stdout line), None when there is none."""
    text = stdout.decode("utf-8", "replace")
    at = text.rfind(_MARK)
    if at < 0:
        return None
    try:
        answer = json.loads(text[at + len(_MARK) :].strip())
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _slots() -> asyncio.Semaphore:
    import os

    loop_id = id(asyncio.get_running_loop())
    if loop_id not in _SLOTS:
        _SLOTS.clear()
        _SLOTS[loop_id] = asyncio.Semaphore(max(2, min(8, os.cpu_count() or 2)))
    return _SLOTS[loop_id]


async def call_tool(
    module: Path, function: str, arguments: dict[str, Any], *, timeout: float, network: bool = False
) -> ToolResult:
    """Run ``function(**arguments)`` of ``module`` in a child process; the error text when it raises or
    takes longer than ``timeout`` seconds (then it is killed)."""
    request: dict[str, object] = {"mode": "call", "module": str(module), "function": function}
    request.update(arguments=arguments, network=network)
    async with _slots():
        proc = await asyncio.create_subprocess_exec(
            *child_command(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(json.dumps(request).encode()), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return ToolResult(False, f"error: tool '{function}' took longer than {timeout:g} s and was stopped")
    answer = parse_answer(stdout)
    if answer is None:
        last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        return ToolResult(False, f"error: tool '{function}' ended without a result ({last[0][:300]})")
    if not answer.get("ok"):
        return ToolResult(False, f"error: {str(answer.get('error'))[:2000]}")
    text = str(answer.get("result", ""))
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + f" [... cut at {MAX_RESULT_CHARS} characters]"
    return ToolResult(True, text)

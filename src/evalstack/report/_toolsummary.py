"""The tool-call counts of a tool task on its report line (run.json's ``tool_calls`` per model)."""

from __future__ import annotations

__all__ = ["tool_counts_text"]

from ..results import RunResult, TaskSummary
from ._format import fmt_int
from ._runinfo import model_order


def tool_counts_text(run: RunResult, task: TaskSummary) -> str:
    """'; tool calls: base 40 (6 invalid), finetuned 38 (1 tool error, 2 step-cap hits)', or '' (no tools)."""
    out = []
    for m in model_order(run):
        tc = getattr(task.models.get(m), "tool_calls", None)
        if tc is None:
            continue
        bits = [
            f"{fmt_int(tc.get(k, 0))} {label}{'s' if tc.get(k, 0) != 1 else ''}"
            for k, label in (
                ("invalid", "invalid call"),
                ("tool_errors", "tool error"),
                ("step_cap_hits", "step-cap hit"),
            )
            if tc.get(k, 0)
        ]
        out.append(f"{m} {fmt_int(tc.get('calls', 0))}" + (f" ({', '.join(bits)})" if bits else ""))
    return ("; tool calls: " + ", ".join(out)) if out else ""

"""The cost section of the reports and the terminal's cost line, from run.json's ``cost``."""

from __future__ import annotations

from ..results import RunResult
from ._view import Cell, Table

__all__ = ["cost_line", "cost_table"]


def _usd(x: float | None) -> str:
    if x is None:
        return "unpriced"
    return f"${x:,.4f}" if x < 1 else f"${x:,.2f}"


def cost_table(run: RunResult) -> Table:
    """One row per task and model or judge: requests sent, tokens, USD (empty without a cost record)."""
    t = Table(
        ["task", "model / judge", "requests sent", "prompt tokens", "completion tokens", "cost"],
        numeric=[False, False, True, True, True, True],
    )
    for x in (run.cost or {}).get("lines", []):
        t.rows.append(
            [Cell(str(x["task"])), Cell(str(x["who"]))]
            + [Cell(f"{int(x[k]):,}") for k in ("requests", "prompt_tokens", "completion_tokens")]
            + [Cell(_usd(x.get("usd")))]
        )
    return t


def cost_line(run: RunResult) -> str:
    """'cost: $1.23 (prices of DATE; cache hits cost nothing; unpriced: a, b)' or '' without a record."""
    c = run.cost
    if not c:
        return ""
    out = f"cost: {_usd(c.get('total_usd'))} for the requests sent (prices of {c.get('prices_as_of')}; cache hits cost nothing"
    if c.get("unpriced"):
        out += f"; unpriced, not in the total: {', '.join(c['unpriced'])}"
    return out + ")"

"""``evalstack plan --config CONFIG``: what a cold run of the config would cost, before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._estimate import Estimate

__all__ = ["config_estimate", "estimate_lines", "print_estimate"]


def config_estimate(config: Path, *, limit: int | None = None) -> Estimate:
    """Load and check the config (data, prompts, rubrics: nothing is sent) and estimate its cost."""
    from .._prepare import prepare_task
    from ..config import load_config
    from ._estimate import estimate_cost

    cfg = load_config(config)
    plans = [prepare_task(cfg, task, i, limit=limit) for i, task in enumerate(cfg.tasks)]
    return estimate_cost(cfg, plans, list(cfg.models))


def _usd(x: float | None) -> str:
    return "unpriced" if x is None else f"${x:,.4f}" if x < 1 else f"${x:,.2f}"


def estimate_lines(est: Estimate, *, actual: bool = False) -> list[str]:
    """The estimate (or the actual cost) in words: one line per task x model/judge, then the total."""
    what = "cost" if actual else "estimated cost of a cold run (outputs at max_tokens: an upper bound)"
    out = [f"{what}, prices of {est.prices_as_of} (USD per 1M tokens; a model's price: in the config wins):"]
    for x in est.lines:
        note = f"  [{'; '.join(x.notes)}]" if x.notes else ""
        out.append(
            f"  {x.task} / {x.who}: {x.requests:,} requests, {x.prompt_tokens:,} prompt + "
            f"{x.completion_tokens:,} completion tokens: {_usd(x.usd)}{note}"
        )
    total = f"total {_usd(est.total)}" + (" (approximate token counts)" if est.approximate else "")
    if est.unpriced:
        total += f"; unpriced, not in the total: {', '.join(est.unpriced)}"
    return out + [total]


def print_estimate(config: Path, *, limit: int | None, as_json: bool) -> None:
    est = config_estimate(config, limit=limit)
    if as_json:
        click.echo(json.dumps(est.to_dict(), indent=2))
    else:
        for line in estimate_lines(est):
            click.echo(line)

"""``evalstack metrics``: list every registered metric with its keys, direction, form and options."""

from __future__ import annotations

import dataclasses
import json

import click

from ._base import list_metrics


@click.command("metrics")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def metrics_cmd(as_json: bool) -> None:
    """List metrics: name, result keys, direction, per-example or corpus-only, options."""
    infos = list_metrics()
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(i) for i in infos], indent=2))
        return
    for info in infos:
        direction = "higher is better" if info.higher_is_better else "lower is better"
        form = "per-example" if info.per_example else "corpus-only"
        click.echo(f"{info.name}  [{direction}, {form}]")
        click.echo(f"  keys:    {info.keys}")
        click.echo(f"  what:    {info.description}")
        if info.options:
            for opt in info.options.split("; "):
                click.echo(f"  option:  {opt}")
        click.echo("")

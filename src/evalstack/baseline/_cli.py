"""``evalstack baseline set RUN --name prod``: store a finished run's baseline scores for later runs and gates."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("baseline")
def baseline() -> None:
    """Stored baselines: `set` once from a finished run, then `baseline: {run: NAME}` in a config or
    `evalstack gate RUN --baseline NAME` pair candidates with its per-example scores."""


@baseline.command("set")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--name", default="prod", show_default=True, help="The name configs and gates use.")
@click.option("--model", help="The run's model to store (default: the run's baseline).")
@click.option(
    "--store",
    type=click.Path(path_type=Path),
    help="The run store folder (default: $EVALSTACK_STORE, else store/ beside the cache).",
)
def set_cmd(run_dir: Path, name: str, model: str | None, store: Path | None) -> None:
    """Record RUN's per-example scores (of its baseline model, or --model) as the baseline NAME. A run with
    items that failed after retries, or a folder whose run did not finish, is refused (exit 2)."""
    from ._store import set_baseline

    b = set_baseline(run_dir, name, store=store, model=model)
    click.echo(f"baseline {b.name}: model {b.model} of {run_dir} (run {b.run_key}), stored in {b.folder}")

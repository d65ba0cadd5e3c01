"""`evalstack sweep CONFIG`: evaluate a fine-tuning run's checkpoints and pick one honestly."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .._click import config_and_out


@click.command()
@config_and_out
@click.option(
    "--no-cache", is_flag=True, help="Neither read nor write the response cache (not with successive_halving)."
)
@click.option("--quiet", "-q", is_flag=True, help="Only results and errors: no progress bars or stage lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep record (sweep.json) on stdout.")
def sweep(config: Path, out_dir: Path | None, no_cache: bool, quiet: bool, as_json: bool) -> int:
    """Evaluate the checkpoints named by CONFIG's `sweep:` section and pick the best that meets the constraints.

    \b
    Writes sweep.json, sweep.md, sweep.html and the plot into the output folder, one run folder per phase
    under runs/. Exit code: 0 a pick (gate passed on it, or no gate); 1 no candidate met the constraints, or
    the gate failed on the pick; 2 bad input; 3 a phase could not finish (run the sweep again to retry).
    """
    from ._config import load_sweep
    from ._markdown import headline
    from ._run import run_sweep

    spec = load_sweep(config)
    outcome = run_sweep(spec, out_dir=out_dir, progress=not quiet, no_cache=no_cache)
    if as_json:
        click.echo(json.dumps({**outcome.result, "out_dir": str(outcome.out_dir)}, ensure_ascii=False))
    click.echo(f"wrote {outcome.out_dir}", err=True)
    for line in headline(outcome.result):
        click.echo(line, err=True)
    return outcome.exit_code

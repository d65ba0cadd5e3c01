"""`evalstack merge SHARD_DIR... --out DIR`: the run folder of a sharded run (`evalstack run --shard I/N`)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("shard_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="The run folder."
)
@click.option("--quiet", "-q", is_flag=True, help="Only results and errors.")
def merge(shard_dirs: tuple[Path, ...], out_dir: Path, quiet: bool) -> int:
    """Merge the N shard folders of one `--shard I/N` split into the run folder: the same run.json as one
    process would write (metrics, CIs, deltas, slices, gate). Exit 0/1 as the gate decides, 3 when a shard
    has items that failed after retries, 2 when the folders are not the N shards of one config."""
    from ..shards import merge_shards
    from ._run import _echo_summary, _step_summary

    outcome = merge_shards(list(shard_dirs), out_dir=out_dir)
    if not quiet:
        _echo_summary(outcome)
    _step_summary(out_dir)
    return outcome.exit_code

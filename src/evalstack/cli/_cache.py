"""`evalstack cache check FILE` / `evalstack cache repair FILE`: a damaged response cache, found and salvaged."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("cache")
def cache() -> None:
    """Check or repair a response cache file (SQLite)."""


@cache.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print nothing; the exit code says it (0 ok, 1 damaged).")
def check(file: Path, quiet: bool) -> int:
    """Integrity check of FILE (read-only): header, SQLite integrity, schema, every row.

    Exit 0 when the file is healthy, 1 when something is damaged, 2 when FILE is not there.
    """
    from ..models import check_cache

    rep = check_cache(file)
    if not quiet:
        for line in rep.lines():
            click.echo(line)
    return 0 if rep.healthy else 1


@cache.command("repair")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=None,
    help="The new file (default: NAME.repaired.sqlite beside FILE). It must not exist.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def repair(file: Path, out: Path | None, quiet: bool) -> int:
    """Copy the good rows of FILE into a new cache file; FILE itself is not changed.

    Rows that do not parse, and rows on unreadable pages, are left out (a run re-requests them).
    Use the new file by moving it over FILE, or by pointing `cache:` at it.
    """
    from ..models import repair_cache

    rep, dst = repair_cache(file, out)
    if not quiet:
        for line in rep.lines()[:-1] if not rep.healthy else rep.lines():
            click.echo(line)
        click.echo(
            f"wrote {dst}: {rep.good} good row(s) of {rep.rows} read, {rep.batches} batch id(s); "
            f"{file} is unchanged. Use it: mv {dst} {file}  (or set `cache: {dst}`)"
        )
    return 0

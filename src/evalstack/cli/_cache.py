"""`evalstack cache check FILE` / `repair FILE`: a damaged response cache, found and salvaged; `merge`: shards' caches in one."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("cache")
def cache() -> None:
    """Check, repair or merge response cache files (SQLite)."""


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


@cache.command("merge")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--into", "into", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The cache to merge into."
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def merge(sources: tuple[Path, ...], into: Path, quiet: bool) -> int:
    """Copy every response of the SOURCES caches (e.g. each shard's) into the cache INTO (created when
    missing): no row lost, none twice; a key already there keeps its row. Sources are read only; each is
    copied in one transaction, safe beside a run using INTO. A later run (or --resume) on INTO sends only
    what no source had."""
    from ..models import merge_caches

    rep = merge_caches(list(sources), into)
    if not quiet:
        for line in rep.lines():
            click.echo(line)
    return 0

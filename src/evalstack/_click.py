"""Command-line pieces more than one command group uses (``cli/`` and the sweep's command)."""

from __future__ import annotations

__all__ = ["config_and_out"]

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

_F = TypeVar("_F", bound=Callable[..., object])


def config_and_out(fn: _F) -> _F:
    """The CONFIG argument and ``--out`` (the output folder, by default the config's ``output``)."""
    fn = click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Output folder (default: the config's `output`).",
    )(fn)
    return click.argument("config", type=click.Path(dir_okay=False, path_type=Path))(fn)

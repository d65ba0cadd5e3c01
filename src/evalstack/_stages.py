"""Stage lines: what a run is doing between and after the request bars.

Request progress is shown by rich bars on a terminal (``models/_runner.py``); everything else a run does
that can take a second or more (scoring per metric, judge reply parsing, statistics, curves, plots,
reports, trackers) announces itself with one line on stderr when it starts, labelled with the model, task
and metric or rubric it is about, and the seconds since the run began::

    [  4.2s] scoring ft · qa: bertscore (20 outputs)

Off with ``--quiet`` (results and errors only). Lines go to stderr on a terminal and in CI logs alike.
"""

from __future__ import annotations

import time

import click


class StageLog:
    """Callable: ``log("text")`` prints ``[elapsed] text`` on stderr when enabled."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._t0 = time.perf_counter()

    def __call__(self, text: str) -> None:
        if self.enabled:
            click.echo(f"[{time.perf_counter() - self._t0:6.1f}s] {text}", err=True)

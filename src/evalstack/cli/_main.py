"""The ``evalstack`` group, its lazy command table, and ``main`` (errors -> one line and an exit code)."""

from __future__ import annotations

__all__ = ["cli", "main"]

import importlib
import logging
import os
import sys

import click

from ..errors import EvalstackError, redact

# name -> "module:attribute" of a click command; imported only when that command is invoked or listed
# by --help (short help is given here so that listing imports nothing).
_LAZY = {
    "run": ("evalstack.cli._run:run", "Run a config: generate, score, compare, gate, report."),
    "merge": ("evalstack.cli._merge:merge", "Merge the folders of a sharded run (run --shard I/N) into the run."),
    "compare": ("evalstack.cli._run:compare", "Delta report from saved runs (e.g. checkpoints on different days)."),
    "gate": ("evalstack.cli._run:gate", "Re-judge a saved run against gate rules."),
    "review": ("evalstack.report._cli:review", "Lowest-score and biggest-regression lists for data review."),
    "metrics": ("evalstack.metrics._cli:metrics_cmd", "List metrics with their options and direction."),
    "curves": ("evalstack.curves._cli:curves", "Loss-curve analysis of fine-tuning runs."),
    "judge": ("evalstack.judges._cli:judge", "LLM judges: validate a rubric against human labels."),
    "init": ("evalstack.cli._init:init", "Write a starter config for a held-out data file."),
    "view": ("evalstack.view._cli:view", "Review workbench: read, filter, compare and label examples in the browser."),
    "labels": ("evalstack.view._cli:labels", "Review labels: export them for judge validation or as cleaned data."),
    "history": ("evalstack.history._cli:history", "Metrics of indexed runs over time, with drift alarms."),
    "baseline": ("evalstack.baseline._cli:baseline", "Store a finished run's scores as a named baseline."),
    "cache": ("evalstack.cli._cache:cache", "Check, repair or merge response cache files (e.g. the shards' caches)."),
    "plan": ("evalstack.cli._plan:plan", "How many examples the gate's paired test needs to see a given drop."),
    "sweep": ("evalstack.sweep._cli:sweep", "Evaluate a fine-tuning run's checkpoints and pick one honestly."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(_LAZY))

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is not None or name not in _LAZY:
            return cmd
        path, _ = _LAZY[name]
        mod_name, attr = path.split(":")
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:  # a part not built yet, or an extra not installed
            if exc.name and exc.name.startswith("evalstack"):
                return None
            raise
        return getattr(mod, attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, _LAZY[name][1]) for name in sorted(_LAZY)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def shell_complete(self, ctx, incomplete):
        """Command names from the table (no command module is imported), then the group's options."""
        from click.shell_completion import CompletionItem

        items = [CompletionItem(name, help=_LAZY[name][1]) for name in sorted(_LAZY) if name.startswith(incomplete)]
        return items + click.Command.shell_complete(self, ctx, incomplete)


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


_LOG = logging.StreamHandler()
_LOG.addFilter(_Redact())
_LOG.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
_DEBUG = [False]


def _verbosity(ctx: click.Context, quiet: bool, verbose: int) -> None:
    """--quiet: every sub-command's own --quiet (no progress bars or stage lines; results and errors stay) is switched on.
    -v: INFO log lines (e.g. each HTTP request) on stderr; -vv: DEBUG, and tracebacks for internal errors.
    Log lines go through the same key redaction as error messages."""
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    if quiet:
        ctx.default_map = {name: {"quiet": True} for name in _LAZY}
    root = logging.getLogger()
    root.removeHandler(_LOG)
    _DEBUG[0] = verbose >= 2
    if verbose:
        _LOG.setStream(sys.stderr)
        root.addHandler(_LOG)
        root.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="evalstack")
@click.option("--quiet", "-q", is_flag=True, help="Only results and errors: no progress bars or stage lines.")
@click.option("--verbose", "-v", count=True, help="Log lines on stderr (-v: info, e.g. each request; -vv: debug).")
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: int) -> None:
    """evalstack: is the fine-tuned model better than the base model on your real tasks?

    \b
    Exit codes: 0 finished (gate passed or no gate), 1 gate failed,
                2 bad input (config, data, rubric, arguments), 3 run could not finish (use --resume).
    Shell completion (bash; zsh/fish alike): eval "$(_EVALSTACK_COMPLETE=bash_source evalstack)"
    NO_COLOR=1 turns colour off.
    """
    if os.environ.get("NO_COLOR"):
        ctx.color = False  # click strips styles even on a terminal; rich reads NO_COLOR itself
    _verbosity(ctx, quiet, verbose)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: runs the CLI and maps errors to exit codes without tracebacks.

    Everything printed (results, summaries, errors, log lines) goes through
    :class:`~evalstack._safetext.SafeStream`: control characters and bidi overrides from model or data text
    are shown as escapes (``\\x1b``), never sent to the terminal."""
    from .._safetext import SafeStream

    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(sys.stdout), SafeStream(sys.stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = streams


def _main(argv: list[str] | None) -> int:
    try:
        rv = cli.main(args=argv, prog_name="evalstack", standalone_mode=False)
    except EvalstackError as exc:
        click.echo(f"error: {exc}", err=True)
        for line in getattr(exc, "details", ()):  # e.g. one line per difference of two runs' digests
            click.echo(f"  {line}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.UsageError as exc:  # bad arguments: one line, like every other bad input
        cmd = exc.ctx.command_path if exc.ctx is not None else "evalstack"
        click.echo(f"error: {exc.format_message()} (see '{cmd} --help')", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:
        if os.environ.get("EVALSTACK_DEBUG") or _DEBUG[0]:
            raise
        click.echo(
            f"internal error: {type(exc).__name__}: {redact(str(exc))} "
            "(set EVALSTACK_DEBUG=1 for a traceback and please report it)",
            err=True,
        )
        return 4
    return rv if isinstance(rv, int) else 0

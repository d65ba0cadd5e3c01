"""The command line. Only this module parses arguments; nothing imports it.

Heavy libraries (datasets, torch, sklearn, evaluate...) are imported inside the commands, never at module
import: `evalstack --help` must stay well under half a second. Sub-command groups that live with their
concept (`curves`, `judge`) are loaded lazily by :class:`_LazyGroup` from ``"module:attribute"`` paths.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from .errors import EvalstackError, redact

# name -> "module:attribute" of a click command; imported only when that command is invoked or listed
# by --help (short help is given here so that listing imports nothing).
_LAZY = {
    "run": ("evalstack._cli_run:run", "Run a config: generate, score, compare, gate, report."),
    "compare": ("evalstack._cli_run:compare", "Delta report from saved runs (e.g. checkpoints on different days)."),
    "gate": ("evalstack._cli_run:gate", "Re-judge a saved run against gate rules."),
    "review": ("evalstack.report._cli:review", "Lowest-score and biggest-regression lists for data review."),
    "metrics": ("evalstack.metrics._cli:metrics_cmd", "List metrics with their options and direction."),
    "curves": ("evalstack.curves._cli:curves", "Loss-curve analysis of fine-tuning runs."),
    "judge": ("evalstack.judges._cli:judge", "LLM judges: validate a rubric against human labels."),
    "init": ("evalstack._cli_init:init", "Write a starter config for a held-out data file."),
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


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="evalstack")
def cli() -> None:
    """evalstack: is the fine-tuned model better than the base model on your real tasks?

    \b
    Exit codes: 0 finished (gate passed or no gate), 1 gate failed,
                2 bad input (config, data, rubric, arguments), 3 run could not finish (use --resume).
    """


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: runs the CLI and maps errors to exit codes without tracebacks."""
    try:
        rv = cli.main(args=argv, prog_name="evalstack", standalone_mode=False)
    except EvalstackError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, no traceback, no secrets
        if os.environ.get("EVALSTACK_DEBUG"):
            raise
        click.echo(f"internal error: {type(exc).__name__}: {redact(str(exc))} "
                   "(set EVALSTACK_DEBUG=1 for a traceback and please report it)", err=True)
        return 4
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``evalstack review RUN``: the lowest-scoring examples (or the biggest regressions) of a saved run."""

from __future__ import annotations

from pathlib import Path

import click

from ._format import fmt_num, one_line


def _text_rows(rows: list[dict], regressions: bool) -> str:
    """A readable listing for the terminal (full text goes to --format csv/jsonl)."""
    if not rows:
        return "no examples to list\n"
    lines = []
    for r in rows:
        if regressions:
            head = (
                f"{r['task']}/{r['metric']}  {r['model']} vs {r['baseline']}  #{r['rank']}  id={r['id']}  "
                f"{fmt_num(r['baseline_score'])} -> {fmt_num(r['model_score'])} ({fmt_num(r['delta'], signed=True)})"
            )
            body = [("input", r["input"]), (r["baseline"], r["baseline_output"]), (r["model"], r["model_output"])]
        else:
            head = f"{r['task']}/{r['metric']}  {r['model']}  #{r['rank']}  id={r['id']}  score {fmt_num(r['score'])}"
            body = [
                ("input", r["input"]),
                ("output", r["output"]),
                ("reference", r["reference"]),
                ("judge", r["judge_reason"]),
            ]
        lines.append(head)
        lines += [f"    {k}: {one_line(v, 160)}" for k, v in body if v not in (None, "")]
    return "\n".join(lines) + "\n"


@click.command("review")
@click.argument("run", type=click.Path(path_type=Path))
@click.option(
    "--worst", type=click.IntRange(min=1), default=20, show_default=True, help="Examples per metric and model."
)
@click.option("--metric", default=None, help="Only this metric: KEY or TASK/KEY (e.g. summaries/rougeL).")
@click.option("--model", default=None, help="Only this model.")
@click.option("--regressions", is_flag=True, help="List the examples where each model lost most vs the baseline.")
@click.option(
    "--baseline", default=None, help="With --regressions: compare against this model (default: the run's baseline)."
)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "jsonl"]), default="table", show_default=True)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write to this file instead of stdout."
)
@click.option(
    "--allow-unfinished", is_flag=True, help="Read a folder whose run did not finish (killed, or still running)."
)
def review(
    run: Path,
    worst: int,
    metric: str | None,
    model: str | None,
    regressions: bool,
    baseline: str | None,
    fmt: str,
    out: Path | None,
    allow_unfinished: bool,
) -> None:
    """Lowest-score and biggest-regression lists of a saved run, for data review."""
    from .._io import atomic_write_text
    from ..errors import ConfigError
    from ._review import LOWEST_COLUMNS, REGRESSION_COLUMNS, regression_rows, review_rows, rows_to_csv, rows_to_jsonl

    if baseline is not None and not regressions:
        raise ConfigError("--baseline only applies with --regressions", where="--baseline")
    if regressions:
        rows = regression_rows(
            run, worst=worst, baseline=baseline, metric=metric, model=model, allow_unfinished=allow_unfinished
        )
    else:
        rows = review_rows(run, worst=worst, metric=metric, model=model, allow_unfinished=allow_unfinished)
    if fmt == "csv":
        text = rows_to_csv(rows, REGRESSION_COLUMNS if regressions else LOWEST_COLUMNS)
    elif fmt == "jsonl":
        text = rows_to_jsonl(rows)
    else:
        text = _text_rows(rows, regressions)
    if out is not None:
        atomic_write_text(out, text)
        click.echo(f"wrote {len(rows)} rows to {out}", err=True)
    else:
        click.echo(text, nl=False)

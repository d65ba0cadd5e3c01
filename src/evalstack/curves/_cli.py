"""``evalstack curves``: analyze, fetch, hidden-tokens. Loaded lazily by the main CLI (attribute ``curves``).

Errors are raised as :class:`ConfigError` / :class:`DataError`; the main wrapper prints ``error: ...``
and exits 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import ConfigError


def _echo_json(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False))


def _mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        col, sep, src = pair.partition("=")
        if not sep or not col.strip() or not src.strip():
            raise ConfigError(f"--mapping expects COLUMN=SOURCE (e.g. train_loss=loss), got {pair!r}")
        out[col.strip()] = src.strip()
    return out


def _smoothing(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--smoothing expects 'auto' or a window size >= 1, got {text!r}") from None


@click.group("curves")
def curves() -> None:
    """Loss-curve analysis of fine-tuning runs: OpenAI/Azure results CSV, HF trainer_state.json, RFT metrics."""


def _emit(reports: list, *, as_json: bool, out: Path | None) -> None:
    from . import write_curve_outputs
    from ._text import format_text

    written = write_curve_outputs(reports, out) if out is not None else []
    if as_json:
        dicts = [r.to_dict() for r in reports]
        _echo_json(dicts[0] if len(dicts) == 1 else dicts)
        return
    for rep in reports:
        click.echo(format_text(rep))
    for p in written:
        click.echo(f"wrote {p}")


@curves.command("analyze")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--json", "as_json", is_flag=True, help="Print the analysis as JSON (one object, or a list for several files)."
)
@click.option("--out", type=click.Path(path_type=Path), help="Write DIR/curves/analysis.json and PNG plots.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["openai", "azure", "hf", "generic", "rft"]),
    help="Input format (default: detect).",
)
@click.option(
    "--mapping",
    multiple=True,
    metavar="COLUMN=SOURCE",
    help="Generic CSV: canonical column = your column (repeatable).",
)
@click.option(
    "--hidden-tokens",
    type=click.IntRange(min=0),
    help="n hidden tokens per example in the reported metrics (2 for GPT-4.1).",
)
@click.option(
    "--visible-tokens",
    type=click.FloatRange(min=0, min_open=True),
    help="v, mean visible tokens per example (needed to correct).",
)
@click.option("--n-epochs", type=click.IntRange(min=1), help="Epochs of the run (marks epoch boundaries).")
@click.option(
    "--smoothing", default="auto", show_default=True, help="Moving-average window for per-step values (1 = none)."
)
def analyze_cmd(files, as_json, out, fmt, mapping, hidden_tokens, visible_tokens, n_epochs, smoothing) -> None:
    """Analyse results CSV(s), trainer_state.json, events JSON or a folder written by `curves fetch`.

    \b
    JSON keys: best_step, best_valid_loss, final_valid_loss, overfit_ratio, overfit_band,
    overfit_warning, diagnoses [{id, severity, evidence, action, ...}], checkpoints, rft, hidden_tokens.
    """
    from . import analyze

    maps = _mapping(mapping)
    window = _smoothing(smoothing)
    reports = [
        analyze(
            f,
            format=fmt,
            mapping=maps or None,
            hidden_tokens=hidden_tokens,
            visible_tokens=visible_tokens,
            n_epochs=n_epochs,
            smoothing=window,
        )
        for f in files
    ]
    from ._write import dedupe_labels

    dedupe_labels(reports)
    _emit(reports, as_json=as_json, out=out)


@curves.command("fetch")
@click.argument("job_id")
@click.option("--out", type=click.Path(path_type=Path), help="Folder for the files (default: ./JOB_ID).")
@click.option("--json", "as_json", is_flag=True, help="Print {fetch, analysis} as JSON.")
def fetch_cmd(job_id, out, as_json) -> None:
    """Download a fine-tuning job's results CSV, checkpoints and events (OPENAI_API_KEY, OPENAI_BASE_URL),
    then print the analysis."""
    from . import analyze, fetch_job
    from ._fetch import client_from_env
    from ._text import format_text

    folder = out or Path(job_id)
    summary = fetch_job(job_id, client=client_from_env(), out_dir=folder)
    report = analyze(folder, label=job_id)
    if as_json:
        _echo_json({"fetch": summary, "analysis": report.to_dict()})
        return
    click.echo(
        f"fetched {summary['job_id']} ({summary['status']}, {summary['model']}): "
        f"{summary['n_checkpoints']} checkpoints, {summary['n_events']} events -> {folder}"
    )
    for p in summary["files"]:
        click.echo(f"wrote {p}")
    click.echo(format_text(report))


@curves.command("hidden-tokens")
@click.option(
    "--choices", type=click.IntRange(min=1), help="K: the model learned a uniform choice among K single-token answers."
)
@click.option(
    "--visible-tokens",
    type=click.FloatRange(min=1),
    default=1.0,
    show_default=True,
    help="v: visible tokens per example (the answer + e.g. an end token).",
)
@click.option(
    "--hidden-tokens", type=click.IntRange(min=0), default=None, help="n: hidden tokens per example [default: 2]."
)
@click.option(
    "--infer-from-min-accuracy",
    "floor",
    type=click.FloatRange(0, 1, max_open=True),
    help="Infer n from the accuracy floor A seen when the answer is wrong: A = (v-1+n)/(v+n).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="JSON with loss, visible_loss, answer_token_loss, min/max/mean_accuracy."
)
def hidden_tokens_cmd(choices, visible_tokens, hidden_tokens, floor, as_json) -> None:
    """Expected reported loss and token accuracy with n hidden tokens per example.

    \b
    reported loss     = ln K / (v + n)
    answer-token loss = ln K
    visible loss      = ln K / v                  mean per visible token
    min accuracy      = (v - 1 + n) / (v + n)     answer token wrong (1 when K = 1)
    max accuracy      = 1                         answer token right
    mean accuracy     = (1/K + v - 1 + n) / (v + n)
    e.g. --choices 4 (v=1, n=2): loss 0.4621, min 0.6667, max 1, mean 0.75
    """
    from ._hidden import hidden_token_expectation, hidden_tokens_exact, infer_hidden_tokens

    if choices is None and floor is None:
        raise ConfigError("give --choices K (expected loss/accuracy) or --infer-from-min-accuracy A (infer n)")
    out: dict[str, object] = {}
    n = 2 if hidden_tokens is None else hidden_tokens
    if floor is not None:
        inferred = infer_hidden_tokens(floor, visible_tokens=visible_tokens)
        if hidden_tokens is not None and hidden_tokens != inferred:
            raise ConfigError(
                f"--hidden-tokens {hidden_tokens} contradicts the accuracy floor {floor} "
                f"(which implies n={inferred}); give one of them"
            )
        n = inferred
        out.update(
            min_accuracy_observed=floor,
            inferred_hidden_tokens=inferred,
            inferred_exact=round(hidden_tokens_exact(floor, visible_tokens=visible_tokens), 6),
            visible_tokens=visible_tokens,
            hidden_tokens=inferred,
        )
    if choices is not None:
        out.update(hidden_token_expectation(choices, visible_tokens=visible_tokens, hidden_tokens=n))
    if as_json:
        _echo_json(out)
        return
    v = out.get("visible_tokens", visible_tokens)
    if floor is not None:
        click.echo(
            f"accuracy floor {floor} with v={v:g} visible token(s): n = 1/(1-A) - v = "
            f"{out['inferred_exact']:.4g} -> {out['inferred_hidden_tokens']} hidden tokens per example"
        )
    if choices is not None:
        click.echo(f"K={choices} choices, v={v:g} visible token(s), n={n} hidden tokens per example")
        click.echo(f"  answer-token loss: ln {choices} = {out['answer_token_loss']:.4f}")
        click.echo(f"  visible loss (mean per visible token): ln {choices} / {v:g} = {out['visible_loss']:.4f}")
        click.echo(f"  reported loss: ln {choices} / ({v:g}+{n}) = {out['loss']:.4f}")
        floor = "answer wrong" if choices > 1 else "one choice: the answer cannot be wrong"
        click.echo(
            f"  token accuracy: min {out['min_accuracy']:.4f} ({floor}), max {out['max_accuracy']:.4f} "
            f"(answer right), mean {out['mean_accuracy']:.4f}"
        )

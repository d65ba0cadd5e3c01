"""`evalstack init DATA_FILE`: look at a held-out file, guess the task, write a commented starter config.

No prompt is ever shown (CI-friendly): every guess can be overridden with a flag, and the columns and the
guesses are printed (``--json`` for machines). The config written loads with ``load_config`` as is.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click

from ..errors import ConfigError, DataError
from ._guess import Column, Guess, guess_task, profile
from ._template import render_config


def _describe(path: Path, n: int, cols: list[Column], g: Guess) -> str:
    rows = [("column", "type", "distinct", "avg chars", "example")]
    for c in cols:
        types = "|".join(t for t in c.types if t != "null") + ("?" if "null" in c.types else "")
        rows.append(
            (
                c.name,
                types,
                f"{c.distinct}" + (" (unique)" if c.distinct == n else ""),
                "" if c.mean_length is None else f"{c.mean_length:.0f}",
                c.example,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{path}: {n} rows, {len(cols)} columns"]
    lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    what = (
        (
            f"classification on '{g.target}' ({len(g.labels)} labels: {', '.join(g.labels[:8])}"
            + (", ..." if len(g.labels) > 8 else "")
            + ")"
        )
        if g.target
        else f"{g.kind} against '{g.reference}'"
    )
    lines.append(f"task: {what}; input: '{g.input}'; id: {repr(g.id) if g.id else 'content hash'}")
    lines += [f"note: {x}" for x in g.notes]
    return "\n".join(lines)


def _task_name(path: Path) -> str:
    stem = path.name.split(".")[0] if path.is_file() else path.name
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", stem).strip("-.") or "eval"


@click.command()
@click.argument("data_file", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "out",
    default="my-eval.yaml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file to write.",
)
@click.option("--label-column", help="Gold label column (classification).")
@click.option("--reference-column", help="Reference text column (generation / QA).")
@click.option("--input-column", help="Column the prompt shows the model.")
@click.option("--id-column", help="Column with unique example ids.")
@click.option("--split", help="Split of a saved HF DatasetDict folder.")
@click.option("--base-model", help="Base model id (openai) or recorded outputs file (replay).")
@click.option(
    "--finetuned-model", help="Fine-tuned model id, e.g. ft:gpt-4.1-mini:org::abc (openai), or outputs file (replay)."
)
@click.option("--provider", type=click.Choice(["openai", "replay"]), default="openai", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the columns and the guess as JSON.")
def init(
    data_file: Path,
    out: Path,
    label_column: str | None,
    reference_column: str | None,
    input_column: str | None,
    id_column: str | None,
    split: str | None,
    base_model: str | None,
    finetuned_model: str | None,
    provider: str,
    force: bool,
    as_json: bool,
) -> int:
    """Write a starter config for DATA_FILE (JSONL, JSON, CSV, Parquet or a saved HF dataset folder)."""
    from .._io import atomic_write_text
    from ..config import load_config
    from ..data import read_rows

    if out.exists() and not force:
        raise ConfigError(
            "the file exists; nothing was written",
            where=str(out),
            hint="use --force to overwrite, or --out another.yaml",
        )
    rows = [r for _, r in read_rows(data_file, split=split)]
    if not rows:
        raise DataError("the dataset is empty", where=str(data_file))
    cols = profile(rows)
    g = guess_task(cols, len(rows), label=label_column, reference=reference_column, input_=input_column, id_=id_column)
    folder = out.resolve().parent

    def rel(p: str | Path) -> str:
        """Relative to the config's folder (as the loader resolves it), absolute when they share only the root."""
        target = Path(p).resolve()
        if os.path.commonpath([target, folder]) == target.anchor:
            return target.as_posix()
        return Path(os.path.relpath(target, folder)).as_posix()

    if provider == "replay" and g.id is None:
        g.notes.append("replay files are keyed by example id: with content-hash ids, record outputs under those ids")
    text = render_config(
        g,
        name=_task_name(data_file),
        data=rel(data_file),
        split=split,
        provider=provider,
        base=base_model,
        tuned=finetuned_model,
        rel=rel,
    )
    atomic_write_text(out, text)
    load_config(out)  # what we wrote must load as is
    if as_json:
        click.echo(
            json.dumps(
                {
                    "data": str(data_file),
                    "rows": len(rows),
                    "columns": [c.to_dict() for c in cols],
                    "task": g.kind,
                    "input": g.input,
                    "id": g.id,
                    "target": g.target,
                    "labels": g.labels,
                    "reference": g.reference,
                    "notes": g.notes,
                    "config": str(out),
                },
                ensure_ascii=False,
            )
        )
    else:
        click.echo(_describe(data_file, len(rows), cols, g))
        click.echo(f"wrote {out}: check the prompt and the models, then run: evalstack run {out}")
    return 0

"""``evalstack judge correct RUN --labels FILE``: judge means corrected by human labels on a random subset.

The label file (JSONL, CSV or JSON) has one row per example and model a person scored: ``id``,
``human_score`` (a number on the rubric's scale, or pass/fail), ``model`` (optional when the task has one
model) and ``task`` (optional when the run has one judged task). For each model the run's judge scores of
the rubric are the predictions: the PPI++ estimate and CI of the mean (see ``stats._correct``) is printed
beside the naive judge mean, and for the paired delta (model - baseline) on examples both were scored on.
For pass/fail rubrics the Rogan-Gladen correction from the measured sensitivity and specificity is given
too. The labelled subset must be a random sample of the judged examples, or neither correction holds.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..errors import ConfigError, DataError

_PASS = {"pass": 1.0, "true": 1.0, "yes": 1.0, "fail": 0.0, "false": 0.0, "no": 0.0}


def _human(raw: Any, where: str) -> float:
    if isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, (int, float)) and np.isfinite(raw):
        return float(raw)
    text = str(raw).strip().lower()
    if text in _PASS:
        return _PASS[text]
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise DataError(f"human_score {raw!r} is not a number or pass/fail", where=where)
    return value


def read_human_scores(path: Path) -> list[tuple[str | None, str | None, str, float]]:
    """(task, model, id, human score) rows of a label file, checked; duplicates are refused."""
    from ..data import read_rows

    out: list[tuple[str | None, str | None, str, float]] = []
    seen: dict[tuple[str | None, str | None, str], int] = {}
    for line, row in read_rows(Path(path)):
        where = f"{path}:{line}"
        if "id" not in row or "human_score" not in row:
            raise DataError(
                f"a label row needs 'id' and 'human_score' (columns: {', '.join(sorted(row))})", where=where
            )
        for col in ("task", "model", "id"):
            value = row.get(col)
            if value is not None and not isinstance(value, (str, int)) or isinstance(value, bool):
                raise DataError(
                    f"'{col}' must be a string, got {type(value).__name__}",
                    where=where,
                    hint=f'write the {col} as text, e.g. "{col}": "..."',
                )
        key = (row.get("task"), row.get("model"), str(row["id"]))
        if key in seen:
            raise DataError(f"duplicate label for id {key[2]!r} (first on line {seen[key]})", where=where)
        seen[key] = line
        out.append((*key, _human(row["human_score"], where)))
    if not out:
        raise DataError("the label file is empty", where=str(path))
    return out


def correct_run(
    run_dir: Path, labels: Path, *, task: str | None = None, rubric: str | None = None, confidence: float = 0.95
) -> dict[str, Any]:
    """Naive and corrected estimates per model (and per paired delta) as a dict for printing or JSON."""
    from ..api import load
    from ..stats import ppi_mean, rogan_gladen

    ev = load(run_dir)
    rows = read_human_scores(labels)
    judged_tasks = {
        t
        for t, ts in ev.run.tasks.items()
        if any(k.startswith("judge_") for mts in ts.models.values() for k in mts.metrics)
    }
    task = task or (rows[0][0] if rows[0][0] else None)
    if task is None:
        if len(judged_tasks) != 1:
            raise ConfigError(
                f"--task is needed: judged tasks in {run_dir}: {', '.join(sorted(judged_tasks)) or 'none'}"
            )
        task = next(iter(judged_tasks))
    if task not in judged_tasks:
        raise ConfigError(
            f"--task {task!r} has no judge scores in {run_dir} (judged: {', '.join(sorted(judged_tasks)) or 'none'})"
        )
    judge: dict[str, dict[str, float]] = defaultdict(dict)
    keys: set[str] = set()
    for row in ev.examples():
        if row.task != task:
            continue
        for k, v in row.scores.items():
            if k.startswith("judge_"):
                keys.add(k)
                if (rubric is None or k == f"judge_{rubric}") and v is not None and np.isfinite(v):
                    judge[row.model][row.id] = float(v)
    if rubric is None:
        if len(keys) != 1:
            raise ConfigError(f"--rubric is needed: task {task!r} has {', '.join(sorted(keys))}")
        rubric = next(iter(keys))[len("judge_") :]
    elif f"judge_{rubric}" not in keys:
        raise ConfigError(f"--rubric {rubric!r}: task {task!r} has {', '.join(sorted(keys))}")
    models = list(ev.run.tasks[task].models)
    human: dict[str, dict[str, float]] = defaultdict(dict)
    for t, m, ex_id, h in rows:
        if t is not None and t != task:
            continue
        if m is None:
            if len(models) != 1:
                raise DataError(
                    f"label rows need a 'model' column: task {task!r} has models {', '.join(models)}", where=str(labels)
                )
            m = models[0]
        if m not in models:
            raise DataError(f"unknown model {m!r} (models: {', '.join(models)})", where=str(labels))
        if ex_id not in judge[m]:
            raise DataError(
                f"id {ex_id!r} has no {rubric} judge score for {m} in {run_dir}",
                where=str(labels),
                hint="labels must be for examples the judge scored",
            )
        human[m][ex_id] = h

    def estimate(y: np.ndarray, yh: np.ndarray, yu: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n_labelled": int(y.size),
            "n_unlabelled": int(yu.size),
            "naive": float(np.concatenate([yh, yu]).mean()),
        }
        if y.size >= 2 and yu.size >= 1:
            est, lo, hi, lam = ppi_mean(y, yh, yu, confidence=confidence)
            out["ppi"] = {"estimate": est, "ci": [lo, hi], "lambda": lam}
        binary = np.isin(y, (0.0, 1.0)).all() and np.isin(np.concatenate([yh, yu]), (0.0, 1.0)).all()
        pos, neg = y == 1, y == 0
        if binary and pos.any() and neg.any():
            se, sp = float(yh[pos].mean()), float(1 - yh[neg].mean())
            q = float(np.concatenate([yh, yu]).mean())
            try:
                est, lo, hi = rogan_gladen(
                    q, y.size + yu.size, se, int(pos.sum()), sp, int(neg.sum()), confidence=confidence
                )
                out["rogan_gladen"] = {"estimate": est, "ci": [lo, hi], "sensitivity": se, "specificity": sp}
            except ValueError as exc:
                out["rogan_gladen"] = {"error": str(exc)}
        return out

    def split(scores: dict[str, float], labelled: dict[str, float]) -> tuple[np.ndarray, ...]:
        ids = [i for i in scores if i in labelled]
        rest = [i for i in scores if i not in labelled]
        return (
            np.array([labelled[i] for i in ids]),
            np.array([scores[i] for i in ids]),
            np.array([scores[i] for i in rest]),
        )

    base = ev.run.baseline
    result: dict[str, Any] = {
        "task": task,
        "rubric": rubric,
        "confidence": confidence,
        "baseline": base,
        "models": {},
        "deltas": {},
    }
    for m in models:
        if human[m]:
            result["models"][m] = estimate(*split(judge[m], human[m]))
    for m in models:
        if m == base:
            continue
        both = [i for i in judge[m] if i in judge[base]]
        diff = {i: judge[m][i] - judge[base][i] for i in both}
        hdiff = {i: human[m][i] - human[base][i] for i in both if i in human[m] and i in human[base]}
        if hdiff:
            result["deltas"][m] = estimate(*split(diff, hdiff))
    if not result["models"]:
        raise DataError(f"no label row matches task {task!r}", where=str(labels))
    return result


def _fmt(est: dict[str, Any] | None) -> str:
    if not est or "estimate" not in est:
        return (est or {}).get("error", "-")
    return f"{est['estimate']:.3f} [{est['ci'][0]:.3f}, {est['ci'][1]:.3f}]"


@click.command("correct")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--labels",
    "labels",
    type=click.Path(path_type=Path),
    required=True,
    help="Human scores of a random subset: id, human_score, [model], [task].",
)
@click.option("--task", help="The judged task (default: the only one, or the label file's).")
@click.option("--rubric", help="The rubric (default: the task's only judge).")
@click.option("--confidence", type=float, default=0.95, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def correct(
    run_dir: Path, labels: Path, task: str | None, rubric: str | None, confidence: float, as_json: bool
) -> None:
    """Judge means corrected by human labels (PPI++; Rogan-Gladen for pass/fail), beside the naive mean."""
    if not 0 < confidence < 1:
        raise ConfigError(f"--confidence must lie strictly between 0 and 1, got {confidence:g}")
    res = correct_run(run_dir, labels, task=task, rubric=rubric, confidence=confidence)
    if as_json:
        click.echo(json.dumps(res, indent=2))
        return
    click.echo(
        f"{res['task']}/judge_{res['rubric']}: judge scores corrected by human labels "
        f"({res['confidence']:.0%} CIs; the labelled examples must be a random subset)"
    )
    click.echo(f"  {'':<22} {'labelled':>8} {'naive judge':>12}  {'PPI++':<26} {'Rogan-Gladen':<26}")
    for is_delta, group in ((False, res["models"]), (True, res["deltas"])):
        for m, e in group.items():
            name = f"{m} - {res['baseline']}" if is_delta else m
            click.echo(
                f"  {name:<22} {e['n_labelled']:>8} {e['naive']:>12.3f}  {_fmt(e.get('ppi')):<26} "
                f"{_fmt(e.get('rogan_gladen')) if 'rogan_gladen' in e else '-':<26}"
            )

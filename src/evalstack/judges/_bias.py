"""``evalstack judge bias RUN``: length bias of a pairwise judge and the length-controlled win rate.

For each pairwise rubric of a task (per-example score ``pairwise_<rubric>``: 1 model preferred, 0.5 tie,
0 baseline preferred), the length difference in words (model - baseline) of the two outputs comes from
examples.jsonl; ``stats._lengthbias`` fits the judge's preference against it. Printed beside the raw win
rate and the position bias that run.json already holds.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError, DataError


def pairwise_bias(run: Path, *, task: str | None = None, rubric: str | None = None) -> list[dict[str, Any]]:
    """One dict per (task, model, rubric) with the raw and length-controlled win rates and the length slope."""
    from ..stats import length_bias

    meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    baseline = meta.get("baseline")
    outputs: dict[tuple[str, str, str], str] = {}
    scores: dict[tuple[str, str, str], dict[str, float]] = {}
    with open(run / "examples.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if task is not None and r.get("task") != task:
                continue
            outputs[(r["task"], r["model"], r["id"])] = r.get("output") or ""
            for k, v in (r.get("scores") or {}).items():
                if k.startswith("pairwise_") and (rubric is None or k == f"pairwise_{rubric}") and v is not None:
                    scores.setdefault((r["task"], r["model"], k), {})[r["id"]] = float(v)
    if not scores:
        where = f"task {task!r}" if task else "the run"
        raise ConfigError(
            f"{where} has no pairwise judge scores" + (f" for rubric {rubric!r}" if rubric else ""),
            where=str(run),
            hint="pairwise rubrics (e.g. preference) write pairwise_<rubric> scores",
        )
    out = []
    for (t, model, key), per_id in sorted(scores.items()):
        ids = [i for i in per_id if (t, baseline, i) in outputs]
        diffs = [len(outputs[(t, model, i)].split()) - len(outputs[(t, baseline, i)].split()) for i in ids]
        try:
            lb = length_bias([per_id[i] for i in ids], diffs)
        except ValueError as exc:
            raise DataError(f"{t}/{key} ({model}): {exc}", where=str(run)) from None
        pos = ((meta.get("tasks") or {}).get(t) or {}).get("pairwise") or {}
        fields = {k: _finite(v) for k, v in asdict(lb).items()}  # JSON has no NaN or Infinity: null instead
        out.append(
            {
                "task": t,
                "model": model,
                "baseline": baseline,
                "rubric": key[len("pairwise_") :],
                **fields,
                "position_bias": _position_bias(pos, model, key[len("pairwise_") :]),
            }
        )
    return out


def _finite(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, tuple):
        return [_finite(x) for x in v]
    return v


def _position_bias(pairwise: Any, model: str, rubric: str) -> float | None:
    """run.json's tasks[t].pairwise[rubric][model].position_bias_rate, if there."""
    summary = ((pairwise or {}).get(rubric) or {}).get(model) if isinstance(pairwise, dict) else None
    return summary.get("position_bias_rate") if isinstance(summary, dict) else None


@click.command("bias")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--task", help="Only this task.")
@click.option("--rubric", help="Only this pairwise rubric.")
@click.option("--json", "as_json", is_flag=True)
def bias(run_dir: Path, task: str | None, rubric: str | None, as_json: bool) -> None:
    """Length bias of pairwise judges and the length-controlled win rate (AlpacaEval 2.0's regression)."""
    if not (run_dir / "examples.jsonl").is_file():
        raise ConfigError("not a run folder (no examples.jsonl)", where=str(run_dir))
    rows = pairwise_bias(run_dir, task=task, rubric=rubric)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        if r["separated"]:
            click.echo(
                f"{r['task']}/{r['rubric']}: {r['model']} vs {r['baseline']}, n={r['n']}: win rate {r['win_rate']:.3f}; "
                "length decides every verdict (complete separation): no length-controlled rate can be fitted"
            )
            continue
        lo, hi = r["lc_ci"]
        slo, shi = r["slope_ci"]
        click.echo(
            f"{r['task']}/{r['rubric']}: {r['model']} vs {r['baseline']}, n={r['n']}: win rate {r['win_rate']:.3f}; "
            f"length-controlled {r['lc_win_rate']:.3f} [{lo:.3f}, {hi:.3f}]; length slope {r['slope']:+.3f} "
            f"[{slo:+.3f}, {shi:+.3f}] (mean length difference {r['mean_length_difference']:+.1f} words)"
            + (f"; position bias {r['position_bias']:.3f}" if r.get("position_bias") is not None else "")
        )

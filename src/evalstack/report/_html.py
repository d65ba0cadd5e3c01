"""report.html: one self-contained file (inline CSS, plots as data: URIs, no script, strict CSP).

Rendered with Jinja2 with autoescape on, so every piece of model and data text is HTML-escaped.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..results import RunResult
from ._format import one_line
from ._runinfo import model_order
from ._verdict import verdict
from ._view import (
    counts_line,
    deltas_table,
    gate_table,
    group_rows,
    incomplete_lines,
    lowest_table,
    metrics_table,
    pairwise_table,
    regressions_table,
    slices_table,
)
from ._view_across import (
    checkpoint_curve_table,
    checkpoint_tables,
    curve_notes,
    curve_summary_table,
    diagnoses_table,
    usage_tables,
)

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
"""The Content-Security-Policy of report.html (also in the template's meta tag)."""


@dataclass
class _Img:
    title: str
    uri: str


def _img(plot: Any) -> _Img:
    return _Img(plot.title, "data:image/png;base64," + base64.b64encode(plot.png).decode("ascii"))


def _anchor(name: str, used: set[str]) -> str:
    base = "task-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "x")
    a, i = base, 2
    while a in used:
        a, i = f"{base}-{i}", i + 1
    used.add(a)
    return a


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("evalstack.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html_report(
    run: RunResult,
    *,
    plots: Sequence[Any] = (),
    lowest: list[dict[str, Any]] | None = None,
    lowest_skipped: Sequence[tuple[str, str]] = (),
    regressions: list[dict[str, Any]] | None = None,
    failure_modes: list[Any] | None = None,
    top: int = 3,
) -> str:
    """report.html from a run, its plots (:class:`~evalstack.report._plots.Plot`), review rows and new
    failure modes (:class:`~evalstack.report._worse.FailureMode`).

    ``lowest``/``regressions``/``failure_modes`` of None mean examples.jsonl was not there (the page says so);
    ``lowest_skipped``: (task/metric: model, why) of the lowest-score lists left out as saying nothing.
    """
    from .._cleaned import cleaned_lines
    from ._cost import cost_line, cost_table
    from ._mde import mde_lines
    from ._trust import corrected_table
    from ._worse import failure_mode_table, worse_deltas_table

    v = verdict(run)
    by_kind: dict[str, list[Any]] = {}
    for p in plots:
        by_kind.setdefault(p.kind, []).append(p)
    used: set[str] = set()
    tasks: list[dict[str, Any]] = []
    for name in run.tasks:  # config order
        t = run.tasks[name]
        tasks.append(
            {
                "name": name,
                "anchor": _anchor(name, used),
                "counts": counts_line(run, t),
                "metrics": metrics_table(run, t),
                "deltas": deltas_table(run, t),
                "slices": slices_table(run, t),
                "pairwise": pairwise_table(run, t),
                "corrected": corrected_table(run, t),
                "cleaned": cleaned_lines(run.settings or {}, name),
                "confusion": [_img(p) for p in by_kind.get("confusion", []) if p.task == name],
                "hists": [_img(p) for p in by_kind.get("histogram", []) if p.task == name],
            }
        )
    judge_usage, model_usage = usage_tables(run)
    s = run.settings or {}
    forest = by_kind.get("forest", [])
    others = [m for m in model_order(run) if m != run.baseline]
    nav = ([("gate", "Gate")] if run.gate and run.gate.rules else []) + (
        [("worse", "What got worse")] if others else []
    )
    nav += [("deltas", "Deltas")] if forest else []
    nav += [(t["anchor"], f"Task {t['name']}") for t in tasks]
    checkpoints = checkpoint_tables(run)
    nav += [("checkpoints", "Checkpoints")] if checkpoints or run.checkpoints else []
    nav += [("usage", "Tokens")] + ([("curves", "Loss curves")] if run.curves else [])
    nav += [("regressions", "Regressions")] if regressions else []
    nav += [("lowest", "Lowest scores")] if lowest or lowest_skipped else []
    ctx = {
        "run": run,
        "verdict": v,
        "failed_rules": incomplete_lines(run) if v.status == "incomplete" else v.failed,
        "gate": gate_table(run.gate),
        "mde": [x.text() for x in mde_lines(run)],
        "cost_line": cost_line(run),
        "cost": cost_table(run),
        "curve_notes": curve_notes(run),
        "others": others or ["none"],
        "show_worse": bool(others),
        "failure_modes": None
        if failure_modes is None
        else [  # model text shown with control characters visible
            (dataclasses.replace(m, output=one_line(m.output, 200)), failure_mode_table(m)) for m in failure_modes
        ],
        "worse_deltas": worse_deltas_table(run),
        "top_losses": _top_losses(run, regressions, top),
        "stats": ", ".join(
            f"{k} {s[k]}" for k in ("confidence", "n_resamples", "seed", "limit") if s.get(k) is not None
        ),
        "nav": nav,
        "forest": _img(forest[0]) if forest else None,
        "tasks": tasks,
        "checkpoints": checkpoints,
        "checkpoint_rows": checkpoint_curve_table(run),
        "judge_usage": judge_usage,
        "model_usage": model_usage,
        "curves": curve_summary_table(run.curves) if run.curves else None,
        "diagnoses": diagnoses_table(run.curves),
        "curve_plots": [_img(p) for p in by_kind.get("curve", [])],
        "examples_note": "" if lowest is not None else "examples.jsonl was not found: no per-example lists.",
        "regressions": [
            (f"{t}/{k}: {m} vs {b} ({_n(len(rows), 'example')})", regressions_table(rows))
            for (t, k, m, b), rows in group_rows(regressions or [], "task", "metric", "model", "baseline")
        ],
        "lowest_skipped": list(lowest_skipped),
        "lowest": [
            (
                f"{t}/{k}: {m} ({len(rows)} lowest{'' if rows[0]['higher_is_better'] else ', lower is better: highest values'})",
                lowest_table(rows),
            )
            for (t, k, m), rows in group_rows(lowest or [], "task", "metric", "model")
        ],
    }
    return _environment().get_template("report.html.j2").render(**ctx)


def _top_losses(run: RunResult, rows: list[dict[str, Any]] | None, top: int) -> list[tuple[str, Any]]:
    """Per task (config order) and model: the ``top`` examples that lost most on the task's headline metric."""
    from ._runinfo import headline_key, is_per_example, task_metric_keys

    out: list[tuple[str, Any]] = []
    for task in run.tasks if rows is not None else []:
        mine = [r for r in rows or () if r["task"] == task]
        per_example = [k for k in task_metric_keys(run, task) if is_per_example(run, task, k)]
        key = headline_key(run, task, per_example or sorted({r["metric"] for r in mine}))
        for m in [m for m in model_order(run) if m != run.baseline and m in run.tasks[task].models] if key else []:
            pick = [r for r in mine if r["model"] == m and r["metric"] == key][:top]
            out.append((f"{task}/{key}: {m} vs {run.baseline}", regressions_table(pick) if pick else None))
    return out


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_html(run: RunResult, run_dir: str | Path | None = None, *, worst: int = 20) -> str:
    """report.html for ``run``: with plots, and with review lists when ``run_dir`` holds examples.jsonl."""
    from ._write import collect

    return render_html_data(run, collect(run, run_dir, worst=worst))


def render_html_data(run: RunResult, data: Any) -> str:
    """report.html from ``run`` and what :func:`~evalstack.report._write.collect` gathered for it."""
    return render_html_report(
        run,
        plots=data.plots,
        lowest=data.lowest_shown,
        lowest_skipped=data.lowest_skipped,
        regressions=data.regressions,
        failure_modes=data.failure_modes,
    )

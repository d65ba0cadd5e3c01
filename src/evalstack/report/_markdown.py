"""report.md: the verdict first, then per task metrics and deltas; also a GitHub Actions step summary."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..results import RunResult
from ._format import one_line
from ._runinfo import headline_key, is_per_example, model_order, task_metric_keys
from ._verdict import verdict
from ._view import (
    Cell,
    Table,
    counts_line,
    deltas_table,
    gate_table,
    incomplete_lines,
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

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")
_EMOJI = {"pass": "✅", "fail": "❌", "none": "ℹ️", "good": "✅", "bad": "❌", "warn": "⚠️", "incomplete": "🚧"}


def md_escape(text: str) -> str:
    """Text safe inside Markdown (and a table cell): HTML characters as entities, Markdown marks escaped."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


# what GitHub would turn into a link by itself: scheme URLs, www. names, e-mail addresses
_AUTOLINK = re.compile(r"(?i)(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>`|\\]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def md_text(text: str) -> str:
    """Like :func:`md_escape`, and a bare URL from model/data text becomes inline code, never a live link."""
    out, pos = [], 0
    for m in _AUTOLINK.finditer(text):
        out += [md_escape(text[pos : m.start()]), f"`{m.group(0)}`"]
        pos = m.end()
    out.append(md_escape(text[pos:]))
    return "".join(out)


def md_cell(cell: Cell, *, limit: int = 120) -> str:
    """One table cell: one line, cut to ``limit`` characters when it holds model/data text."""
    text = md_text(one_line(cell.text, limit if cell.long else None))
    if cell.strong and text:
        text = f"**{text}**"
    if cell.badge and cell.tone in _EMOJI:
        text = f"{_EMOJI[cell.tone]} {text}"
    return text


def md_table(t: Table, *, limit: int = 120) -> str:
    """A GitHub-flavoured Markdown table (numeric columns right-aligned)."""
    if not t.headers:
        return ""
    numeric = t.numeric or [False] * len(t.headers)
    lines = [
        "| " + " | ".join(md_escape(h) for h in t.headers) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(md_cell(c, limit=limit) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def _code(text: str) -> str:
    """Inline code for a name (backticks inside are dropped)."""
    return f"`{text.replace('`', '')}`"


def render_markdown(
    run: RunResult,
    run_dir: str | Path | None = None,
    *,
    regressions: list[dict[str, Any]] | None = None,
    top: int = 3,
    failure_modes: list[Any] | None = None,
) -> str:
    """report.md (and a GitHub Actions step summary): the gate verdict first, then what got worse (new
    failure modes, significantly worse metrics, the biggest per-example losses), then per task the metric x
    model table with CIs, the deltas vs the baseline, per-slice deltas, the checkpoint table, judge token
    usage and the loss-curve section.

    Regressions and failure modes come from ``regressions`` (rows as :func:`regression_rows` returns) and
    ``failure_modes`` or, when ``run_dir`` holds examples.jsonl, are read from it (``top`` per task and
    model, on the task's headline metric: the first gated per-example metric, else the first per-example
    metric by name).
    """
    if regressions is None and run_dir is not None:
        regressions, failure_modes = _regressions_from(run_dir, run, top)
    out: list[str] = [f"# evalstack report: {md_escape(run.name)}", ""]
    out += _verdict_section(run)
    out += _worse_section(run, regressions, failure_modes, top)
    out += [_run_line(run), ""]
    for name in run.tasks:  # config order
        out += _task_section(run, name)
    out += _checkpoint_section(run)
    out += _usage_section(run)
    from ._history import history_section

    out += history_section(run)  # the gated metrics over earlier comparable runs in the run store
    if run.curves:
        out += _curves_markdown(run.curves)
    return "\n".join(out).rstrip() + "\n"


def _verdict_section(run: RunResult) -> list[str]:
    v = verdict(run)
    out = [f"> {_EMOJI[v.status]} **{md_escape(v.headline)}**", ""]
    if v.status == "incomplete":
        *facts, finish = incomplete_lines(run)
        out += [f"- {md_escape(x)}" for x in facts]
        out += ["", f"Finish it with: `{finish.split(': ', 1)[1].replace('`', '')}`", ""]
    elif v.status == "warn":
        out += ["Inconclusive rules (too few examples to settle them; the table says what each compared):", ""]
        out += [
            f"- {md_escape(r.rule)}: {md_escape(one_line(r.message))}"
            for r in (run.gate.rules if run.gate else [])
            if r.outcome == "inconclusive"
        ]
        out.append("")
    elif v.failed:
        out += ["Failed rules:", ""]
        out += [
            f"- {md_escape(r.rule)}{' [' + md_escape(r.model) + ']' if r.model else ''}: {md_text(one_line(r.message))}"
            for r in (run.gate.rules if run.gate else [])
            if not r.passed
        ]
        out.append("")
    if run.gate and run.gate.rules:
        out += [md_table(gate_table(run.gate)), ""]
        out += _mde_section(run)
    out += _curve_notes(run)
    return out


def _mde_section(run: RunResult) -> list[str]:
    """Under the gate table: the smallest drop each gated comparison could see (issue 22)."""
    from ._mde import mde_lines

    lines = mde_lines(run)
    return ["What this gate can see:", "", *[f"- {md_escape(x.text())}" for x in lines], ""] if lines else []


def _curve_notes(run: RunResult) -> list[str]:
    """Next to the verdict: what the loss curve says about the evaluated checkpoints (ship the right one)."""
    notes = curve_notes(run)
    return ["**Loss curve:**", "", *[f"- {md_escape(n)}" for n in notes], ""] if notes else []


def _run_line(run: RunResult) -> str:
    s = run.settings or {}
    stats = ", ".join(f"{k} {s[k]}" for k in ("confidence", "n_resamples", "seed", "limit") if s.get(k) is not None)
    others = [m for m in model_order(run) if m != run.baseline]
    return (
        f"Run {md_escape(run.created_at)} · evalstack {md_escape(run.evalstack_version)} · baseline "
        f"{_code(run.baseline)} · models: {', '.join(_code(m) for m in others) or 'none'}"
        + (f" · {md_escape(stats)}" if stats else "")
        + f" · config sha256 {_code(run.config_digest[:12])}"
    )


def _cleaned_md(run: RunResult, name: str) -> list[str]:
    """A task on a cleaned set: how many rows the cleaning changed, and which (issue 18)."""
    from .._cleaned import cleaned_lines

    head, *rows = cleaned_lines(run.settings or {}, name) or [""]
    return [md_escape(head), "", *[f"- {md_escape(r)}" for r in rows], ""] if head else []


def _task_section(run: RunResult, name: str) -> list[str]:
    task = run.tasks[name]
    out = [
        f"## Task {_code(name)}",
        "",
        md_escape(counts_line(run, task)),
        "",
        *_cleaned_md(run, name),
        "### Metrics",
        "",
        md_table(metrics_table(run, task)),
        "",
    ]
    deltas = deltas_table(run, task)
    if deltas:
        out += [
            f"### Deltas vs {_code(run.baseline)} (model − baseline; ▲/▼ is the sign, the verdict says good or bad)",
            "",
            md_table(deltas),
            "",
        ]
    slices = slices_table(run, task)
    if slices:
        out += ["### Per-slice deltas", "", md_table(slices), ""]
    from ._trust import corrected_table

    corrected = corrected_table(run, task)
    if corrected.rows:
        out += [
            "### Judge scores corrected by human labels (PPI++ on a random labelled subset; the naive judge mean beside it)",
            "",
            md_table(corrected),
            "",
        ]
    pairwise = pairwise_table(run, task)
    if pairwise:
        out += [
            "### Pairwise judges (each pair judged in both orders; an inconsistent verdict is a tie)",
            "",
            md_table(pairwise),
            "",
        ]
    return out


def _checkpoint_section(run: RunResult) -> list[str]:
    tables = checkpoint_tables(run)
    out: list[str] = []
    if tables:
        out += [
            "## Checkpoints",
            "",
            "Scores per task, a column per metric; best value per column in bold (direction-aware).",
            "",
        ]
        for i, (task, t) in enumerate(tables):
            more = " (continued)" if i and tables[i - 1][0] == task else ""
            out += [f"Task {_code(task)}{more}:", "", md_table(t), ""]
    if run.checkpoints:
        out += ["### Checkpoints and the loss curve", "", md_table(checkpoint_curve_table(run)), ""]
    return out


def _usage_section(run: RunResult) -> list[str]:
    judges, models = usage_tables(run)
    out = ["## Token usage", ""]
    if judges:
        out += ["Per judge (all tasks and models):", "", md_table(judges), ""]
    out += ["Per model (generation, and the judging of its outputs):", "", md_table(models), ""]
    from ._cost import cost_line, cost_table

    if run.cost:
        out += ["## Cost", "", md_escape(cost_line(run)), "", md_table(cost_table(run)), ""]
    return out


def _worse_section(run: RunResult, rows: list[dict[str, Any]] | None, modes: list[Any] | None, top: int) -> list[str]:
    """What got worse, right under the gate: new failure modes, significantly worse deltas, and per task
    and model the examples that lost most on the task's headline metric."""
    from ._worse import failure_mode_table, worse_deltas_table

    if not [m for m in model_order(run) if m != run.baseline]:
        return []
    out = [f"## What got worse vs {_code(run.baseline)}", ""]
    if modes is not None:
        out += ["### New failure modes", ""]
        if not modes:
            out += [
                "None: no model repeats an output across unrelated inputs (or answers a label of another task) "
                f"more than {_code(run.baseline)} does.",
                "",
            ]
        for i, m in enumerate(modes, 1):
            out += [
                f"{i}. ❌ **{_code(m.task)}: {_code(m.model)} answers {_code(one_line(m.output, 80))} on "
                f"{m.count} example{'s' if m.count != 1 else ''}** ({m.wrong} with another reference; "
                f"{_code(m.baseline)}: {m.baseline_count}): {md_escape(m.why())}.",
                "",
            ]
            out += [md_table(failure_mode_table(m), limit=80), ""]
    worse = worse_deltas_table(run)
    out += [
        "### Significantly worse metrics",
        "",
        md_table(worse) if worse else "None: no delta is significantly worse than the baseline.",
        "",
    ]
    if rows is None:
        return out
    out += ["### Largest per-example losses", ""]
    for task in run.tasks:
        mine = [r for r in rows if r["task"] == task]
        per_example = [k for k in task_metric_keys(run, task) if is_per_example(run, task, k)]
        key = headline_key(run, task, per_example or sorted({r["metric"] for r in mine}))
        if key is None:
            continue
        for m in [m for m in model_order(run) if m != run.baseline and m in run.tasks[task].models]:
            pick = [r for r in mine if r["model"] == m and r["metric"] == key][:top]
            out += [f"#### {_code(f'{task}/{key}')}: {_code(m)} vs {_code(run.baseline)}", ""]
            out += [
                md_table(regressions_table(pick), limit=80)
                if pick
                else f"No example scored worse than {_code(run.baseline)}.",
                "",
            ]
    out += ["All metrics and more examples: `review/regressions.csv`, `review/lowest.csv`.", ""]
    return out


def _curves_markdown(curves: list[dict[str, Any]]) -> list[str]:
    """The loss-curve section: ``evalstack.curves.curves_markdown`` where it takes run.json's curve dicts,
    else a compact one of our own from the dict keys (best_step, best/final valid loss, overfit ratio and
    band, diagnoses with id, severity, evidence and action)."""
    try:
        from ..curves import curves_markdown
    except ImportError:
        curves_markdown = None  # type: ignore[assignment]  # the function or None
    if curves_markdown is not None:
        try:
            text = curves_markdown(curves)
        except (AttributeError, TypeError, KeyError):
            text = None  # an older curves_markdown that takes CurveReport objects only
        if text is not None:  # no raw "<": labels and paths cannot inject HTML (">" stays: blockquotes)
            return [text.replace("&", "&amp;").replace("<", "&lt;").strip(), ""]
    diag = diagnoses_table(curves)
    return [
        "## Loss curves",
        "",
        md_table(curve_summary_table(curves)),
        "",
        md_table(diag, limit=200) if diag else "No diagnosis: the curves look healthy.",
        "",
    ]


def _regressions_from(
    run_dir: str | Path, run: RunResult, top: int
) -> tuple[list[dict[str, Any]] | None, list[Any] | None]:
    from ._review import fill_regression_texts, has_examples, scan_examples
    from ._worse import fill_failure_examples, find_failure_modes

    if not has_examples(run_dir):
        return None, None
    scan = scan_examples(run_dir, run, worst=0)
    return (
        fill_regression_texts(run_dir, scan.regression_candidates(run.baseline, worst=top)),
        fill_failure_examples(run_dir, find_failure_modes(run, scan.outputs)),
    )

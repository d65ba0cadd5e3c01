"""The report's content as plain tables, built once and rendered by both Markdown and HTML.

Every builder takes records (RunResult parts, review rows) and returns a :class:`Table` of already
formatted cells, so the two formats cannot disagree on a number, an arrow or a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._safetext import cap, visible
from ..results import GateDecision, RunResult, TaskSummary
from ._format import (
    arrow,
    as_text,
    counted,
    fmt_ci,
    fmt_int,
    fmt_num,
    fmt_p,
    metric_label,
    one_line,
    verdict_tone,
    verdict_words,
)
from ._runinfo import model_order, task_metric_keys
from ._toolsummary import tool_counts_text


@dataclass
class Cell:
    """One formatted table cell: ``tone`` is good/bad/muted (colour in HTML, emoji in Markdown)."""

    text: str
    strong: bool = False
    tone: str = ""
    long: bool = False  # model/data text: wraps in HTML, is cut short in Markdown
    badge: bool = False  # a verdict: Markdown prefixes an emoji for good/bad

    def __post_init__(self) -> None:
        # model/data text: at most SHOW_CHARS characters; control characters and bidi overrides as escapes
        self.text = visible(cap(self.text) if self.long else self.text)


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    numeric: list[bool] = field(default_factory=list)  # right-align these columns

    def __bool__(self) -> bool:
        return bool(self.rows)


def _c(text: Any, **kw: Any) -> Cell:
    return Cell(text if isinstance(text, str) else as_text(text), **kw)


# ---------------------------------------------------------------- verdict and gate


@dataclass
class Verdict:
    status: str  # "pass", "fail" or "none"
    headline: str
    failed: list[str] = field(default_factory=list)


def verdict(run: RunResult) -> Verdict:
    """The first thing a reader sees: incomplete run / gate passed (with warnings) / failed (which rules) / no gate."""
    gate = run.gate
    incomplete = run_failures(run)
    if incomplete:
        total = sum(f["failed"] for f in incomplete)
        judged = "" if gate is None else "; the gate was not judged"
        return Verdict(
            "incomplete",
            f"INCOMPLETE: {counted(total, 'item')} failed after retries{judged}. Finish the run with --resume.",
        )
    shard = run.settings.get("shard")
    if gate is None and isinstance(shard, dict):  # a shard is not a verdict (`evalstack merge` gives one)
        return Verdict("none", f"shard {shard.get('index')} of {shard.get('of')} — merge to get the verdict.")
    if gate is None:
        return Verdict("none", "No gate configured: the run finished; read the deltas below.")
    failed = [_rule_name(r) for r in gate.rules if not r.passed]
    n = len(gate.rules)
    conf = f"confidence {gate.confidence:g}{', Holm-corrected' if gate.holm else ''}"
    if gate.source:
        conf += f"; rules: {gate.source}"
    unsure = [r for r in gate.rules if r.passed and r.outcome == "inconclusive"]
    if gate.passed and unsure:
        k = len(unsure)
        return Verdict(
            "warn",
            f"Gate PASSED with {k} inconclusive rule{'s' if k != 1 else ''}: {n - k} of {n} "
            f"passed outright; {k} could not be settled with this many examples "
            f"(inconclusive: warn; {conf}).",
            [_rule_name(r) for r in unsure],
        )
    if gate.passed:
        return Verdict("pass", f"Gate PASSED: {'1 rule' if n == 1 else f'all {n} rules'} passed ({conf}).")
    return Verdict("fail", f"Gate FAILED: {len(failed)} of {counted(n, 'rule')} failed ({conf}).", failed)


def run_failures(run: RunResult) -> list[dict[str, Any]]:
    """Items that failed after retries, per task, model and stage, with error kinds: [] for a complete run.

    Read from ``run.incomplete`` when the pipeline recorded it (kinds and example messages), else from the
    per-model ``failed`` counts.
    """
    info = getattr(run, "incomplete", None)
    if info is not None and info.groups:
        return [g.model_dump() for g in info.groups]
    out = []
    for tname, task in run.tasks.items():
        for m in model_order(run):
            mts = task.models.get(m)
            if mts is None:
                continue
            if mts.failed:
                out.append(
                    {
                        "task": tname,
                        "model": m,
                        "stage": "generation",
                        "failed": mts.failed,
                        "total": mts.n_examples,
                        "kinds": {},
                        "examples": {},
                    }
                )
            for rubric, n in sorted(mts.judge_failed.items()):
                if n:
                    out.append(
                        {
                            "task": tname,
                            "model": m,
                            "stage": f"judge {rubric}",
                            "failed": n,
                            "total": mts.n_examples,
                            "kinds": {},
                            "examples": {},
                        }
                    )
    return out


def incomplete_lines(run: RunResult) -> list[str]:
    """Plain lines under an INCOMPLETE headline: failures per model and stage, error kinds with one example
    message each, and the command that finishes the run."""
    groups = run_failures(run)
    if not groups:
        return []
    lines = [f"{g['task']} / {g['model']} {g['stage']}: {g['failed']} of {g['total']} failed" for g in groups]
    kinds: dict[str, int] = {}
    example: dict[str, str] = {}
    for g in groups:
        for k, c in g["kinds"].items():
            kinds[k] = kinds.get(k, 0) + c
            example.setdefault(k, g["examples"].get(k, ""))
    for k in sorted(kinds, key=lambda k: -kinds[k]):
        lines.append(f"error {k} x{kinds[k]}" + (f', e.g. "{one_line(example[k], 200)}"' if example[k] else ""))
    info = getattr(run, "incomplete", None)
    command = info.resume_command if info is not None and info.resume_command else "evalstack run CONFIG --resume"
    lines.append(f"finish with: {command}")
    return lines


def _rule_name(rule: Any) -> str:
    return f"{rule.rule} [{rule.model}]" if rule.model and rule.model not in rule.rule else rule.rule


_RESULT = {
    "pass": ("pass", "good"),
    "fail": ("FAIL", "bad"),
    "inconclusive": ("inconclusive", "warn"),
    "not_judged": ("not judged", "muted"),
}
_REL = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def _rule_value(r: Any, value: float | None) -> str:
    if value is None:
        return "n/a"
    if r.quantity == "delta":
        return f"Δ {fmt_num(value, signed=True)}"
    if r.quantity == "share":
        return f"{value:.1%}"
    if r.quantity == "count":
        return fmt_int(int(value))
    return fmt_num(value)


def _rule_bound(r: Any) -> str:
    """The bound on the value's own scale, with the relation the value must have to pass."""
    if r.limit is None or r.relation is None:
        return fmt_num(r.bound)
    rel = _REL.get(r.relation, r.relation)
    if r.quantity == "delta":
        return f"Δ {rel} {fmt_num(r.limit, signed=True)}"
    return f"{rel} {_rule_value(r, r.limit)}"


def gate_table(gate: GateDecision | None) -> Table:
    """Every gate rule: the value and the bound on one scale (a level, or a delta), CI, p, outcome, why."""
    t = Table(
        ["rule", "model", "value", "bound", "CI", "p", "result", "why"],
        numeric=[False, False, True, True, True, True, False, False],
    )
    for r in gate.rules if gate else []:
        outcome = r.outcome or ("pass" if r.passed else "fail")
        word, tone = _RESULT[outcome]
        if outcome == "inconclusive" and not r.passed:
            word, tone = "inconclusive (fail)", "bad"
        t.rows.append(
            [
                _c(r.rule),
                _c(r.model or "all"),
                _c(_rule_value(r, r.value)),
                _c(_rule_bound(r)),
                _c(fmt_ci(r.ci_low, r.ci_high, signed=r.quantity == "delta")),
                _c(fmt_p(r.p_value)),
                Cell(word, strong=outcome != "pass", tone=tone, badge=True),
                _c(r.message, long=True),
            ]
        )
    return t


# ---------------------------------------------------------------- per task


def metrics_table(run: RunResult, task: TaskSummary) -> Table:
    """Metric x model: value, CI, n, unscored, and invalid labels where the metric parses labels."""
    models = [m for m in model_order(run) if m in task.models]
    keys = task_metric_keys(run, task.name)
    has_invalid = any(
        "invalid" in (task.models[m].metrics[k].details or {})
        for m in models
        for k in keys
        if k in task.models[m].metrics
    )
    t = Table(
        ["metric", "model", "value", f"{_conf(run)} CI", "n", "unscored"] + (["invalid"] if has_invalid else []),
        numeric=[False, False, True, True, True, True] + ([True] if has_invalid else []),
    )
    for key in keys:
        for m in models:
            s = task.models[m].metrics.get(key)
            if s is None:
                continue
            row = [
                _c(metric_label(key, s.higher_is_better)),
                _c(m, strong=m == run.baseline),
                _c(fmt_num(s.value)),
                _c(fmt_ci(s.ci_low, s.ci_high)),
                _c(fmt_int(s.n)),
                _c(fmt_int(s.unscored), tone="bad" if s.unscored else ""),
            ]
            if has_invalid:  # outputs that matched no label: counted as wrong, shown here
                inv = (s.details or {}).get("invalid")
                row.append(_c("" if inv is None else fmt_int(inv), tone="bad" if inv else ""))
            t.rows.append(row)
    return t


def counts_line(run: RunResult, task: TaskSummary) -> str:
    """Examples per model and failed generations, one line."""
    parts = []
    for m in model_order(run):
        mts = task.models.get(m)
        if mts is not None:
            parts.append(
                f"{m} {fmt_int(mts.n_examples)} ({fmt_int(mts.failed)} failed{_empty_counts(run, m, mts.empty)})"
            )
    head = f"Examples: {fmt_int(task.n_examples)}; per model: "
    return head + ", ".join(parts) + _judge_counts(run, task) + tool_counts_text(run, task)


def _empty_counts(run: RunResult, model: str, empty: dict[str, int]) -> str:
    """'; 4 empty replies (content_filter 2, no_content 2)' [+ ' scored as empty'], or ''."""
    total = sum(empty.values())
    if not total:
        return ""
    policy = ((run.config.get("models") or {}).get(model) or {}).get("on_empty", "fail")
    kinds = ", ".join(f"{k} {fmt_int(v)}" for k, v in sorted(empty.items()))
    return f"; {fmt_int(total)} empty repl{'ies' if total != 1 else 'y'} ({kinds})" + (
        " scored as empty" if policy == "score_as_empty" else " unscored"
    )


def _judge_counts(run: RunResult, task: TaskSummary) -> str:
    """Judge requests failed after retries (the run exits 3) and replies unparseable after the re-ask, per
    rubric and model; '' when there are none."""
    out = []
    for m in model_order(run):
        mts = task.models.get(m)
        if mts is None:
            continue
        for rubric in sorted(set(mts.judge_failed) | set(mts.judge_unparseable)):
            f, u = mts.judge_failed.get(rubric, 0), mts.judge_unparseable.get(rubric, 0)
            bits = ([f"{fmt_int(f)} judge request{'s' if f != 1 else ''} failed"] if f else []) + (
                [f"{fmt_int(u)} unparseable"] if u else []
            )
            if bits:
                out.append(f"judge {rubric} on {m}: " + ", ".join(bits))
    return ("; " + "; ".join(out)) if out else ""


def _delta_cells(d: Any) -> list[Cell]:
    tone = verdict_tone(d.verdict)
    return [
        _c(f"{arrow(d.delta)} {fmt_num(d.delta, signed=True)}".strip()),
        _c(fmt_ci(d.ci_low, d.ci_high, signed=True)),
        _c(fmt_p(d.p_value)),
        _c(d.test or "n/a"),
        _c(f"{d.wins}/{d.losses}/{d.ties}"),
        _c(fmt_int(d.n)),
        Cell(verdict_words(d.verdict), strong=d.verdict in ("better", "worse"), tone=tone, badge=True),
    ]


_DELTA_HEADERS = ["Δ", "CI", "p", "test", "W/L/T", "n", "verdict"]
_DELTA_NUMERIC = [True, True, True, False, True, True, False]


def deltas_table(run: RunResult, task: TaskSummary) -> Table:
    """Deltas (model - baseline) per metric with CI, test, wins/losses/ties and a plain-words verdict."""
    t = Table(["metric", "model"] + _DELTA_HEADERS, numeric=[False, False] + _DELTA_NUMERIC)
    for key in task_metric_keys(run, task.name):
        for m in model_order(run):
            d = task.deltas.get(m, {}).get(key)
            if d is not None:
                hib = _hib(task, key)
                t.rows.append([_c(metric_label(key, hib)), _c(m)] + _delta_cells(d))
    return t


def slices_table(run: RunResult, task: TaskSummary) -> Table:
    """Per-slice value and delta of every model; one ``n``: the delta's (examples of the slice both models
    have a score for)."""
    t = Table(
        ["slice", "metric", "model", "value"] + _DELTA_HEADERS, numeric=[False, False, False, True] + _DELTA_NUMERIC
    )
    for s in sorted(task.slices, key=lambda s: (s.column, s.value)):
        for key in task_metric_keys(run, task.name):
            for m in model_order(run):
                d = s.deltas.get(m, {}).get(key)
                if d is None:
                    continue
                v = s.metrics.get(m, {}).get(key)
                t.rows.append(
                    [
                        _c(f"{s.column}={s.value}"),
                        _c(metric_label(key, _hib(task, key))),
                        _c(m),
                        _c(fmt_num(v.value if v else None)),
                    ]
                    + _delta_cells(d)
                )
    return t


def pairwise_table(run: RunResult, task: TaskSummary) -> Table:
    """Pairwise judges: model vs baseline, win/tie/loss rates with their CIs, position bias."""
    t = Table(
        ["rubric", "model", "vs", "n", "win", "tie", "loss", "p", "position bias", "unscored"],
        numeric=[False, False, False, True, True, True, True, True, True, True],
    )

    def rate(d: Any) -> str:
        if not isinstance(d, dict) or d.get("value") is None:
            return "n/a"
        return f"{fmt_num(d['value'])} {fmt_ci(d.get('ci_low'), d.get('ci_high'))}"

    for rubric in sorted(task.pairwise):
        for model, summ in sorted(task.pairwise[rubric].items()):
            t.rows.append(
                [
                    _c(rubric),
                    _c(model),
                    _c(summ.get("opponent", run.baseline)),
                    _c(fmt_int(summ.get("n"))),
                    _c(rate(summ.get("win_rate"))),
                    _c(rate(summ.get("tie_rate"))),
                    _c(rate(summ.get("loss_rate"))),
                    _c(fmt_p(summ.get("p_value"))),
                    _c(fmt_num(summ.get("position_bias_rate"))),
                    _c(fmt_int(summ.get("unscored", 0))),
                ]
            )
    return t


def _hib(task: TaskSummary, key: str) -> bool:
    for mts in task.models.values():
        if key in mts.metrics:
            return mts.metrics[key].higher_is_better
    return True


def _conf(run: RunResult) -> str:
    c = run.settings.get("confidence") if isinstance(run.settings, dict) else None
    if c is None and run.gate is not None:
        c = run.gate.confidence
    return f"{float(c) * 100:g}%" if isinstance(c, (int, float)) else "95%"


# ---------------------------------------------------------------- review lists


def lowest_table(rows: list[dict[str, Any]]) -> Table:
    """Rows of one (task, metric, model) lowest list."""
    t = Table(
        ["#", "id", "score", "input", "output", "reference", "judge reason"],
        numeric=[True, False, True, False, False, False, False],
    )
    for r in rows:
        t.rows.append(
            [
                _c(str(r["rank"])),
                _c(r["id"]),
                _c(fmt_num(r["score"])),
                _c(r.get("input"), long=True),
                _c(r.get("output"), long=True),
                _c(r.get("reference"), long=True),
                _c(r.get("judge_reason"), long=True),
            ]
        )
    return t


def regressions_table(rows: list[dict[str, Any]]) -> Table:
    """Rows of one (task, metric, model) regression list, both outputs side by side."""
    base = rows[0]["baseline"] if rows else "baseline"
    t = Table(
        ["#", "id", base, "model", "Δ", "input", f"{base} output", "model output"],
        numeric=[True, False, True, True, True, False, False, False],
    )
    for r in rows:
        t.rows.append(
            [
                _c(str(r["rank"])),
                _c(r["id"]),
                _c(fmt_num(r["baseline_score"])),
                _c(fmt_num(r["model_score"])),
                _c(fmt_num(r["delta"], signed=True), tone="bad"),
                _c(r.get("input"), long=True),
                _c(r.get("baseline_output"), long=True),
                _c(r.get("model_output"), long=True),
            ]
        )
    return t


def group_rows(rows: list[dict[str, Any]], *keys: str) -> list[tuple[tuple, list[dict[str, Any]]]]:
    """Consecutive rows grouped by ``keys`` (rows come ordered from the review module)."""
    out: list[tuple[tuple, list[dict[str, Any]]]] = []
    for r in rows:
        k = tuple(r[x] for x in keys)
        if not out or out[-1][0] != k:
            out.append((k, []))
        out[-1][1].append(r)
    return out

"""Report tables across tasks: checkpoint scores (a table per task, a column per metric) and the checkpoints
joined with the loss curve, token usage per judge and per model, loss-curve summaries and diagnoses.

Split from :mod:`._view` (per-run verdict, gate and per-task tables), with the same :class:`~._view.Table`
of formatted cells, so Markdown and HTML render one content.
"""

from __future__ import annotations

from typing import Any

from ..results import RunResult, Usage
from ._format import as_text, fmt_int, fmt_num, metric_label, one_line
from ._runinfo import model_order, task_metric_keys
from ._view import Table, _c, _hib


def curve_notes(run: RunResult) -> list[str]:
    """Plain sentences for next to the verdict: an evaluated checkpoint that is not the loss curve's best,
    and checkpoints whose lower valid loss scores worse on the real tasks."""
    if not run.curves:
        return []
    best = run.curves[0].get("best_step")
    warn = [str(d.get("id")) for d in run.curves[0].get("diagnoses", []) if d.get("severity") in ("warning", "error")]
    notes = []
    for row in run.checkpoints:
        if best is not None and not row.get("is_best") and row.get("checkpoint_step") is not None:
            notes.append(
                f"{row['model']} is the step-{row['checkpoint_step']} checkpoint; the loss curve's best "
                f"(lowest valid loss) is step {best}"
                + (f" ({', '.join(warn)})" if warn else "")
                + f": evaluate step {best} too before shipping."
            )
        if row.get("flagged"):
            notes.append(f"{row['model']}: {row.get('flag_reason') or 'flagged'}")
    return notes


# ---------------------------------------------------------------- across tasks

MAX_METRIC_COLUMNS = 8
"""A checkpoint score table holds at most this many metric columns (more: a second table below), so it fits a
1,280 px window whatever the number of metrics."""


def checkpoint_tables(run: RunResult) -> list[tuple[str, Table]]:
    """Per task (config order): rows are models (baseline first, then by checkpoint step), columns a step
    and one per metric (at most :data:`MAX_METRIC_COLUMNS`; a task with more gets several tables), the best
    value per column (direction-aware) in bold. Several narrow tables rather than one wide one.

    Empty unless there are two non-baseline models, or checkpoints joined with a loss curve (whose scores
    these tables show, in place of one cell listing every task/metric).
    """
    models = model_order(run)
    if len([m for m in models if m != run.baseline]) < 2 and not run.checkpoints:
        return []
    steps = any(run.models.get(m) and run.models[m].checkpoint_step is not None for m in models)
    out = []
    for tk in run.tasks:  # config order
        keys = task_metric_keys(run, tk)
        for start in range(0, len(keys), MAX_METRIC_COLUMNS):
            part = keys[start : start + MAX_METRIC_COLUMNS]
            out.append((tk, _scores_table(run, tk, part, models, steps)))
    return out


def _scores_table(run: RunResult, task: str, keys: list[str], models: list[str], steps: bool) -> Table:
    t = Table(
        ["model"] + (["step"] if steps else []) + [metric_label(k, _hib(run.tasks[task], k)) for k in keys],
        numeric=[False] + ([True] if steps else []) + [True] * len(keys),
    )
    best: dict[str, float] = {}
    for k in keys:
        found = [s for m in models if (s := _summary(run, task, m, k)) is not None and s.value is not None]
        if found:
            best[k] = (max if found[0].higher_is_better else min)(s.value for s in found)
    for m in models:
        if m not in run.tasks[task].models:
            continue
        info = run.models.get(m)
        row = [_c(m + (" (baseline)" if m == run.baseline else ""))]
        if steps:
            row.append(_c(fmt_int(info.checkpoint_step) if info and info.checkpoint_step is not None else ""))
        for k in keys:
            s = _summary(run, task, m, k)
            v = s.value if s else None
            row.append(_c(fmt_num(v), strong=v is not None and v == best.get(k)))
        t.rows.append(row)
    return t


def checkpoint_curve_table(run: RunResult) -> Table:
    """Each evaluated checkpoint joined with the loss curve: the valid loss (at which step, from which
    source), train loss, valid/train ratio and band, whether it is the curve's best, and the contradiction
    with the task scores when it has one (the scores themselves are in :func:`checkpoint_tables`)."""
    from .._loss_labels import loss_labels

    train_h, valid_h = loss_labels(run.curves[0] if run.curves else None)  # the join is with the first curve
    t = Table(
        ["model", "step", valid_h, "at step", "source", train_h, "valid/train", "band", "best", "flag"],
        numeric=[False, True, True, True, False, True, True, False, False, False],
    )
    for r in run.checkpoints:
        flag = r.get("flag_reason") or ("flagged" if r.get("flagged") else "")
        t.rows.append(
            [
                _c(as_text(r.get("model"))),
                _c(_fmt_any(r.get("checkpoint_step", r.get("step")))),
                _c(fmt_num(r.get("valid_loss"))),
                _c(_fmt_any(r.get("valid_loss_step"))),
                _c(one_line(r.get("valid_source") or "")),
                _c(fmt_num(r.get("train_loss"))),
                _c(fmt_num(r.get("overfit_ratio"))),
                _c(one_line(r.get("overfit_band") or "")),
                _c("yes" if r.get("is_best") else "no"),
                _c(one_line(flag), long=bool(flag), tone="bad" if flag else ""),
            ]
        )
    return t


def _summary(run: RunResult, task: str, model: str, key: str) -> Any:
    mts = run.tasks[task].models.get(model)
    return mts.metrics.get(key) if mts else None


def dict_rows_table(rows: list[dict[str, Any]]) -> Table:
    """A table of arbitrary dict rows (e.g. run.checkpoints): the union of keys, in first-seen order."""
    headers: list[str] = []
    for r in rows:
        headers += [k for k in r if k not in headers]
    first = [k for k in ("curve", "model", "label", "step", "checkpoint_step") if k in headers]
    nested = [k for k in headers if k not in first and any(isinstance(r.get(k), (dict, list)) for r in rows)]
    headers = first + [k for k in headers if k not in first and k not in nested] + nested  # names first, blobs last
    t = Table(
        headers,
        numeric=[
            any(_is_number(r.get(h)) for r in rows) and all(_is_number(r.get(h)) or r.get(h) is None for r in rows)
            for h in headers
        ],
    )
    for r in rows:
        t.rows.append([_c(_fmt_any(r.get(h)), long=isinstance(r.get(h), (str, dict, list))) for h in headers])
    return t


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt_any(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return fmt_int(v)
    if isinstance(v, float):
        return fmt_num(v)
    if isinstance(v, dict):  # e.g. a checkpoint's scores: "intent/accuracy 0.9100; ..."
        return "; ".join(f"{k} {_fmt_any(x)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(_fmt_any(x) for x in v)
    return one_line(v) if v is not None else ""


def usage_tables(run: RunResult) -> tuple[Table, Table]:
    """Tokens per judge (rubric, summed over tasks and models) and per model (generation + judging it)."""
    per_judge: dict[str, Usage] = {}
    per_model: dict[str, tuple[Usage, Usage]] = {}
    for task in run.tasks.values():
        for m, mts in task.models.items():
            gen, judged = per_model.setdefault(m, (Usage(), Usage()))
            _add(gen, mts.usage)
            for rubric, u in mts.judge_usage.items():
                _add(per_judge.setdefault(rubric, Usage()), u)
                _add(judged, u)
    jt = Table(
        ["judge", "requests (re-asks included)", "re-asks", "cached", "prompt tokens", "completion tokens", "retries"],
        numeric=[False] + [True] * 6,
    )
    for rubric in sorted(per_judge):
        u = per_judge[rubric]
        jt.rows.append(
            [_c(rubric)]
            + [
                _c(fmt_int(x))
                for x in (u.requests, u.reasks, u.cached, u.prompt_tokens, u.completion_tokens, u.retries)
            ]
        )
    mt = Table(
        [
            "model",
            "requests",
            "cached",
            "prompt tokens",
            "completion tokens",
            "judge prompt tokens",
            "judge completion tokens",
        ],
        numeric=[False] + [True] * 6,
    )
    for m in model_order(run):
        if m in per_model:
            g, j = per_model[m]
            mt.rows.append(
                [_c(m)]
                + [
                    _c(fmt_int(x))
                    for x in (
                        g.requests,
                        g.cached,
                        g.prompt_tokens,
                        g.completion_tokens,
                        j.prompt_tokens,
                        j.completion_tokens,
                    )
                ]
            )
    return jt, mt


def _add(acc: Usage, u: Usage) -> None:
    for f in ("requests", "cached", "prompt_tokens", "completion_tokens", "retries", "reasks"):
        setattr(acc, f, getattr(acc, f) + getattr(u, f))


# ---------------------------------------------------------------- loss curves

_CURVE_KEYS = ["best_step", "best_valid_loss", "final_valid_loss", "overfit_ratio", "overfit_band", "overfit_warning"]


def curve_summary_table(curves: list[dict[str, Any]]) -> Table:
    """One row per configured curve: best step, best/final valid loss, overfit ratio and band, and what was
    done to the losses (hidden-token corrected; the ratio's train loss smoothed)."""
    from .._loss_labels import loss_labels

    rows = []
    for i, c in enumerate(curves):
        name = c.get("label") or c.get("source") or c.get("path") or f"curve {i + 1}"
        train_h, valid_h = loss_labels(c)
        done = "; ".join(h for h in (valid_h, train_h) if "(" in h) or "as reported"
        rows.append({"curve": as_text(name)} | {k: c.get(k) for k in _CURVE_KEYS} | {"losses": done})
    return dict_rows_table(rows)


def diagnoses_table(curves: list[dict[str, Any]]) -> Table:
    """Every diagnosis of every curve: id, severity, what was seen, evidence, action."""
    t = Table(["curve", "diagnosis", "severity", "observation", "evidence", "action"])
    for i, c in enumerate(curves):
        name = as_text(c.get("label") or c.get("source") or c.get("path") or f"curve {i + 1}")
        for d in c.get("diagnoses") or []:
            d = d if isinstance(d, dict) else {"id": d}
            t.rows.append(
                [
                    _c(name),
                    _c(one_line(d.get("id")), strong=True),
                    _c(one_line(d.get("severity"))),
                    _c(one_line(d.get("observation")), long=True),
                    _c(one_line(d.get("evidence")), long=True),
                    _c(one_line(d.get("action")), long=True),
                ]
            )
    return t

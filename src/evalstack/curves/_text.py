"""The report.md section for curve analyses and the plain-text summary the CLI prints."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._loss_labels import loss_labels
from ._records import CurveReport, band_meaning

MAX_ROWS = 12


def _f(x: float | None, nd: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _rows(d: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    pts = d.get("checkpoints") or []
    if len(pts) <= MAX_ROWS:
        return pts, len(pts)
    keep = {pts[0]["step"], pts[-1]["step"], d.get("best_step")}
    keep |= {p["step"] for p in pts if p.get("is_checkpoint")}
    for end in d.get("epoch_ends") or []:
        keep.add(min(pts, key=lambda p: abs(p["step"] - end))["step"])
    return [p for p in pts if p["step"] in keep], len(pts)


def _evidence(ev: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in ev.items() if not isinstance(v, (dict, list)))


def _span(d: dict[str, Any]) -> str:
    first, last, n = d.get("first_step"), d.get("last_step"), d.get("n_steps")
    if first is None:
        return "no steps"
    return f"steps {first}-{last}" + (f" ({n} logged)" if n and n != last - first + 1 else "")


def _corrected(d: dict[str, Any]) -> str:
    return " (hidden-token corrected)" if (d.get("hidden_tokens") or {}).get("applied") else ""


def _best_lines(d: dict[str, Any]) -> list[str]:
    ep = next((p.get("epoch") for p in d.get("checkpoints") or [] if p["step"] == d["best_step"]), None)
    model = f", model `{d['best_checkpoint_model']}`" if d.get("best_checkpoint_model") else ""
    out = [
        f"**Best checkpoint: step {d['best_step']}**{f' (epoch {ep})' if ep else ''}: "
        f"{d.get('best_valid_source')} {_f(d.get('best_valid_loss'))}{_corrected(d)}{model}.",
        f"Final: step {d.get('final_step')}, valid loss {_f(d.get('final_valid_loss'))}{_corrected(d)}, overfit ratio "
        f"{_f(d.get('overfit_ratio'), 2)} ({d.get('overfit_band')} overfitting band: {band_meaning(d.get('overfit_band'))}).",
    ]
    if d.get("overfit_warning"):
        out += [
            "",
            f"> **{d.get('overfit_message')}** - deploy the best checkpoint (step {d['best_step']}), not the final one.",
        ]
    rows, total = _rows(d)
    train_h, valid_h = loss_labels(d)
    out += [
        "",
        f"| step | epoch | {train_h} | {valid_h} | valid/train | band | |",
        "|---:|---:|---:|---:|---:|---|---|",
    ]
    for p in rows:
        mark = "**best**" if p["step"] == d["best_step"] else ("checkpoint" if p.get("is_checkpoint") else "")
        out.append(
            f"| {p['step']} | {p.get('epoch') or ''} | {_f(p.get('train_loss'))} | {_f(p.get('valid_loss'))} | "
            f"{_f(p.get('overfit_ratio'), 2)} | {p.get('overfit_band') or ''} | {mark} |"
        )
    if total > len(rows):
        out.append(f"\n({len(rows)} of {total} validation points shown: first, best, final, epoch ends, checkpoints.)")
    return out + [""]


def _rft_lines(rft: dict[str, Any]) -> list[str]:
    out = [
        f"Reward ({rft.get('reward_column')}): {_f(rft.get('start_reward'), 3)} -> {_f(rft.get('end_reward'), 3)}, "
        f"peak {_f(rft.get('peak_reward'), 3)} at step {rft.get('peak_step')}.",
        "",
        "Checkpoints to evaluate with the task harness (equal accuracy at fewer tokens is strictly better):",
        "",
        "| step | why | train reward | valid reward | completion tokens | model |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for c in rft.get("candidates") or []:
        out.append(
            f"| {c['step']} | {', '.join(c.get('reasons') or [])} | {_f(c.get('train_reward'), 3)} | "
            f"{_f(c.get('valid_reward'), 3)} | {_f(c.get('completion_tokens'), 0)} | {_cell(c.get('model') or '')} |"
        )
    return out + [""]


def _section(d: dict[str, Any], plot_dir: str | None) -> list[str]:
    epochs = f"{d['n_epochs']} epochs" if d.get("n_epochs") else "epochs unknown"
    out = [
        f"### {_cell(d.get('label'))}",
        "",
        f"`{d.get('source')}` ({d.get('format')} format, {str(d.get('kind', '')).upper()}, {_span(d)}, {epochs})",
        "",
    ]
    if d.get("hidden_tokens"):
        out += [f"*Hidden tokens:* {d['hidden_tokens'].get('statement')}", ""]
    if d.get("best_step") is not None:
        out += _best_lines(d)
    if d.get("rft"):
        out += _rft_lines(d["rft"])
    diags = d.get("diagnoses") or []
    if diags:
        out += ["Diagnoses:", ""]
        for x in diags:
            out.append(
                f"- **`{x['id']}`** ({x.get('severity')}): {x.get('observation')} -> {x.get('diagnosis')}. "
                f"*Evidence:* {_cell(_evidence(x.get('evidence') or {}))}. *Action:* {x.get('action')}"
            )
        out.append("")
    elif d.get("checkpoints") or d.get("rft"):
        out += ["No diagnosis rule fired: the curves look healthy.", ""]
    plots = d.get("plots") or {}
    if plot_dir is not None and plots:
        out += [
            " ".join(f"![{d.get('label')} {k}]({plot_dir.rstrip('/')}/{Path(p).name})" for k, p in plots.items()),
            "",
        ]
    if d.get("notes"):
        out += ["Notes:", ""] + [f"- {_cell(n)}" for n in d["notes"]] + [""]
    return out


def curves_markdown(report: CurveReport | dict | Iterable[CurveReport | dict], *, plot_dir: str | None = None) -> str:
    """The "Training curves" section of report.md for one or several reports.

    Takes :class:`CurveReport` objects or their ``to_dict()`` form (what run.json ``curves`` holds).
    ``plot_dir`` is the folder prefix for image links (e.g. ``"curves"``); images are linked only for
    plots that :func:`write_curve_outputs` wrote (``report.plots``); ``None`` = no images.
    """
    items = [report] if isinstance(report, (CurveReport, dict)) else list(report)
    lines = ["## Training curves", ""]
    for rep in items:
        lines += _section(rep.to_dict() if isinstance(rep, CurveReport) else rep, plot_dir)
    return "\n".join(lines).rstrip() + "\n"


def format_text(report: CurveReport) -> str:
    """A short plain-text summary for the terminal."""
    d = report.to_dict()
    lines = [
        f"{report.label}: {d['source']} ({d['format']} format, {d['kind']}, {_span(d)}, {d['n_epochs'] or '?'} epochs)"
    ]
    if report.hidden is not None:
        lines.append(f"  hidden tokens: {report.hidden.statement}")
    if report.best is not None:
        lines.append(
            f"  best checkpoint: step {d['best_step']} valid_loss={_f(d['best_valid_loss'])}"
            + (f" model={d['best_checkpoint_model']}" if d["best_checkpoint_model"] else "")
        )
        lines.append(
            f"  final: step {d['final_step']} valid_loss={_f(d['final_valid_loss'])} "
            f"overfit ratio={_f(d['overfit_ratio'], 2)} ({d['overfit_band']})"
        )
        if report.overfit_warning:
            lines.append(f"  WARNING {report.overfit_message}")
    if report.rft is not None:
        for c in report.rft.candidates:
            lines.append(
                f"  candidate step {c.step} ({', '.join(c.reasons)}): train_reward={_f(c.train_reward, 3)} "
                f"valid_reward={_f(c.valid_reward, 3)} tokens={_f(c.completion_tokens, 0)}"
            )
    for diag in report.diagnoses:
        lines.append(f"  [{diag.severity}] {diag.id}: {diag.message}")
    if not report.diagnoses:
        lines.append("  no diagnosis rule fired")
    for n in report.notes:
        lines.append(f"  note: {n}")
    return "\n".join(lines)

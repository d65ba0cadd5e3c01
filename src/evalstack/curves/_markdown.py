"""The report.md section for curve analyses, the plain-text summary the CLI prints, and the output writer."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from .._io import atomic_write_json
from ._records import SCHEMA_VERSION, CheckpointPoint, CurveReport, band_meaning

MAX_ROWS = 12


def _as_list(reports: CurveReport | Iterable[CurveReport]) -> list[CurveReport]:
    return [reports] if isinstance(reports, CurveReport) else list(reports)


def dedupe_labels(reports: Sequence[CurveReport]) -> None:
    """Make labels unique in place (``results``, ``results-2``...) so file names do not collide."""
    seen: dict[str, int] = {}
    for rep in reports:
        n = seen.get(rep.label, 0) + 1
        seen[rep.label] = n
        if n > 1:
            rep.label = f"{rep.label}-{n}"


def write_curve_outputs(report: CurveReport | Iterable[CurveReport], out_dir: Path) -> list[Path]:
    """Write ``<out_dir>/curves/analysis.json`` and the PNG plots of one or several reports (atomically).

    ``analysis.json`` is ``{"schema_version": 1, "curves": [report.to_dict(), ...]}``: pass every report
    of a run in one call. Sets ``report.plots`` (kind -> path relative to ``out_dir``, e.g.
    ``curves/results_loss.png``) and returns the written paths (analysis.json first).
    """
    from ._plots import write_plots

    reports = _as_list(report)
    dedupe_labels(reports)
    folder = Path(out_dir) / "curves"
    written: list[Path] = []
    for rep in reports:
        plots = write_plots(rep, folder)
        rep.plots = {kind: f"curves/{p.name}" for kind, p in plots.items()}
        written.extend(plots.values())
    analysis = atomic_write_json(folder / "analysis.json",
                                 {"schema_version": SCHEMA_VERSION, "curves": [r.to_dict() for r in reports]})
    return [analysis] + written


def _span(rep: CurveReport) -> str:
    steps = rep.table.steps
    if not steps:
        return "no steps"
    return f"steps {steps[0]}-{steps[-1]}" + (f" ({len(steps)} logged)" if len(steps) != steps[-1] - steps[0] + 1 else "")


def _f(x: float | None, nd: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _rows(report: CurveReport) -> tuple[list[CheckpointPoint], int]:
    pts = report.points
    if len(pts) <= MAX_ROWS:
        return pts, len(pts)
    keep = {pts[0].step, pts[-1].step}
    if report.best:
        keep.add(report.best.step)
    keep |= {p.step for p in pts if p.is_checkpoint}
    for end in report.epoch_ends:
        keep.add(min(pts, key=lambda p: abs(p.step - end)).step)
    return [p for p in pts if p.step in keep], len(pts)


def _evidence(ev: dict) -> str:
    parts = []
    for k, v in ev.items():
        if isinstance(v, (dict, list)):
            continue
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _section(rep: CurveReport, plot_dir: str | None) -> list[str]:
    t = rep.table
    epochs = f"{rep.n_epochs} epochs" if rep.n_epochs else "epochs unknown"
    out = [f"### {rep.label}", "",
           f"`{t.source}` ({t.format} format, {rep.kind.upper()}, {_span(rep)}, {epochs})", ""]
    if rep.hidden is not None:
        out += [f"*Hidden tokens:* {rep.hidden.statement}", ""]
    if rep.best is not None:
        b = rep.best
        model = f", model `{b.model}`" if b.model else ""
        ep = f" (epoch {b.epoch})" if b.epoch else ""
        out.append(f"**Best checkpoint: step {b.step}**{ep}: {b.valid_source} {_f(b.valid_loss)}{model}.")
        f = rep.final
        out.append(f"Final: step {f.step}, valid loss {_f(f.valid_loss)}, overfit ratio {_f(rep.overfit_ratio, 2)} "
                   f"({rep.overfit_band} overfitting band: {band_meaning(rep.overfit_band)}).")
        if rep.overfit_warning:
            out += ["", f"> **{rep.overfit_message}** - deploy the best checkpoint (step {b.step}), not the final one."]
        rows, total = _rows(rep)
        out += ["", "| step | epoch | train loss | valid loss | valid/train | band | |", "|---:|---:|---:|---:|---:|---|---|"]
        for p in rows:
            mark = "**best**" if p.step == b.step else ("checkpoint" if p.is_checkpoint else "")
            out.append(f"| {p.step} | {p.epoch or ''} | {_f(p.train_loss)} | {_f(p.valid_loss)} | "
                       f"{_f(p.overfit_ratio, 2)} | {p.overfit_band or ''} | {mark} |")
        if total > len(rows):
            out.append(f"\n({len(rows)} of {total} validation points shown: first, best, final, epoch ends, checkpoints.)")
        out.append("")
    if rep.rft is not None:
        fx = rep.rft.facts
        out += [f"Reward ({fx['reward_column']}): {_f(fx['start_reward'], 3)} -> {_f(fx['end_reward'], 3)}, "
                f"peak {_f(fx['peak_reward'], 3)} at step {fx['peak_step']}.", "",
                "Checkpoints to evaluate with the task harness (equal accuracy at fewer tokens is strictly better):", "",
                "| step | why | train reward | valid reward | completion tokens | model |", "|---:|---|---:|---:|---:|---|"]
        for c in rep.rft.candidates:
            out.append(f"| {c.step} | {', '.join(c.reasons)} | {_f(c.train_reward, 3)} | {_f(c.valid_reward, 3)} | "
                       f"{_f(c.completion_tokens, 0)} | {_cell(c.model or '')} |")
        out.append("")
    if rep.diagnoses:
        out += ["Diagnoses:", ""]
        for d in rep.diagnoses:
            out.append(f"- **`{d.id}`** ({d.severity}): {d.observation} -> {d.diagnosis}. "
                       f"*Evidence:* {_cell(_evidence(d.evidence))}. *Action:* {d.action}")
        out.append("")
    elif rep.points or rep.rft:
        out += ["No diagnosis rule fired: the curves look healthy.", ""]
    if plot_dir is not None and rep.plots:
        out += [" ".join(f"![{rep.label} {k}]({plot_dir.rstrip('/')}/{Path(p).name})" for k, p in rep.plots.items()), ""]
    if rep.notes:
        out += ["Notes:", ""] + [f"- {_cell(n)}" for n in rep.notes] + [""]
    return out


def curves_markdown(report: CurveReport | Iterable[CurveReport], *, plot_dir: str | None = None) -> str:
    """The "Training curves" section of report.md for one or several reports.

    ``plot_dir`` is the folder prefix for image links (e.g. ``"curves"``); images are linked only for
    plots that :func:`write_curve_outputs` wrote (``report.plots``); ``None`` = no images.
    """
    lines = ["## Training curves", ""]
    for rep in _as_list(report):
        lines += _section(rep, plot_dir)
    return "\n".join(lines).rstrip() + "\n"


def format_text(report: CurveReport) -> str:
    """A short plain-text summary for the terminal."""
    d = report.to_dict()
    lines = [f"{report.label}: {d['source']} ({d['format']} format, {d['kind']}, {_span(report)}, "
             f"{d['n_epochs'] or '?'} epochs)"]
    if report.hidden is not None:
        lines.append(f"  hidden tokens: {report.hidden.statement}")
    if report.best is not None:
        lines.append(f"  best checkpoint: step {d['best_step']} valid_loss={_f(d['best_valid_loss'])}"
                     + (f" model={d['best_checkpoint_model']}" if d["best_checkpoint_model"] else ""))
        lines.append(f"  final: step {d['final_step']} valid_loss={_f(d['final_valid_loss'])} "
                     f"overfit ratio={_f(d['overfit_ratio'], 2)} ({d['overfit_band']})")
        if report.overfit_warning:
            lines.append(f"  WARNING {report.overfit_message}")
    if report.rft is not None:
        for c in report.rft.candidates:
            lines.append(f"  candidate step {c.step} ({', '.join(c.reasons)}): train_reward={_f(c.train_reward, 3)} "
                         f"valid_reward={_f(c.valid_reward, 3)} tokens={_f(c.completion_tokens, 0)}")
    for diag in report.diagnoses:
        lines.append(f"  [{diag.severity}] {diag.id}: {diag.message}")
    if not report.diagnoses:
        lines.append("  no diagnosis rule fired")
    for n in report.notes:
        lines.append(f"  note: {n}")
    return "\n".join(lines)

"""``analyze``: one run's table -> :class:`CurveReport` (SFT and/or RFT, hidden-token correction, epochs)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._hidden import correct_for_hidden_tokens
from ._readers import read_curves
from ._records import CurveReport
from ._rft import rft_analysis
from ._sft import best_point, build_context, checkpoint_points, epoch_boundaries, overfit_warning
from ._sft_rules import run_sft_rules
from ._table import LOSS_COLUMNS, REWARD_COLUMNS, CurveTable, resolve_window


def safe_label(text: str) -> str:
    """A file-name-safe label (letters, digits, ``._-``)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "curves"
    return out[:64]


def _default_label(table: CurveTable) -> str:
    p = Path(table.source)
    if p.is_dir() or p.suffix == "":
        return safe_label(p.name)
    if p.stem in ("results", "trainer_state", "events", "checkpoints") and p.parent.name:
        return safe_label(f"{p.parent.name}_{p.stem}")
    return safe_label(p.stem)


def analyze(
    table_or_path: CurveTable | str | Path,
    *,
    hidden_tokens: int | None = None,
    visible_tokens: float | Sequence[float] | None = None,
    n_epochs: int | None = None,
    smoothing: int | str | None = "auto",
    label: str | None = None,
    format: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> CurveReport:
    """Analyse one fine-tuning run.

    ``table_or_path`` is a :class:`CurveTable` or anything :func:`read_curves` reads (``format`` and
    ``mapping`` are passed to it). ``hidden_tokens`` (n) and ``visible_tokens`` (v, a number or per-example
    counts) correct OpenAI's reported loss/accuracy to visible-token values (the correction is stated in
    the report; without v it is stated as not applied). ``n_epochs`` overrides the job's/trainer's value
    for epoch boundaries. ``smoothing`` is the moving-average window for per-step train values (``"auto"``
    ~ n/15, odd, 3..25; ``1`` = none).

    SFT runs get per-checkpoint overfit ratios with bands, the best checkpoint (lowest measured valid
    loss, full_valid_loss preferred; never a smoothed value), the OVERFIT warning and the seven SFT
    rules; runs with rewards get the RFT rules and 2-3 checkpoint candidates.
    """
    table = (
        table_or_path
        if isinstance(table_or_path, CurveTable)
        else read_curves(table_or_path, format=format, mapping=mapping)
    )
    notes = list(table.notes)
    hidden = None
    uncorrected = 0
    if hidden_tokens is not None:
        table, hidden = correct_for_hidden_tokens(table, hidden_tokens=hidden_tokens, visible_tokens=visible_tokens)
        if not hidden.applied:
            uncorrected = hidden.hidden_tokens
    ts, _ = table.series("train_loss")
    window = resolve_window(smoothing, len(ts) or len(table.steps))
    ends, ends_source = epoch_boundaries(table, n_epochs)
    report = CurveReport(
        label=safe_label(label) if label else _default_label(table),
        table=table,
        n_epochs=len(ends) or None,
        epoch_ends=ends,
        epochs_source=ends_source,
        smoothing_window=window,
        hidden=hidden,
        notes=notes,
    )
    if any(table.has(c) for c in LOSS_COLUMNS):
        ctx = build_context(table, window=window, epoch_ends=ends, hidden_uncorrected=uncorrected)
        if ctx is not None:
            report.points = checkpoint_points(table, ctx)
            report.best = best_point(report.points)
            report.diagnoses.extend(run_sft_rules(ctx, report.best))
            rose = any(d.id == "valid_rises" for d in report.diagnoses)
            report.overfit_warning, report.overfit_message, why = overfit_warning(
                report.points, per_batch=ctx.valid_window > 1, level_rose=rose
            )
            if why:
                report.notes.append(why)
            n_full = len(table.series("full_valid_loss")[0])
            if n_full == 1 and ctx.valid_source != "full_valid_loss":
                report.notes.append(
                    "full_valid_loss was measured once only: the lowest measured valid_loss picks the best checkpoint"
                )
            if not ctx.valid:
                report.notes.append(
                    "no validation loss: best checkpoint and overfit ratio need valid_loss or full_valid_loss"
                )
            elif table.checkpoints and report.best and not report.best.is_checkpoint:
                report.notes.append("best step is not a saved checkpoint")
    if any(table.has(c) for c in REWARD_COLUMNS):
        report.rft, diags, rnotes = rft_analysis(table, window=window)
        report.diagnoses.extend(diags)
        report.notes.extend(rnotes)
    if not ends:
        report.notes.append(
            "epochs unknown: pass --n-epochs N to `evalstack curves analyze` (or set n_epochs in "
            "the config's curves entry) to mark epoch boundaries"
        )
    return report


def analyze_config(entry: Any) -> CurveReport:
    """Analyse one ``curves:`` config entry (a ``CurvesConfig`` or a dict with the same keys)."""
    get: Callable[..., Any] = entry.get if isinstance(entry, dict) else lambda k, d=None: getattr(entry, k, d)
    return analyze(
        get("path"),
        format=get("format"),
        mapping=get("mapping") or None,
        hidden_tokens=get("hidden_tokens"),
        visible_tokens=get("visible_tokens"),
        n_epochs=get("n_epochs"),
        label=get("label"),
    )

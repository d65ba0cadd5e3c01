"""PNG plots of a :class:`CurveReport` (matplotlib's Agg canvas, imported lazily; no pyplot global state).

Stable names, relative to the output folder: ``curves/<label>_loss.png``, ``_accuracy.png``,
``_overfit.png``, ``_reward.png``, ``_tokens.png`` (each written only when the run has that data).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._io import atomic_write_bytes
from ._records import BANDS, CurveReport
from ._table import smooth

PLOT_KINDS = ("loss", "accuracy", "overfit", "reward", "tokens")

_COLORS = {"train": "#1f77b4", "valid": "#d62728", "full": "#2ca02c", "best": "#ff7f0e", "epoch": "#888888"}
_BAND_COLORS = {"healthy": "#d8f0d2", "mild": "#fff3c4", "moderate": "#ffd9b0", "severe": "#f8c4c4"}


def _figure(title: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("step")
    ax.grid(True, alpha=0.3)
    return fig, ax


def _epoch_lines(ax: Any, report: CurveReport) -> None:
    for i, end in enumerate(report.epoch_ends[:-1], start=1):
        ax.axvline(end, color=_COLORS["epoch"], linestyle=":", linewidth=1)
        ax.annotate(
            f"epoch {i}",
            (end, 1),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            color=_COLORS["epoch"],
            ha="right",
            va="top",
            rotation=90,
        )


def _marks(ax: Any, report: CurveReport) -> None:
    """The best checkpoint's line and the epoch ends."""
    _best_line(ax, report)
    _epoch_lines(ax, report)


def _best_line(ax: Any, report: CurveReport) -> None:
    if report.best is not None:
        ax.axvline(
            report.best.step,
            color=_COLORS["best"],
            linestyle="--",
            linewidth=1.2,
            label=f"best checkpoint (step {report.best.step})",
        )


def _pair(ax: Any, report: CurveReport, train: str, valid: str, full: str) -> bool:
    t = report.table
    drawn = False
    if t.has(train):
        s, v = t.series(train)
        ax.plot(s, v, color=_COLORS["train"], alpha=0.25, linewidth=0.8)
        ax.plot(
            s, smooth(v, report.smoothing_window), color=_COLORS["train"], linewidth=1.6, label=f"{train} (smoothed)"
        )
        drawn = True
    if t.has(valid):
        s, v = t.series(valid)
        ax.plot(s, v, "o-", color=_COLORS["valid"], markersize=3, linewidth=0.8, alpha=0.7, label=valid)
        drawn = True
    if t.has(full):
        s, v = t.series(full)
        ax.plot(s, v, "s-", color=_COLORS["full"], markersize=6, linewidth=1.4, label=full)
        drawn = True
    return drawn


def plot_loss(report: CurveReport):
    """Train/valid loss, best checkpoint and epoch lines."""
    fig, ax = _figure(
        f"{report.label}: loss" + (" (visible tokens)" if report.hidden and report.hidden.applied else "")
    )
    if not _pair(ax, report, "train_loss", "valid_loss", "full_valid_loss"):
        return None
    if report.best is not None:
        ax.plot([report.best.step], [report.best.valid_loss], "*", color=_COLORS["best"], markersize=14, zorder=5)
    _marks(ax, report)
    ax.set_ylabel("loss (nats/token)")
    ax.legend(fontsize=8)
    return fig


def plot_accuracy(report: CurveReport):
    """Train/valid token accuracy with the best checkpoint and epoch lines."""
    fig, ax = _figure(f"{report.label}: token accuracy")
    if not _pair(ax, report, "train_accuracy", "valid_accuracy", "full_valid_accuracy"):
        return None
    _marks(ax, report)
    ax.set_ylabel("mean token accuracy")
    ax.legend(fontsize=8)
    return fig


def plot_overfit(report: CurveReport):
    """valid/train ratio per checkpoint over the shaded bands."""
    pts = [p for p in report.points if p.overfit_ratio is not None]
    if not pts:
        return None
    fig, ax = _figure(f"{report.label}: overfit ratio (valid / train)")
    ratios = [p.overfit_ratio for p in pts if p.overfit_ratio is not None]
    top = max(2.3, max(ratios) * 1.08)
    lo = 0.0
    for upper, name, _ in BANDS:
        hi = min(upper, top)
        ax.axhspan(lo, hi, color=_BAND_COLORS[name], alpha=0.8, zorder=0, label=name)
        lo = hi
    ax.plot([p.step for p in pts], ratios, "o-", color="#333333", markersize=4, zorder=3)
    _marks(ax, report)
    ax.set_ylim(min(0.8, min(ratios) * 0.95), top)
    ax.set_ylabel("valid_loss / train_loss")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_reward(report: CurveReport):
    """RFT train/valid reward with the checkpoint candidates."""
    t = report.table
    fig, ax = _figure(f"{report.label}: reward")
    if not _pair(ax, report, "train_mean_reward", "valid_mean_reward", "full_valid_mean_reward"):
        return None
    for c in report.rft.candidates if report.rft else []:
        ax.axvline(c.step, color=_COLORS["best"], linestyle="--", linewidth=1)
        ax.annotate("/".join(c.reasons), (c.step, 0.02), xycoords=("data", "axes fraction"), fontsize=7, rotation=90)
    _epoch_lines(ax, report)
    ax.set_ylabel("mean reward")
    ax.legend(fontsize=8)
    return fig if t.kind == "rft" else None


def plot_tokens(report: CurveReport):
    """RFT completion and reasoning tokens per rollout."""
    t = report.table
    cols = [c for c in ("completion_tokens_mean", "reasoning_tokens_mean") if t.has(c)]
    if not cols:
        return None
    fig, ax = _figure(f"{report.label}: tokens per rollout")
    for c, color in zip(cols, ("#9467bd", "#8c564b")):
        s, v = t.series(c)
        ax.plot(s, v, color=color, alpha=0.25, linewidth=0.8)
        ax.plot(s, smooth(v, report.smoothing_window), color=color, linewidth=1.6, label=c)
    _epoch_lines(ax, report)
    ax.set_ylabel("tokens")
    ax.legend(fontsize=8)
    return fig


_PLOTTERS: dict[str, Callable] = {
    "loss": plot_loss,
    "accuracy": plot_accuracy,
    "overfit": plot_overfit,
    "reward": plot_reward,
    "tokens": plot_tokens,
}


def write_plots(report: CurveReport, folder: Path, *, root: Path | None = None) -> dict[str, Path]:
    """Write every applicable plot of ``report`` into ``folder`` (atomically; ``root``: the run folder, no
    symlink below it is followed); kind -> path."""
    out: dict[str, Path] = {}
    for kind in PLOT_KINDS:
        fig = _PLOTTERS[kind](report)
        if fig is None:
            continue
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        out[kind] = atomic_write_bytes(folder / f"{report.label}_{kind}.png", buf.getvalue(), root=root)
    return out

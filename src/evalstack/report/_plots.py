"""Report plots as PNG bytes: forest plot of deltas, confusion matrices, score histograms.

matplotlib is imported inside the functions and used through its object API (``Figure`` + Agg canvas),
never pyplot, so no global backend state is touched and nothing opens a window.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..results import RunResult
from ._runinfo import model_order, task_metric_keys, task_rank

_COLORS = {"better": "#1a7f37", "worse": "#cf222e"}
_GREY = "#6e7781"
_PALETTE = ["#0969da", "#bf8700", "#8250df", "#1a7f37", "#cf222e", "#57606a", "#e16f24", "#116329"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Plot:
    """One figure: ``name`` is the file stem under plots/, ``kind`` the report section it belongs to."""

    name: str
    title: str
    kind: str  # forest, confusion, histogram, curve
    png: bytes
    task: str = ""


def safe_name(*parts: str) -> str:
    """A file-name-safe stem from parts (task and metric names)."""
    return "_".join(re.sub(r"[^A-Za-z0-9.\-]+", "-", p).strip("-.") or "x" for p in parts)


def plain_text(s: Any) -> str:
    """Plain text for matplotlib: ``$`` would start mathtext (the sweep's plot uses it too)."""
    return str(s).replace("$", r"\$")


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure of this size (inches, 100 dpi), laid out to fit; no pyplot state."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def figure_png(fig: Any) -> bytes:
    """The figure as PNG bytes with no timestamp or software metadata (the same figure, the same bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def forest_plot(run: RunResult) -> Plot | None:
    """Deltas (model - baseline) with CIs: one panel per task/metric, one row per model, a zero line."""
    panels = []
    for task in run.tasks:  # config order
        t = run.tasks[task]
        for key in task_metric_keys(run, task):
            rows = [
                (m, t.deltas[m][key])
                for m in model_order(run)
                if key in t.deltas.get(m, {}) and t.deltas[m][key].delta is not None
            ]
            if rows:
                panels.append((f"{task}/{key}", rows))
    if not panels:
        return None
    ncols = 2 if len(panels) > 3 else 1
    grid = [panels[i : i + ncols] for i in range(0, len(panels), ncols)]
    heights = [0.32 * max(len(rows) for _, rows in line) + 0.6 for line in grid]
    fig = new_figure(7.5 if ncols == 1 else 10.0, sum(heights) + 0.5)
    axes = fig.subplots(len(grid), ncols, gridspec_kw={"height_ratios": heights}, squeeze=False)
    for r, line in enumerate(grid):
        for c in range(ncols):
            if c >= len(line):
                axes[r, c].set_visible(False)
                continue
            _forest_panel(axes[r, c], *line[c])
    fig.supxlabel(
        f"delta vs {plain_text(run.baseline)} (green: better, red: worse, grey: no significant change)", fontsize=8
    )
    return Plot("forest", "Deltas vs the baseline with confidence intervals", "forest", figure_png(fig))


def _forest_panel(ax: Any, label: str, rows: list[tuple[str, Any]]) -> None:
    ys = list(range(len(rows)))[::-1]
    for y, (_model, d) in zip(ys, rows):
        color = _COLORS.get(d.verdict, _GREY)
        lo = d.ci_low if d.ci_low is not None else d.delta
        hi = d.ci_high if d.ci_high is not None else d.delta
        ax.errorbar(
            [d.delta],
            [y],
            xerr=[[max(d.delta - lo, 0)], [max(hi - d.delta, 0)]],
            fmt="o",
            color=color,
            ecolor=color,
            capsize=3,
            markersize=5,
        )
    ax.axvline(0.0, color="#24292f", linewidth=0.8)
    ax.set_yticks(ys, [plain_text(m) for m, _ in rows])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_title(plain_text(label), fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    ax.grid(axis="x", alpha=0.3)


def _confusion_details(details: dict[str, Any]) -> tuple[list[str], list[str], list[list[float]]] | None:
    cm = details.get("confusion_matrix")
    labels = details.get("labels")
    if not isinstance(cm, list) or not cm or not isinstance(labels, list) or len(cm) != len(labels):
        return None
    cols = details.get("columns")
    width = len(cm[0]) if isinstance(cm[0], list) else 0
    if not isinstance(cols, list) or len(cols) != width:
        cols = list(labels) + ["invalid"] * (width - len(labels))
    if any(not isinstance(r, list) or len(r) != width for r in cm):
        return None
    return [str(x) for x in labels], [str(x) for x in cols], cm


def confusion_plots(run: RunResult) -> list[Plot]:
    """Per classification task: one confusion matrix per model (rows true label, columns predicted)."""
    out = []
    for task in run.tasks:  # config order
        t = run.tasks[task]
        mats = []
        for m in model_order(run):
            mts = t.models.get(m)
            found = next(
                (c for s in (mts.metrics.values() if mts else []) if (c := _confusion_details(s.details))), None
            )
            if found:
                mats.append((m, *found))
        if not mats:
            continue
        n = len(mats)
        size = max(2.6, 0.45 * len(mats[0][2]) + 1.4)
        ncols = min(n, 3)
        nrows = math.ceil(n / ncols)
        fig = new_figure(size * ncols, size * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, (m, labels, cols, cm) in zip(axes, mats):
            vmax = max(max(r) for r in cm) or 1
            ax.imshow(cm, cmap="Blues", vmin=0, vmax=vmax, aspect="auto")
            for i, r in enumerate(cm):
                for j, v in enumerate(r):
                    ax.text(
                        j,
                        i,
                        f"{v:g}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if v > 0.6 * vmax else "#24292f",
                    )
            ax.set_xticks(range(len(cols)), [plain_text(c) for c in cols], rotation=45, ha="right", fontsize=8)
            ax.set_yticks(range(len(labels)), [plain_text(c) for c in labels], fontsize=8)
            ax.set_title(plain_text(m), fontsize=9)
            ax.set_xlabel("predicted", fontsize=8)
            ax.set_ylabel("true", fontsize=8)
        for ax in axes[n:]:
            ax.set_visible(False)
        out.append(
            Plot(safe_name("confusion", task), f"Confusion matrices: {task}", "confusion", figure_png(fig), task)
        )
    return out


def histogram_plots(run: RunResult, values: dict[tuple[str, str, str], list[float]]) -> list[Plot]:
    """Per task and per-example metric: the score distribution of each model.

    A few discrete levels (0/1, a 1-5 judge scale): grouped bars, one colour per model. Continuous scores:
    one histogram row per model on shared bins and a shared x axis, with the mean marked.
    ``values`` maps (task, model, metric key) to the finite per-example scores.
    """
    import numpy as np

    order = {m: i for i, m in enumerate(model_order(run))}
    groups: dict[tuple[str, str], list[tuple[str, list[float]]]] = {}
    for (task, model, key), vals in values.items():
        if vals:
            groups.setdefault((task, key), []).append((model, vals))
    out = []
    rank = task_rank(run)
    for task, key in sorted(groups, key=lambda g: (rank.get(g[0], len(rank)), g)):  # tasks in config order
        series = [
            (m, np.asarray(v, dtype=float))
            for m, v in sorted(groups[(task, key)], key=lambda s: (order.get(s[0], len(order)), s[0]))
        ]
        levels = np.unique(np.concatenate([v for _, v in series]))
        if len(levels) <= 11 and np.allclose(levels, np.round(levels * 2) / 2):
            fig = _discrete_bars(series, levels)
        else:
            fig = _stacked_hists(series, np.concatenate([v for _, v in series]))
        fig.suptitle(plain_text(f"{task}/{key}: per-example scores"), fontsize=9, x=0.01, ha="left")
        out.append(
            Plot(
                safe_name("hist", task, key),
                f"Score distribution: {task}/{key}" + _mean_note(run, task, key, series),
                "histogram",
                figure_png(fig),
                task,
            )
        )
    return out


def _mean_note(run: RunResult, task: str, key: str, series: list[tuple[str, Any]]) -> str:
    """The means the plot marks, and whether they are the table's values; when not (a corpus-level metric
    such as perplexity: exp of the token-weighted mean log-probability), both, and why."""
    from ._format import fmt_num

    drawn, table = [], []
    for model, v in series:
        mts = run.tasks[task].models.get(model) if task in run.tasks else None
        s = mts.metrics.get(key) if mts else None
        drawn.append((model, float(v.mean())))
        table.append((model, s.value if s is not None else None))
    shown = ", ".join(f"{m} {fmt_num(x)}" for m, x in drawn)
    if all(t is not None and abs(d - t) <= 1e-9 * max(1.0, abs(t)) for (_, d), (_, t) in zip(drawn, table)):
        return f" (means drawn, as in the table: {shown})"
    return (
        f": means drawn {shown}; the table's {', '.join(f'{m} {fmt_num(t)}' for m, t in table)}, computed over "
        f"the whole set (e.g. token-weighted), not as the mean of per-example scores"
    )


def _discrete_bars(series: list[tuple[str, Any]], levels: Any) -> Any:
    import numpy as np

    fig = new_figure(6.0, 2.6)
    ax = fig.subplots()
    width = 0.8 / len(series)
    x = np.arange(len(levels))
    for i, (model, v) in enumerate(series):
        counts = [(v == lv).sum() for lv in levels]
        ax.bar(
            x + (i - (len(series) - 1) / 2) * width,
            counts,
            width,
            color=_PALETTE[i % len(_PALETTE)],
            label=plain_text(f"{model} (mean {v.mean():.4g}, n={v.size})"),
        )
    ax.set_xticks(x, [f"{lv:g}" for lv in levels])
    ax.set_xlabel("score", fontsize=8)
    ax.set_ylabel("examples", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, frameon=False)
    return fig


def _stacked_hists(series: list[tuple[str, Any]], allv: Any) -> Any:
    import numpy as np

    bins = np.histogram_bin_edges(allv, bins=min(30, max(10, int(np.sqrt(allv.size)))))
    fig = new_figure(6.0, 0.9 * len(series) + 0.9)
    axes = fig.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
    for i, (ax, (model, v)) in enumerate(zip(axes, series)):
        color = _PALETTE[i % len(_PALETTE)]
        ax.hist(v, bins=bins, color=color, alpha=0.75)
        ax.axvline(v.mean(), color="#24292f", linewidth=1, linestyle="--")
        ax.set_ylabel(plain_text(model), fontsize=8, rotation=0, ha="right", va="center")
        ax.text(
            0.99,
            0.9,
            plain_text(f"mean {v.mean():.4g}, n={v.size}"),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7,
        )
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("score", fontsize=8)
    return fig


def curve_pngs(run_dir: str | Path, curves: Sequence[dict[str, Any]] = (), *, max_bytes: int = 8_000_000) -> list[Plot]:
    """The loss-curve PNGs of the curves analysis: those each curve dict names in ``plots`` (kind -> path
    relative to the run folder or to its ``curves/``), then any other PNG under ``run_dir/curves/``.
    Only real PNG files inside the run folder are taken (size-capped)."""
    root = Path(run_dir).resolve()
    found: list[tuple[Path, str]] = []
    for c in curves:
        label = str(c.get("label") or "curve")
        plots = c.get("plots")
        if not isinstance(plots, dict):
            plots = {}
        for kind, rel in plots.items():
            for base in (root, root / "curves"):
                p = (base / str(rel)).resolve()
                if p.is_relative_to(root) and p.is_file():
                    found.append((p, f"{label}: {kind}"))
                    break
    folder = root / "curves"
    seen = {p for p, _ in found}
    found += [
        (p, p.stem.replace("_", " "))
        for p in (sorted(folder.rglob("*.png")) if folder.is_dir() else [])
        if p.resolve() not in seen
    ]
    out = []
    for p, title in found:
        if p.stat().st_size > max_bytes:
            continue
        data = p.read_bytes()
        if data.startswith(PNG_MAGIC):
            out.append(Plot(p.stem, title, "curve", data))
    return out

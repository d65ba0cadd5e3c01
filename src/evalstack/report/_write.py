"""write_reports: every report file of a run folder, each written atomically."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write_bytes, atomic_write_text
from ..results import RunResult
from ._review import (
    LOWEST_COLUMNS,
    REGRESSION_COLUMNS,
    fill_regression_texts,
    has_examples,
    rows_to_csv,
    rows_to_jsonl,
    scan_examples,
)
from ._store import write_run_json
from ._worse import fill_failure_examples, find_failure_modes


@dataclass
class ReportData:
    """What the reports need beyond run.json: plots and the review lists (None: no examples.jsonl)."""

    plots: list[Any] = field(default_factory=list)
    lowest: list[dict[str, Any]] | None = None
    lowest_shown: list[dict[str, Any]] | None = None  # the lists the report shows (see ExampleScan.for_report)
    lowest_skipped: list[tuple[str, str]] = field(default_factory=list)  # (task/metric: model, why not shown)
    regressions: list[dict[str, Any]] | None = None
    failure_modes: list[Any] | None = None  # new failure modes (report._worse.FailureMode), None: no examples


def collect(
    run: RunResult, run_dir: str | Path | None, *, worst: int = 20, plots: bool = True, note: Any = None
) -> ReportData:
    """Scan examples.jsonl once (if present) and draw the plots (``note(text)``: a stage line for each)."""
    from . import _plots

    note = note or (lambda text: None)
    data = ReportData()
    scan = None
    if run_dir is not None and has_examples(run_dir):
        note("review lists: scanning examples.jsonl")
        scan = scan_examples(run_dir, run, worst=worst)
        data.lowest = scan.lowest_rows()
        data.lowest_shown, data.lowest_skipped = scan.for_report(data.lowest)
        data.regressions = fill_regression_texts(run_dir, scan.regression_candidates(run.baseline, worst=worst))
        data.failure_modes = fill_failure_examples(run_dir, find_failure_modes(run, scan.outputs))
    if plots:
        note("plots: forest plot, confusion matrices, histograms")
        forest = _plots.forest_plot(run)
        data.plots += [forest] if forest else []
        data.plots += _plots.confusion_plots(run)
        if scan is not None:
            values = {(t, m, k): scan.values(t, m, k) for (t, m) in scan.columns for k in scan.columns[(t, m)].cols}
            data.plots += _plots.histogram_plots(run, values)
        if run_dir is not None:
            data.plots += _plots.curve_pngs(run_dir, run.curves)
    return data


def write_reports(run_dir: str | Path, run: RunResult, *, worst: int = 20, note: Any = None) -> list[Path]:
    """Write run.json and every report file (see :func:`write_report_files`); return the paths written."""
    return write_report_files(run_dir, run, worst=worst, note=note)[0]


def write_report_files(
    run_dir: str | Path, run: RunResult, *, worst: int = 20, note: Any = None
) -> tuple[list[Path], ReportData]:
    """Write run.json, every report format (report.md, report.html, junit.xml and those of plug-ins:
    :mod:`._formats`), review/lowest.csv, review/lowest.jsonl, review/regressions.csv and plots/*.png into
    ``run_dir``; return the paths written.

    Each file is listed in the folder's manifest (``.evalstack-run``, when the folder is evalstack's) before
    it is written; PNGs of an earlier report are removed only if the manifest lists them.

    ``run_dir/examples.jsonl`` (written by the pipeline) is streamed, never loaded whole. Without it the
    review files hold only their header and the reports say so. ``worst`` is N of the review lists.
    Returns the paths and what the reports were made of (e.g. the new failure modes, for the terminal).
    """
    from .._outdir import record, remove_stale
    from ._formats import report_formats

    out = Path(run_dir)
    formats = report_formats()
    files = ["run.json", *(f.filename for f in formats), *_REVIEW_FILES]
    record(out, [out / f for f in files])  # the manifest lists each file before it is written
    written = [write_run_json(out, run)]
    data = collect(run, out, worst=worst, note=note)
    if note is not None:
        note(f"reports: {', '.join(f.filename for f in formats)}, review/")
    for fmt in formats:  # text, so that every registered secret is redacted from it as from every report
        written.append(atomic_write_text(out / fmt.filename, fmt.render(run, data), root=out))
    lowest, regressions = data.lowest or [], data.regressions or []
    written.append(atomic_write_text(out / "review" / "lowest.csv", rows_to_csv(lowest, LOWEST_COLUMNS), root=out))
    written.append(atomic_write_text(out / "review" / "lowest.jsonl", rows_to_jsonl(lowest), root=out))
    written.append(
        atomic_write_text(out / "review" / "regressions.csv", rows_to_csv(regressions, REGRESSION_COLUMNS), root=out)
    )
    plots = _plot_names([p for p in data.plots if p.kind != "curve"])
    record(out, [out / "plots" / f"{name}.png" for name, _ in plots])
    written += [atomic_write_bytes(out / "plots" / f"{name}.png", png, root=out) for name, png in plots]
    remove_stale(out, "plots", written)  # an earlier report's PNGs, if evalstack wrote them: never anyone else's
    return written, data


_REVIEW_FILES = ["review/lowest.csv", "review/lowest.jsonl", "review/regressions.csv"]


def _plot_names(plots: list[Any]) -> list[tuple[str, bytes]]:
    """(file stem, PNG bytes) per plot, named after the plot; a repeated name gets -2, -3..."""
    out, used = [], set()
    for p in plots:
        name, i = p.name, 2
        while name in used:
            name, i = f"{p.name}-{i}", i + 1
        used.add(name)
        out.append((name, p.png))
    return out

"""Write a run's curve outputs: ``curves/analysis.json`` and the PNG plots of each report (atomically)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from .._io import atomic_write_json
from ._records import SCHEMA_VERSION, CurveReport

__all__ = ["dedupe_labels", "write_curve_outputs"]


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
        plots = write_plots(rep, folder, root=out_dir)
        rep.plots = {kind: f"curves/{p.name}" for kind, p in plots.items()}
        written.extend(plots.values())
    analysis = atomic_write_json(
        folder / "analysis.json",
        {"schema_version": SCHEMA_VERSION, "curves": [r.to_dict() for r in reports]},
        root=out_dir,
    )
    return [analysis] + written

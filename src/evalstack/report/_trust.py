"""Report tables for trust in the numbers: judge scores corrected by human labels (issue 19)."""

from __future__ import annotations

from typing import Any

from ..results import RunResult, TaskSummary
from ._view import Cell, Table

__all__ = ["corrected_table"]


def _ci(c: dict[str, Any]) -> str:
    lo, hi = c["ci"]
    return f"{c['estimate']:.3f} [{lo:.3f}, {hi:.3f}]"


def corrected_table(run: RunResult, task: TaskSummary) -> Table:
    """Per judge metric and model (and model - baseline): the naive judge mean beside the PPI++ estimate."""
    t = Table(
        ["metric", "model", "judge (naive)", "corrected by people (PPI++, CI)", "labelled / judged", "labels"],
        numeric=[False, False, True, True, True, False],
    )
    for model, mts in task.models.items():
        for key, s in mts.metrics.items():
            for what, name in (("corrected", model), ("corrected_delta", f"{model} − {run.baseline}")):
                c = s.details.get(what)
                if not isinstance(c, dict):
                    continue
                t.rows.append(
                    [
                        Cell(key),
                        Cell(name),
                        Cell(f"{c['naive']:.3f}"),
                        Cell(_ci(c)),
                        Cell(f"{c['n_labelled']} / {c['n_labelled'] + c['n_unlabelled']}"),
                        Cell(str(c.get("labels", ""))),
                    ]
                )
    return t

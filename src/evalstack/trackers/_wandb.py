"""Weights & Biases: the run's numbers in the summary, tables (metrics, deltas, gate, examples) and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..results import RunResult
from ._base import Tracker, register_tracker
from ._common import gate_rows, plot_files, scalar_metrics


def table_columns(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Columns (union of keys, first-seen order) and data for a W&B table. A column keeps its values when
    they are all numbers or all booleans (None allowed); otherwise they become text (JSON for lists/dicts)."""
    cols: list[str] = list(dict.fromkeys(k for r in rows for k in r))

    def kind(v: Any) -> str:
        return "bool" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) else "text"

    keep = {c: {kind(r[c]) for r in rows if r.get(c) is not None} in ({"number"}, {"bool"}, set()) for c in cols}

    def cell(col: str, v: Any) -> Any:
        if v is None or keep[col]:
            return v
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)

    return cols, [[cell(c, r.get(c)) for c in cols] for r in rows]


@register_tracker("wandb")
class WandbTracker(Tracker):
    """``{type: wandb, project: ..., entity, name, group, job_type, tags, notes, mode, dir, log_examples,
    max_examples, log_plots, required}``. The key comes from ``WANDB_API_KEY`` (never from the config)."""

    package = "wandb"
    extra = "wandb"

    project: str = Field("evalstack", description="W&B project.")
    entity: str | None = Field(None, description="W&B team or user; default: the key's default entity.")
    name: str | None = Field(None, description="Run name; default: the evalstack run name.")
    group: str | None = Field(None, description="Run group, e.g. the fine-tuning job id.")
    job_type: str = "evaluation"
    tags: list[str] = Field(default_factory=list)
    notes: str | None = None
    mode: Literal["online", "offline", "disabled"] | None = Field(
        None, description="Default: $WANDB_MODE, else online."
    )
    dir: Path | None = Field(
        None, description="Folder for W&B's local files; default: $WANDB_DIR, else the working folder."
    )
    log_examples: bool = Field(True, description="Log the examples table (one row per example x model).")
    max_examples: int = Field(
        20000, ge=0, description="Rows of the examples table at most (first rows of examples.jsonl)."
    )
    log_plots: bool = Field(True, description="Log the PNGs of plots/ and curves/.")

    def log(self, run: RunResult, out_dir: Path) -> None:
        import wandb

        from ..api import delta_rows, metric_rows

        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
        config = {
            "name": run.name,
            "baseline": run.baseline,
            "config_digest": run.config_digest,
            "evalstack_version": run.evalstack_version,
            "settings": run.settings,
            "models": {k: v.model_dump() for k, v in run.models.items()},
            "config": run.config,
        }
        wb = wandb.init(
            project=self.project,
            entity=self.entity,
            name=self.name or run.name,
            group=self.group,
            job_type=self.job_type,
            tags=self.tags or None,
            notes=self.notes,
            mode=self.mode,
            dir=str(self.dir) if self.dir else None,
            config=config,
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off"),
        )
        try:
            wb.summary.update(scalar_metrics(run))
            logged: dict[str, Any] = {}
            tables = {
                "metrics": metric_rows(run),
                "deltas": delta_rows(run),
                "gate": gate_rows(run),
                "checkpoints": run.checkpoints,
            }
            if self.log_examples:
                tables["examples"] = _examples(out_dir, self.max_examples)
            for key, rows in tables.items():
                if rows:
                    cols, data = table_columns(rows)
                    logged[key] = wandb.Table(columns=[*cols], data=data, allow_mixed_types=True)
            if self.log_plots:
                logged.update({k: wandb.Image(str(p), caption=p.name) for k, p in plot_files(out_dir).items()})
            wb.log(logged)
        except BaseException:
            wb.finish(exit_code=1)
            raise
        wb.finish()


def _examples(out_dir: Path, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` rows of examples.jsonl, flattened (scores and judge reasons as columns)."""
    from itertools import islice

    from ..api import example_rows
    from ..report import iter_examples

    return example_rows(islice(iter_examples(out_dir), limit)) if (Path(out_dir) / "examples.jsonl").is_file() else []

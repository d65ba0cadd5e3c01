"""In-memory fine-tuning jobs of the loopback server: job, result file, checkpoints and events."""

from __future__ import annotations

import base64
import csv
import io
import time
from collections.abc import Mapping
from typing import Any

from ._store import ApiError, Files, new_id, paginate

_CHECKPOINT_METRICS = {
    # checkpoint metric name: results-CSV columns it may come from (OpenAI first, then Azure)
    "step": ("step",),
    "train_loss": ("train_loss",),
    "train_mean_token_accuracy": ("train_mean_token_accuracy", "train_accuracy"),
    "valid_loss": ("valid_loss", "validation_loss"),
    "valid_mean_token_accuracy": ("valid_mean_token_accuracy", "validation_mean_token_accuracy"),
    "full_valid_loss": ("full_valid_loss", "full_validation_loss"),
    "full_valid_mean_token_accuracy": ("full_valid_mean_token_accuracy", "full_validation_mean_token_accuracy"),
}


def _number(text: str) -> float | int | None:
    text = (text or "").strip()
    if not text:
        return None
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _csv_rows(results_csv: str) -> list[dict[str, Any]]:
    """Rows of a results CSV as numbers; empty cells are left out ("not measured")."""
    rows = []
    for raw in csv.DictReader(io.StringIO(results_csv)):
        row = {k.strip(): _number(v) for k, v in raw.items() if k and (v or "").strip()}
        if "step" in row:
            rows.append(row)
    return rows


def _metrics_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, columns in _CHECKPOINT_METRICS.items():
        for column in columns:
            if row.get(column) is not None:
                out[name] = row[column]
                break
    return out


class FineTuning:
    """Fine-tuning jobs added by tests: ``GET`` job, checkpoints and events, with cursor pagination."""

    def __init__(self, files: Files) -> None:
        self.files = files
        self.jobs: dict[str, dict] = {}
        self.checkpoints: dict[str, list[dict]] = {}
        self.events: dict[str, list[dict]] = {}

    def add_job(
        self,
        job_id: str,
        results_csv: str,
        checkpoints: list[dict],
        events: list[dict] | None,
        base64_content: bool,
        *,
        model: str,
        status: str,
        n_epochs: int,
        trained_tokens: int | None,
        fine_tuned_model: str | None,
        hyperparameters: Mapping[str, Any] | None,
    ) -> dict:
        """Store a job with its result file, checkpoints and events; returns the job object."""
        rows = _csv_rows(results_csv)
        data = results_csv.encode("utf-8")
        stored = self.files.add(
            base64.b64encode(data) if base64_content else data, "step_metrics.csv", "fine-tune-results"
        )
        created = int(time.time()) - 3600
        suffix = job_id.rsplit("-", 1)[-1]
        ft_model = fine_tuned_model or f"ft:{model}:loopback::{suffix[:8]}"
        hyper = {"n_epochs": n_epochs, "batch_size": 1, "learning_rate_multiplier": 1.0, **dict(hyperparameters or {})}
        job = {
            "id": job_id,
            "object": "fine_tuning.job",
            "model": model,
            "created_at": created,
            "finished_at": created + 3000 if status == "succeeded" else None,
            "fine_tuned_model": ft_model if status == "succeeded" else None,
            "organization_id": "org-loopback",
            "result_files": [stored.id],
            "status": status,
            "validation_file": "file-validation",
            "training_file": "file-training",
            "hyperparameters": hyper,
            "trained_tokens": trained_tokens,
            "error": None,
            "seed": 42,
            "estimated_finish": None,
            "integrations": [],
            "metadata": None,
            "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
        }
        by_step = {row["step"]: row for row in rows}
        ckpts = []
        for given in checkpoints:
            if "step_number" not in given:
                raise ValueError(f"checkpoint {given!r} has no 'step_number'")
            step = int(given["step_number"])
            metrics = given.get("metrics") or {"step": step, **_metrics_from_row(by_step.get(step, {}))}
            ckpts.append(
                {
                    "id": new_id("ftckpt_"),
                    "object": "fine_tuning.job.checkpoint",
                    "created_at": created + step,
                    "fine_tuning_job_id": job_id,
                    "step_number": step,
                    "fine_tuned_model_checkpoint": f"{ft_model}:ckpt-step-{step}",
                    **{k: v for k, v in given.items() if k not in ("step_number", "metrics")},
                    "metrics": metrics,
                }
            )
        ckpts.sort(key=lambda c: -c["step_number"])  # the API lists the newest checkpoint first
        self.jobs[job_id] = job
        self.checkpoints[job_id] = ckpts
        self.events[job_id] = self._events(job, rows if events is None else None, events or [])
        return dict(job)

    @staticmethod
    def _events(job: dict, rows: list[dict] | None, given: list[dict]) -> list[dict]:
        """Events newest first; from the CSV rows (one ``metrics`` event per step) when none are given."""
        created = job["created_at"]
        items: list[dict] = []
        if rows is not None:
            total = len(rows)
            given = [{"type": "message", "message": "Fine-tuning job started"}]
            for row in rows:
                data = {**row, "total_steps": total}
                message = f"Step {row['step']}/{total}: training loss={row.get('train_loss', float('nan')):.4f}"
                if row.get("valid_loss") is not None:
                    message += f", validation loss={row['valid_loss']:.4f}"
                given.append({"type": "metrics", "message": message, "data": data})
            given.append({"type": "message", "message": "The job has successfully completed"})
        for i, event in enumerate(given):
            items.append(
                {
                    "id": event.get("id") or new_id("ftevent-"),
                    "object": "fine_tuning.job.event",
                    "created_at": event.get("created_at", created + i),
                    "level": event.get("level", "info"),
                    "message": event.get("message", ""),
                    "data": event.get("data"),
                    "type": event.get("type", "message"),
                }
            )
        items.reverse()  # the API lists the newest event first
        return items

    def _job(self, job_id: str) -> dict:
        if job_id not in self.jobs:
            raise ApiError(404, f"Could not find fine-tune job: {job_id}", param="fine_tune_id", code="model_not_found")
        return self.jobs[job_id]

    def retrieve(self, job_id: str) -> dict:
        """``GET /fine_tuning/jobs/{id}``."""
        return dict(self._job(job_id))

    def listing(self, query: Mapping[str, str]) -> dict:
        """``GET /fine_tuning/jobs``: newest first."""
        return paginate([dict(j) for j in reversed(self.jobs.values())], query)

    def list_checkpoints(self, job_id: str, query: Mapping[str, str]) -> dict:
        """``GET /fine_tuning/jobs/{id}/checkpoints``: newest first, 10 per page by default."""
        self._job(job_id)
        return paginate(self.checkpoints[job_id], query, default_limit=10)

    def list_events(self, job_id: str, query: Mapping[str, str]) -> dict:
        """``GET /fine_tuning/jobs/{id}/events``: newest first, 20 per page by default."""
        self._job(job_id)
        return paginate(self.events[job_id], query, default_limit=20)

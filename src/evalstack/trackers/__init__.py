"""Experiment trackers: log a finished run to Weights & Biases and/or MLflow (``trackers:`` in the config).

::

    trackers:
      - {type: wandb, project: support-bot-evals, group: ft-job-123}
      - {type: mlflow, tracking_uri: "sqlite:///mlflow.db", experiment: support-bot}

The pipeline calls :func:`log_run` after the reports are written; :func:`validate_trackers` checks the
entries (and that ``wandb`` / ``mlflow`` is installed: ``pip install 'evalstack[wandb]'``) before any
request. A tracker that fails to log only warns (:class:`TrackerWarning`) unless it says
``required: true`` (then :class:`TrackerError`, exit 3; the reports are written either way). Keys and
tokens come from the trackers' own env vars (``WANDB_API_KEY``, ``MLFLOW_TRACKING_TOKEN``...), never
from the config.
"""

from __future__ import annotations

__all__ = [
    "Tracker",
    "WandbTracker",
    "MlflowTracker",
    "TrackerError",
    "TrackerWarning",
    "log_run",
    "validate_trackers",
    "parse_trackers",
    "register_tracker",
    "scalar_metrics",
    "run_params",
]

import warnings
from pathlib import Path
from typing import Any

from ..errors import redact
from ..results import RunResult
from ._base import Tracker, TrackerError, TrackerWarning, parse_trackers, register_tracker, validate_trackers
from ._common import run_params, scalar_metrics
from ._mlflow import MlflowTracker
from ._wandb import WandbTracker


def log_run(trackers: list[dict[str, Any]], run: RunResult, out_dir: Path) -> None:
    """Log ``run`` (its reports already in ``out_dir``) to every configured tracker, in order.

    Entries are validated first (ConfigError naming ``trackers[i]``). A tracker that fails warns with
    :class:`TrackerWarning` and the others still run, unless it is ``required: true``: then
    :class:`TrackerError` (exit code 3) is raised after the other trackers have run.
    """
    parsed = parse_trackers(trackers)
    errors: list[str] = []
    for i, tracker in enumerate(parsed):
        kind = trackers[i]["type"]
        try:
            tracker.log(run, Path(out_dir))
        except Exception as exc:
            msg = redact(
                f"trackers[{i}] ({kind}): logging failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            )
            if tracker.required:
                errors.append(msg)
            else:
                warnings.warn(
                    f"{msg} (the reports in {out_dir} are complete; set required: true to fail the run instead)",
                    TrackerWarning,
                    stacklevel=2,
                )
    if errors:
        raise TrackerError(
            "; ".join(errors), hint=f"the reports in {out_dir} are complete; `--resume` logs the run again"
        )

"""MLflow: parameters, metrics and tags of the run, report.md as the run's note, the run folder as artifacts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import Field

from ..errors import ConfigError
from ..results import RunResult
from ._base import Tracker, register_tracker
from ._common import run_files, run_params, scalar_metrics


def _chunks(items: list[Any], n: int) -> list[list[Any]]:
    return [items[i : i + n] for i in range(0, len(items), n)]


@register_tracker("mlflow")
class MlflowTracker(Tracker):
    """``{type: mlflow, tracking_uri, experiment, run_name, artifact_location, tags, log_artifacts,
    artifact_path, required}``. Credentials come from MLflow's own env vars (``MLFLOW_TRACKING_TOKEN``...)."""

    package = "mlflow"
    extra = "mlflow"

    tracking_uri: str | None = Field(
        None, description="e.g. sqlite:///mlflow.db, http://mlflow:5000; default: $MLFLOW_TRACKING_URI."
    )
    experiment: str | None = Field(None, description="Experiment name (created if missing); default: the run name.")
    run_name: str | None = Field(None, description="Default: the evalstack run name.")
    artifact_location: str | None = Field(
        None, description="For a new experiment; default: <db folder>/mlartifacts for sqlite, else MLflow's."
    )
    tags: dict[str, str] = Field(default_factory=dict)
    log_artifacts: bool = Field(
        True, description="Upload the run folder (run.json, report.md/html, junit.xml, examples, plots)."
    )
    artifact_path: str = Field("evalstack", description="Folder of the artifacts inside the MLflow run.")

    def _artifact_location(self) -> str | None:
        if self.artifact_location or not (self.tracking_uri or "").startswith("sqlite:///"):
            return self.artifact_location
        db = Path((self.tracking_uri or "")[len("sqlite:///") :])
        return (db.resolve().parent / "mlartifacts").as_uri()

    def log(self, run: RunResult, out_dir: Path) -> None:
        from mlflow.entities import Metric, Param
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
        from mlflow.utils import validation as limits

        try:
            client = MlflowClient(tracking_uri=self.tracking_uri)
            name = self.experiment or run.name
            exp = client.get_experiment_by_name(name)
            exp_id = (
                exp.experiment_id
                if exp
                else client.create_experiment(name, artifact_location=self._artifact_location())
            )
        except MlflowException as exc:
            if "MLFLOW_ALLOW_FILE_STORE" in str(exc):
                raise ConfigError(
                    "MLflow refuses a file store unless MLFLOW_ALLOW_FILE_STORE=true is set",
                    where="trackers: mlflow.tracking_uri",
                    hint="use tracking_uri: sqlite:///path/mlflow.db, or set MLFLOW_ALLOW_FILE_STORE=true",
                ) from None
            raise
        report = Path(out_dir) / "report.md"
        tags = {
            "evalstack.gate": "none" if run.gate is None else "passed" if run.gate.passed else "failed",
            "evalstack.config_digest": run.config_digest,
            "evalstack.version": run.evalstack_version,
            **self.tags,
        }
        if report.is_file():
            tags["mlflow.note.content"] = report.read_text(encoding="utf-8")[: limits.MAX_TAG_VAL_LENGTH]
        mlrun = client.create_run(exp_id, run_name=self.run_name or run.name, tags=tags)
        run_id = mlrun.info.run_id
        try:
            now = int(time.time() * 1000)
            metrics = [Metric(k, v, now, 0) for k, v in scalar_metrics(run).items()]
            params = [Param(k, v[: limits.MAX_PARAM_VAL_LENGTH]) for k, v in run_params(run).items()]
            for chunk in _chunks(params, limits.MAX_PARAMS_TAGS_PER_BATCH):
                client.log_batch(run_id, params=chunk)
            for chunk in _chunks(metrics, limits.MAX_METRICS_PER_BATCH):
                client.log_batch(run_id, metrics=chunk)
            if self.log_artifacts:
                for f in run_files(out_dir):
                    sub = f.relative_to(out_dir).parent.as_posix()
                    client.log_artifact(
                        run_id, str(f), self.artifact_path if sub == "." else f"{self.artifact_path}/{sub}"
                    )
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, "FINISHED")

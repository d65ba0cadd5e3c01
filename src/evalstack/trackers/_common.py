"""What every tracker logs, computed once: flat scalar metrics, run parameters, and the files of a run folder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..results import RunResult

_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")


def safe_key(key: str) -> str:
    """A metric/param name every tracker accepts (letters, digits, ``_-. /``; anything else becomes ``_``)."""
    return _UNSAFE_KEY.sub("_", key)


def scalar_metrics(run: RunResult) -> dict[str, float]:
    """Flat numbers of a run, the same keys for every tracker.

    ``<task>/<metric>/<model>`` (value) with ``<task>/<metric>/<model>_ci_low`` and ``..._ci_high``;
    ``<task>/delta/<metric>/<model>`` (model - baseline) with ``..._ci_low``, ``..._ci_high``, ``..._p_value``;
    ``<task>/failed/<model>`` (generations that failed after retries); ``gate/passed`` (1 or 0) and
    ``gate/rules_failed`` when the run has a gate. Undefined values (None) are left out. No key is a
    ``/``-prefix of another (MLflow's file store keeps ``a/b`` as a file, so ``a/b/c`` could not exist).
    """
    from ..api import delta_rows, metric_rows

    out: dict[str, float] = {}

    def put(key: str, value: Any) -> None:
        if value is not None:
            out[safe_key(key)] = float(value)

    for r in metric_rows(run):
        base = f"{r['task']}/{r['key']}/{r['model']}"
        put(base, r["value"])
        put(f"{base}_ci_low", r["ci_low"])
        put(f"{base}_ci_high", r["ci_high"])
    for r in delta_rows(run):
        base = f"{r['task']}/delta/{r['key']}/{r['model']}"
        put(base, r["delta"])
        put(f"{base}_ci_low", r["ci_low"])
        put(f"{base}_ci_high", r["ci_high"])
        put(f"{base}_p_value", r["p_value"])
    for tname, ts in run.tasks.items():
        for model, mts in ts.models.items():
            put(f"{tname}/failed/{model}", mts.failed)
    if run.gate is not None:
        put("gate/passed", int(run.gate.passed))
        put("gate/rules_failed", sum(1 for r in run.gate.rules if not r.passed))
    return out


def run_params(run: RunResult) -> dict[str, str]:
    """Flat string parameters of a run: name, baseline, versions, statistics settings, each model's
    provider/model/checkpoint step/generation params, and each task's example count."""
    params: dict[str, Any] = {
        "name": run.name,
        "baseline": run.baseline,
        "config_digest": run.config_digest,
        "evalstack_version": run.evalstack_version,
        "tasks": ",".join(run.tasks),
    }
    for k, v in run.settings.items():
        params[f"settings.{k}"] = v
    for name, info in run.models.items():
        params[f"models.{name}.provider"] = info.provider
        params[f"models.{name}.model"] = info.model
        params[f"models.{name}.checkpoint_step"] = info.checkpoint_step
        for k, v in info.params.items():
            params[f"models.{name}.params.{k}"] = v
    for tname, ts in run.tasks.items():
        params[f"tasks.{tname}.n_examples"] = ts.n_examples
    return {
        safe_key(k): v if isinstance(v, str) else json.dumps(v, default=str) for k, v in params.items() if v is not None
    }


def gate_rows(run: RunResult) -> list[dict[str, Any]]:
    """One dict per gate rule result (empty without a gate)."""
    return [r.model_dump() for r in run.gate.rules] if run.gate is not None else []


def run_files(out_dir: Path) -> list[Path]:
    """The files of a run folder to upload, sorted; hidden files (the run lock, temp files) are left out."""
    return sorted(
        p
        for p in Path(out_dir).rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out_dir).parts)
    )


def plot_files(out_dir: Path) -> dict[str, Path]:
    """PNG plots of a run folder by a stable key: ``plots/<name>`` and ``curves/<path without .png>``."""
    out_dir = Path(out_dir)
    found = {}
    for folder in ("plots", "curves"):
        root = out_dir / folder
        if root.is_dir():
            for p in sorted(root.rglob("*.png")):
                found[f"{folder}/{p.relative_to(root).with_suffix('').as_posix()}"] = p
    return found

"""Join each evaluated checkpoint's validation loss with its task scores, and flag the contradictions:
a checkpoint whose valid loss is lower than another's but whose task scores are worse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ._records import CheckpointPoint, CurveReport
from ._table import r

LOWER_IS_BETTER_SUFFIXES = ("toxicity_rate", "perplexity", "_loss", "invalid_rate", "error_rate")
"""Metric keys ending like this count as lower-is-better unless ``higher_is_better`` says otherwise."""


def _higher_better(metric: str, overrides: Mapping[str, bool] | None) -> bool:
    if overrides and metric in overrides:
        return bool(overrides[metric])
    return not metric.endswith(LOWER_IS_BETTER_SUFFIXES)


def _nearest(points: list[CheckpointPoint], step: int) -> CheckpointPoint | None:
    return min(points, key=lambda p: (abs(p.step - step), p.step)) if points else None


def join_checkpoints(
    report: CurveReport,
    model_scores: Mapping[str, tuple[int, Mapping[str, float]]],
    *,
    higher_is_better: Mapping[str, bool] | None = None,
) -> list[dict[str, Any]]:
    """Rows joining each checkpoint's valid loss with its task scores, sorted by step.

    ``model_scores``: model name -> ``(checkpoint_step, {"task/metric": value, ...})``. The valid loss is
    the report's point at that step (else the nearest one; ``valid_loss_step`` says which). A row is
    ``flagged`` when its checkpoint has a lower valid loss than another evaluated checkpoint but is worse
    on more of their shared task metrics than it is better (``conflicts`` lists each such pair with the
    metric values). Metric direction: ``higher_is_better`` overrides, else keys ending in
    :data:`LOWER_IS_BETTER_SUFFIXES` are lower-is-better.
    """
    rows: list[dict[str, Any]] = []
    for model, value in model_scores.items():
        if not (isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[1], Mapping)):
            raise ConfigError(f"model '{model}': expected (checkpoint_step, {{metric: value}}), got {value!r}")
        step, scores = value
        if isinstance(step, bool) or not isinstance(step, int):
            raise ConfigError(f"model '{model}': checkpoint_step must be an integer, got {step!r}")
        pt = _nearest(report.points, step)
        rows.append(
            {
                "model": model,
                "checkpoint_step": step,
                "valid_loss": r(pt.valid_loss, 6) if pt else None,
                "valid_loss_step": pt.step if pt else None,
                "valid_source": pt.valid_source if pt else None,
                "train_loss": r(pt.train_loss, 6) if pt else None,
                "overfit_ratio": r(pt.overfit_ratio) if pt else None,
                "overfit_band": pt.overfit_band if pt else None,
                "is_best": bool(pt and report.best and pt.step == report.best.step),
                "scores": {k: float(v) for k, v in scores.items() if v is not None},
                "flagged": False,
                "conflicts": [],
                "flag_reason": None,
            }
        )
    for a in rows:
        for b in rows:
            if a is b or a["valid_loss"] is None or b["valid_loss"] is None or not a["valid_loss"] < b["valid_loss"]:
                continue
            shared = sorted(set(a["scores"]) & set(b["scores"]))
            worse, better = {}, 0
            for m in shared:
                va, vb = a["scores"][m], b["scores"][m]
                if va == vb:
                    continue
                a_better = (va > vb) == _higher_better(m, higher_is_better)
                if a_better:
                    better += 1
                else:
                    worse[m] = [va, vb]
            if len(worse) > better:
                a["conflicts"].append(
                    {
                        "model": b["model"],
                        "checkpoint_step": b["checkpoint_step"],
                        "valid_loss": b["valid_loss"],
                        "worse_on": worse,
                    }
                )
    for row in rows:
        if row["conflicts"]:
            row["flagged"] = True
            c = row["conflicts"][0]
            metrics = ", ".join(f"{m} {v[0]:.4g} vs {v[1]:.4g}" for m, v in c["worse_on"].items())
            row["flag_reason"] = (
                f"lower valid loss ({row['valid_loss']:.4f} < {c['valid_loss']:.4f}) than "
                f"{c['model']} (step {c['checkpoint_step']}) but worse on the task: {metrics}"
            )
    rows.sort(key=lambda x: (x["checkpoint_step"], x["model"]))
    return rows

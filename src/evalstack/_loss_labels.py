"""Names of loss columns that say what was done to the values, shared by the curves section and the report
(which renders a saved run's curve dicts without needing the curves package)."""

from __future__ import annotations

from typing import Any


def loss_labels(curve: dict[str, Any] | None) -> tuple[str, str]:
    """Column names for the train and valid loss of one curve analysis dict (``CurveReport.to_dict()``):
    ``train loss (smoothed over 21 steps, hidden-token corrected)``, ``valid loss (hidden-token corrected)``.

    The train loss of a checkpoint row is a moving average over ``smoothing_window`` steps; the valid loss is
    measured (never smoothed). Both are visible-token values when the hidden-token correction was applied."""
    curve = curve or {}
    corrected = ["hidden-token corrected"] if (curve.get("hidden_tokens") or {}).get("applied") else []
    window = curve.get("smoothing_window") or 1
    train = ([f"smoothed over {window} steps"] if isinstance(window, int) and window > 1 else []) + corrected
    return (
        f"train loss ({', '.join(train)})" if train else "train loss",
        f"valid loss ({', '.join(corrected)})" if corrected else "valid loss",
    )

"""The config's ``gate``, ``curves`` and ``stats`` sections (re-exported by :mod:`evalstack.config`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from ._config_sections import _Strict

# ---------------------------------------------------------------- gate, curves


def _on_key(data: Any) -> Any:
    """YAML 1.1 reads the key ``on`` as the boolean true: map it back to the ``on`` option."""
    if isinstance(data, dict) and True in data and "on" not in data:
        data = {("on" if k is True else k): v for k, v in data.items()}
    return data


class RequireValidation(_Strict):
    """A judge metric's rule passes only with a `judge validate --save` record of the same rubric and judge."""

    min_kappa: float = Field(ge=-1, le=1, description="The validation's Cohen's kappa must be at least this.")
    path: Path | None = Field(
        None, description="A validation record file or a folder of them; default validations/ beside the config."
    )


class GateRule(_Strict):
    """One rule; a rule may set several bounds, each judged separately."""

    metric: str = Field(description="'<task>/<metric key>', e.g. intent/f1_macro.")
    model: str | None = Field(None, description="Model the rule applies to; default every non-baseline model.")
    min: float | None = None
    max: float | None = None
    max_regression: float | None = Field(
        None, ge=0, description="Fail if significantly worse than the baseline by more than this."
    )
    require_non_inferiority: float | None = Field(
        None, ge=0, description="Fail unless the delta's CI lower bound is above -margin."
    )
    max_unscored: float | None = Field(
        None, ge=0, description="Max unscored examples: a count (>=1) or a fraction (<1)."
    )
    max_invalid: float | None = Field(
        None, ge=0, description="Max invalid (unparseable) labels: a count (>=1) or a fraction (<1)."
    )
    max_drop: float | None = Field(
        None,
        ge=0,
        description="Forgetting guard: fail on a drop (point estimate) bigger than this, e.g. 0.02 for 2 points; inconclusive when the CI does not rule it out.",
    )
    max_trend_decline: float | None = Field(
        None,
        ge=0,
        description="Drift alarm over the run store's comparable history: fail when the one-sided Mann-Kendall "
        "test finds a decline (p < 1 - confidence) and the Theil-Sen slope declines more than this per run.",
    )
    window: int = Field(10, ge=4, le=1000, description="max_trend_decline: the newest comparable runs tested.")
    inconclusive: Literal["fail", "warn", "pass"] | None = Field(
        None, description="This rule's outcome when its CI straddles a min/max/max_drop bound (default: the gate's)."
    )
    on: Literal["estimate", "ci"] | None = Field(
        None, description="min/max/max_drop judged on the point estimate only, or with the CI (default: the gate's)."
    )
    corrected: bool = Field(
        False,
        description="Judge metrics: judge the rule on the estimate corrected by the judge's human_labels (PPI++).",
    )
    require_validation: RequireValidation | None = Field(
        None, description="Judge metrics: fail as 'not validated' without a validation of kappa >= min_kappa."
    )

    _yaml_on = model_validator(mode="before")(lambda data: _on_key(data))

    @model_serializer(mode="wrap")
    def _trend_keys_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """run.json's config keeps the trend keys only on a trend rule (earlier runs' configs are unchanged)."""
        out: dict[str, Any] = handler(self)
        if self.max_trend_decline is None:
            out.pop("max_trend_decline", None)
            out.pop("window", None)
        return out

    @field_validator("metric")
    @classmethod
    def _task_slash_metric(cls, v: str) -> str:
        if "/" not in v:
            raise ValueError("metric must be '<task>/<metric>', e.g. intent/f1_macro")
        return v

    @model_validator(mode="after")
    def _some_bound(self) -> GateRule:
        if all(
            getattr(self, k) is None
            for k in (
                "min",
                "max",
                "max_regression",
                "require_non_inferiority",
                "max_unscored",
                "max_invalid",
                "max_drop",
                "max_trend_decline",
            )
        ):
            raise ValueError(
                "a rule needs a bound: min, max, max_regression, require_non_inferiority, max_unscored, max_invalid, max_drop or max_trend_decline"
            )
        return self


class GateConfig(_Strict):
    confidence: float = Field(0.95, gt=0.5, lt=1)
    holm: bool = Field(False, description="Holm correction across the gated comparisons.")
    max_unscored: float | None = Field(
        0.05,
        ge=0,
        description="Implicit max_unscored of every rule that sets none "
        "(a fraction < 1 or a count >= 1; null: no implicit bound).",
    )
    inconclusive: Literal["fail", "warn", "pass"] = Field(
        "warn", description="Outcome of a min/max/max_drop rule whose CI straddles its bound: warn passes and says so."
    )
    on: Literal["estimate", "ci"] = Field(
        "ci",
        description="min/max/max_drop: 'ci' passes only when the whole CI is "
        "on the right side; 'estimate' reads the point estimate only.",
    )
    rules: list[GateRule] = Field(default_factory=list)

    _yaml_on = model_validator(mode="before")(lambda data: _on_key(data))


class CurvesConfig(_Strict):
    path: Path
    format: Literal["openai", "azure", "hf", "generic", "rft"] | None = None
    mapping: dict[str, str] = Field(default_factory=dict)
    hidden_tokens: int | None = Field(None, ge=0)
    visible_tokens: float | None = Field(None, gt=0)
    n_epochs: int | None = Field(None, ge=1)
    label: str | None = None


class StatsSettings(_Strict):
    confidence: float = Field(0.95, gt=0.5, lt=1)
    n_resamples: int = Field(2000, ge=100, le=100_000)
    seed: int = 0

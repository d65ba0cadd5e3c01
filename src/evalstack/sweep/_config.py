"""The ``sweep:`` section of a config, and the loader that splits it from the run config.

A sweep config is an ordinary run config (``baseline``, ``models`` with the baseline, ``tasks``, ``gate``...)
plus a ``sweep:`` section naming where the checkpoints come from and how to pick one. The run part is
validated by :func:`evalstack.config.config_from_data` (same messages, same line numbers); the sweep part
here, with errors under ``sweep.<key>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..config import Config, GateRule, ModelConfig, config_from_data
from ..errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Every(_Strict):
    every: int = Field(ge=1, description="Checkpoints whose step is a multiple of N (the final one is always kept).")


class Objective(_Strict):
    metric: str = Field(
        description="'<task>/<metric key>' the pick maximises (or minimises, for lower-is-better metrics)."
    )


class SweepSettings(_Strict):
    """Where the checkpoints come from (exactly one of job, path, models) and how one is picked."""

    job: str | None = Field(
        None, description="An OpenAI fine-tuning job id: its checkpoints, final model and results file."
    )
    path: Path | None = Field(
        None, description="A training output folder with HF Trainer `checkpoint-*/` folders and trainer_state.json."
    )
    models: dict[str, ModelConfig] | None = Field(
        None, description="An explicit list of checkpoints (each with checkpoint_step)."
    )
    curve: Path | None = Field(
        None, description="A loss-curve file (results CSV, trainer_state.json...) for the explicit list."
    )
    model: ModelConfig | None = Field(
        None,
        description="job: the model config every checkpoint runs with (its `model` "
        "is replaced); default the baseline's when it is an openai model.",
    )
    serve: dict[str, Any] | None = Field(
        None,
        description="path: serve each checkpoint through this OpenAI-compatible "
        "server (openai model keys; `model` may use {name} and {step}).",
    )
    local: dict[str, Any] = Field(
        default_factory=dict, description="path: options of the `local` provider per checkpoint."
    )
    select: Literal["all", "curve"] | Every = Field(
        "curve", description="all; curve (best valid loss, final, mid-training, RFT peak reward); {every: N}."
    )
    objective: Objective
    constraints: list[GateRule] = Field(
        default_factory=list, description="Gate rules a candidate must meet to be picked."
    )
    confirm_fraction: float = Field(
        0.3,
        ge=0,
        lt=1,
        description="Share of each task's examples held out to confirm "
        "the pick (0: no confirmation; the pick's CI is then not adjusted for selection).",
    )
    strategy: Literal["full", "successive_halving"] = "full"
    eta: int = Field(2, ge=2, le=8, description="successive_halving: keep 1/eta of the candidates per round.")
    seed: int = Field(0, description="Seed of the selection/confirmation split.")

    @model_validator(mode="after")
    def _one_source(self) -> SweepSettings:
        given = [k for k in ("job", "path", "models") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one source of checkpoints: `job` (OpenAI fine-tuning job id), `path` "
                f"(a folder with checkpoint-*/) or `models` (an explicit list); got {given or 'none'}"
            )
        if self.models is not None and any(m.checkpoint_step is None for m in self.models.values()):
            bad = next(n for n, m in self.models.items() if m.checkpoint_step is None)
            raise ValueError(f"at sweep.models.{bad}: give `checkpoint_step` (the training step of this checkpoint)")
        return self


class _Doc(_Strict):
    sweep: SweepSettings


@dataclass
class SweepSpec:
    """A loaded sweep: the run config (baseline, tasks, gate...) and the sweep settings."""

    config: Config
    """The run part: every per-candidate run is built from it."""
    sweep: SweepSettings
    """The ``sweep:`` section, paths resolved against the config's folder."""


def _resolve(p: Path | None, base: Path) -> Path | None:
    if p is None:
        return None
    p = p.expanduser()
    return p if p.is_absolute() else Path(os.path.normpath(base / p))


def _check(spec: SweepSpec, doc: Any) -> None:
    cfg, sw = spec.config, spec.sweep
    tasks = {t.name for t in cfg.tasks}

    def bad(loc: tuple[Any, ...], msg: str, hint: str | None = None) -> ConfigError:
        from .._yaml import format_loc

        line = doc.line_of(loc) if doc is not None else None
        where = f"{doc.path if doc is not None else 'config'}: {format_loc(loc)}" + (f" (line {line})" if line else "")
        return ConfigError(msg, where=where, hint=hint)

    for loc, metric in [(("sweep", "objective", "metric"), sw.objective.metric)] + [
        (("sweep", "constraints", i, "metric"), r.metric) for i, r in enumerate(sw.constraints)
    ]:
        task, _, key = metric.partition("/")
        if not key:
            raise bad(loc, f"metric must be '<task>/<metric>', got '{metric}'", "e.g. intent/accuracy")
        if task not in tasks:
            raise bad(loc, f"unknown task '{task}' in '{metric}'", f"tasks: {', '.join(sorted(tasks))}")
    for i, r in enumerate(sw.constraints):
        if r.model is not None:
            raise bad(("sweep", "constraints", i, "model"), "a constraint applies to every candidate: drop `model`")
    for name in sw.models or {}:
        if name in cfg.models:
            raise bad(
                ("sweep", "models", name),
                f"'{name}' is also under models: (the baseline's list)",
                "give candidates names of their own",
            )


def sweep_from_data(data: Any, *, source: Path | None = None, doc: Any = None) -> SweepSpec:
    """Validate parsed config data with a ``sweep:`` section into a :class:`SweepSpec`."""
    where = str(source) if source else "config"
    if not isinstance(data, dict):
        raise ConfigError(
            "the config must be a YAML mapping (name:, baseline:, models:, tasks:, sweep: ...)", where=where
        )
    data = dict(data)
    if "sweep" not in data:
        raise ConfigError(
            "no `sweep:` section",
            where=where,
            hint="add sweep: {job: ftjob-..., objective: {metric: <task>/<metric>}} (see README, Checkpoint sweeps)",
        )
    raw = data.pop("sweep")
    cfg = config_from_data(data, source=source, doc=doc)
    try:
        sw = _Doc.model_validate({"sweep": raw}).sweep
    except ValidationError as exc:
        if doc is None:
            from .._yaml import format_loc

            e = exc.errors()[0]
            raise ConfigError(e.get("msg", "invalid"), where=format_loc(tuple(e.get("loc", ())))) from None
        from .._yaml import validation_error

        raise validation_error(exc, doc, _Doc) from None
    base = source.parent if source else Path.cwd()
    sw.path, sw.curve = _resolve(sw.path, base), _resolve(sw.curve, base)
    for m in list((sw.models or {}).values()) + ([sw.model] if sw.model else []):
        if hasattr(m, "path"):
            m.path = _resolve(m.path, base)
    spec = SweepSpec(config=cfg, sweep=sw)
    _check(spec, doc)
    return spec


def load_sweep(path: str | Path) -> SweepSpec:
    """Load a sweep config file: env expansion, secret checks and validation as ``load_config`` does."""
    from ..config import read_config_data

    p = Path(path)
    data, doc = read_config_data(p)
    return sweep_from_data(data, source=p.resolve(), doc=doc)

"""The YAML config as pydantic models (``extra="forbid"``), with env expansion and path resolution.

`load_config(path)` is the only entry point: it returns a validated :class:`Config` whose relative paths
are resolved against the config file's folder, or raises a :class:`~evalstack.errors.ConfigError` naming
the file, the key path (``tasks[1].metrics[0]``), the line and the fix.
"""

from __future__ import annotations

__all__ = [
    "Config",
    "BaselineRun",
    "TaskConfig",
    "DataConfig",
    "PromptConfig",
    "FewShot",
    "LabelParsing",
    "MetricSpec",
    "JudgeSpec",
    "ModelConfig",
    "validate_model_settings",
    "OpenAIModel",
    "AzureSettings",
    "ReplayModel",
    "LocalModel",
    "MockModel",
    "GateConfig",
    "GateRule",
    "CurvesConfig",
    "StatsSettings",
    "load_config",
    "config_digest",
    "resolve_validation_paths",
]

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ._config_gate import CurvesConfig, GateConfig, GateRule, StatsSettings
from ._config_sections import (
    DataConfig,
    FewShot,
    JudgeSpec,
    LabelParsing,
    MetricSpec,
    ModelConfig,
    PromptConfig,
    TaskConfig,
    _Strict,
    validate_model_settings,
)
from ._yaml import YamlDoc, expand_env, load_yaml, validation_error
from .errors import ConfigError

_SETTINGS_ALIASES = {
    "OpenAIModel": "_openai:OpenAISettings",
    "AzureSettings": "_openai:AzureSettings",
    "ReplayModel": "_replay:ReplaySettings",
    "LocalModel": "_local:LocalSettings",
    "MockModel": "_mock:MockSettings",
}


def __getattr__(name: str) -> Any:
    """The built-in providers' Settings under their former names here (they live with their provider)."""
    if name in _SETTINGS_ALIASES:
        import importlib

        module, _, attr = _SETTINGS_ALIASES[name].partition(":")
        return getattr(importlib.import_module(f"evalstack.models.{module}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------- the config


class BaselineRun(_Strict):
    """``baseline: {run: prod}``: pair the models with a stored baseline's per-example scores."""

    run: str = Field(description="A stored baseline's name (`evalstack baseline set`) or a run folder path.")
    intersect: bool = Field(False, description="Pair the example ids both sides have (else a missing id is an error).")
    allow_mismatch: list[str] = Field(
        default_factory=list,
        description="Digest kinds that may differ (the report marks the deltas not like-for-like).",
    )


class Config(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    baseline: str
    baseline_run: BaselineRun | None = Field(
        None,
        exclude=True,
        description="Set by `baseline: {run: NAME}`: the stored baseline the models are paired with.",
    )
    store: Path | None = Field(
        None, exclude=True, description="The run store folder (history, baselines); default $EVALSTACK_STORE."
    )
    models: dict[str, ModelConfig]
    tasks: list[TaskConfig] = Field(min_length=1)
    judge: ModelConfig | None = None
    gate: GateConfig | None = None
    curves: list[CurvesConfig] = Field(default_factory=list)
    stats: StatsSettings = Field(default_factory=StatsSettings)
    output: Path | None = Field(None, description="Output folder; default reports/<name> next to the config.")
    cache: Path | None = Field(None, description="SQLite cache file; default $EVALSTACK_CACHE_DIR/cache.sqlite.")
    trackers: list[dict[str, Any]] = Field(default_factory=list)
    allow_secret_in_prompt: bool = Field(
        False,
        description="Allow ${VAR} of a secret (a key variable, one used in base_url/headers, or a name with KEY, TOKEN, SECRET, PASSWORD) in a prompt; it is still redacted from every file written.",
    )
    max_output_chars: int = Field(
        1_000_000,
        ge=1,
        description="Outputs longer than this are cut to it before they are judged, scored and stored in examples.jsonl (the cache keeps them whole); run.json states the cap and how many were cut.",
    )

    source: Path | None = Field(None, exclude=True, description="The config file (set by load_config).")

    @model_validator(mode="before")
    @classmethod
    def _stored_baseline(cls, data: Any) -> Any:
        """``baseline: {run: prod}``: the models are candidates only; the first stands in as the run's baseline
        until :mod:`evalstack.baseline` pairs them with the stored one."""
        if isinstance(data, dict) and isinstance(data.get("baseline"), dict):
            models = data.get("models")
            first = next(iter(models), "") if isinstance(models, dict) else ""
            data = {**data, "baseline_run": data["baseline"], "baseline": first}
        return data

    @field_validator("name")
    @classmethod
    def _run_name(cls, v: str) -> str:
        if v.strip(".") == "":  # reports/<name>: '.' or '..' would be the reports folder or the config's folder
            raise ValueError(f"run name '{v}' is not a folder name: use letters, digits, '_', '-' (e.g. name: my-eval)")
        return v

    @field_validator("models")
    @classmethod
    def _names(cls, v: dict[str, Any]) -> dict[str, Any]:
        import re

        if not v:
            raise ValueError("at least one model is needed")
        for name in v:
            if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
                raise ValueError(f"model name '{name}' may use only letters, digits, '_', '-', '.'")
        return v

    @field_validator("curves", mode="before")
    @classmethod
    def _curves_short(cls, v: Any) -> Any:
        if isinstance(v, (str, dict)):
            v = [v]
        return [{"path": x} if isinstance(x, str) else x for x in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _cross(self) -> Config:
        if self.baseline not in self.models:
            raise ValueError(f"at baseline: '{self.baseline}' is not among models ({', '.join(self.models)})")
        names = [t.name for t in self.tasks]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"at tasks: task names must be unique: {', '.join(sorted(dup))}")
        repeats = {getattr(m, "repeat", 1) for m in self.models.values()}
        if len(repeats) > 1:
            raise ValueError(
                "at models: every model needs the same `repeat` (deltas pair each example's k-th sample across models)"
            )
        needs_judge = any(t.judges or t.pairwise for t in self.tasks)
        if (
            needs_judge
            and self.judge is None
            and any(j.judge is None for t in self.tasks for j in t.judges + t.pairwise)
        ):
            raise ValueError(
                "at tasks: tasks list judges but no `judge:` model is configured (add `judge: {provider: ..., model: ...}`)"
            )
        if self.gate:
            for i, rule in enumerate(self.gate.rules):
                task = rule.metric.split("/", 1)[0]
                if task not in names:
                    raise ValueError(
                        f"at gate.rules[{i}].metric: unknown task '{task}' in '{rule.metric}' (tasks: {', '.join(names)})"
                    )
                if rule.model is not None and rule.model not in self.models:
                    raise ValueError(f"at gate.rules[{i}].model: unknown model '{rule.model}'")
        return self

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    def output_dir(self) -> Path:
        """Where the run folder goes."""
        return self.output if self.output else self.base_dir / "reports" / self.name


def resolve_validation_paths(gate: GateConfig | None, base: Path) -> None:
    """require_validation paths relative to ``base`` (the config's or the rules file's folder); default
    ``base/validations``."""
    for rule in gate.rules if gate else []:
        if rule.require_validation is not None:
            p = rule.require_validation.path or Path("validations")
            p = p.expanduser()
            rule.require_validation.path = p if p.is_absolute() else Path(os.path.normpath(base / p))


def _resolve_paths(cfg: Config, base: Path) -> None:
    def fix_opt(p: Path | None) -> Path | None:
        return None if p is None else fix(p)

    def fix(p: Path) -> Path:
        p = p.expanduser()
        return p if p.is_absolute() else Path(os.path.normpath(base / p))

    for provider in list(cfg.models.values()) + ([cfg.judge] if cfg.judge else []):
        if isinstance(path := getattr(provider, "path", None), Path):
            setattr(provider, "path", fix(path))  # noqa: B010 - a provider's own Settings may have a path
    for t in cfg.tasks:
        t.data.path = fix(t.data.path)
        if t.tools is not None:
            t.tools.resolve(fix)
        for m in t.metrics:  # model folders, metric modules, baseline files named relative to the config
            for key in ("model", "path", "baseline"):
                val = m.options.get(key)
                if isinstance(val, str) and val and not os.path.isabs(val) and (base / val).exists():
                    m.options[key] = str(fix(Path(val)))
        for j in t.judges + t.pairwise:
            if j.judge is not None and isinstance(path := getattr(j.judge, "path", None), Path):
                setattr(j.judge, "path", fix(path))  # noqa: B010
            if j.rubric.endswith((".yaml", ".yml")) or "/" in j.rubric:
                j.rubric = str(fix(Path(j.rubric)))
        for j in t.judges:
            j.human_labels = fix_opt(j.human_labels)
    for c in cfg.curves:
        c.path = fix(c.path)
    resolve_validation_paths(cfg.gate, base)
    cfg.output = fix_opt(cfg.output)
    cfg.cache = fix_opt(cfg.cache)
    cfg.store = fix_opt(cfg.store)


def config_from_data(data: Any, *, source: Path | None = None, doc: Any = None) -> Config:
    """Validate already-parsed config data (a dict) into a :class:`Config`."""
    if not isinstance(data, dict):
        where = str(source) if source else "config"
        raise ConfigError("the config must be a YAML mapping (name:, baseline:, models:, tasks: ...)", where=where)
    if "sweep" in data:  # the one hook of evalstack.sweep: its loader takes the section off before it gets here
        line = doc.line_of(("sweep",)) if doc is not None else None
        raise ConfigError(
            "this config has a `sweep:` section (checkpoints to sweep)",
            where=f"{source or 'config'}: sweep" + (f" (line {line})" if line else ""),
            hint="run it with `evalstack sweep CONFIG`",
        )
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        if doc is None:
            from ._yaml import format_loc

            e = exc.errors()[0]
            raise ConfigError(e.get("msg", "invalid"), where=format_loc(tuple(e.get("loc", ())))) from None
        raise validation_error(exc, doc, Config) from None
    cfg.source = source
    _resolve_paths(cfg, source.parent if source else Path.cwd())
    return cfg


def load_config(path: str | Path) -> Config:
    """Load, expand ``${ENV}``, validate and resolve a config file.

    Secrets are registered on the way (:mod:`evalstack._secrets`): the variables named as
    keys, and every variable expanded into ``base_url``, ``endpoint`` or ``headers``; expanding a secret into a
    prompt is a ConfigError unless ``allow_secret_in_prompt: true``."""
    p = Path(path)
    data, doc = read_config_data(p)
    cfg = config_from_data(data, source=p.resolve(), doc=doc)
    return cfg


def read_config_data(path: Path) -> tuple[Any, YamlDoc]:
    """A config file's YAML with ``${VAR}`` expanded, the key variables registered as secrets and the
    expansions checked (no secret in a prompt): the data and the document its errors point into. The run's
    and the sweep's configs are read by it."""
    from ._secrets import check_expansions, register_key_names

    doc = load_yaml(path, what="config file")
    expanded: list[tuple[tuple[Any, ...], str, str]] = []
    data = expand_env(doc.data, doc, record=expanded)
    register_key_names(data)
    check_expansions(expanded, data, doc)
    return data, doc


def config_digest(cfg: Config) -> str:
    """sha256 of what determines the evaluation's result, not of the folder it sits in.

    The resolved config with every file it names replaced by ``{"path": <relative to the config's folder>,
    "sha256": <the file's contents>}`` (a folder: the sorted relative names and contents of its files), so
    the same config and data in two checkouts give one digest and one changed data byte gives another.
    The output folder and the cache file are named by relative path only (their contents are results, not
    inputs). No secrets are in it: keys are named by env var only.
    """
    base = cfg.base_dir
    data = cfg.model_dump(mode="json", exclude={"source"})

    def file_ref(value: Any, contents: bool = True) -> Any:
        if not isinstance(value, str) or not value or not os.path.isabs(value):
            return value
        ref: dict[str, Any] = {"path": Path(os.path.relpath(value, base)).as_posix()}
        if contents:
            ref["sha256"] = _content_sha256(Path(value))
        return ref

    def model(m: Any) -> None:
        if isinstance(m, dict):
            m.pop("price", None)  # prices change what a run costs, not what it measures
        if isinstance(m, dict) and "path" in m:  # a provider's file or folder (replay, local): by contents
            m["path"] = file_ref(m["path"])

    for m in data.get("models", {}).values():
        model(m)
    model(data.get("judge"))
    for t in data.get("tasks", []):
        t["data"]["path"] = file_ref(t["data"]["path"])
        for k in ("schemas", "module"):  # a tool task's files, by contents
            if isinstance((t.get("tools") or {}).get(k), str):
                t["tools"][k] = file_ref(t["tools"][k])
        for ms in t.get("metrics", []):
            opts = ms.get("options") or {}
            for key in ("model", "path", "baseline"):
                if isinstance(opts.get(key), str) and os.path.isabs(opts[key]) and os.path.exists(opts[key]):
                    opts[key] = file_ref(opts[key])
        for j in t.get("judges", []) + t.get("pairwise", []):
            j["human_labels"] = file_ref(j.get("human_labels"))
            if j["human_labels"] is None:
                j.pop("human_labels")  # absent: the digest of a config without it is what it always was
            model(j.get("judge"))
            if os.path.isabs(j.get("rubric", "")):
                j["rubric"] = file_ref(j["rubric"])
    for c in data.get("curves", []):
        c["path"] = file_ref(c.get("path"))
    for key in ("output", "cache"):
        data[key] = file_ref(data.get(key), contents=False)
    for rule in (data.get("gate") or {}).get("rules", []):
        for key, default in (("corrected", False), ("require_validation", None)):
            if rule.get(key) == default:
                rule.pop(key, None)
    blob = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def _content_sha256(path: Path) -> str:
    """sha256 of a file's bytes (streamed; memoised per path, size and mtime), or of a folder's files (each
    file's relative name and sha256, sorted); ``"missing"`` when there is nothing there."""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f"{f.relative_to(path).as_posix()}\0{_content_sha256(f)}\n".encode())
        return h.hexdigest()
    if not path.is_file():  # a FIFO or device is never read here
        return "not-a-file"
    memo = (str(path), st.st_size, st.st_mtime_ns)
    if memo not in _SHA_MEMO:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _SHA_MEMO[memo] = h.hexdigest()
    return _SHA_MEMO[memo]

"""The YAML config as pydantic models (``extra="forbid"``), with env expansion and path resolution.

`load_config(path)` is the only entry point: it returns a validated :class:`Config` whose relative paths
are resolved against the config file's folder, or raises a :class:`~evalstack.errors.ConfigError` naming
the file, the key path (``tasks[1].metrics[0]``), the line and the fix.
"""

from __future__ import annotations

__all__ = [
    "Config",
    "TaskConfig",
    "DataConfig",
    "PromptConfig",
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
    "load_config",
    "config_digest",
]

import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    WrapValidator,
    field_validator,
    model_serializer,
    model_validator,
)

from ._yaml import expand_env, load_yaml, validation_error
from .errors import ConfigError
from .models import ProviderSettings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# ---------------------------------------------------------------- models (providers)


def validate_model_settings(data: Any) -> Any:
    """A ``models.<name>`` / ``judge`` entry validated by the ``Settings`` of the provider it names (built-in
    or plug-in, found through :mod:`evalstack.registry`). Errors keep their key path: pydantic reports the
    Settings' own errors under the entry, and an unknown or missing ``provider`` as a discriminated union does."""
    from pydantic_core import InitErrorDetails

    from .models import ProviderSettings
    from .registry import find, names

    if isinstance(data, ProviderSettings):
        return data
    error: InitErrorDetails
    if not isinstance(data, dict):
        error = {"type": "model_attributes_type", "loc": (), "input": data}
    elif "provider" not in data:
        error = {"type": "union_tag_not_found", "loc": (), "input": data, "ctx": {"discriminator": "'provider'"}}
    else:
        kind = data["provider"]
        prov = find("provider", kind) if isinstance(kind, str) else None
        if prov is not None:
            return prov.Settings.model_validate(data)
        error = {
            "type": "union_tag_invalid",
            "loc": (),
            "input": data,
            "ctx": {
                "discriminator": "'provider'",
                "tag": str(kind),
                "expected_tags": ", ".join(f"'{n}'" for n in names("provider")),
            },
        }
    raise ValidationError.from_exception_data("ModelConfig", [error])


def _model_settings(data: Any, handler: Any) -> Any:
    return validate_model_settings(data)


class _EverySettings:
    """JSON Schema of a model entry: one of every registered provider's Settings (built at schema time)."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        from .registry import entries

        return {"oneOf": [handler(p.Settings.__pydantic_core_schema__) for p in entries("provider").values()]}


ModelConfig = Annotated[SerializeAsAny[ProviderSettings], WrapValidator(_model_settings), _EverySettings()]
"""A model entry: the provider's own ``Settings`` (an :class:`~evalstack.models.ProviderSettings`)."""

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


# ---------------------------------------------------------------- tasks


class DataConfig(_Strict):
    path: Path = Field(description="JSONL, JSON, CSV, Parquet file or a saved HF dataset folder.")
    id: str | None = Field(None, description="Column with example ids; else a content hash.")
    format: Literal["jsonl", "json", "csv", "parquet", "hf"] | None = None
    split: str | None = Field(None, description="Split of a saved DatasetDict.")
    limit: int | None = Field(None, ge=1, description="First N examples.")
    sample: int | None = Field(None, ge=1, description="A deterministic random sample of N examples.")
    seed: int = 0


class FewShot(_Strict):
    user: str
    assistant: str


class PromptConfig(_Strict):
    system: str | None = None
    user: str | None = Field(
        None,
        description="Jinja2 template over the example's columns, e.g. 'Ticket: {{ text }}' (required unless the "
        "task's `turns:` or `messages:` column holds the user messages).",
    )
    few_shot: list[FewShot] = Field(default_factory=list)


class LabelParsing(_Strict):
    mode: Literal["exact", "normalized", "first", "regex"] = Field(
        "normalized",
        description="exact; normalized (case-fold, strip punctuation); first (first allowed label found in the text); regex (capture group)",
    )
    aliases: dict[str, str] = Field(default_factory=dict)
    regex: str | None = None
    case_sensitive: bool = False


def _without_unset(data: Any, *names: str) -> Any:
    """``data`` (a dumped model) without the keys ``names`` while they are None: configs that do not use
    them dump (and hash, and show in run.json) exactly as before they existed."""
    if isinstance(data, dict):
        for n in names:
            if n in data and data[n] is None:
                del data[n]
    return data


class MetricSpec(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class JudgeSpec(_Strict):
    rubric: str = Field(description="A built-in rubric name or a path to a rubric YAML file.")
    judge: ModelConfig | None = Field(None, description="Overrides the config's `judge` for this rubric.")
    threshold: float | None = None
    strict: bool = False
    options: dict[str, Any] = Field(default_factory=dict)
    turn: int | Literal["all", "last", "conversation"] | None = Field(
        None,
        description="Multi-turn (`turns:`) tasks: which answers it judges: a turn number, all (each turn, "
        "keys @turnN, plus their pooled mean; the default), last, or conversation (the whole dialogue at once).",
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> Any:
        return _without_unset(handler(self), "turn")


class TaskConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    data: DataConfig
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    turns: str | None = Field(
        None,
        description="Column with a list of user messages: the model answers each in turn, its own answers "
        "in the history (MT-Bench's protocol).",
    )
    messages: str | None = Field(
        None,
        description="Column with a conversation (OpenAI-style messages ending with a user message): only the "
        "last turn is generated.",
    )
    target: str | None = Field(None, description="Column with the gold label (classification).")
    labels: list[str] | None = Field(None, description="Allowed labels; outputs matching none count as invalid.")
    label_parsing: LabelParsing = Field(default_factory=LabelParsing)
    reference: str | None = Field(None, description="Column with the reference text (or a list of references).")
    context: str | None = Field(None, description="Column with source/context text (faithfulness, knowledge-F1).")
    metrics: list[MetricSpec] = Field(default_factory=list)
    judges: list[JudgeSpec] = Field(default_factory=list)
    pairwise: list[JudgeSpec] = Field(default_factory=list, description="Pairwise rubrics: each model vs the baseline.")
    slice_by: list[str] = Field(default_factory=list, description="Columns to report per-slice metrics and deltas for.")
    keep_columns: list[str] = Field(default_factory=list, description="Extra columns copied into examples.jsonl.")

    @field_validator("metrics", "judges", "pairwise", mode="before")
    @classmethod
    def _short_forms(cls, v: Any, info: Any) -> Any:
        if not isinstance(v, list):
            return v
        out = []
        for item in v:
            if isinstance(item, str):
                out.append({"name": item} if info.field_name == "metrics" else {"rubric": item})
            elif info.field_name == "metrics" and isinstance(item, dict) and len(item) == 1 and "name" not in item:
                ((name, opts),) = item.items()
                if isinstance(opts, str):  # {evaluate: path/to/module}: a lone value is the metric's path
                    opts = {"path": opts}
                out.append({"name": name, "options": opts if opts is not None else {}})
            else:
                out.append(item)
        return out

    @field_validator("slice_by", "keep_columns", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> Any:
        return _without_unset(handler(self), "turns", "messages")

    @model_validator(mode="after")
    def _consistent(self) -> TaskConfig:
        from ._conversation import check_task_shape

        check_task_shape(self)
        if self.labels is not None and not self.target:
            raise ValueError("`labels` needs `target` (the column with the gold label)")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            raise ValueError("`labels` has duplicates")
        return self


# ---------------------------------------------------------------- gate, curves


def _on_key(data: Any) -> Any:
    """YAML 1.1 reads the key ``on`` as the boolean true: map it back to the ``on`` option."""
    if isinstance(data, dict) and True in data and "on" not in data:
        data = {("on" if k is True else k): v for k, v in data.items()}
    return data


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
    inconclusive: Literal["fail", "warn", "pass"] | None = Field(
        None, description="This rule's outcome when its CI straddles a min/max/max_drop bound (default: the gate's)."
    )
    on: Literal["estimate", "ci"] | None = Field(
        None, description="min/max/max_drop judged on the point estimate only, or with the CI (default: the gate's)."
    )

    _yaml_on = model_validator(mode="before")(lambda data: _on_key(data))

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
            )
        ):
            raise ValueError(
                "a rule needs a bound: min, max, max_regression, require_non_inferiority, max_unscored, max_invalid or max_drop"
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


# ---------------------------------------------------------------- the config


class Config(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    baseline: str
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
    for c in cfg.curves:
        c.path = fix(c.path)
    cfg.output = fix_opt(cfg.output)
    cfg.cache = fix_opt(cfg.cache)


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
    from ._secrets import check_expansions, register_key_names

    p = Path(path)
    doc = load_yaml(p, what="config file")
    expanded: list[tuple[tuple[Any, ...], str, str]] = []
    data = expand_env(doc.data, doc, record=expanded)
    register_key_names(data)
    check_expansions(expanded, data, doc)
    cfg = config_from_data(data, source=p.resolve(), doc=doc)
    return cfg


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
        if isinstance(m, dict) and "path" in m:  # a provider's file or folder (replay, local): by contents
            m["path"] = file_ref(m["path"])

    for m in data.get("models", {}).values():
        model(m)
    model(data.get("judge"))
    for t in data.get("tasks", []):
        t["data"]["path"] = file_ref(t["data"]["path"])
        for ms in t.get("metrics", []):
            opts = ms.get("options") or {}
            for key in ("model", "path", "baseline"):
                if isinstance(opts.get(key), str) and os.path.isabs(opts[key]) and os.path.exists(opts[key]):
                    opts[key] = file_ref(opts[key])
        for j in t.get("judges", []) + t.get("pairwise", []):
            model(j.get("judge"))
            if os.path.isabs(j.get("rubric", "")):
                j["rubric"] = file_ref(j["rubric"])
    for c in data.get("curves", []):
        c["path"] = file_ref(c.get("path"))
    for key in ("output", "cache"):
        data[key] = file_ref(data.get(key), contents=False)
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

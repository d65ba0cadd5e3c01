"""The config's model entries (each validated by its provider's ``Settings``) and its task sections.

:mod:`evalstack.config` holds the whole config and its loader, and re-exports every class here.
"""

from __future__ import annotations

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

from .models import ProviderSettings
from .tools import ExpectedCallsConfig, ToolsConfig


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
    human_labels: Path | None = Field(
        None,
        description="Human scores of a random subset of the judged examples (id, human_score[, model]): the run "
        "reports the PPI++-corrected mean and delta beside the judge's, for gate rules with corrected: true.",
    )
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
    tools: ToolsConfig | None = Field(
        None, description="Function tools sent with each request: schemas (inline or a JSON file) and/or a module."
    )
    tool_choice: str | dict[str, Any] | None = Field(
        None, description="auto, none, required or a function (sent as is)."
    )
    expected_calls: ExpectedCallsConfig | None = Field(
        None, description="Column of the expected tool calls (`{column, ordered}`); [] means no call is right."
    )

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
        return _without_unset(handler(self), "turns", "messages", "tools", "tool_choice", "expected_calls")

    @model_validator(mode="after")
    def _consistent(self) -> TaskConfig:
        from ._conversation import check_task_shape

        check_task_shape(self)
        if self.labels is not None and not self.target:
            raise ValueError("`labels` needs `target` (the column with the gold label)")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            raise ValueError("`labels` has duplicates")
        return self

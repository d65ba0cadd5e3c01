"""The YAML of a tool-calling task: ``tools:`` (function schemas, a module of Python tools), ``expected_calls:``.

Short forms: ``tools: tools.json`` (a JSON file of OpenAI function schemas) and ``tools: [{type: function,
function: {...}}]`` (inline) both mean ``tools: {schemas: ...}``; ``expected_calls: col`` means
``expected_calls: {column: col}``. Paths are relative to the config's folder.
"""

from __future__ import annotations

__all__ = ["ExpectedCallsConfig", "ToolsConfig"]

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator


class ToolsConfig(BaseModel):
    """The tools a task offers the model, and (with ``module``) the Python functions that run its calls."""

    model_config = ConfigDict(extra="forbid")

    schemas: list[dict[str, Any]] | Path | None = Field(
        None,
        description="OpenAI function schemas ({type: function, function: {name, description, parameters}}), "
        "inline or a JSON file; with `module` they override the schemas derived from the functions.",
    )
    module: Path | None = Field(
        None,
        description="A Python file whose functions run the model's calls (in a child process, one per call); "
        "the model's replies then loop: call -> tool result -> ... -> final answer.",
    )
    functions: list[str] | None = Field(
        None, description="Which functions of `module` are tools (default: its public functions)."
    )
    max_steps: int = Field(
        5,
        ge=1,
        le=100,
        description="Requests per example in a tool loop; a reply still calling tools at the cap ends it.",
    )
    timeout: float = Field(10.0, gt=0, le=3600, description="Seconds one tool call may take (then it is killed).")
    network: bool = Field(False, description="Let tools open sockets (blocked by default).")

    _short: bool = PrivateAttr(False)

    @model_validator(mode="wrap")
    @classmethod
    def _short_form(cls, data: Any, handler: Any) -> Any:
        short = isinstance(data, (str, list))
        out = handler({"schemas": data} if short else data)
        out._short = short
        return out

    @model_validator(mode="after")
    def _something(self) -> ToolsConfig:
        if self.schemas is None and self.module is None:
            raise ValueError("`tools` needs `schemas` (function schemas or a JSON file of them) or `module`")
        if self.functions is not None and self.module is None:
            raise ValueError("`tools.functions` names functions of `tools.module`; give the module too")
        return self

    def schemas_key(self) -> str:
        """The config key of the schemas, as the user wrote it (``tools`` for the short form)."""
        return "tools" if self._short else "tools.schemas"

    def resolve(self, fix: Any) -> None:
        """Make the file paths absolute (``fix``: the config's path resolver)."""
        if isinstance(self.schemas, Path):
            self.schemas = fix(self.schemas)
        if self.module is not None:
            self.module = fix(self.module)


class ExpectedCallsConfig(BaseModel):
    """Where a task's expected tool calls are, and how they are compared."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(
        description="Column with the expected calls of each example: a list of {name, arguments} "
        "(or one such object, or its JSON text); an empty list means no call is right."
    )
    ordered: bool = Field(
        False, description="Calls must come in this order (default: any order, matched one-to-one at best)."
    )

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"column": data} if isinstance(data, str) else data

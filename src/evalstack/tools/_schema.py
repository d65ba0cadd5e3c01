"""Function schemas checked before any request, and expected calls read from the data.

:func:`check_schemas` normalises a list of tools to the OpenAI shape (``{"type": "function", "function":
{"name", "description", "parameters"}}``; a bare ``{name, parameters}`` is wrapped) and refuses, in one line
naming the file and the key path, what the API or the metrics could not use: a name the API refuses, a
duplicate, ``parameters`` that is not a valid JSON Schema of an object. :func:`expected_calls` reads one
example's expected calls.
"""

from __future__ import annotations

__all__ = ["ToolSet", "check_schemas", "check_tool_choice", "expected_calls", "load_schema_file"]

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FUNCTION_KEYS = ("name", "description", "parameters", "strict")
_EMPTY_PARAMS: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass
class ToolSet:
    """A task's tools, ready to send: the ``tools`` param, ``tool_choice``, and what runs the calls."""

    schemas: list[dict[str, Any]]
    """The ``tools`` request param (OpenAI shape)."""
    tool_choice: str | dict[str, Any] | None = None
    module: Path | None = None
    """The Python file that runs the calls (None: the task scores the first reply's calls, nothing runs)."""
    functions: list[str] = field(default_factory=list)
    max_steps: int = 1
    timeout: float = 10.0
    network: bool = False

    @property
    def by_name(self) -> dict[str, dict[str, Any]]:
        """Function name -> its ``parameters`` schema."""
        return {t["function"]["name"]: t["function"].get("parameters") or _EMPTY_PARAMS for t in self.schemas}

    def params(self) -> dict[str, Any]:
        """The request params of every step: ``tools`` and, where set, ``tool_choice``."""
        out: dict[str, Any] = {"tools": self.schemas}
        if self.tool_choice is not None:
            out["tool_choice"] = self.tool_choice
        return out


def load_schema_file(path: Path, where: str) -> tuple[Any, str]:
    """The JSON of a schemas file and the name errors use for it (``{"tools": [...]}`` or a list)."""
    from .._io import read_user_text

    try:
        text = read_user_text(path, "tools file", error=ConfigError)
    except ConfigError as exc:
        raise exc.at(where) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", "?")
        raise ConfigError(
            f"not JSON: {getattr(exc, 'msg', exc)}",
            where=f"{path}:{line}",
            hint="the file must hold a JSON list of tools",
        ) from None
    if isinstance(data, dict) and "tools" in data:
        return data["tools"], f"{path}: tools"
    return data, f"{path}: "


def check_schemas(tools: Any, where: str) -> list[dict[str, Any]]:
    """The tools normalised to the OpenAI shape; a ConfigError at ``where[i].<key path>`` otherwise."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(tools, list) or not tools:
        raise ConfigError(
            "expected a non-empty list of tools",
            where=where.rstrip(": "),
            hint="[{type: function, function: {name, parameters}}]",
        )
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, tool in enumerate(tools):
        at = f"{where}[{i}]"
        if not isinstance(tool, dict):
            raise ConfigError(f"a tool must be a mapping, not {type(tool).__name__}", where=at)
        if "type" not in tool and "name" in tool:  # a bare function schema
            tool = {"type": "function", "function": tool}
        if tool.get("type") != "function" or set(tool) - {"type", "function"}:
            raise ConfigError(
                f"expected {{type: function, function: {{...}}}}, got keys {sorted(tool)}",
                where=at,
                hint="only function tools can be sent and scored",
            )
        fn = tool.get("function")
        if not isinstance(fn, dict):
            raise ConfigError("`function` must be a mapping with name and parameters", where=f"{at}.function")
        unknown = sorted(set(fn) - set(_FUNCTION_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown key '{unknown[0]}'", where=f"{at}.function", hint=f"keys: {', '.join(_FUNCTION_KEYS)}"
            )
        name = fn.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                f"bad function name {name!r}",
                where=f"{at}.function.name",
                hint="1-64 letters, digits, '_' or '-' (what the API accepts)",
            )
        if name in seen:
            raise ConfigError(
                f"function '{name}' is defined twice (first at [{seen[name]}])",
                where=f"{at}.function.name",
                hint="give each tool one schema",
            )
        seen[name] = i
        if "description" in fn and not isinstance(fn["description"], str):
            raise ConfigError("`description` must be text", where=f"{at}.function.description")
        params = fn.get("parameters", _EMPTY_PARAMS)
        if not isinstance(params, dict):
            raise ConfigError("`parameters` must be a JSON Schema mapping", where=f"{at}.function.parameters")
        try:
            Draft202012Validator.check_schema(params)
        except SchemaError as exc:
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.path)
            raise ConfigError(
                f"not a valid JSON Schema: {_one_line(exc.message)}",
                where=f"{at}.function.parameters{path}",
                hint="see https://json-schema.org/understanding-json-schema",
            ) from None
        if params.get("type", "object") != "object":
            raise ConfigError(
                f"parameters must describe an object (type: object), not {params.get('type')!r}",
                where=f"{at}.function.parameters.type",
                hint="function arguments are always a JSON object",
            )
        out.append({"type": "function", "function": {k: fn[k] for k in _FUNCTION_KEYS if k in fn}})
    return out


def check_tool_choice(choice: Any, names: list[str], where: str) -> str | dict[str, Any] | None:
    """``auto``, ``none``, ``required`` or ``{type: function, function: {name: <a tool>}}`` (or just a name)."""
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    name = choice if isinstance(choice, str) else ((choice or {}).get("function") or {}).get("name")
    if isinstance(choice, dict) and (choice.get("type") != "function" or set(choice) != {"type", "function"}):
        name = None
    if not isinstance(name, str) or name not in names:
        from ..registry import did_you_mean

        raise ConfigError(
            f"bad tool_choice {choice!r}",
            where=where,
            hint=did_you_mean(
                str(name), names, "auto, none, required, or {type: function, function: {name: <one of the tools>}}"
            ),
        )
    return {"type": "function", "function": {"name": name}}


def expected_calls(value: Any, names: list[str], where: str, column: str) -> list[dict[str, Any]]:
    """One example's expected calls as ``[{"name", "arguments": {...}}]`` (a DataError naming the row
    otherwise): a list of calls, one call, or its JSON text; a call is ``{name, arguments}`` or the OpenAI
    ``{function: {name, arguments}}``, arguments a mapping or its JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            raise DataError(f"column '{column}' is not JSON", where=where, hint=_CALLS_HINT) from None
    if value is None:
        raise DataError(f"column '{column}' is empty", where=where, hint="[] means no call is right; " + _CALLS_HINT)
    calls = [value] if isinstance(value, dict) else value
    if not isinstance(calls, list):
        raise DataError(f"column '{column}' must hold a list of calls", where=where, hint=_CALLS_HINT)
    out = []
    for j, call in enumerate(calls):
        call = call.get("function", call) if isinstance(call, dict) and "function" in call else call
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("name"), str)
            or set(call) - {"name", "arguments", "id"}
        ):
            raise DataError(f"column '{column}'[{j}]: expected {{name, arguments}}", where=where, hint=_CALLS_HINT)
        args = call.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                raise DataError(f"column '{column}'[{j}].arguments is not JSON", where=where) from None
        if not isinstance(args, dict):
            raise DataError(f"column '{column}'[{j}].arguments must be a mapping", where=where)
        if call["name"] not in names:
            from ..registry import did_you_mean

            raise DataError(
                f"column '{column}'[{j}]: '{call['name']}' is not one of the task's tools",
                where=where,
                hint=did_you_mean(call["name"], names, f"tools: {', '.join(names)}"),
            )
        out.append({"name": call["name"], "arguments": args})
    return out


_CALLS_HINT = 'e.g. [{"name": "refund", "arguments": {"order_id": "A1"}}]'


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= 200 else text[:197] + "..."

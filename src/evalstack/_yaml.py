"""YAML loading with line numbers, and pydantic errors turned into one readable line.

Shared by the config, rubric and gate-rule loaders so that every YAML mistake reads the same way::

    configs/my.yaml: tasks[1].metrics[0] (line 23): unknown key 'averge' (did you mean 'average'?)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError, EvalstackError
from .registry import did_you_mean

_MAX_YAML_BYTES = 8 * 1024 * 1024
_MAX_DEPTH = 64


@dataclass
class YamlDoc:
    """A parsed YAML file and a way back from a key path to its line."""

    path: Path
    data: Any
    _node: Any

    def line_of(self, loc: tuple[Any, ...]) -> int | None:
        """1-based line of the deepest node of ``loc`` that exists in the file."""
        node, line = self._node, None
        if node is not None:
            line = node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                nxt = None
                for k, v in node.value:
                    if k.value == str(part):
                        nxt = v
                        line = k.start_mark.line + 1
                        break
                if nxt is None:
                    break
                node = nxt
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, deep nesting and alias explosions."""


def _check_node(
    node: Any, depth: int, where: str, counter: list[int], error: type[EvalstackError] = ConfigError
) -> None:
    counter[0] += 1
    if counter[0] > 200_000:
        raise error(
            "YAML document is too large once aliases are expanded",
            where=where,
            hint="remove anchors/aliases that repeat big blocks",
        )
    if depth > _MAX_DEPTH:
        raise error(f"YAML nesting deeper than {_MAX_DEPTH} levels", where=where)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if key is not None:
                if key in seen:
                    raise error(
                        f"duplicate key '{key}' (first on line {seen[key]})",
                        where=f"{where}:{k.start_mark.line + 1}",
                        hint="keep one of them",
                    )
                seen[key] = k.start_mark.line + 1
            _check_node(v, depth + 1, where, counter, error)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            _check_node(v, depth + 1, where, counter, error)


def load_yaml(
    path: str | os.PathLike[str], *, what: str = "file", error: type[EvalstackError] = ConfigError
) -> YamlDoc:
    """Read and parse a YAML file; every problem is an ``error`` naming the file and line."""
    p = Path(path)
    from ._io import read_user_text

    text = read_user_text(p, what, error=error, max_bytes=_MAX_YAML_BYTES)
    try:
        node = yaml.compose(text, Loader=_Loader)
        if node is not None:
            _check_node(node, 0, str(p), [0], error)
        data = yaml.load(text, Loader=_Loader) if node is not None else None
    except EvalstackError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise error(f"invalid YAML: {exc.problem}", where=f"{p}{line}", hint="check indentation and quoting") from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise error(f"invalid YAML: {type(exc).__name__}", where=str(p)) from None
    return YamlDoc(path=p, data=data, _node=node)


def format_loc(loc: tuple[Any, ...]) -> str:
    """('tasks', 1, 'metrics', 0) -> 'tasks[1].metrics[0]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...], data: Any = None) -> list[str]:
    """Field names of the pydantic model that owns the last key in ``loc`` (best effort, for hints).

    ``data`` (the document) lets a model whose fields depend on the data name the right class: a
    ``settings_for(node)`` classmethod (a model entry: the Settings of the provider it names)."""
    from typing import get_args, get_origin

    def members(t: Any) -> list[Any]:
        """Flatten Annotated/Union/Optional into their member types."""
        args = get_args(t)
        if get_origin(t) in (list, dict, tuple) or not args:
            return [t]
        out: list[Any] = []
        for a in args:
            if isinstance(a, type) or get_args(a):
                out.extend(members(a))
        return out

    def concrete(t: Any, node: Any) -> Any:
        resolve = getattr(t, "settings_for", None) if isinstance(t, type) else None
        return resolve(node) if resolve is not None else t

    current: list[Any] = [model]
    node = data
    for part in loc[:-1]:
        nxt: list[Any] = []
        for t in current:
            t = concrete(t, node)
            origin = get_origin(t)
            if isinstance(t, type) and issubclass(t, BaseModel):
                if isinstance(part, str) and part in t.model_fields:
                    nxt.extend(members(t.model_fields[part].annotation))
            elif origin is list and isinstance(part, int):
                nxt.extend(members(get_args(t)[0]))
            elif origin is dict:
                nxt.extend(members(get_args(t)[1]))
        current = nxt
        node = node[part] if isinstance(node, (dict, list)) and _has(node, part) else None
        if not current:
            return []
    models = [t for t in (concrete(t, node) for t in current) if isinstance(t, type) and issubclass(t, BaseModel)]
    return list(models[0].model_fields) if len(models) == 1 else []


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)


def validation_error(
    exc: ValidationError, doc: YamlDoc, model: type[BaseModel], error: type[EvalstackError] = ConfigError
) -> EvalstackError:
    """The first pydantic error as one readable line: file, key path, line, problem, fix."""
    errors = exc.errors()
    # an unknown key usually explains a "missing" one next to it (a typo): report it first
    err = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
    clean = loc = tuple(
        p for p in err.get("loc", ()) if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))
    )
    line = doc.line_of(clean)
    where = f"{doc.path}: {format_loc(clean)}" + (f" (line {line})" if line else "")
    kind = err.get("type", "")
    msg = err.get("msg", "invalid value")
    hint = None
    if kind == "extra_forbidden":
        key = clean[-1] if clean else "?"
        fields = [f for f in _fields_at(model, loc, doc.data) if f != "provider"]
        msg = f"unknown key '{key}'"
        hint = did_you_mean(str(key), fields, f"allowed keys: {', '.join(fields)}" if fields else None)
    elif kind == "missing":
        msg = "required key is missing"
    elif kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        tag = ctx.get("tag", "?")
        expected = ctx.get("expected_tags", "")
        names = re.findall(r"'([^']+)'", expected)
        msg = f"unknown provider '{tag}'"
        hint = did_you_mean(str(tag), names, f"expected one of: {expected}")
    else:
        m = _AT.match(msg.replace("Value error, ", ""))
        if m:  # a cross-field check that names its key path: "at gate.rules[0].metric: ..."
            path = m.group(1)
            line = doc.line_of(_parse_loc(path))
            where = f"{doc.path}: {path}" + (f" (line {line})" if line else "")
            msg = m.group(2)
        inp = err.get("input")
        if not m and isinstance(inp, (str, int, float, bool)) and len(str(inp)) < 60:
            msg = f"{msg} (got {inp!r})"
        msg = msg.replace("Value error, ", "")
    return error(msg, where=where, hint=hint)


_AT = re.compile(r"^at ([A-Za-z0-9_.\[\]\-]+): (.*)$", re.S)


def _parse_loc(path: str) -> tuple[Any, ...]:
    """'tasks[1].metrics[0]' -> ('tasks', 1, 'metrics', 0)."""
    out: list[Any] = []
    for name, idx in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        out.append(int(idx) if idx else name)
    return tuple(out)


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(
    data: Any, doc: YamlDoc, loc: tuple[Any, ...] = (), record: list[tuple[tuple[Any, ...], str, str]] | None = None
) -> Any:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in every string; an unset VAR without default is an error.

    ``record`` (a list) receives ``(key path, VAR, value)`` for every variable expanded from the environment."""
    if isinstance(data, dict):
        return {k: expand_env(v, doc, loc + (k,), record) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v, doc, loc + (i,), record) for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            val = os.environ.get(name)
            if val is not None and record is not None:
                record.append((loc, name, val))
            if val is None:
                if default is not None:
                    return default
                line = doc.line_of(loc)
                where = f"{doc.path}: {format_loc(loc)}" + (f" (line {line})" if line else "")
                raise ConfigError(
                    f"environment variable {name} is not set",
                    where=where,
                    hint=f"export {name}=... or write ${{{name}:-default}}",
                )
            return val

        return _ENV.sub(sub, data)
    return data

"""The child process that runs a user's tool (or describes a module's tools). Standalone: it imports
nothing of evalstack, runs under ``python -I -c`` with this file's text, reads one JSON request on stdin
and writes one JSON answer as its last stdout line (the tool's own prints go to stderr).

Network: unless the request allows it, an audit hook refuses to create sockets or resolve names, so a
tool cannot reach the network by accident (a guard, not a sandbox against hostile code).
"""

import collections.abc
import importlib.util
import inspect
import json
import os
import sys
import types
import typing

_MARK = "\x00evalstack-tool-result "
_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _no_network(event, args):
    if event in ("socket.__new__", "socket.getaddrinfo", "socket.gethostbyname", "socket.connect"):
        raise PermissionError("network access is blocked for tools (tools: {network: true} allows it)")


def _load(path):
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _schema(tp, where):
    if tp is inspect.Parameter.empty or tp is typing.Any:
        return {}
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in (list, tuple, set) or origin in (list, tuple, set, collections.abc.Sequence):
        return {"type": "array", "items": _schema(args[0], where)} if args else {"type": "array"}
    if tp is dict or origin in (dict, collections.abc.Mapping):
        return {"type": "object"}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        parts = [_schema(a, where) for a in args]
        return parts[0] if len(parts) == 1 else {"anyOf": parts}
    raise TypeError(f"{where}: cannot describe the annotation {tp!r} as JSON Schema; give explicit schemas")


def _doc_params(doc):
    """{name: description} from a Google-style Args: section or :param name: lines."""
    out, section = {}, False
    for line in doc.splitlines():
        s = line.strip()
        if s in ("Args:", "Arguments:", "Parameters:"):
            section = True
            continue
        if s.startswith(":param "):
            head, _, desc = s[len(":param ") :].partition(":")
            out[head.split()[-1]] = desc.strip()
            continue
        if section:
            if not s or (s.endswith(":") and " " not in s):
                section = False
                continue
            head, sep, desc = s.partition(":")
            if sep and head.split(" (")[0].isidentifier():
                out[head.split(" (")[0]] = desc.strip()
    return out


def _describe(fn):
    name = fn.__name__
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    doc = inspect.getdoc(fn) or ""
    pdoc = _doc_params(doc)
    props, required = {}, []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{name}: *args/**kwargs cannot be described; give explicit schemas")
        prop = _schema(hints.get(p.name, p.annotation), f"{name}({p.name})")
        if p.name in pdoc:
            prop["description"] = pdoc[p.name]
        props[p.name] = prop
        if p.default is inspect.Parameter.empty:
            required.append(p.name)
    summary = doc.split("\n\n")[0].strip()
    fn_schema = {"name": name, "parameters": {"type": "object", "properties": props, "required": required}}
    if summary:
        fn_schema["description"] = " ".join(summary.split())
    return {"type": "function", "function": fn_schema}


def _functions(module, wanted):
    if wanted is not None:
        missing = [w for w in wanted if not callable(getattr(module, w, None))]
        if missing:
            raise LookupError(f"no function '{missing[0]}' in {os.path.basename(module.__file__)}")
        return [getattr(module, w) for w in wanted]
    found = [
        obj
        for n, obj in vars(module).items()
        if inspect.isfunction(obj) and not n.startswith("_") and obj.__module__ == module.__name__
    ]
    return sorted(found, key=lambda f: f.__code__.co_firstlineno)


def _text(value):
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def main():
    req = json.loads(sys.stdin.read())
    out, sys.stdout = sys.stdout, sys.stderr  # the tool's prints do not reach the answer
    if not req.get("network"):
        sys.addaudithook(_no_network)
    try:
        module = _load(req["module"])
        if req["mode"] == "describe":
            answer = {"ok": True, "tools": [_describe(f) for f in _functions(module, req.get("functions"))]}
        else:
            fn = getattr(module, req["function"])
            answer = {"ok": True, "result": _text(fn(**req["arguments"]))}
    except BaseException as exc:  # noqa: BLE001 - whatever the tool raised goes back as its error
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    out.write("\n" + _MARK + json.dumps(answer, ensure_ascii=False) + "\n")
    out.flush()


if __name__ == "__main__":
    main()

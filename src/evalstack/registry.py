"""Plug-ins: one registry keyed by (kind, name), fed by the built-ins and by the ``evalstack`` entry points.

Kinds (:data:`KINDS`): ``metric``, ``provider``, ``report_format``, ``scale`` (rubric scale types),
``tracker``. Each kind has a decorator in the package that owns it (``register_metric``,
``register_provider``, ``register_report_format``, ``register_scale``, ``register_tracker``) which fills in
what that kind needs and calls :func:`register`. The built-ins are the decorated classes of the kind's
package: every module of it is imported on the first lookup of the kind, so adding a built-in is one new
module (plus its test).

Installed packages add plug-ins through the entry-point group ``evalstack``, one entry per plug-in named
``<kind>.<name>``::

    [project.entry-points.evalstack]
    "metric.word_count" = "my_evalstack_plugin.metrics:WordCount"
    "provider.echo" = "my_evalstack_plugin.echo:EchoProvider"

An entry point is loaded only when its name is looked up and is not a built-in, or when a kind is listed
(``evalstack metrics list``); the object it names goes through the kind's decorator, so a plug-in class
needs no import of evalstack's registry (decorating it as well is harmless). A built-in name always
wins over an entry point of the same name.

Unknown names are reported by :func:`lookup` with a "did you mean"; :func:`did_you_mean` and
:func:`closest` give the same hint for any other name (keys, options, columns).
"""

from __future__ import annotations

__all__ = [
    "ENTRY_POINT_GROUP",
    "KINDS",
    "closest",
    "did_you_mean",
    "entries",
    "find",
    "isolated",
    "lookup",
    "names",
    "register",
]

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, overload

from .errors import ConfigError, EvalstackError

ENTRY_POINT_GROUP = "evalstack"


@dataclass(frozen=True)
class _Kind:
    what: str
    """How messages name one of them ("metric", "provider", "tracker type"...)."""
    package: str
    """The package holding the built-ins: every module in it is imported (its decorators register), so a
    new built-in is one new module there."""
    decorator: str
    """``module:function``; ``function(name)(obj)`` registers a plug-in loaded from an entry point."""


KINDS: dict[str, _Kind] = {
    "metric": _Kind("metric", "evalstack.metrics", "evalstack.metrics:register_metric"),
    "provider": _Kind("provider", "evalstack.models", "evalstack.models:register_provider"),
    "report_format": _Kind("report format", "evalstack.report", "evalstack.report:register_report_format"),
    "scale": _Kind("scale type", "evalstack.judges.scales", "evalstack.judges.scales:register_scale"),
    "tracker": _Kind("tracker type", "evalstack.trackers", "evalstack.trackers:register_tracker"),
}
"""Every plug-in kind: what it is called, where its built-ins live, how a loaded plug-in is registered."""

_ITEMS: dict[tuple[str, str], Any] = {}
_BUILTINS_LOADED: set[str] = set()
_EP_LOADED: set[tuple[str, str]] = set()


def _kind(kind: str) -> _Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown plug-in kind {kind!r} (kinds: {', '.join(KINDS)})") from None


def register(kind: str, name: str, obj: Any) -> Any:
    """Make ``obj`` the ``kind`` plug-in called ``name`` (the kinds' decorators call this); returns ``obj``."""
    _kind(kind)
    _ITEMS[(kind, name)] = obj
    return obj


@contextmanager
def isolated() -> Iterator[None]:
    """Plug-ins registered (or entry points loaded) inside are forgotten on exit; the built-ins of every kind
    are loaded first and kept. For tests that register a plug-in of their own."""
    for kind in KINDS:
        _load_builtins(kind)
    saved, saved_ep = dict(_ITEMS), set(_EP_LOADED)
    try:
        yield
    finally:
        _ITEMS.clear()
        _ITEMS.update(saved)
        _EP_LOADED.clear()
        _EP_LOADED.update(saved_ep)


def _load_builtins(kind: str) -> None:
    """Import every module of the kind's package (each imports its heavy libraries only when used)."""
    if kind not in _BUILTINS_LOADED:
        import pkgutil

        package = importlib.import_module(_kind(kind).package)
        for mod in pkgutil.iter_modules(package.__path__):
            if not mod.ispkg and mod.name != "__main__":
                importlib.import_module(f"{package.__name__}.{mod.name}")
        _BUILTINS_LOADED.add(kind)


def _entry_points(kind: str) -> dict[str, Any]:
    """The entry points of ``kind`` in the ``evalstack`` group, by plug-in name."""
    from importlib.metadata import entry_points

    prefix = f"{kind}."
    return {ep.name[len(prefix) :]: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name.startswith(prefix)}


def _load_entry_point(kind: str, name: str, ep: Any) -> None:
    _EP_LOADED.add((kind, name))
    try:
        obj = ep.load()
    except Exception as exc:
        raise ConfigError(
            f"the {_kind(kind).what} plug-in '{name}' ({ep.value}) could not be loaded: {type(exc).__name__}: {exc}",
            hint="reinstall or uninstall the package that provides it",
        ) from None
    if _ITEMS.get((kind, name)) is not obj:  # a plug-in that did not decorate itself
        module, _, func = _kind(kind).decorator.partition(":")
        getattr(importlib.import_module(module), func)(name)(obj)


def _find(kind: str, name: str) -> Any | None:
    _load_builtins(kind)
    if (kind, name) not in _ITEMS and (kind, name) not in _EP_LOADED:
        ep = _entry_points(kind).get(name)
        if ep is not None:
            _load_entry_point(kind, name, ep)
    return _ITEMS.get((kind, name))


def find(kind: str, name: str) -> Any | None:
    """The ``kind`` plug-in called ``name`` (a built-in, else an installed entry point, loaded now), or None."""
    return _find(kind, name)


def entries(kind: str) -> dict[str, Any]:
    """Every ``kind`` plug-in by name, sorted: the built-ins and every installed entry point (loaded now)."""
    _load_builtins(kind)
    for name, ep in _entry_points(kind).items():
        if (kind, name) not in _ITEMS and (kind, name) not in _EP_LOADED:
            _load_entry_point(kind, name, ep)
    return {n: obj for (k, n), obj in sorted(_ITEMS.items()) if k == kind}


def names(kind: str) -> list[str]:
    """Every ``kind`` plug-in's name, sorted (built-ins and installed entry points)."""
    _load_builtins(kind)
    return sorted({n for (k, n) in _ITEMS if k == kind} | set(_entry_points(kind)))


def lookup(
    kind: str,
    name: str,
    *,
    where: str | None = None,
    error: type[EvalstackError] = ConfigError,
    known: str | None = None,
    always_list: bool = False,
) -> Any:
    """The ``kind`` plug-in called ``name``, or ``error`` (a ConfigError by default) naming ``where`` with a
    "did you mean" (else, or with ``always_list`` also, the known names; ``known`` says how they are
    introduced, default "known")."""
    obj = _find(kind, name) if isinstance(name, str) else None
    if obj is not None:
        return obj
    choices = names(kind)
    what = _kind(kind).what
    listing = f"{known or 'known'}: {', '.join(choices)}"
    near = did_you_mean(str(name), choices)
    hint = (f"{near} {listing}" if always_list else near) if near else listing
    raise error(f"unknown {what} '{name}'", where=where, hint=hint)


def closest(word: str, choices: Any, *, cutoff: float = 0.6) -> str | None:
    """The choice nearest to ``word`` (difflib's ratio >= ``cutoff``), or None."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=cutoff)
    return close[0] if close else None


@overload
def did_you_mean(word: str, choices: Any, otherwise: str, *, prefix: str = "", cutoff: float = 0.6) -> str: ...
@overload
def did_you_mean(
    word: str, choices: Any, otherwise: None = None, *, prefix: str = "", cutoff: float = 0.6
) -> str | None: ...
def did_you_mean(
    word: str, choices: Any, otherwise: str | None = None, *, prefix: str = "", cutoff: float = 0.6
) -> str | None:
    """``did you mean '<prefix><nearest>'?`` when a choice is near ``word``, else ``otherwise``."""
    near = closest(word, choices, cutoff=cutoff)
    return f"did you mean '{prefix}{near}'?" if near is not None else otherwise

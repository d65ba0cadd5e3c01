"""Tracker entries of the config: one pydantic model per kind, a registry, validation with clear messages."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, EvalstackError
from ..registry import did_you_mean, lookup, names
from ..results import RunResult


class TrackerError(EvalstackError):
    """A tracker marked ``required: true`` could not log the run (the reports are written; exit 3)."""

    exit_code = 3


class TrackerWarning(UserWarning):
    """A tracker could not log the run; the run itself and its reports are fine."""


class Tracker(BaseModel):
    """One entry of ``trackers:``. Subclasses name their ``type``, the package they need and implement
    :meth:`log` (which imports that package; nothing is imported before)."""

    model_config = ConfigDict(extra="forbid")

    package: ClassVar[str] = ""
    """Import name of the package the tracker needs (``pip install evalstack[<extra>]``)."""
    extra: ClassVar[str] = ""
    """The evalstack extra that installs it."""

    required: bool = Field(False, description="Fail the run (exit 3) when logging fails; default: warn and go on.")

    def log(self, run: RunResult, out_dir: Path) -> None:
        """Log a finished run whose reports are in ``out_dir``."""
        raise NotImplementedError


def register_tracker(kind: str):
    """Register a :class:`Tracker` subclass under ``type: <kind>`` (a plug-in's ``tracker.<kind>`` entry
    point goes through it too: :mod:`evalstack.registry`)."""

    def deco(cls: type[Tracker]) -> type[Tracker]:
        from ..registry import register

        return register("tracker", kind, cls)

    return deco


def _error_for(i: int, kind: str, cls: type[Tracker], exc: ValidationError) -> ConfigError:
    e = exc.errors()[0]
    loc = ".".join(str(x) for x in e.get("loc", ()))
    where = f"trackers[{i}]" + (f".{loc}" if loc else "")
    if e.get("type") == "extra_forbidden":
        key = str(e["loc"][-1])
        keys = [k for k in cls.model_fields]
        near = did_you_mean(key, keys)
        hint = (f"{near} " if near else "") + f"{kind} keys: type, {', '.join(keys)}"
        # where stops at the entry: "api_key: unknown..." would read as a secret to errors.redact
        return ConfigError(f"unknown key '{key}' for a {kind} tracker", where=f"trackers[{i}]", hint=hint)
    return ConfigError(e.get("msg", "invalid value"), where=where)


def parse_trackers(entries: Any) -> list[Tracker]:
    """Validate ``trackers:`` entries into :class:`Tracker` objects; ConfigError names ``trackers[i]``.

    Also checks that each tracker's package is installed (without importing it).
    """
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ConfigError("must be a list like [{type: wandb, project: my-evals}]", where="trackers")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(
                f"expected a mapping like {{type: wandb, project: ...}}, got {type(entry).__name__}",
                where=f"trackers[{i}]",
            )
        kind = entry.get("type")
        if kind is None:
            raise ConfigError(f"needs `type` (one of: {', '.join(names('tracker'))})", where=f"trackers[{i}]")
        cls = lookup("tracker", kind, where=f"trackers[{i}].type", always_list=True)
        try:
            tracker = cls.model_validate({k: v for k, v in entry.items() if k != "type"})
        except ValidationError as exc:
            raise _error_for(i, kind, cls, exc) from None
        if importlib.util.find_spec(cls.package) is None:
            raise ConfigError(
                f"the {kind} tracker needs the '{cls.package}' package, which is not installed",
                where=f"trackers[{i}]",
                hint=f"pip install 'evalstack[{cls.extra}]'",
            )
        out.append(tracker)
    return out


def validate_trackers(entries: Any) -> None:
    """Check ``trackers:`` entries (keys, values, installed packages) before any request is sent.

    Raises :class:`~evalstack.errors.ConfigError` with one line naming ``trackers[i]`` (and the key) and the fix.
    """
    parse_trackers(entries)

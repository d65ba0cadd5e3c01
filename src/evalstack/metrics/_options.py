"""Declared, validated metric options and the base class every built-in metric derives from.

A metric declares its YAML options once, as ``OPTIONS = {"threshold": Option(0.5, number(0, 1), "...")}``.
:class:`BaseMetric` then rejects unknown options with a "did you mean" hint, validates each given value
(one readable :class:`~evalstack.errors.ConfigError` line naming the metric, the option and what was
expected) and builds the :class:`MetricInfo` that ``evalstack metrics`` lists.
"""

from __future__ import annotations

__all__ = [
    "BaseMetric",
    "Option",
    "one_line",
    "boolean",
    "choice",
    "integer",
    "number",
    "one_or_more",
    "optional",
    "existing_path",
    "string",
    "string_list",
    "mapping",
    "any_value",
]

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ConfigError
from ..registry import did_you_mean
from ._base import MetricInfo, MetricResult

Check = Callable[[Any], Any]
"""Validator: returns the (normalised) value or raises ValueError('expected ...')."""


@dataclass(frozen=True)
class Option:
    """One metric option: its default, its validator and one line of help."""

    default: Any
    """Value used when the option is not given (not validated: it is trusted)."""
    check: Check
    """Validator returning the normalised value; raises ValueError with what was expected."""
    help: str = ""
    """Shown by ``evalstack metrics``."""


def one_line(text: object, limit: int = 300) -> str:
    """Whitespace collapsed, cut at ``limit`` characters: error messages are one line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else f"'{value}'"


def choice(*choices: Any) -> Check:
    """One of ``choices``."""

    def check(value: Any) -> Any:
        if isinstance(value, (str, int, float, bool)) and value in choices:
            return value
        raise ValueError(f"expected one of {', '.join(map(str, choices))}, got {_describe(value)}")

    return check


def _no_duplicates(values: Sequence[Any]) -> None:
    """A list option naming the same value twice is a mistake (``labels: [a, a, b]`` made a phantom class)."""
    seen: dict[Any, int] = {}
    for v in values:
        seen[v] = seen.get(v, 0) + 1
    dups = [f"{_describe(v)} ({k}x)" for v, k in seen.items() if k > 1]
    if dups:
        raise ValueError(f"the list has duplicates: {', '.join(dups)}; name each value once")


def one_or_more(*choices: Any) -> Check:
    """One of ``choices`` or a non-empty list of them without duplicates (returned as a tuple)."""
    single = choice(*choices)

    def check(value: Any) -> tuple:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"expected one of {', '.join(choices)} or a list of them, got {_describe(value)}")
        out = tuple(single(v) for v in values)
        _no_duplicates(out)
        return out

    return check


def boolean(value: Any) -> bool:
    """true or false."""
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {_describe(value)}")


def integer(lo: int | None = None, hi: int | None = None) -> Check:
    """An integer in [lo, hi]."""

    def check(value: Any) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and (lo is None or value >= lo) and (hi is None or value <= hi):
            return value
        rng = f" >= {lo}" if hi is None else f" in [{lo}, {hi}]"
        raise ValueError(f"expected an integer{rng if lo is not None else ''}, got {_describe(value)}")

    return check


def number(lo: float | None = None, hi: float | None = None) -> Check:
    """A number in [lo, hi] (inclusive)."""

    def check(value: Any) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
        if ok and (lo is None or value >= lo) and (hi is None or value <= hi):
            return float(value)
        rng = (
            f" in [{lo:g}, {hi:g}]" if lo is not None and hi is not None else (f" >= {lo:g}" if lo is not None else "")
        )
        raise ValueError(f"expected a number{rng}, got {_describe(value)}")

    return check


def optional(inner: Check) -> Check:
    """None or what ``inner`` accepts."""

    def check(value: Any) -> Any:
        return None if value is None else inner(value)

    return check


def string(value: Any) -> str:
    """A non-empty string."""
    if isinstance(value, str) and value:
        return value
    raise ValueError(f"expected a non-empty string, got {_describe(value)}")


def string_list(value: Any) -> tuple[str, ...]:
    """A list of distinct non-empty strings."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value):
        _no_duplicates(value)
        return tuple(value)
    raise ValueError(f"expected a list of strings, got {_describe(value)}")


def mapping(value: Any) -> dict:
    """A mapping (YAML dict)."""
    if isinstance(value, dict):
        return dict(value)
    raise ValueError(f"expected a mapping, got {_describe(value)}")


def any_value(value: Any) -> Any:
    """Anything (checked by the metric itself)."""
    return value


def existing_path(kind: str = "any") -> Check:
    """A path that exists (``kind``: 'file', 'dir' or 'any'); returned as an absolute string."""

    def check(value: Any) -> str:
        if not isinstance(value, (str, os.PathLike)) or not str(value):
            raise ValueError(f"expected a path, got {_describe(value)}")
        path = os.path.abspath(os.path.expanduser(str(value)))
        exists = {"file": os.path.isfile, "dir": os.path.isdir}.get(kind, os.path.exists)(path)
        if not exists:
            what = {"file": "file", "dir": "folder"}.get(kind, "path")
            raise ValueError(f"{what} '{value}' does not exist")
        return path

    return check


class BaseMetric:
    """Base of the built-in metrics: option validation and the :class:`MetricInfo` built from ``OPTIONS``.

    Subclasses set ``KEYS`` (the result keys, e.g. ``"f1_macro, f1_micro"``), ``HIGHER_IS_BETTER``,
    ``PER_EXAMPLE`` (False for corpus-only metrics), ``DESCRIPTION``, ``OPTIONS`` and implement
    ``compute(predictions, references=None, **context) -> list[MetricResult]``. Validated option values
    are in ``self.opts``; cross-option checks go in :meth:`_validate`.
    """

    name: ClassVar[str]
    info: ClassVar[MetricInfo]
    KEYS: ClassVar[str] = ""
    HIGHER_IS_BETTER: ClassVar[bool] = True
    PER_EXAMPLE: ClassVar[bool] = True
    DESCRIPTION: ClassVar[str] = ""
    OPTIONS: ClassVar[dict[str, Option]] = {}
    uses_labels: ClassVar[bool] = False
    """True for classification metrics: references are the task's gold labels (``target``)."""
    needs_reference: ClassVar[bool] = True
    """False for reference-free metrics (toxicity, self-BLEU, perplexity, knowledge-F1)."""
    needs_context: ClassVar[bool] = False
    """True when computing reads the task's ``context:`` column (``context["knowledge"]``: knowledge-F1)."""
    needs_logprobs: bool = False
    """True when computing needs the token logprobs of the outputs from the provider (perplexity and
    mean_logprob without a local ``model``): a model that returns none is refused before any request, and
    `compare` (saved runs keep no logprobs) leaves the metric out. On the class: whether it may; on an
    instance: whether it does with its options."""
    LOADS_BACKEND: ClassVar[bool] = False
    """True when computing loads a model or a library that takes seconds (BERTScore, a classifier...): the
    run's dry run of such a metric waits until every cheap check (config, data, files) has passed."""

    def __init__(self, **options: Any) -> None:
        self.opts: dict[str, Any] = self.option_values(options)
        self._validate()

    def _validate(self) -> None:
        """Cross-option checks (raise with :meth:`fail`)."""

    def loads_backend(self) -> bool:
        """Whether :meth:`compute` loads a heavy backend with these options (see ``LOADS_BACKEND``)."""
        return self.LOADS_BACKEND

    @classmethod
    def option_values(cls, options: Mapping[str, object] | None = None) -> dict[str, Any]:
        """``options`` validated as the constructor validates them (unknown names and bad values raise the
        same ConfigError), with the defaults of those not given; cross-option checks are not run."""
        options = dict(options or {})
        unknown = [k for k in options if k not in cls.OPTIONS]
        if unknown:
            known = ", ".join(cls.OPTIONS) or "none"
            hint = did_you_mean(unknown[0], cls.OPTIONS, f"known options: {known}")
            raise ConfigError(f"metric '{cls.name}': unknown option '{unknown[0]}'", hint=hint)
        values: dict[str, Any] = {}
        for key, opt in cls.OPTIONS.items():
            if key in options:
                try:
                    values[key] = opt.check(options[key])
                except ValueError as exc:
                    raise ConfigError(f"metric '{cls.name}': option '{key}': {one_line(str(exc))}") from None
            else:
                values[key] = opt.default
        return values

    @classmethod
    def keys(cls, options: Mapping[str, object] | None = None) -> tuple[str, ...]:
        """The result keys :meth:`compute` returns with these options, in its order, known without
        computing (gate rules are checked against them before any model loads or request is sent). The
        default: one key, the metric's name. An empty tuple: only computing tells (the ``evaluate``
        wrapper without ``keys``)."""
        return (cls.name,)

    def fail(self, option: str, message: str, hint: str | None = None):
        """Raise the one-line ConfigError for a bad option value."""
        raise ConfigError(f"metric '{self.name}': option '{option}': {one_line(message)}", hint=hint)

    @classmethod
    def _build_info(cls) -> MetricInfo:
        opts = "; ".join(
            f"{k}={opt.default!r}" + (f" ({opt.help})" if opt.help else "") for k, opt in cls.OPTIONS.items()
        )
        return MetricInfo(
            name=cls.name,
            keys=cls.KEYS or cls.name,
            higher_is_better=cls.HIGHER_IS_BETTER,
            per_example=cls.PER_EXAMPLE,
            options=opts,
            description=cls.DESCRIPTION,
        )

    def compute(
        self, predictions: Sequence[str | None], references: Sequence[Any] | None = None, **context: Any
    ) -> list[MetricResult]:  # pragma: no cover - abstract
        raise NotImplementedError

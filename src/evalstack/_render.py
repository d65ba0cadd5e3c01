"""Prompt and rubric templates: Jinja2's immutable sandbox, with a time and a size budget per render.

The sandbox already blocks attribute tricks and ranges over 100,000; a template could still raise
(``{{ 1/0 }}``), recurse, loop for hours or build a 10 GB string in one C call (``'x'*10**10``). Here:

- operators that can build something huge in one step (``*``, ``**``, ``%``) and methods/filters that pad
  to a width (``center``, ``ljust``, ``rjust``, ``zfill``, ``indent``, ``wordwrap``, ``format``) are checked
  before they run;
- a render stops after :data:`RENDER_SECONDS` (a timer interrupts Python-level loops) and once its output
  passes :data:`RENDER_CHARS` characters (output is generated piece by piece);
- whatever a template raises becomes :class:`RenderFailed`, which callers turn into a one-line exit 2
  naming the template's key.
"""

from __future__ import annotations

__all__ = ["make_env", "render", "render_session", "RenderFailed", "RENDER_SECONDS", "RENDER_CHARS"]

import contextlib
import ctypes
import gc
import math
import operator
import re
import signal
import threading
from collections.abc import Iterator
from typing import Any

RENDER_SECONDS = 1.0
"""Time budget of one template render."""
RENDER_CHARS = 1_000_000
"""Size budget of one rendered template (characters)."""

_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs"}
_BIG_SPEC = re.compile(r"%[-#0 +]*(\*|\d{7,})|%[-#0 +]*\d*\.(\*|\d{7,})")
_BIG_FORMAT = re.compile(r"\{[^{}]*:[^{}]*\d{7,}[^{}]*\}")


class RenderFailed(Exception):
    """A template failed at render time: an error it raised, or a budget it went over. ``undefined``: it
    read a value the row does not have (a data problem rather than a template one)."""

    undefined = False


class _Timeout(BaseException):
    """Raised into the rendering thread when the time budget is over (BaseException: templates cannot catch it)."""


def _budget(what: str) -> RenderFailed:
    return RenderFailed(
        f"{what} is over the render budget ({RENDER_CHARS:,} characters, {RENDER_SECONDS:g} s per prompt)"
    )


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else None


def _check_repeat(a: Any, b: Any) -> None:
    for seq, n in ((a, b), (b, a)):
        size = _sized(seq)
        if size is not None and isinstance(n, int) and size * n > RENDER_CHARS:
            raise _budget("a repeated string or list")


def _check_pow(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        if b * math.log2(abs(a)) > 100_000:
            raise _budget("a power")


def _check_format(fmt: Any) -> None:
    if isinstance(fmt, str) and _BIG_SPEC.search(fmt):
        raise _budget("a format width")


def _check_width_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for v in (*args, *kwargs.values()):
        if isinstance(v, int) and not isinstance(v, bool) and v > RENDER_CHARS:
            raise _budget("a width")


def make_env() -> Any:
    """The sandboxed Jinja2 environment prompts and rubrics render in (StrictUndefined: a missing column is an
    error), with the size checks described in the module docstring."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _BudgetSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "%"})

        def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
            if op == "*":
                _check_repeat(left, right)
                return operator.mul(left, right)
            if op == "**":
                _check_pow(left, right)
                return operator.pow(left, right)
            if op == "%":
                _check_format(left)
                return operator.mod(left, right)
            return super().call_binop(context, op, left, right)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            name = getattr(__obj, "__name__", "")
            if isinstance(getattr(__obj, "__self__", None), str):
                if name in _WIDTH_METHODS:
                    _check_width_args(args, kwargs)
                elif name in ("format", "format_map") and _BIG_FORMAT.search(__obj.__self__):
                    raise _budget("a format width")
            return super().call(__context, __obj, *args, **kwargs)

    env = _BudgetSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    for name in ("center", "indent", "wordwrap"):
        env.filters[name] = _width_filter(env.filters[name])
    fmt = env.filters["format"]

    def format_filter(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_format(value)
        return fmt(value, *args, **kwargs)

    env.filters["format"] = format_filter
    return env


def _width_filter(fn: Any) -> Any:
    def checked(*args: Any, **kwargs: Any) -> Any:
        _check_width_args(args[1:], kwargs)
        return fn(*args, **kwargs)

    checked.__name__ = getattr(fn, "__name__", "filter")
    return checked


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")


@contextlib.contextmanager
def render_session() -> Iterator[None]:
    """Install the time-budget signal handler once around many renders (a task's prompts), instead of once
    per render; a no-op off the main thread."""
    if not _main_thread() or signal.getsignal(signal.SIGALRM) is _on_alarm:
        yield
        return
    old = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        yield
    finally:
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`_Timeout` in this thread after ``seconds`` (SIGALRM in the main thread, else an async
    exception set by a timer thread). Python-level loops stop; one C call finishes first (hence the checks)."""
    if _main_thread():
        with render_session():
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                yield
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        return
    tid = threading.get_ident()
    lock = threading.Lock()
    active = [True]

    def fire() -> None:
        with lock:
            if active[0]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(_Timeout))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            active[0] = False
        timer.cancel()


def render(template: Any, context: dict[str, Any]) -> str:
    """Render a compiled template within the budgets; any failure is a :class:`RenderFailed` with one line."""
    # No garbage collection inside a render: the time budget is wall clock, and a full collection of a big
    # heap (a million-row run) takes seconds; it runs after the render. The size budget bounds what a render
    # allocates meanwhile. (No context manager here: creating one allocates, and may start a collection.)
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _render(template, context)
    finally:
        if enabled:
            gc.enable()


def _render(template: Any, context: dict[str, Any]) -> str:
    from jinja2 import TemplateError, UndefinedError
    from jinja2.exceptions import SecurityError

    parts: list[str] = []
    size = 0
    try:
        with _deadline(RENDER_SECONDS):
            for chunk in template.generate(**context):
                size += len(chunk)
                if size > RENDER_CHARS:
                    raise RenderFailed(
                        f"the rendered prompt is larger than {RENDER_CHARS:,} characters (the render budget)"
                    )
                parts.append(chunk)
    except _Timeout:
        raise RenderFailed(f"rendering took longer than {RENDER_SECONDS:g} s (the render budget)") from None
    except RenderFailed:
        raise
    except UndefinedError as exc:
        failed = RenderFailed(f"uses an undefined value: {exc.message}")
        failed.undefined = True
        raise failed from None
    except SecurityError as exc:
        raise RenderFailed(f"tried an unsafe operation: {exc}") from None
    except RecursionError:
        raise RenderFailed("recursion too deep (a macro that calls itself?)") from None
    except MemoryError:
        raise _budget("the rendered prompt") from None
    except (TemplateError, Exception) as exc:
        raise RenderFailed(
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
        ) from None
    return "".join(parts)

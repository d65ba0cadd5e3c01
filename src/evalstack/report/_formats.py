"""Report formats: each file of a run folder rendered from the run (report.md, report.html, junit.xml...).

A format is a :class:`ReportFormat` subclass decorated with ``@register_report_format("<name>")``: its
``filename`` (relative to the run folder) and ``render(run, data)`` (text, written atomically with every
registered secret redacted; ``data`` is what the reports share: plots and review lists,
:class:`~evalstack.report._write.ReportData`). Every registered format
is written by :func:`~evalstack.report.write_reports`, the built-ins first in their ``order``. A new built-in
is one module in this package; an installed package adds one through the entry point
``report_format.<name>`` (:mod:`evalstack.registry`).
"""

from __future__ import annotations

__all__ = ["ReportFormat", "register_report_format", "report_formats"]

from collections.abc import Callable
from typing import Any, ClassVar

from ..results import RunResult


class ReportFormat:
    """One report file of a run folder."""

    name: ClassVar[str]
    filename: ClassVar[str]
    """Where it goes, relative to the run folder (e.g. ``report.md``; a subfolder is created)."""
    order: ClassVar[int] = 100
    """Built-ins are written first (10, 20, 30), then the others by name."""

    def render(self, run: RunResult, data: Any) -> str:
        """The file's contents for ``run`` (``data``: plots and review lists, shared by every format)."""
        raise NotImplementedError


def register_report_format(name: str) -> Callable[[type[ReportFormat]], type[ReportFormat]]:
    """Class decorator: write this :class:`ReportFormat` into every run folder (a plug-in's
    ``report_format.<name>`` entry point goes through it too)."""

    def deco(cls: type[ReportFormat]) -> type[ReportFormat]:
        from ..registry import register

        if not (isinstance(cls, type) and issubclass(cls, ReportFormat)) or not getattr(cls, "filename", None):
            raise TypeError(f"report format '{name}' must be a ReportFormat subclass with a filename, not {cls!r}")
        cls.name = name
        return register("report_format", name, cls)

    return deco


def report_formats() -> list[ReportFormat]:
    """Every report format (built-ins and installed plug-ins), in the order they are written."""
    from ..registry import entries

    return [cls() for cls in sorted(entries("report_format").values(), key=lambda c: (c.order, c.name))]


@register_report_format("markdown")
class Markdown(ReportFormat):
    filename = "report.md"
    order = 10

    def render(self, run: RunResult, data: Any) -> str:
        from ._markdown import render_markdown

        return render_markdown(run, regressions=data.regressions, failure_modes=data.failure_modes)


@register_report_format("html")
class Html(ReportFormat):
    filename = "report.html"
    order = 20

    def render(self, run: RunResult, data: Any) -> str:
        from ._html import render_html_data

        return render_html_data(run, data)


@register_report_format("junit")
class JUnit(ReportFormat):
    filename = "junit.xml"
    order = 30

    def render(self, run: RunResult, data: Any) -> str:
        from ._junit import render_junit

        return render_junit(run)

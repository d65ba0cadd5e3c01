"""Reports of a run folder: run.json (versioned, with a JSON Schema), report.md, report.html (self-contained),
junit.xml, review lists (lowest scores, biggest regressions) and plots.

The pipeline writes ``examples.jsonl`` itself, then calls::

    from evalstack.report import write_reports
    paths = write_reports(run_dir, run, worst=20)

Saved runs are read back with :func:`read_run` and :func:`iter_examples`; ``evalstack review`` prints
:func:`review_rows` / :func:`regression_rows`.

The pieces other packages show (the CLI's summary lines and verdict, the number formats, the model order
and metric keys of a run, the gate table) are exported here too: nothing outside imports a ``report._module``.
"""

from ._cost import cost_line, cost_table
from ._format import fmt_ci, fmt_num, fmt_p
from ._formats import ReportFormat, register_report_format, report_formats
from ._html import CSP, render_html
from ._junit import render_junit
from ._markdown import render_markdown
from ._plots import figure_png, new_figure, plain_text, safe_name
from ._review import LOWEST_COLUMNS, REGRESSION_COLUMNS, regression_rows, review_rows, rows_to_csv, rows_to_jsonl
from ._runinfo import model_order, task_metric_keys
from ._store import (
    SCHEMA_FILE,
    iter_examples,
    read_run,
    run_json_path,
    run_json_schema,
    write_run_json,
    write_run_schema,
)
from ._verdict import verdict
from ._view import gate_table, incomplete_lines
from ._worse import summary_lines
from ._write import write_report_files, write_reports

__all__ = [
    "CSP",
    "ReportFormat",
    "register_report_format",
    "report_formats",
    "LOWEST_COLUMNS",
    "REGRESSION_COLUMNS",
    "SCHEMA_FILE",
    "cost_line",
    "cost_table",
    "fmt_ci",
    "fmt_num",
    "fmt_p",
    "gate_table",
    "incomplete_lines",
    "iter_examples",
    "model_order",
    "read_run",
    "regression_rows",
    "render_html",
    "render_junit",
    "render_markdown",
    "review_rows",
    "rows_to_csv",
    "rows_to_jsonl",
    "run_json_path",
    "run_json_schema",
    "safe_name",
    "figure_png",
    "new_figure",
    "plain_text",
    "summary_lines",
    "task_metric_keys",
    "verdict",
    "write_report_files",
    "write_reports",
    "write_run_json",
    "write_run_schema",
]

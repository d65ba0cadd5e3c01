"""Tool-calling tasks: function schemas sent with the requests, expected calls, and tool loops that run
the user's Python functions in a child process and send their results back.

``_config``: the YAML; ``_schema``: schemas and expected calls checked before any request; ``_prepare``: a
task's :class:`ToolSet` and expected calls.
"""

from ._config import ExpectedCallsConfig, ToolsConfig
from ._loop import ToolTrace, run_loops
from ._prepare import as_made, check_tool_loops, prepare_tools, score_context
from ._rows import calls_of, flat_calls, row_fields, tool_counts
from ._schema import ToolSet, check_schemas, expected_calls

__all__ = [
    "ExpectedCallsConfig",
    "ToolSet",
    "ToolTrace",
    "ToolsConfig",
    "as_made",
    "calls_of",
    "check_tool_loops",
    "flat_calls",
    "row_fields",
    "run_loops",
    "check_schemas",
    "expected_calls",
    "prepare_tools",
    "score_context",
    "tool_counts",
]

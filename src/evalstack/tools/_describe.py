"""A tool module's schemas, derived in a child process (the user's module is never imported here)."""

from __future__ import annotations

__all__ = ["describe_module"]

import json
import subprocess
from typing import Any

from ..errors import ConfigError
from ._config import ToolsConfig
from ._exec import child_command, parse_answer


def describe_module(tc: ToolsConfig, *, where: str) -> list[dict[str, Any]]:
    """The OpenAI function schemas of the module's tools (signatures, type hints and docstrings), checked
    like given ones; a ConfigError naming the module when it cannot be imported or described."""
    from ._schema import check_schemas

    assert tc.module is not None
    if not tc.module.is_file():
        raise ConfigError(
            f"tools module not found: {tc.module}", where=where, hint="a .py file, relative to the config"
        )
    request = {"mode": "describe", "module": str(tc.module), "functions": tc.functions, "network": tc.network}
    try:
        done = subprocess.run(
            child_command(), input=json.dumps(request).encode(), capture_output=True, timeout=max(30.0, tc.timeout)
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(f"importing {tc.module.name} took too long", where=where) from None
    answer = parse_answer(done.stdout)
    if answer is None or not answer.get("ok"):
        why = (
            answer.get("error")
            if answer
            else (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["?"])[-1]
        )
        raise ConfigError(
            f"cannot describe the tools of {tc.module.name}: {str(why)[:300]}",
            where=where,
            hint="fix the module, or give `tools.schemas` and `tools.functions`",
        )
    tools = answer.get("tools") or []
    if not tools:
        raise ConfigError(
            f"{tc.module.name} defines no public function",
            where=where,
            hint="define the tools as module-level functions",
        )
    return check_schemas(tools, f"{where} ({tc.module.name})")

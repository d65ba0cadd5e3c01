"""evalstack: is the fine-tuned model better than the base model on your real tasks, and can it ship?

The public API is small and loads lazily (``import evalstack`` stays cheap; the CLI relies on it)::

    import evalstack
    result = evalstack.run("configs/demo.yaml")       # a path, a dict or a Config
    result.exit_code, result.gate.passed              # 0/1/3 as the CLI, the GateDecision
    result.metrics, result.deltas                     # tidy rows; result.to_pandas(), result.to_markdown()

(``evalstack.api`` documents it with a runnable example; ``evalstack.testing`` has pytest assertions.)

Sub-packages: ``evalstack.metrics`` (``compute``), ``evalstack.stats``, ``evalstack.curves``,
``evalstack.judges``, ``evalstack.report``, ``evalstack.models``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "run": "evalstack.api:run",
    "RunOutcome": "evalstack.pipeline:RunOutcome",
    "load_config": "evalstack.config:load_config",
    "Config": "evalstack.config:Config",
    "RunResult": "evalstack.results:RunResult",
    "GateDecision": "evalstack.results:GateDecision",
    "read_run": "evalstack.report:read_run",
    "EvalstackError": "evalstack.errors:EvalstackError",
    "ConfigError": "evalstack.errors:ConfigError",
    "DataError": "evalstack.errors:DataError",
    "RubricError": "evalstack.errors:RubricError",
    "ProviderError": "evalstack.errors:ProviderError",
}

__all__ = sorted(["__version__", *_LAZY])


_SUBMODULES = {
    "api",
    "metrics",
    "models",
    "stats",
    "curves",
    "judges",
    "report",
    "gate",
    "config",
    "results",
    "errors",
    "testing",
    "trackers",
    "data",
    "pipeline",
    "compare",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:  # `import evalstack; evalstack.api.load(...)` works without a separate import
        return importlib.import_module(f"evalstack.{name}")
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'evalstack' has no attribute '{name}'")
    mod, attr = target.split(":")
    value = getattr(importlib.import_module(mod), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

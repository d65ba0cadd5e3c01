"""Stored baselines (``evalstack baseline set``) and runs paired with one (``baseline: {run: prod}``)."""

from ._gate import gate_against_baseline
from ._run import run_with_stored_baseline
from ._store import StoredBaseline, resolve_baseline, set_baseline

__all__ = ["StoredBaseline", "gate_against_baseline", "resolve_baseline", "run_with_stored_baseline", "set_baseline"]

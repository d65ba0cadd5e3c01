"""History of finished runs: an index in one SQLite file (``_store``), drift alarms (``_drift``), and the
``evalstack history`` command (``_cli``)."""

from ._drift import Trend, trend
from ._store import Point, RunStore, comparable_rows, default_store, index_finished

__all__ = ["Point", "RunStore", "Trend", "comparable_rows", "default_store", "index_finished", "trend"]

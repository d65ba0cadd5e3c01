"""The normalised per-step table every reader produces, and the small series helpers the analyses share.

Column names are canonical (see :data:`COLUMNS`); a missing value (``None``) means "not measured at this
step", never zero. Series helpers work on ``(steps, values)`` pairs and skip missing values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

LOSS_COLUMNS = ("train_loss", "valid_loss", "full_valid_loss")
ACCURACY_COLUMNS = ("train_accuracy", "valid_accuracy", "full_valid_accuracy")
REWARD_COLUMNS = ("train_mean_reward", "valid_mean_reward", "full_valid_mean_reward")
RFT_COLUMNS = REWARD_COLUMNS + (
    "completion_tokens_mean",
    "reasoning_tokens_mean",
    "mean_unresponsive_rewards",
    "train_sample_parse_error_count",
    "train_other_error_count",
)
COLUMNS = LOSS_COLUMNS + ACCURACY_COLUMNS + ("epoch", "learning_rate") + RFT_COLUMNS
"""Every canonical column a :class:`CurveTable` may hold (besides ``step``)."""


@dataclass(frozen=True)
class CheckpointInfo:
    """A saved checkpoint of the run (from the checkpoints API, or ``checkpoints.json`` written by fetch)."""

    step: int
    """Training step the checkpoint was taken at."""
    model: str | None = None
    """Deployable model name, e.g. ``ft:gpt-4.1-mini:acme::abc:ckpt-step-200``."""
    metrics: dict[str, float] = field(default_factory=dict)
    """The checkpoint's metrics under canonical column names."""


@dataclass(frozen=True)
class CurveTable:
    """One fine-tuning run's metrics, one row per step, canonical column names."""

    source: str
    """The file (or folder) the table was read from."""
    format: str
    """``openai``, ``azure``, ``hf``, ``generic`` or ``rft``."""
    steps: list[int]
    """Step numbers, ascending and unique."""
    columns: dict[str, list[float | None]]
    """Canonical column name -> one value per step (``None`` = not measured)."""
    n_epochs: int | None = None
    """Number of epochs, from the job's hyperparameters / trainer state (``None`` = unknown)."""
    checkpoints: list[CheckpointInfo] = field(default_factory=list)
    """Saved checkpoints, where known (only these can be deployed)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Extra facts from the source (job id, base model, hyperparameters...)."""
    notes: list[str] = field(default_factory=list)
    """What the reader decided (decoded base64, skipped NaN cells, ignored columns...)."""

    def has(self, column: str) -> bool:
        """True if ``column`` has at least one measured value."""
        return any(v is not None for v in self.columns.get(column, ()))

    def series(self, column: str) -> tuple[list[int], list[float]]:
        """The measured ``(steps, values)`` of ``column`` (missing values dropped)."""
        vals = self.columns.get(column, [])
        pairs = [(s, v) for s, v in zip(self.steps, vals) if v is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    @property
    def kind(self) -> str:
        """``rft`` when the table holds rewards, else ``sft``."""
        return "rft" if any(self.has(c) for c in REWARD_COLUMNS) else "sft"

    def with_columns(self, columns: dict[str, list[float | None]], *, note: str | None = None) -> CurveTable:
        """A copy with ``columns`` replaced/added (and ``note`` appended)."""
        merged = dict(self.columns)
        merged.update(columns)
        notes = self.notes + ([note] if note else [])
        return replace(self, columns=merged, notes=notes)


def build_table(rows: dict[int, dict[str, float | None]], **kwargs: Any) -> CurveTable:
    """A :class:`CurveTable` from ``{step: {column: value}}`` rows (columns never measured are dropped)."""
    steps = sorted(rows)
    names = [c for c in COLUMNS if any(rows[s].get(c) is not None for s in steps)]
    columns = {c: [rows[s].get(c) for s in steps] for c in names}
    return CurveTable(steps=steps, columns=columns, **kwargs)


# ---------------------------------------------------------------------------------------- series helpers


def auto_window(n: int) -> int:
    """The default smoothing window for ``n`` measurements: odd, about n/15, between 3 and 25 (1 if n<5)."""
    if n < 5:
        return 1
    w = max(3, min(25, round(n / 15)))
    return w if w % 2 else w + 1


def resolve_window(smoothing: int | str | None, n: int) -> int:
    """``"auto"``/``None`` -> :func:`auto_window`; an int >= 1 is used as is (1 = no smoothing)."""
    if smoothing is None or smoothing == "auto":
        return auto_window(n)
    if isinstance(smoothing, bool) or not isinstance(smoothing, int) or smoothing < 1:
        from ..errors import ConfigError

        raise ConfigError(f"smoothing must be 'auto' or a window size >= 1, got {smoothing!r}")
    return smoothing


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Centred moving average over ``window`` values (the window shrinks at both ends)."""
    if window <= 1 or len(values) < 2:
        return list(values)
    half = window // 2
    out = []
    for i in range(len(values)):
        lo, hi = max(0, i - half), min(len(values), i + half + 1)
        chunk = values[lo:hi]
        out.append(sum(chunk) / len(chunk))
    return out


def value_at(steps: Sequence[int], values: Sequence[float], step: float) -> float | None:
    """Linear interpolation of the series at ``step`` (clamped to the ends; ``None`` for an empty series)."""
    if not steps:
        return None
    if step <= steps[0]:
        return values[0]
    if step >= steps[-1]:
        return values[-1]
    lo, hi = 0, len(steps) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if steps[mid] <= step:
            lo = mid
        else:
            hi = mid
    s0, s1 = steps[lo], steps[hi]
    if s1 == s0:
        return values[lo]
    t = (step - s0) / (s1 - s0)
    return values[lo] + t * (values[hi] - values[lo])


def edge_median(values: Sequence[float], *, tail: bool, frac: float = 0.1, min_n: int = 3) -> float:
    """Median of the first (or last) ``frac`` of ``values`` (at least ``min_n`` of them)."""
    k = max(min_n, int(math.ceil(len(values) * frac)))
    chunk = sorted(values[-k:] if tail else values[:k])
    m = len(chunk)
    return chunk[m // 2] if m % 2 else (chunk[m // 2 - 1] + chunk[m // 2]) / 2


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return edge_median(values, tail=False, frac=1.0, min_n=len(values))


def r(x: float | None, nd: int = 4) -> float | None:
    """Round for evidence and JSON (``None``, NaN and inf become ``None``)."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)

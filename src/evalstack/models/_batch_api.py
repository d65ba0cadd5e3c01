"""What the runner knows of a provider's batch API (``batch: true``): how batches are split, submitted and
polled (:class:`BatchSettings`) and what batch mode did (:class:`BatchStats`).

A provider that declares ``supports_batch_api`` implements ``run_batch_api`` (the OpenAI one is
``_openai_batch.py``); the runner sends its pending requests there first and the rest online.
"""

from __future__ import annotations

__all__ = ["BatchProgress", "BatchSettings", "BatchStats"]

import os
from dataclasses import dataclass, field
from typing import Protocol


class BatchProgress(Protocol):
    """The runner's progress lines, as a batch API shows a batch's request counts on them."""

    def add(self, label: str, total: int) -> object:
        """A new line; returns its id (None where no line is drawn)."""
        ...

    def update(self, tid: object, **fields: object) -> None:
        """Set a line's completed/total/description/errors."""
        ...


@dataclass(frozen=True)
class BatchSettings:
    """How batch mode splits, submits and waits."""

    poll_interval: float = 30.0
    """Seconds between two polls of a batch (``$EVALSTACK_BATCH_POLL_INTERVAL`` overrides the default)."""
    max_requests: int = 50_000
    """Lines per batch file (the API's limit is 50,000)."""
    max_bytes: int = 200_000_000
    """Bytes per batch file (the API's limit is 200 MB)."""
    resubmits: int = 1
    """How many times requests left unfinished by an expired/failed/cancelled batch go into a new batch
    before they are sent online."""
    completion_window: str = "24h"
    """The Batch API's completion window (the only one it offers)."""

    def __post_init__(self) -> None:
        if self.poll_interval < 0 or self.max_requests < 1 or self.max_bytes < 1 or self.resubmits < 0:
            raise ValueError("BatchSettings: poll_interval >= 0, max_requests >= 1, max_bytes >= 1, resubmits >= 0")

    @classmethod
    def from_env(cls) -> BatchSettings:
        """The defaults, with ``$EVALSTACK_BATCH_POLL_INTERVAL`` (seconds) when set."""
        raw = os.environ.get("EVALSTACK_BATCH_POLL_INTERVAL")
        if not raw:
            return cls()
        try:
            return cls(poll_interval=float(raw))
        except ValueError:
            from ..errors import ConfigError

            raise ConfigError(
                f"EVALSTACK_BATCH_POLL_INTERVAL={raw!r} is not a number of seconds >= 0",
                hint="e.g. export EVALSTACK_BATCH_POLL_INTERVAL=30",
            ) from None


@dataclass
class BatchStats:
    """What batch mode did for one provider (summed over the runner's calls)."""

    created: int = 0
    """Batches submitted."""
    resumed: int = 0
    """Batches found in flight in the cache (a stopped run) and polled again instead of resubmitted."""
    polls: int = 0
    """Batch status requests."""
    results: int = 0
    """Requests answered by a batch (stored in the cache)."""
    failed_lines: int = 0
    """Lines that came back with an error status; sent online."""
    unfinished: int = 0
    """Requests an expired, failed or cancelled batch did not finish."""
    resubmitted: int = 0
    """Of those, requests put into a new batch."""
    online: int = 0
    """Requests sent online after all: failed lines, unfinished past ``resubmits``, lines over ``max_bytes``."""
    batch_ids: list[str] = field(default_factory=list)
    """Every batch id polled, in order of first poll."""

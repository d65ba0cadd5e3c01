"""Where the heavy per-example work of a scorer runs: in this process, or as Ray Data stages (`--engine ray`).

A heavy scorer (BERTScore, a local HF toxicity classifier) hands its per-example work to :func:`map_blocks` as
a *stage*: a picklable callable from a block of items to one result per item, plus what it needs
(``gpu``). In this process the stage gets all items in one call (as before the engine existed). On Ray the
items are cut into blocks (about two per worker, at most :data:`BLOCK_ROWS`, ``EVALSTACK_SCORE_BLOCK``), each
one ``map_batches`` batch, spread over the workers (``num_gpus=1`` per worker for a stage that wants a GPU
when the cluster has one); the results come back in order into the scorer, which builds its
:class:`~evalstack.metrics.MetricResult` as before. Per-example values are the same computation on the same
inputs; where a model runs in float32 with another thread count or batch (padding) than here, they agree to
float32 rounding (BERTScore: within 1e-6), not bit for bit. A stage whose result depends on all items at
once (BERTScore with ``idf``) says ``whole=True`` and is one block. One block only (a dry run) stays here.

Ray is imported only when the Ray engine is in use (:mod:`evalstack.metrics._ray`); a normal run never
imports it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

__all__ = ["BLOCK_ROWS", "RayEngine", "Stage", "current_engine", "map_blocks", "use_engine"]

BLOCK_ROWS = 1024
"""Items per block (``EVALSTACK_SCORE_BLOCK`` overrides it): bounds a heavy scorer's memory per call too."""

T = TypeVar("T")


class Stage(Protocol):
    """A block of items -> one JSON-able result per item. Picklable: Ray ships it to its workers."""

    @property
    def gpu(self) -> bool:
        """Wants a GPU (``num_gpus=1`` per worker) where the cluster has one."""

    @property
    def whole(self) -> bool:
        """Its results depend on all items at once: computed as one block."""

    def __call__(self, items: list[Any]) -> list[Any]: ...


@dataclass(frozen=True)
class RayEngine:
    """Score heavy stages on a Ray cluster: ``address`` as ``ray.init`` takes it (None: a local cluster on this
    machine; ``auto``: the running cluster; ``ray://host:10001``: Ray Client), ``workers`` per stage (None:
    the cluster's CPUs, or its GPUs for a GPU stage)."""

    address: str | None = None
    workers: int | None = None


_ENGINE: list[RayEngine | None] = [None]


def current_engine() -> RayEngine | None:
    """The engine heavy stages run on (None: this process)."""
    return _ENGINE[0]


@contextlib.contextmanager
def use_engine(engine: RayEngine | None) -> Iterator[None]:
    """Run heavy stages on ``engine`` within the block (None: this process)."""
    old = _ENGINE[0]
    _ENGINE[0] = engine
    try:
        yield
    finally:
        _ENGINE[0] = old


def block_rows() -> int:
    value = os.environ.get("EVALSTACK_SCORE_BLOCK", "")
    return int(value) if value.strip().isdigit() and int(value) > 0 else BLOCK_ROWS


def blocks_of(items: Sequence[T], whole: bool, workers: int) -> list[list[T]]:
    """The blocks ``items`` is cut into on ``workers`` workers (one block for a ``whole`` stage)."""
    if whole or not items:
        return [list(items)]
    size = max(1, min(block_rows(), -(-len(items) // (2 * max(1, workers)))))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def map_blocks(stage: Stage, items: Sequence[Any]) -> list[Any]:
    """``stage`` over ``items`` on the current engine; one result per item, in order."""
    if not items:
        return []
    engine = current_engine()
    if engine is None or len(items) == 1:
        return _checked(stage(list(items)), items)
    from ._ray import ray_map_blocks, workers_for

    blocks = blocks_of(items, bool(getattr(stage, "whole", False)), workers_for(engine, stage))
    if len(blocks) == 1:
        return _checked(stage(blocks[0]), items)
    results = ray_map_blocks(engine, stage, blocks)
    return [r for block, res in zip(blocks, results) for r in _checked(res, block)]


def _checked(results: list[Any], block: Sequence[Any]) -> list[Any]:
    if len(results) != len(block):
        raise RuntimeError(f"a scoring stage returned {len(results)} results for {len(block)} items")
    return results

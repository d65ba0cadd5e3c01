"""Heavy scoring stages as Ray Data ``map_batches`` stages (``--engine ray``); imported only then.

Each block of :func:`~evalstack.metrics._engine.map_blocks` is one row of a Ray dataset (its items as JSON),
mapped by a pool of actors (``concurrency`` = the workers) that each build the stage once (a model loads once
per worker) and score one block per call, with ``num_cpus=1`` and, for a stage that wants a GPU on a
cluster that has them, ``num_gpus=1``. The rows come back with their block number and are put in order.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._engine import RayEngine, Stage

__all__ = ["ray_map_blocks", "connect"]


def connect(engine: RayEngine) -> Any:
    """``ray`` connected to the engine's cluster (a running connection is reused, e.g. a test's local cluster)."""
    try:
        import ray
    except ImportError:
        from ..errors import ConfigError

        raise ConfigError(
            "--engine ray needs Ray, which is not installed", hint="pip install 'evalstack[ray]'"
        ) from None
    if not ray.is_initialized():
        # a local cluster's workers inherit this environment; a remote cluster needs evalstack installed
        ray.init(address=engine.address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)
    import logging

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    return ray


class _Worker:
    """A Ray Data actor: the stage, built once per worker, applied to one block per batch."""

    def __init__(self, stage: Stage):
        self.stage = stage

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        out = [json.dumps(self.stage(json.loads(str(b)))) for b in batch["block"]]
        return {"i": np.asarray(batch["i"]), "out": np.array(out, dtype=object)}


def _gpus(ray: Any) -> float:
    return float(ray.cluster_resources().get("GPU", 0))


def _wants_gpu(ray: Any, stage: Stage) -> bool:
    return bool(getattr(stage, "gpu", False)) and _gpus(ray) > 0


def workers_for(engine: RayEngine, stage: Stage) -> int:
    """Workers for ``stage``: the engine's, else one per GPU for a GPU stage on a GPU cluster, else per CPU."""
    ray = connect(engine)
    return max(
        1, engine.workers or int(_gpus(ray) if _wants_gpu(ray, stage) else ray.cluster_resources().get("CPU", 1))
    )


def ray_map_blocks(engine: RayEngine, stage: Stage, blocks: list[list[Any]]) -> list[list[Any]]:
    """One result list per block, computed on the cluster, in block order."""
    ray = connect(engine)
    gpu = _wants_gpu(ray, stage)
    workers = max(1, min(workers_for(engine, stage), len(blocks)))
    ds = ray.data.from_items(
        [{"i": k, "block": json.dumps(b)} for k, b in enumerate(blocks)], override_num_blocks=len(blocks)
    )
    mapped = ds.map_batches(
        _Worker,
        fn_constructor_args=(stage,),
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
        num_gpus=1 if gpu else 0,
    )
    rows = sorted(mapped.take_all(), key=lambda r: int(r["i"]))
    if [int(r["i"]) for r in rows] != list(range(len(blocks))):
        raise RuntimeError("Ray returned an incomplete set of scored blocks")
    return [json.loads(str(r["out"])) for r in rows]

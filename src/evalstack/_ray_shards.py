"""`evalstack run --engine ray --shards N` (issue 21 item 3): the N shards of a run as Ray tasks, then one merge.

Each shard is :func:`evalstack.shards.run_shard` in a Ray task (``max_retries=2``: a shard whose worker died
is run again by Ray, and takes what it had finished from the cache) into ``<run folder>.shards/shard-I-of-N``;
all shards share the config's cache file (SQLite WAL with a busy timeout: several writers may share it).
:func:`evalstack.shards.merge_shards` then writes the run folder, so the exit code is a normal run's. Ray is
imported only here, and only when this runs. ``EVALSTACK_*`` variables of this process go to the tasks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .metrics import RayEngine
    from .pipeline import RunOutcome

__all__ = ["run_shards_on_ray", "shard_folders"]

EXIT_ONCE = "EVALSTACK_RAY_TEST_EXIT_ONCE"  # tests: the first task to see it (a marker file) kills its worker


def shard_folders(out: Path, n: int) -> list[Path]:
    """Where the N shards of the run folder ``out`` go: beside it, never inside it (merge refuses that)."""
    return [out.parent / f"{out.name}.shards" / f"shard-{i}-of-{n}" for i in range(1, n + 1)]


def _shard_task(config: str, index: int, n: int, out_dir: str, options: dict[str, object]) -> int:
    """One shard, in a Ray worker; its exit code (0 finished, 3 items failed)."""
    marker = os.environ.get(EXIT_ONCE)
    if marker:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            pass
        else:
            os._exit(1)  # a killed worker, once: Ray runs the task again
    from ._shard import ShardSpec
    from .shards import run_shard

    return run_shard(config, ShardSpec(index, n), out_dir=out_dir, **options).exit_code


def run_shards_on_ray(config: Path, n: int, out: Path, engine: RayEngine, options: dict[str, object]) -> RunOutcome:
    """Run ``config``'s N shards as Ray tasks, then merge them into ``out``; the merged run's outcome."""
    from .metrics import connect_ray
    from .shards import merge_shards

    ray = connect_ray(engine)
    folders = shard_folders(out.resolve(), n)
    task = ray.remote(max_retries=2, num_cpus=1)(_shard_task)
    env = {k: v for k, v in os.environ.items() if k.startswith("EVALSTACK_")}
    if env:
        task = task.options(runtime_env={"env_vars": env})
    cfg = str(config.resolve())
    ray.get([task.remote(cfg, i, n, str(d), options) for i, d in enumerate(folders, 1)])
    return merge_shards(folders, out_dir=out)

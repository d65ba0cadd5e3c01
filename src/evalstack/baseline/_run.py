"""`evalstack run` of a config whose ``baseline: {run: prod}`` names a stored baseline.

Before any request: the stored baseline is found, each task's digests (data, prompt, labels, metrics,
judges, scoring) are checked against the stored run's (refused as `compare` refuses, unless
``allow_mismatch``), and a candidate named like the stored model is refused. Then only the candidate
models are generated, judged and scored (an ordinary run into a temporary folder), and `compare` pairs them
with the stored per-example rows by example id into the output folder: the same `_summary` path, so the
metrics, deltas, slices, gate and review lists are those of a joint run on the same data. Ids missing on
either side are listed (``intersect: true`` pairs the common ones).
"""

from __future__ import annotations

__all__ = ["run_with_stored_baseline"]

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import Config
    from ..pipeline import RunOutcome


def run_with_stored_baseline(
    cfg: Config,
    *,
    out_dir: str | Path | None = None,
    limit: int | None = None,
    no_cache: bool = False,
    concurrency: int | None = None,
    models: list[str] | None = None,
    progress: bool = False,
    batch: bool = False,
    resume: bool = False,
    resume_command: str | None = None,
    shard: object = None,
    max_cost: float | None = None,
) -> RunOutcome:
    """``run_config``'s options (``resume`` and ``resume_command`` do not apply: the candidates run into a
    temporary folder and their responses are cached; ``shard`` is refused)."""
    from .._digests import check_like_for_like, task_digests
    from .._prepare import prepare_task
    from ..compare import compare
    from ..history import index_finished
    from ..pipeline import run_config
    from ..report import read_run
    from ._store import resolve_baseline

    ref = cfg.baseline_run
    assert ref is not None
    where = f"{cfg.source or 'config'}: baseline.run"
    if shard is not None:
        raise ConfigError("--shard is not supported with a stored baseline", where=where, hint="run without --shard")
    try:
        stored = resolve_baseline(ref.run, store=cfg.store, base_dir=cfg.base_dir)
    except ConfigError as exc:
        raise exc.at(where) from None
    base = read_run(stored.folder)
    if stored.model in cfg.models:
        raise ConfigError(
            f"a model is named {stored.model!r} like the stored baseline's model",
            where=where,
            hint="rename the candidate in `models:`",
        )
    missing = [t.name for t in cfg.tasks if t.name not in base.digests]
    if missing:
        raise ConfigError(
            f"the stored baseline {ref.run!r} has no task {missing[0]!r} (its tasks: {', '.join(base.tasks)})",
            where=where,
            hint="evaluate the baseline on this task and set it again",
        )
    plans = [prepare_task(cfg, t, i, limit=limit) for i, t in enumerate(cfg.tasks)]  # checks only, nothing sent
    mine = {p.name: task_digests(p, dict(cfg.models), cfg.judge) for p in plans}
    check_like_for_like(
        [(t, base.digests[t], d) for t, d in mine.items()],
        ref.allow_mismatch,
        what=f"the stored baseline {ref.run!r} and this config",
    )
    out = Path(out_dir) if out_dir else cfg.output_dir()
    tmp = Path(tempfile.mkdtemp(prefix="evalstack-candidates-"))
    # the gate is judged on the pairs; the candidates' own folder is indexed in a throwaway store
    candidates = cfg.model_copy(update={"baseline_run": None, "gate": None, "store": tmp / "store"})
    candidates.source = cfg.source
    try:
        run_config(
            candidates,
            out_dir=tmp / "run",
            limit=limit,
            no_cache=no_cache,
            concurrency=concurrency,
            models=models,
            progress=progress,
            batch=batch,
            max_cost=max_cost,
        )
        outcome = compare(
            [tmp / "run", stored.folder],
            out_dir=out,
            baseline=stored.model,
            intersect=ref.intersect,
            allow_mismatch=ref.allow_mismatch,
            name=cfg.name,
            gate=cfg.gate,
        )
        index_finished(outcome.out_dir, cfg.store)
        return outcome
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

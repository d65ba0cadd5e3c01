"""What a run's options change before it starts: ``--batch`` turned on for every provider with a batch API,
the command that resumes the run, and the offline environment every run and compare works in."""

from __future__ import annotations

__all__ = ["RunOptions", "quiet_offline_env", "resume_command", "with_batch"]

import os
from pathlib import Path
from typing import TypedDict, TypeVar

from ._shard import ShardSpec
from .config import Config
from .models import ProviderSettings, provider_class


class RunOptions(TypedDict, total=False):
    """The keyword options of :func:`evalstack.pipeline.run` (those of ``run_config``, which documents them)."""

    out_dir: str | Path | None
    limit: int | None
    resume: bool
    no_cache: bool
    concurrency: int | None
    models: list[str] | None
    progress: bool
    batch: bool
    resume_command: str | None
    shard: ShardSpec | None
    max_cost: float | None


def resume_command(
    cfg: Config,
    out_dir: Path | None,
    limit: int | None,
    models: list[str] | None,
    batch: bool,
    shard: ShardSpec | None = None,
) -> str:
    """The command that continues this run (the CLI passes the one built from what the user typed)."""
    parts = ["evalstack", "run", str(getattr(cfg, "source", None) or "CONFIG")] + (
        ["--out", str(out_dir)] if out_dir else []
    )
    parts += ["--shard", shard.label] if shard else []
    parts += (["--limit", str(limit)] if limit else []) + (["--models", ",".join(models)] if models else [])
    return " ".join(parts + (["--batch"] if batch else []) + ["--resume"])


_M = TypeVar("_M", bound=ProviderSettings)


def with_batch(cfg: Config) -> Config:
    """A copy of the config with ``batch: true`` on every model and judge whose provider has a batch API."""

    def on(m: _M) -> _M:
        return m.model_copy(update={"batch": True}) if provider_class(m.provider).supports_batch_api else m

    tasks = [
        t.model_copy(
            update={
                "judges": [j.model_copy(update={"judge": on(j.judge)}) if j.judge else j for j in t.judges],
                "pairwise": [j.model_copy(update={"judge": on(j.judge)}) if j.judge else j for j in t.pairwise],
            }
        )
        for t in cfg.tasks
    ]
    new = cfg.model_copy(
        update={
            "models": {k: on(v) for k, v in cfg.models.items()},
            "judge": on(cfg.judge) if cfg.judge else None,
            "tasks": tasks,
        }
    )
    new.source = cfg.source
    return new


def quiet_offline_env() -> None:
    """Offline by default (no hub download can happen at run time) and no library progress bars in our output.

    setdefault: a user who really wants the hub, or the bars, sets the variables themselves.
    """
    for name, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
        ("HF_DATASETS_OFFLINE", "1"),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("TOKENIZERS_PARALLELISM", "false"),
    ):
        os.environ.setdefault(name, value)

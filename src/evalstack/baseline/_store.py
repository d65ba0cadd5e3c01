"""Stored baselines: a finished run's per-example rows of one model, kept in the run store under a name.

``evalstack baseline set RUN --name prod`` copies the rows of RUN's baseline model (or ``--model``) into
``<store>/baselines/<name>-<run key>/`` as a run folder of that one model (run.json with its digests and
config, examples.jsonl with its outputs and per-example scores) and records ``name -> folder`` in the
store's index (``baselines`` table: every setting is kept, so history can mark when the baseline changed).
A config's ``baseline: {run: prod}`` (or a run folder path) reads it back (:func:`resolve_baseline`).
An incomplete run (items failed after retries) or an unfinished folder is refused.
"""

from __future__ import annotations

__all__ = ["StoredBaseline", "resolve_baseline", "set_baseline", "trimmed_copy"]

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError


@dataclass(frozen=True)
class StoredBaseline:
    name: str
    folder: Path
    """A run folder holding the baseline model only."""
    model: str
    """The model name its rows carry (the deltas are ``candidate - model``)."""
    run_key: str


def trimmed_copy(run_dir: Path, keep: list[str], dest: Path, *, baseline: str) -> Path:
    """A run folder at ``dest`` holding only the models ``keep`` of the finished run ``run_dir``."""
    from .._examples import write_examples
    from .._outdir import claim
    from ..report import iter_examples, read_run, write_run_json

    run = read_run(run_dir)
    claim(dest, where=str(dest))
    sha = write_examples(dest, (r for r in iter_examples(run_dir) if r.model in keep))
    models = {m: run.models[m] for m in keep}
    write_run_json(dest, run.model_copy(update={"models": models, "baseline": baseline, "examples_sha256": sha}))
    return dest


def set_baseline(run_dir: Path, name: str, *, store: Path | None = None, model: str | None = None) -> StoredBaseline:
    """Record the per-example scores of ``model`` (default: the run's baseline) of a finished, complete run."""
    from ..history import RunStore
    from ..report import read_run

    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name) or name.strip(".") == "":
        raise ConfigError(f"--name {name!r}: use letters, digits, '_', '-', '.'")
    run = read_run(run_dir)  # an unfinished folder is refused here
    if run.failed_items or run.incomplete is not None:
        raise DataError(
            f"the run is incomplete ({run.failed_items} items failed after retries): it cannot be a baseline",
            where=str(run_dir),
            hint="finish it with `evalstack run CONFIG --out RUN --resume`, then set it",
        )
    model = model or run.baseline
    if model not in run.models:
        raise ConfigError(f"--model {model!r} is not in the run (models: {', '.join(run.models)})")
    rs = RunStore(store)
    try:
        key, _ = rs.add(Path(run_dir))
        dest = rs.folder / "baselines" / f"{name}-{key}-{model}"
        if not (dest / "run.json").is_file():
            trimmed_copy(Path(run_dir), [model], dest, baseline=model)
        rs.set_baseline(name, dest, key, model)
    finally:
        rs.close()
    return StoredBaseline(name, dest, model, key)


def resolve_baseline(ref: str, *, store: Path | None = None, base_dir: Path | None = None) -> StoredBaseline:
    """A stored baseline by name, else a run folder path (relative to ``base_dir``): its baseline model."""
    from ..history import RunStore

    path = Path(ref) if Path(ref).is_absolute() or base_dir is None else base_dir / ref
    if (path / "run.json").is_file():
        from ..report import read_run

        run = read_run(path)
        return StoredBaseline(ref, path, run.baseline, "")
    rs = RunStore(store)
    try:
        row = rs.baseline(ref)
        names = rs.baseline_names()
    finally:
        rs.close()
    if row is None:
        have = f" (stored: {', '.join(names)})" if names else " (none is stored)"
        raise ConfigError(
            f"no stored baseline named {ref!r} and no run folder there{have}",
            hint=f"store one with `evalstack baseline set RUN --name {ref}`, or name a run folder",
        )
    folder, key, model = row
    return StoredBaseline(ref, Path(folder), model, key)

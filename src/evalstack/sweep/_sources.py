"""Where a sweep's checkpoints come from: an OpenAI fine-tuning job, a local HF training folder, or a list.

Each source gives the candidates (name, training step, the model config that runs it) and, where it has
one, the loss curve analysed by :func:`evalstack.curves.analyze` (so the best-valid-loss step, the RFT
peak and the OVERFIT facts are the same as ``evalstack curves analyze`` gives).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ._config import SweepSpec

_CKPT = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True)
class Candidate:
    """One checkpoint that may be evaluated."""

    name: str
    """Model name in the per-candidate runs (``step-200``, ``final``, or the explicit list's key)."""
    step: int
    """Training step."""
    model: Any
    """The model config (a :data:`evalstack.config.ModelConfig`) that runs it."""
    origin: str
    """What it is: the checkpoint model id, folder or provider description."""
    final: bool = False
    """True for the job's / folder's final model."""


@dataclass
class Discovered:
    """What a source gave: every checkpoint, and the analysed curve when there is one."""

    candidates: list[Candidate]
    curve: Any = None
    """A :class:`evalstack.curves.CurveReport` or None."""
    source: str = ""
    """One line naming the source (for the report)."""


def _job_template(spec: SweepSpec) -> Any:
    sw, cfg = spec.sweep, spec.config
    tpl = sw.model or cfg.models[cfg.baseline]
    if getattr(tpl, "provider", None) != "openai":
        raise ConfigError(
            "the job's checkpoints run through an openai model: give sweep.model "
            "{provider: openai, model: any, ...} (the baseline is not an openai model)",
            where=f"{cfg.source or 'config'}: sweep.model",
        )
    return tpl


def _client(tpl: Any) -> Any:
    import openai

    key_env = tpl.api_key_env
    key = os.environ.get(key_env) if key_env else "unused"
    if not key:
        raise ConfigError(f"{key_env} is not set (the job's checkpoints are listed with it)", hint=f"export {key_env}")
    base = tpl.base_url or os.environ.get("OPENAI_BASE_URL") or None
    return openai.OpenAI(api_key=key, base_url=base, max_retries=2, timeout=tpl.timeout)


def from_job(spec: SweepSpec, work: Path) -> Discovered:
    """``sweep: {job: ftjob-...}``: the job's checkpoints (all pages), its final model and its results file
    through the official client (:func:`evalstack.curves.fetch_job` writes them into ``work``)."""
    from ..curves import analyze, fetch_job

    job_id = spec.sweep.job or ""
    tpl = _job_template(spec)
    summary = fetch_job(job_id, client=_client(tpl), out_dir=work)
    report = analyze(work, label="training")
    by_step: dict[int, tuple[str, bool]] = {c.step: (c.model, False) for c in report.table.checkpoints if c.model}
    final = summary.get("fine_tuned_model")
    if final:
        last = max([*report.table.steps, *by_step, 0])
        by_step[last] = (final, True)  # the final model stands for a checkpoint at the same step
    if not by_step:
        raise DataError(
            f"job {job_id} has no checkpoints and no final model yet (status {summary.get('status')})",
            where=f"{spec.config.source or 'config'}: sweep.job",
            hint="wait for the job to save a checkpoint",
        )
    cands = [
        Candidate(
            name="final" if is_final else f"step-{step}",
            step=step,
            final=is_final,
            origin=model,
            model=tpl.model_copy(update={"model": model, "checkpoint_step": step, "azure": None}),
        )
        for step, (model, is_final) in sorted(by_step.items())
    ]
    return Discovered(
        cands,
        report,
        f"OpenAI fine-tuning job {job_id} ({summary.get('status')}, "
        f"{summary.get('n_checkpoints')} checkpoint(s) listed)",
    )


def _trainer_state(folder: Path, ckpts: list[tuple[int, Path]]) -> Path | None:
    top = folder / "trainer_state.json"
    if top.is_file():
        return top
    for _, p in reversed(ckpts):  # the last checkpoint's state holds the whole log history
        if (p / "trainer_state.json").is_file():
            return p / "trainer_state.json"
    return None


def _folder_model(spec: SweepSpec, name: str, step: int, path: Path) -> Any:
    from ..config import LocalModel, OpenAIModel

    sw = spec.sweep
    where = f"{spec.config.source or 'config'}: sweep"
    try:
        if sw.serve is not None:
            data = {"provider": "openai", "api_key_env": None, "model": "{name}", **sw.serve}
            data["model"] = str(data["model"]).format(name=name, step=step, path=path)
            return OpenAIModel.model_validate({**data, "checkpoint_step": step})
        return LocalModel.model_validate({**sw.local, "provider": "local", "path": path, "checkpoint_step": step})
    except (ValueError, KeyError) as exc:
        key = "serve" if sw.serve is not None else "local"
        raise ConfigError(
            f"invalid {key} settings: {str(exc).splitlines()[-1].strip()}", where=f"{where}.{key}"
        ) from None


def from_folder(spec: SweepSpec) -> Discovered:
    """``sweep: {path: out/}``: ``checkpoint-<step>/`` folders (HF Trainer layout), the final model when the
    folder itself holds one (config.json or adapter_config.json) at a step no checkpoint has, and the
    curve from ``trainer_state.json`` (the folder's, else the last checkpoint's)."""
    from ..curves import analyze

    folder = spec.sweep.path
    assert folder is not None
    where = f"{spec.config.source or 'config'}: sweep.path"
    if not folder.is_dir():
        raise ConfigError(
            f"training output folder not found: {folder}",
            where=where,
            hint="point sweep.path at the folder holding checkpoint-*/ folders",
        )
    ckpts = sorted((int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CKPT.match(p.name)))
    state = _trainer_state(folder, ckpts)
    report = analyze(state, label="training") if state else None
    cands = [
        Candidate(name=f"step-{s}", step=s, origin=p.name, model=_folder_model(spec, p.name, s, p)) for s, p in ckpts
    ]
    if (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file():
        last = report.table.meta.get("global_step") if report else None
        step = int(last) if isinstance(last, (int, float)) else (ckpts[-1][0] if ckpts else 0)
        if step not in {s for s, _ in ckpts}:
            cands.append(
                Candidate(
                    name="final",
                    step=step,
                    final=True,
                    origin=folder.name,
                    model=_folder_model(spec, folder.name, step, folder),
                )
            )
    if not cands:
        raise DataError(
            "no checkpoint-<step>/ folders and no final model (config.json) in the folder",
            where=str(folder),
            hint="save checkpoints with the HF Trainer (save_strategy) or list them under sweep.models",
        )
    return Discovered(
        cands,
        report,
        f"training folder {folder.name}/ ({len(ckpts)} checkpoint folder(s)"
        + (", trainer_state.json" if state else ", no trainer_state.json")
        + ")",
    )


def from_list(spec: SweepSpec) -> Discovered:
    """``sweep: {models: {...}}``: the explicit list; ``sweep.curve`` (optional) gives the loss curve."""
    from ..curves import analyze

    sw = spec.sweep
    report = analyze(sw.curve, label="training") if sw.curve else None
    items = sorted((sw.models or {}).items(), key=lambda kv: (kv[1].checkpoint_step, kv[0]))
    last = items[-1][1].checkpoint_step if items else None
    cands = [
        Candidate(
            name=n,
            step=int(m.checkpoint_step or 0),  # validated: every listed model has one
            model=m,
            final=m.checkpoint_step == last,
            origin=str(getattr(m, "model", None) or Path(getattr(m, "path", None) or m.provider).name),
        )
        for n, m in items
    ]
    return Discovered(cands, report, f"explicit list of {len(cands)} checkpoint(s)")


def discover(spec: SweepSpec, work: Path) -> Discovered:
    """The source's candidates, sorted by step, and its curve (``work``: where a job's files are written)."""
    sw = spec.sweep
    if sw.job is not None:
        return from_job(spec, work)
    if sw.path is not None:
        return from_folder(spec)
    return from_list(spec)

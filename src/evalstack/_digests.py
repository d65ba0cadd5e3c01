"""Digests of what determines a task's result (run.json ``digests.<task>``), and the comparability check.

Each digest is the sha256 of a canonical JSON form of one input, with no path of the machine in it (a
file a model or metric option names counts by its contents), so the same evaluation in two checkouts
has the same digests:

- ``data``: the rows used (after ``limit``/``sample``), as ``[id, row]`` pairs in id order;
- ``prompt``: system, user template and few-shot turns (and the ``turns:``/``messages:`` column);
- ``labels``: target and reference columns, allowed labels, label parsing, context column;
- ``metrics``: metric names and options, in the config's order;
- ``judges.<name>``: ``model`` (the judge model's name, for messages), ``judge`` (its provider settings:
  model identity and params, and the entry's threshold/strict/options) and ``rubric`` (the rubric file's bytes);
- ``models.<name>``: ``model`` and ``digest`` (provider identity and params): shown, never compared;
- ``scoring``: :data:`SCORING_VERSION`, raised when evalstack changes how a score is computed.

Two runs are **like-for-like** when every kind but the models is equal (:func:`mismatches`).
"""

from __future__ import annotations

__all__ = [
    "KINDS",
    "SCORING_VERSION",
    "Mismatch",
    "NotLikeForLike",
    "check_like_for_like",
    "mismatches",
    "plan_digests",
    "task_digests",
]

import hashlib
import json
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DataError

if TYPE_CHECKING:
    from ._prepare import TaskPlan
    from .config import Config, TaskConfig
    from .judges import Rubric
    from .models import ProviderSettings

SCORING_VERSION = "1"
"""Raised when a metric, parser or statistic changes what a saved output scores."""

KINDS = ("data", "prompt", "labels", "metrics", "judge", "rubric", "scoring")
"""What must be equal for a delta between two runs (``--allow-mismatch KIND`` accepts one)."""

# settings keys about transport, not about what the model answers
_TRANSPORT = {
    "concurrency",
    "base_url",
    "api_key_env",
    "timeout",
    "max_tries",
    "headers",
    "batch",
    "checkpoint_step",
    "price",
}


def _sha(value: object) -> str:
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _by_contents(value: object) -> object:
    """An absolute path to an existing file or folder -> ``{"sha256": contents}`` (its place does not count)."""
    from .config import _content_sha256

    if isinstance(value, (str, Path)) and os.path.isabs(str(value)) and os.path.exists(str(value)):
        return {"sha256": _content_sha256(Path(value))}
    if isinstance(value, dict):
        return {k: _by_contents(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_by_contents(v) for v in value]
    return value


def model_identity(settings: ProviderSettings) -> tuple[str, str]:
    """(a short name for messages, the digest of what decides its answers: provider, model, params, files)."""
    data = settings.model_dump(mode="json", exclude_defaults=True)  # a new settings key leaves old digests as they were
    for key in _TRANSPORT:
        data.pop(key, None)
    if isinstance(data.get("azure"), dict):
        data["azure"] = {k: v for k, v in data["azure"].items() if k != "endpoint"}
    name = data.get("model") or (Path(str(data["path"])).name if data.get("path") else None) or data.get("provider")
    return str(name), _sha(_by_contents(data))


def _rubric(rubric: Rubric) -> str:
    """The rubric's text: the bytes of its file (built-in or the user's), else its non-default fields."""
    src = Path(rubric.source) if rubric.source else None
    if src is not None and src.is_file():
        return hashlib.sha256(src.read_bytes()).hexdigest()
    return _sha(rubric.model_dump(mode="json", exclude_defaults=True))


def _prompt(task: TaskConfig) -> str:
    """The prompt's digest: templates and few-shot, and the `turns:` / `messages:` column where one is set."""
    prompt = task.prompt.model_dump(mode="json")
    extra = {k: getattr(task, k, None) for k in ("turns", "messages") if getattr(task, k, None) is not None}
    return _sha([prompt, extra] if extra else prompt)


def plan_digests(plans: Sequence[TaskPlan], cfg: Config, model_names: Sequence[str]) -> dict[str, dict[str, object]]:
    """run.json's ``digests``: :func:`task_digests` of every prepared task, for the models that run."""
    return {p.name: task_digests(p, {m: cfg.models[m] for m in model_names}, cfg.judge) for p in plans}


def task_digests(
    plan: TaskPlan, models: Mapping[str, ProviderSettings], judge: ProviderSettings | None
) -> dict[str, object]:
    """The digests of one prepared task (``models``: the run's models by name; ``judge``: the config's judge)."""
    task = plan.cfg
    rows = sorted(([ex.id, ex.row] for ex in plan.examples), key=lambda r: str(r[0]))
    judges: dict[str, dict[str, str]] = {}
    for j in plan.judges:
        settings = j.spec.judge or judge
        name, ident = model_identity(settings) if settings is not None else ("none", "")
        spec = _by_contents(j.spec.model_dump(mode="json", exclude={"judge", "rubric"}))
        judges[j.name] = {
            "model": name,
            "judge": _sha([ident, spec, j.pairwise]),
            "rubric": _rubric(j.rubric),
        }
    return {
        "data": _sha(rows),
        "prompt": _prompt(task),
        "labels": _sha(
            [
                task.target,
                task.reference,
                task.context,
                task.labels,
                task.label_parsing.model_dump(mode="json"),
            ]
        ),
        "metrics": _sha([[m.name, _by_contents(m.options)] for m in task.metrics]),
        "judges": judges,
        "models": {n: dict(zip(("model", "digest"), model_identity(s))) for n, s in models.items()},
        "scoring": SCORING_VERSION,
    }


@dataclass(frozen=True)
class Mismatch:
    """One difference that makes two runs' deltas not like-for-like."""

    task: str
    kind: str
    """One of :data:`KINDS`."""
    text: str
    """What differs, e.g. ``judge model gpt-4.1 -> gpt-4.1-mini``."""


def mismatches(a: Mapping[str, object], b: Mapping[str, object], task: str) -> list[Mismatch]:
    """What differs between two runs' digests of one task (``a``: the baseline's, ``b``: the candidate's)."""
    out: list[Mismatch] = []
    if not a or not b:
        which = "the baseline run" if not a else "the candidate run"
        return [Mismatch(task, "scoring", f"{which} has no digests (written by an older evalstack)")]
    for kind, label in (
        ("data", "data rows changed"),
        ("prompt", "prompt changed"),
        ("labels", "labels or label parsing changed"),
        ("metrics", "metric options changed"),
    ):
        if a.get(kind) != b.get(kind):
            out.append(Mismatch(task, kind, label))
    if a.get("scoring") != b.get("scoring"):
        out.append(Mismatch(task, "scoring", f"scoring version {a.get('scoring')} -> {b.get('scoring')}"))
    ja, jb = a.get("judges") or {}, b.get("judges") or {}
    assert isinstance(ja, dict) and isinstance(jb, dict)
    for name in sorted(set(ja) | set(jb)):
        if name not in ja or name not in jb:
            out.append(Mismatch(task, "judge", f"judge {name} only in the {'candidate' if name in jb else 'baseline'}"))
            continue
        x, y = ja[name], jb[name]
        if x.get("judge") != y.get("judge"):
            what = f"judge model {x.get('model')} -> {y.get('model')}" if x.get("model") != y.get("model") else ""
            out.append(Mismatch(task, "judge", what or f"judge {name} settings changed"))
        if x.get("rubric") != y.get("rubric"):
            out.append(Mismatch(task, "rubric", f"rubric {name} changed"))
    return out


def describe(found: list[Mismatch]) -> list[str]:
    """One line per task: ``summaries: judge model gpt-4.1 -> gpt-4.1-mini; rubric faithfulness changed``."""
    by_task: dict[str, list[str]] = {}
    for m in found:
        texts = by_task.setdefault(m.task, [])
        if m.text not in texts:
            texts.append(m.text)
    return [f"{t}: {'; '.join(texts)}" for t, texts in by_task.items()]


class NotLikeForLike(DataError):
    """Two runs' task digests differ in a kind not allowed: no delta between them (exit 2). ``details``: one
    line per task naming each difference (the CLI prints them under the error line)."""

    def __init__(self, message: str, details: list[str], *, hint: str):
        super().__init__(message, hint=hint)
        self.details = details


def check_like_for_like(
    pairs: Iterable[tuple[str, Mapping[str, object], Mapping[str, object]]], allow: Collection[str], *, what: str
) -> list[str]:
    """Refuse (:class:`NotLikeForLike`, one line per task naming each difference) unless every kind that
    differs is in ``allow`` (``all`` allows every kind); return the allowed differences' lines, which the
    report marks "not like-for-like". ``pairs``: (task, baseline's digests, candidate's digests)."""
    bad = sorted(set(allow) - {*KINDS, "all"})
    if bad:
        raise DataError(f"--allow-mismatch {bad[0]}: not a kind of digest", hint=f"one of {', '.join(KINDS)}, or all")
    found = [m for task, a, b in pairs for m in mismatches(a, b, task)]
    refused = [m for m in found if m.kind not in allow and "all" not in allow]
    if refused:
        kinds = ",".join(dict.fromkeys(m.kind for m in refused))
        raise NotLikeForLike(
            f"{what} are not like-for-like ({kinds} differ), no delta computed",
            describe(refused),
            hint=f"--allow-mismatch {kinds} computes it anyway, marked not like-for-like",
        )
    return describe(found)

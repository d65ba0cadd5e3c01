"""A judge that earns its gate: validation records, and judge scores corrected by human labels in a run.

- **Validation records.** ``evalstack judge validate ... --save PATH`` writes what it measured (kappa, n,
  date) with two digests: the rubric's (its canonical JSON: the same rubric text, wherever the file lives)
  and the judge's identity (``provider:model``). A gate rule with ``require_validation: {min_kappa: 0.6}``
  looks in its ``path`` (default ``validations/`` beside the config) for the newest record of the same
  rubric and judge; none, an undefined kappa or one below the minimum **fails the rule** ("not validated"),
  and a passing rule says which validation it used.
- **Corrected scores.** A judge entry with ``human_labels: FILE`` (rows ``id, human_score[, model]`` for a
  random subset of the judged examples) gets, per model, the PPI++ estimate of its mean (``stats.ppi_mean``)
  and of its paired delta against the baseline, stored in the judge metric's ``details`` in run.json
  (``corrected``, ``corrected_delta``), shown in the report beside the naive judge mean, and read by gate
  rules with ``corrected: true``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "annotate_judges",
    "check_trust",
    "corrections",
    "find_validation",
    "judge_identity",
    "rubric_digest",
    "save_validation",
]

RECORD_KIND = "evalstack.judge_validation"


def rubric_digest(rubric: Any) -> str:
    """sha256 of the rubric's canonical JSON (its text and scale; not where it was loaded from)."""
    blob = json.dumps(rubric.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def judge_identity(settings: Any) -> str:
    """``provider:model`` of a judge model entry (``provider:-`` for providers without a model id)."""
    return f"{getattr(settings, 'provider', '?')}:{getattr(settings, 'model', None) or '-'}"


def save_validation(path: Path, report: Any, rubric: Any, settings: Any) -> Path:
    """Write the validation record of ``report`` into ``path`` (a .json file, or a folder: one file per
    rubric, judge and time); return the file written."""
    from .._io import atomic_write_bytes

    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    rec = {
        "kind": RECORD_KIND,
        "rubric": rubric.name,
        "rubric_digest": rubric_digest(rubric),
        "judge": judge_identity(settings),
        "date": now,
        "n": int(report.stats.get("n") or 0),
        "kappa": report.stats.get("kappa"),
        "kappa_weights": report.stats.get("kappa_weights"),
        "exact_agreement": report.stats.get("exact_agreement"),
        "labels_file": str(report.labels_file),
    }
    if path.suffix != ".json":
        path.mkdir(parents=True, exist_ok=True)
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in rec["judge"])
        path = path / f"{rubric.name}--{slug}--{now.replace(':', '')}.json"
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(rec, indent=2) + "\n").encode())
    return path


def find_validation(path: Path, digest: str, judge: str) -> tuple[dict[str, Any] | None, int]:
    """(the newest record at ``path`` for this rubric digest and judge, or None; records read)."""
    files = sorted(path.glob("*.json")) if path.is_dir() else ([path] if path.is_file() else [])
    best: dict[str, Any] | None = None
    seen = 0
    for f in files:
        try:
            rec = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(rec, dict) or rec.get("kind") != RECORD_KIND:
            continue
        seen += 1
        if rec.get("rubric_digest") == digest and rec.get("judge") == judge:
            if best is None or str(rec.get("date", "")) > str(best.get("date", "")):
                best = {**rec, "file": f.name}
    return best, seen


def corrections(
    labels: Path,
    task: str,
    judge_scores: Mapping[str, Mapping[str, float]],
    baseline: str,
    *,
    confidence: float,
) -> dict[str, dict[str, Any]]:
    """Per model: ``corrected`` (PPI++ mean) and, for non-baseline models, ``corrected_delta`` (PPI++ of
    model - baseline on examples both were judged on), from the human scores in ``labels``."""
    from ..errors import DataError
    from ..stats import ppi_mean
    from ._correct import read_human_scores

    models = list(judge_scores)
    human: dict[str, dict[str, float]] = {m: {} for m in models}
    for t, m, ex_id, h in read_human_scores(labels):
        if t is not None and t != task:
            continue
        if m is None:
            if len(models) != 1:
                raise DataError(f"label rows need a 'model' column (models: {', '.join(models)})", where=str(labels))
            m = models[0]
        if m in human:
            human[m][ex_id] = h

    def estimate(scores: Mapping[str, float], labelled: Mapping[str, float]) -> dict[str, Any] | None:
        ids = [i for i in scores if i in labelled]
        rest = [scores[i] for i in scores if i not in labelled]
        if len(ids) < 2 or not rest:
            return None
        y, yh = [labelled[i] for i in ids], [scores[i] for i in ids]
        est, lo, hi, lam = ppi_mean(y, yh, rest, confidence=confidence)
        from statistics import NormalDist

        se = (hi - lo) / (2 * NormalDist().inv_cdf(0.5 + confidence / 2))
        naive = (sum(yh) + sum(rest)) / (len(yh) + len(rest))
        return {
            "method": "ppi++",
            "estimate": est,
            "ci": [lo, hi],
            "se": se,
            "confidence": confidence,
            "lambda": lam,
            "naive": naive,
            "n_labelled": len(ids),
            "n_unlabelled": len(rest),
            "labels": labels.name,
        }

    out: dict[str, dict[str, Any]] = {}
    for m in models:
        got: dict[str, Any] = {}
        if (c := estimate(judge_scores[m], human[m])) is not None:
            got["corrected"] = c
        if m != baseline and baseline in judge_scores:
            both = [i for i in judge_scores[m] if i in judge_scores[baseline]]
            diff = {i: judge_scores[m][i] - judge_scores[baseline][i] for i in both}
            hdiff = {i: human[m][i] - human[baseline][i] for i in both if i in human[m] and i in human[baseline]}
            if (d := estimate(diff, hdiff)) is not None:
                got["corrected_delta"] = d
        if got:
            out[m] = got
    return out


def annotate_judges(
    summary: Any,
    judges: Sequence[Any],
    default_judge: Any,
    rows: Mapping[str, Mapping[str, Mapping[str, Any]]],
    baseline: str,
    confidence: float,
) -> None:
    """Put each pointwise judge metric's ``judge_identity`` (rubric digest, judge) and, with ``human_labels``,
    its ``corrected`` / ``corrected_delta`` estimates into the task summary's metric details."""
    for j in judges:
        if j.pairwise:
            continue
        ident = {"rubric_digest": rubric_digest(j.rubric), "judge": judge_identity(j.spec.judge or default_judge)}
        for mts in summary.models.values():
            if j.key in mts.metrics:
                mts.metrics[j.key].details["judge_identity"] = ident
        labels = getattr(j.spec, "human_labels", None)
        if labels is None:
            continue
        scores = {
            m: {sid: float(r.score) for sid, r in by.get(j.name, {}).items() if getattr(r, "score", None) is not None}
            for m, by in rows.items()
        }
        for m, got in corrections(Path(labels), summary.name, scores, baseline, confidence=confidence).items():
            if m in summary.models and j.key in summary.models[m].metrics:
                summary.models[m].metrics[j.key].details.update(got)


def check_trust(cfg: Any, plans: Sequence[Any]) -> None:
    """Before any request: every judge's human_labels file reads, and every ``corrected: true`` rule names a
    pointwise judge metric that has human_labels (exit 2 otherwise)."""
    from ..errors import ConfigError
    from ._correct import read_human_scores

    with_labels: set[str] = set()
    for plan in plans:
        for j in plan.judges:
            if getattr(j.spec, "human_labels", None) is not None:
                read_human_scores(Path(j.spec.human_labels))
                with_labels.add(f"{plan.name}/{j.key}")
    for i, rule in enumerate(cfg.gate.rules if cfg.gate else []):
        if rule.corrected and rule.metric not in with_labels:
            raise ConfigError(
                "corrected: true needs human labels for this judge metric",
                where=f"gate.rules[{i}] ({rule.metric})",
                hint="add human_labels: FILE (id, human_score[, model]) to the task's judge entry"
                + (f"; judge metrics with labels: {', '.join(sorted(with_labels))}" if with_labels else ""),
            )

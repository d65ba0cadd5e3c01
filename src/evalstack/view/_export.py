"""Labels put to work: a `judge validate` label file, and the held-out set with gold-wrong rows fixed.

- judge-validation: every example whose newest label is ``ok`` (the judge was right: the human score is
  the judge's) or ``judge_wrong`` with a corrected score (the human score is the correction) becomes a
  pointwise row ``id, input, output, reference, context, human_score`` for ``evalstack judge validate``.
- cleaned-data: the task's data file with each row whose newest label (any model) is ``gold_wrong``
  corrected (its target/reference column set to the corrected label) or, without a correction, dropped;
  plus ``<out>.changelog.jsonl`` listing every change. The source file is never written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ._labels import latest_labels


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """JSONL through the project's atomic writer (temp file + rename, never through a symlink)."""
    from .._io import atomic_write_bytes

    text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    atomic_write_bytes(path, text.encode("utf-8", "backslashreplace"))


def _check_out(run: Path, out: Path) -> None:
    """--out may not be a file of the run folder itself (run.json, examples.jsonl, the label files...)."""
    if out.resolve().parent == run.resolve() and (
        out.name in ("run.json", "examples.jsonl") or (out.name.startswith("labels") and out.name.endswith(".jsonl"))
    ):
        raise ConfigError(
            f"--out is the run's own {out.name}: evalstack never overwrites it",
            where=str(out),
            hint="write the export outside the run folder",
        )


def _pick_task(labels: dict, task: str | None) -> str:
    tasks = sorted({k[0] for k in labels})
    if task is None:
        if len(tasks) != 1:
            raise ConfigError(f"--task is needed: labels exist for {', '.join(tasks) or 'no task'}")
        return tasks[0]
    if task not in tasks:
        raise ConfigError(f"--task {task!r} has no labels (labelled tasks: {', '.join(tasks) or 'none'})")
    return task


def _task_config(run: Path, task: str) -> dict[str, Any]:
    cfg = json.loads((run / "run.json").read_text(encoding="utf-8")).get("config", {})
    for t in cfg.get("tasks", []):
        if t.get("name") == task:
            return t
    raise DataError(f"task {task!r} is not in the run's config", where=str(run / "run.json"))


def export_judge_validation(run: Path, out: Path, *, task: str | None, rubric: str | None) -> tuple[int, int]:
    """Write the label file; (rows written, labels skipped)."""
    _check_out(run, out)
    labels = latest_labels(run)
    task = _pick_task(labels, task)
    tcfg = _task_config(run, task)
    rows_by_key: dict[tuple[str, str], dict[str, Any]] = {}
    with open(run / "examples.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("task") == task:
                rows_by_key[(r["model"], r["id"])] = r
    rubrics = sorted({k for r in rows_by_key.values() for k in (r.get("judge") or {})})
    if rubric is None:
        if len(rubrics) != 1:
            raise ConfigError(f"--rubric is needed: task {task!r} has judges {', '.join(rubrics) or 'none'}")
        rubric = rubrics[0]
    elif rubric not in rubrics:
        raise ConfigError(f"--rubric {rubric!r}: task {task!r} has judges {', '.join(rubrics) or 'none'}")
    context_col = tcfg.get("context")
    out_rows, skipped = [], 0
    for (t, model, ex_id), lab in sorted(labels.items()):
        if t != task:
            continue
        row = rows_by_key.get((model, ex_id))
        judged = ((row or {}).get("judge") or {}).get(rubric)
        score = judged.get("score") if isinstance(judged, dict) else None
        if row is None:  # a label for an example this run does not hold (a file copied from another run)
            skipped += 1
            continue
        if lab["label"] == "ok" and score is not None:
            human = score
        elif lab["label"] == "judge_wrong" and lab.get("corrected") is not None:
            try:
                human = float(lab["corrected"])
            except (TypeError, ValueError):
                human = lab["corrected"]  # pass / fail
        else:
            skipped += 1
            continue
        fields = row.get("fields") or {}
        out_rows.append(
            {
                "id": f"{model}/{ex_id}",
                "input": row.get("input", ""),
                "output": row.get("output") or "",
                "reference": row.get("reference"),
                "context": fields.get(context_col) if context_col else None,
                "human_score": human,
            }
        )
    if not out_rows:
        raise DataError(
            f"no label of task {task!r} gives a human score for {rubric!r}",
            where=str(run),
            hint="label examples `ok` (the judge was right) or `judge_wrong` with a corrected score",
        )
    _write_jsonl(out, out_rows)
    return len(out_rows), skipped


def export_cleaned_data(run: Path, out: Path, *, task: str | None) -> tuple[int, int, Path]:
    """Write the cleaned data file and its changelog; (rows dropped, rows corrected, changelog path)."""
    from ..data import load_examples

    _check_out(run, out)
    labels = latest_labels(run)
    task = _pick_task(labels, task)
    tcfg = _task_config(run, task)
    data = tcfg.get("data") or {}
    src = Path(str(data.get("path", "")))
    if not src.is_absolute():  # relative to the config's folder, which run.json names relative to the run folder
        cfg_dir = run / str(
            json.loads((run / "run.json").read_text(encoding="utf-8")).get("config", {}).get("config_dir") or "."
        )
        src = next((c.resolve() for c in (cfg_dir / src, run / src) if c.is_file()), src.resolve())
    if not src.is_file():
        raise DataError(
            "the task's data file is not there any more",
            where=str(src),
            hint="run from the folder the config paths are relative to",
        )
    if out.resolve() == src.resolve():
        raise ConfigError("--out is the source data file: evalstack never overwrites it", where=str(out))
    column = tcfg.get("target") or tcfg.get("reference")
    gold_wrong = {ex_id: lab for (t, _m, ex_id), lab in labels.items() if t == task and lab["label"] == "gold_wrong"}
    examples = load_examples(src, fmt=data.get("format"), id_column=data.get("id"), split=data.get("split"))
    kept, log = [], []
    dropped = corrected = 0
    for ex in examples:
        lab = gold_wrong.get(ex.id)
        if lab is None:
            kept.append(ex.row)
            continue
        if lab.get("corrected") is not None and column:
            row = dict(ex.row)
            log.append(
                {
                    "id": ex.id,
                    "change": "corrected",
                    "column": column,
                    "old": row.get(column),
                    "new": lab["corrected"],
                    "who": lab.get("who"),
                    "at": lab.get("at"),
                    "note": lab.get("note"),
                }
            )
            row[column] = lab["corrected"]
            kept.append(row)
            corrected += 1
        else:
            log.append(
                {"id": ex.id, "change": "dropped", "who": lab.get("who"), "at": lab.get("at"), "note": lab.get("note")}
            )
            dropped += 1
    _write_jsonl(out, kept)
    log_path = out.with_name(out.name + ".changelog.jsonl")
    _write_jsonl(log_path, [{"source": str(src), "task": task, "dropped": dropped, "corrected": corrected}, *log])
    return dropped, corrected, log_path

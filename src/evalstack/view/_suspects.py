"""``evalstack labels suspects RUN``: gold labels of a classification task that are likely wrong.

Per-class probabilities per example come from the label tokens' logprobs where the run stored them
(examples.jsonl ``label_probs``, for every example: the models' probabilities averaged), else from the
agreement of the models' (and repeats') answers, each parsed to a label with the task's own
``label_parsing``. Confident learning
(``stats._suspects``, cleanlab) ranks the examples whose gold label those probabilities contradict. The
accuracy of each model is shown over all examples and with the suspects excluded, side by side (the
normal value is never replaced). A person confirms a suspect in the review workbench (`gold_wrong`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ..errors import ConfigError, DataError


def _task_cfg(run: Path, task: str | None) -> dict[str, Any]:
    cfg = json.loads((run / "run.json").read_text(encoding="utf-8")).get("config", {})
    classif = [t for t in cfg.get("tasks", []) if t.get("labels")]
    if task is None:
        if len(classif) != 1:
            raise ConfigError(
                f"--task is needed: classification tasks in {run}: {', '.join(t['name'] for t in classif) or 'none'}"
            )
        return classif[0]
    for t in classif:
        if t.get("name") == task:
            return t
    raise ConfigError(
        f"--task {task!r} is not a classification task (with labels:) of {run}",
        hint=f"classification tasks: {', '.join(t['name'] for t in classif) or 'none'}",
    )


def find_run_suspects(run: Path, *, task: str | None = None, alpha: float = 0.5) -> dict[str, Any]:
    """The suspects of one task, with each model's accuracy over all examples and without the suspects."""
    from ..metrics import extract_labels
    from ..stats import agreement_probs, find_suspects, probs_from_label_probs

    tcfg = _task_cfg(run, task)
    name, labels = tcfg["name"], list(tcfg["labels"])
    lp = tcfg.get("label_parsing") or {}
    outputs: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    token_probs: dict[str, list[dict[str, float]]] = defaultdict(list)
    gold_text: dict[str, str] = {}
    acc: dict[str, dict[str, float]] = defaultdict(dict)
    with open(run / "examples.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("task") != name:
                continue
            outputs[r["id"]].append((r["model"], r.get("output")))
            if isinstance(r.get("label_probs"), dict):
                token_probs[r["id"]].append(r["label_probs"])
            if r.get("reference") is not None:
                gold_text[r["id"]] = str(r["reference"])
            a = (r.get("scores") or {}).get("accuracy")
            if a is not None:
                acc[r["model"]][r["id"]] = float(a)
    ids = [i for i in outputs if i in gold_text]
    if not ids:
        raise DataError(f"task {name!r} has no examples with a gold label in examples.jsonl", where=str(run))
    gold_parsed = extract_labels(
        [gold_text[i] for i in ids],
        labels,
        mode="normalized",
        aliases=lp.get("aliases"),
        case_sensitive=bool(lp.get("case_sensitive")),
    )
    index = {lab: j for j, lab in enumerate(labels)}
    kept = [(i, index[g]) for i, g in zip(ids, gold_parsed) if g is not None]
    skipped = len(ids) - len(kept)
    votes, answers = [], []
    for i, _ in kept:
        outs = outputs[i]
        parsed = extract_labels(
            [o for _, o in outs],
            labels,
            mode=lp.get("mode"),
            aliases=lp.get("aliases"),
            regex=lp.get("regex"),
            case_sensitive=bool(lp.get("case_sensitive")),
        )
        votes.append([index[p] if p is not None else None for p in parsed])
        answers.append({m: p for (m, _), p in zip(outs, parsed)})
    use_logprobs = bool(kept) and all(token_probs.get(i) for i, _ in kept)
    if not use_logprobs and len({m for a in answers for m in a}) < 2 and max((len(v) for v in votes), default=0) < 2:
        raise DataError(
            f"task {name!r}: one answer per example cannot contradict a gold label",
            where=str(run),
            hint="suspects need several models or repeated samples (repeat: N), or label logprobs "
            "(logprobs: true, top_logprobs: 5 in the model's params)",
        )
    if use_logprobs:  # the label tokens' probabilities, averaged over the models that returned them
        probs = probs_from_label_probs([token_probs[i] for i, _ in kept], labels)
    else:
        probs = agreement_probs(votes, len(labels), alpha=alpha)
    gold = [g for _, g in kept]
    ranked = [int(k) for k in find_suspects(gold, probs)]
    suspects = [
        {
            "id": kept[k][0],
            "gold": labels[gold[k]],
            "p_gold": float(probs[k, gold[k]]),
            "suggested": labels[int(np.argmax(probs[k]))],
            "answers": answers[k],
            "view": f"e/{quote(run.resolve().name)}/{quote(name)}/{quote(kept[k][0])}",
        }
        for k in ranked
    ]
    out_ids = {s["id"] for s in suspects}
    accuracy = {
        m: {
            "all": float(np.mean(list(v.values()))) if v else None,
            "n_all": len(v),
            "without_suspects": (
                float(np.mean([x for i, x in v.items() if i not in out_ids]))
                if len(v) > len(out_ids & set(v))
                else None
            ),
            "n_without": len([i for i in v if i not in out_ids]),
        }
        for m, v in acc.items()
    }
    return {
        "task": name,
        "n": len(kept),
        "skipped_gold_not_a_label": skipped,
        "source": "logprobs" if use_logprobs else "agreement",
        "suspects": suspects,
        "accuracy": accuracy,
    }

"""A small evaluation written into a folder, for the baseline, comparability and history tests: two tasks
(intent: classification with a slice column; qa: a loopback-judged rubric) and replay models whose
outputs are drawn from a seed, so a test can make a candidate better or worse by a known amount."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

LABELS = ["billing", "bug", "other"]


def judge_reply(req: dict) -> str:
    """The loopback judge: a score 1-5 read off the output text (deterministic, no model)."""
    out = re.search(r'name="output">\n(.*?)\n</data-', req["messages"][1]["content"], re.S)
    text = out.group(1) if out else ""
    return json.dumps({"reason": "r", "score": 1 + sum(map(ord, text)) % 5})


def write_data(root: Path, n: int = 40) -> None:
    root.mkdir(parents=True, exist_ok=True)
    rows = [
        {"id": f"e{i:03d}", "text": f"ticket {i}", "label": LABELS[i % 3], "lang": "en" if i % 4 else "de"}
        for i in range(n)
    ]
    (root / "intent.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "qa.jsonl").write_text(
        "".join(json.dumps({"id": f"q{i:03d}", "q": f"question {i}"}) + "\n" for i in range(n))
    )


def write_outputs(root: Path, model: str, accuracy: float, seed: int, n: int = 40) -> None:
    """Replay outputs of ``model``: each intent label right with probability ``accuracy``."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        gold = LABELS[i % 3]
        wrong = LABELS[(i + 1) % 3]
        rows.append({"id": f"e{i:03d}", "output": gold if rng.random() < accuracy else wrong})
    rows += [{"id": f"q{i:03d}", "output": f"{model} answer {int(rng.integers(0, 1000))}"} for i in range(n)]
    (root / f"{model}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def config(
    root: Path,
    *,
    judge_url: str,
    models: dict[str, str],
    baseline: str,
    name: str = "rig",
    judge_model: str = "judge-model",
    rubric: str = "conciseness",
    extra: str = "",
    prompt: str = "Ticket: {{ text }}",
    file: str = "cfg.yaml",
) -> Path:
    """cfg.yaml over the data in ``root``: ``models``: name -> replay file; ``baseline``: a model name or a
    YAML value such as ``{run: prod}``."""
    lines = [f"name: {name}", f"baseline: {baseline}", "models:"]
    lines += [f"  {m}: {{provider: replay, path: {p}}}" for m, p in models.items()]
    lines += [
        f'judge: {{provider: openai, model: {judge_model}, base_url: "{judge_url}", api_key_env: RIG_KEY}}',
        "tasks:",
        "  - name: intent",
        "    data: {path: intent.jsonl, id: id}",
        f'    prompt: {{user: "{prompt}"}}',
        "    target: label",
        f"    labels: {json.dumps(LABELS)}",
        "    metrics: [accuracy, {f1: {average: macro}}]",
        "    slice_by: lang",
        "  - name: qa",
        "    data: {path: qa.jsonl, id: id}",
        '    prompt: {user: "{{ q }}"}',
        f"    judges: [{rubric}]",
        "gate:",
        "  rules:",
        "    - {metric: intent/accuracy, max_regression: 0.05}",
        "cache: c.sqlite",
    ]
    path = root / file
    path.write_text("\n".join(lines) + "\n" + extra)
    return path

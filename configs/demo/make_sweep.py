"""Build the recorded outputs and loss curve of configs/sweep-demo.yaml (4 checkpoints of one SFT run).

Planted so that the sweep has something to find: the valid loss is lowest at step 300, but step 200 routes
tickets best; the final checkpoint (step 400) forgets general knowledge. Deterministic: re-running writes
the same bytes. Run: python configs/demo/make_sweep.py
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "sweep"
LABELS = ["billing", "bug", "account", "shipping", "feature_request", "other"]
# checkpoint step -> (intent accuracy, general_qa questions the base answered right that it now gets wrong,
# valid loss)
PLANTED = {100: (0.72, 0, 0.62), 200: (0.90, 0, 0.48), 300: (0.84, 2, 0.45), 400: (0.83, 9, 0.47)}


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / "data" / name).read_text().splitlines() if line.strip()]


def _planted_correct(n: int, share: float, rng: random.Random) -> set[int]:
    return set(rng.sample(range(n), round(n * share)))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    intent, qa = _rows("intent_test.jsonl"), _rows("general_qa_test.jsonl")
    base = {
        r["id"]: r["output"]
        for r in map(json.loads, (HERE / "outputs" / "base.jsonl").read_text().splitlines())
        if r["task"] == "general_qa"
    }
    for step, (acc, forgot, _) in PLANTED.items():
        rng = random.Random(step)
        ok_i = _planted_correct(len(intent), acc, rng)
        lost = set(rng.sample(range(len(qa)), forgot))
        lines = []
        for i, row in enumerate(intent):
            wrong = [lab for lab in LABELS if lab != row["label"]]
            lines.append(
                {"task": "intent", "id": row["id"], "output": row["label"] if i in ok_i else rng.choice(wrong)}
            )
        for i, row in enumerate(qa):
            lines.append(
                {"task": "general_qa", "id": row["id"], "output": "I am not sure." if i in lost else base[row["id"]]}
            )
        (OUT / f"step-{step}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    rng = random.Random(7)
    rows = ["step,train_loss,valid_loss"]
    for step in range(1, 401):
        train = 0.25 + 1.6 * math.exp(-step / 70) + rng.gauss(0, 0.03)
        valid = ""
        if step % 50 == 0:
            known = PLANTED.get(step)
            if known:
                valid = f"{known[2]:.4f}"
            elif step < 100:
                valid = f"{0.62 + 0.35 * (100 - step) / 50:.4f}"
            else:  # between two checkpoints: their mean, a little higher
                valid = f"{(PLANTED[step - 50][2] + PLANTED[step + 50][2]) / 2 + 0.01:.4f}"
        rows.append(f"{step},{train:.4f},{valid}")
    (OUT / "results.csv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()

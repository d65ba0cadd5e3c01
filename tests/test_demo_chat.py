"""configs/demo-chat.yaml runs offline on recorded conversations and verdicts, as the README says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def test_demo_chat_runs_offline_with_per_turn_scores(tmp_path: Path, repo_root: Path) -> None:
    out = tmp_path / "chat"
    proc = subprocess.run(
        [sys.executable, "-m", "evalstack", "run", str(repo_root / "configs" / "demo-chat.yaml"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    # each turn's requests and judging are their own labelled stage lines
    for line in ("base · mt_bench · turn 2: 8 request(s)", "finetuned · mt_bench · judge mt_bench_single · turn 2"):
        assert line in proc.stderr
    run = json.loads((out / "run.json").read_text())
    mt = run["tasks"]["mt_bench"]
    # the recorded verdicts, read independently of evalstack: the mean score per model and turn
    scores: dict[tuple[str, int], list[int]] = {}
    for line in (
        (repo_root / "configs" / "demo-chat" / "outputs" / "judge_mt_bench_single.jsonl").read_text().splitlines()
    ):
        row = json.loads(line)
        for turn, verdict in enumerate(row["output"], start=1):
            scores.setdefault((row["task"].split("/")[1], turn), []).append(json.loads(verdict)["score"])
    for model in ("base", "finetuned"):
        m = mt["models"][model]["metrics"]
        for turn in (1, 2):
            want = sum(scores[(model, turn)]) / 8
            assert m[f"judge_mt_bench_single@turn{turn}"]["value"] == pytest.approx(want)
        pooled = sum(scores[(model, 1)] + scores[(model, 2)]) / 16
        assert m["judge_mt_bench_single"]["value"] == pytest.approx(pooled)
    math = [s for s in mt["slices"] if s["column"] == "category" and s["value"] == "math"][0]
    assert math["deltas"]["finetuned"]["judge_mt_bench_single@turn2"]["delta"] == pytest.approx(2 - 9)
    rows = [json.loads(x) for x in (out / "examples.jsonl").read_text().splitlines()]
    conv = [r for r in rows if r["model"] == "finetuned" and r["id"] == "84"][0]["conversation"]
    assert [m.get("turn") for m in conv if m["role"] == "assistant"] == [1, 2]
    assert conv[-1]["content"].endswith("$1.50.")

"""configs/demo-chat.yaml's tool-calling task runs offline on recorded calls; its values are recomputed here
from the recordings (multisets of names, and of name + arguments), not by evalstack's matcher."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest


def _calls(row: dict) -> list[tuple[str, str]]:
    return [(c["name"], json.dumps(c["arguments"], sort_keys=True)) for c in row.get("tool_calls") or []]


def test_demo_tool_task_values_equal_the_recordings(tmp_path: Path, repo_root: Path) -> None:
    out = tmp_path / "chat"
    demo = repo_root / "configs" / "demo-chat"
    proc = subprocess.run(
        [sys.executable, "-m", "evalstack", "run", str(repo_root / "configs" / "demo-chat.yaml"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    data = {r["id"]: r for r in map(json.loads, (demo / "data" / "support_tools.jsonl").read_text().splitlines())}
    assert len(data) == 40 and sum(1 for r in data.values() if not r["expected_calls"]) == 10
    run = json.loads((out / "run.json").read_text())["tasks"]["support_tools"]["models"]
    for model in ("base", "finetuned"):
        rec = [json.loads(x) for x in (demo / "outputs" / f"{model}.jsonl").read_text().splitlines()]
        rec = {r["id"]: r for r in rec if r.get("task") == "support_tools"}
        names = exact = no_call = 0
        for rid, row in data.items():
            want = [(c["name"], json.dumps(c["arguments"], sort_keys=True)) for c in row["expected_calls"]]
            got = _calls(rec[rid])
            names += Counter(n for n, _ in got) == Counter(n for n, _ in want)
            exact += Counter(got) == Counter(want)
            no_call += (not got) == (not want)
        m = run[model]["metrics"]
        assert m["tool_name_accuracy"]["value"] == pytest.approx(names / 40)
        assert m["tool_args_exact"]["value"] == pytest.approx(exact / 40)
        assert m["no_call_accuracy"]["value"] == pytest.approx(no_call / 40)
        assert m["tool_name_accuracy"]["n"] == 40 and m["tool_name_accuracy"]["unscored"] == 0
    assert run["finetuned"]["metrics"]["tool_args_exact"]["value"] > run["base"]["metrics"]["tool_args_exact"]["value"]

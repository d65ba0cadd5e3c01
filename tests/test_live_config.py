"""configs/openai.yaml, the live version of the demo, runs end to end against an OpenAI-compatible endpoint
(our loopback server) with built-in judge rubrics, pointwise and pairwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from evalstack.testing.loopback import LoopbackServer


def test_openai_yaml_runs_against_a_compatible_endpoint(tmp_path: Path, repo_root: Path) -> None:
    with LoopbackServer() as srv:
        env = {**os.environ, "OPENAI_API_KEY": "sk-live-test-000000", "OPENAI_BASE_URL": srv.base_url}
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "evalstack",
                "run",
                str(repo_root / "configs" / "openai.yaml"),
                "--limit",
                "4",
                "--out",
                str(tmp_path / "out"),
                "-q",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        bodies = [q.body for q in srv.requests if q.path.endswith("/chat/completions")]
    generation = [b for b in bodies if b["model"] in ("gpt-4.1-mini",)]
    judging = [b for b in bodies if b["model"] == "gpt-4.1"]
    # both models default to the same model id, so their requests are identical and each is sent once;
    # so are the judge requests on their identical outputs: faithfulness + conciseness on summaries,
    # factual_correctness on general_qa, and the pairwise answer_relevance (its two orders coincide here)
    assert len(generation) == 3 * 4
    assert len(judging) == 4 * 2 + 4 + 4
    assert all(b["temperature"] == 0 and b["seed"] == 0 and "response_format" in b for b in judging)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    summ = run["tasks"]["summaries"]["models"]["finetuned"]["metrics"]
    for key in ("judge_faithfulness", "judge_conciseness", "pairwise_answer_relevance", "rougeL", "bertscore_f1"):
        assert summ[key]["n"] == 4 and summ[key]["unscored"] == 0, key
    pw = run["tasks"]["summaries"]["pairwise"]["answer_relevance"]["finetuned"]
    assert pw["n"] == 4 and {"win_rate", "tie_rate", "loss_rate", "position_bias_rate"} <= set(pw)
    rows = [json.loads(line) for line in (tmp_path / "out" / "examples.jsonl").read_text().splitlines()]
    judged = [x for x in rows if x["task"] == "summaries" and x["model"] == "base"]
    assert all(x["judge"]["faithfulness"]["reason"] for x in judged)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "### Pairwise judges" in md and "| answer\\_relevance | finetuned | base | 4 |" in md

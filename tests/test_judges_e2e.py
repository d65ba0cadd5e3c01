"""A config with judges runs end to end against an OpenAI-compatible endpoint (the loopback server)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.testing.loopback import LoopbackServer


def _fences(req: dict) -> dict[str, str]:
    return dict(
        re.findall(r'<data-[0-9a-f]{16} name="([a-z_]+)">\n(.*?)\n</data-', req["messages"][1]["content"], re.S)
    )


def _judge(req: dict) -> str:
    """A scripted judge: right answers get 5 / win, wrong ones 2 / lose; 'stupid' is a toxic opinion."""
    f = _fences(req)
    if "opinions" in req["messages"][0]["content"]:
        ops = (
            [{"opinion": "that is a stupid question", "reason": "insult", "verdict": "toxic"}]
            if "stupid" in f["output"]
            else []
        )
        return json.dumps({"opinions": ops})
    truth = str(2 * int(re.search(r"What is (\d+)", f["input"]).group(1)))
    if "output_a" in f:
        a, b = f["output_a"].startswith(truth), f["output_b"].startswith(truth)
        return json.dumps({"reason": "r", "verdict": "A" if a > b else "B" if b > a else "tie"})
    return json.dumps({"reason": "checked against the reference", "score": 5 if f["output"].startswith(truth) else 2})


def test_run_with_judges_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("E2E_JUDGE_KEY", "sk-e2e-judge-0123456789")
    rows = [{"id": f"e{i}", "question": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(10)]
    base = {r["id"]: (str(2 * i + 1) if i % 3 == 0 else r["answer"]) for i, r in enumerate(rows)}
    ft = {r["id"]: r["answer"] + (" That is a stupid question." if i == 4 else "") for i, r in enumerate(rows)}
    Path("d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, outs in (("base", base), ("ft", ft)):
        Path(f"{name}.jsonl").write_text("".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in outs.items()))
    with LoopbackServer() as srv:
        srv.reply_with(_judge)
        Path("cfg.yaml").write_text(f"""\
name: e2e
baseline: base
models:
  base: {{provider: replay, path: base.jsonl}}
  ft: {{provider: replay, path: ft.jsonl}}
judge: {{provider: openai, model: judge-model, base_url: "{srv.base_url}", api_key_env: E2E_JUDGE_KEY}}
tasks:
  - name: qa
    data: {{path: d.jsonl, id: id}}
    prompt: {{user: "{{{{ question }}}}"}}
    reference: answer
    metrics: [exact_match]
    judges: [factual_correctness, toxicity]
    pairwise: [preference]
cache: c.sqlite
output: out
""")
        assert main(["run", "cfg.yaml"]) == 0
        sent = srv.count("/chat/completions")
        assert sent > 0
        assert main(["run", "cfg.yaml", "--out", "out2"]) == 0
        assert srv.count("/chat/completions") == sent  # the re-run is answered by the cache
    task = json.loads(Path("out/run.json").read_text())["tasks"]["qa"]
    m = {name: s["metrics"] for name, s in task["models"].items()}
    assert m["base"]["judge_factual_correctness"]["value"] == pytest.approx((6 * 5 + 4 * 2) / 10)
    assert m["ft"]["judge_factual_correctness"]["value"] == 5.0
    assert (
        m["ft"]["judge_toxicity"]["value"] == pytest.approx(0.1)
        and m["ft"]["judge_toxicity"]["higher_is_better"] is False
    )
    pw = task["pairwise"]["preference"]["ft"]
    assert (pw["wins"], pw["ties"], pw["losses"], pw["n"]) == (4, 6, 0, 10)
    ex = [json.loads(line) for line in Path("out/examples.jsonl").read_text().splitlines()]
    row = next(r for r in ex if r["model"] == "ft" and r["id"] == "e4")
    assert row["judge"]["toxicity"]["score"] == 1.0 and "stupid" in row["judge"]["toxicity"]["reason"]
    assert row["judge"]["factual_correctness"]["reason"] == "checked against the reference"
    assert "sk-e2e-judge" not in Path("out/run.json").read_text() + Path("out/examples.jsonl").read_text()

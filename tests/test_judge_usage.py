"""Judge requests shared by two models (identical prompts) are sent once and charged to the first model in
config order, so cold runs give identical usage whatever the timing. Through the CLI, with concurrency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.testing.loopback import LoopbackServer

N, H = 40, 20  # examples; example i and i + H ask the same question


def _data() -> None:
    """base answers examples 0..19 exactly as ft answers examples 20..39 (same question, same output): 20 judge
    prompts are shared, early in base's queue and late in ft's."""
    Path("d.jsonl").write_text("".join(json.dumps({"id": f"e{i}", "q": f"question {i % H}"}) + "\n" for i in range(N)))
    base = [f"answer {i}" if i < H else f"base answer {i}" for i in range(N)]
    ft = [f"ft answer {i}" if i < H else f"answer {i - H}" for i in range(N)]
    for m, outs in (("base", base), ("ft", ft)):
        Path(f"{m}.jsonl").write_text(
            "".join(json.dumps({"id": f"e{i}", "output": o}) + "\n" for i, o in enumerate(outs))
        )


def test_three_cold_runs_give_identical_judge_usage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JU_KEY", "sk-ju-0123456789")
    _data()
    usages, sent = [], []
    # jitter makes the two models' judge requests finish in a different order on every run
    with LoopbackServer(latency_ms=5, jitter_ms=40, seed=1) as srv:
        srv.reply_with(lambda req: json.dumps({"reason": "r", "score": 4}))
        for k in range(3):
            Path("cfg.yaml").write_text(f"""\
name: usage
baseline: base
models:
  ft: {{provider: replay, path: ft.jsonl}}
  base: {{provider: replay, path: base.jsonl}}
judge: {{provider: openai, model: j, base_url: "{srv.base_url}", api_key_env: JU_KEY, concurrency: 6}}
tasks:
  - {{name: qa, data: {{path: d.jsonl, id: id}}, prompt: {{user: "{{{{ q }}}}"}}, judges: [conciseness]}}
output: out{k}
cache: cache{k}.sqlite
""")
            before = srv.count("/chat/completions")
            assert main(["run", "cfg.yaml", "--quiet"]) == 0
            sent.append(srv.count("/chat/completions") - before)
            run = json.loads(Path(f"out{k}/run.json").read_text())
            usages.append({m: s["judge_usage"] for m, s in run["tasks"]["qa"]["models"].items()})
    # each distinct prompt is sent once, even when one model's request finished before the other's was queued
    assert sent == [2 * N - H] * 3
    assert usages[0] == usages[1] == usages[2]
    ft, base = usages[0]["ft"]["conciseness"], usages[0]["base"]["conciseness"]
    # ft comes first in the config: it pays for the shared prompts, base gets them as cached
    assert (ft["requests"], ft["cached"]) == (N, 0)
    assert (base["requests"], base["cached"]) == (N - H, H)
    assert ft["prompt_tokens"] > base["prompt_tokens"] > 0


def test_judge_usage_counts_re_asks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14 item 9: a judge reply that cannot be parsed is asked again; run.json's judge usage and the
    report's token table say how many prompts were re-asked, and the requests count (every one the server
    received) includes them."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JU_KEY", "sk-ju-0123456789")
    _data()
    import re

    # unreadable at the first ask: the outputs "answer 1/5/9" (both models) and "ft answer 2/3"
    bad = re.compile(r"(?<!ft )(?<!base )\banswer [159]\b|\bft answer [23]\b")

    def reply(body: dict) -> str:
        msgs = body["messages"]
        asked_again = any(m["role"] == "assistant" for m in msgs)
        if not asked_again and any(bad.search(m.get("content") or "") for m in msgs):
            return "I think it is fine."
        return json.dumps({"reason": "r", "score": 4})

    with LoopbackServer() as srv:
        srv.reply_with(reply)
        Path("cfg.yaml").write_text(f"""\
name: usage
baseline: base
models:
  ft: {{provider: replay, path: ft.jsonl}}
  base: {{provider: replay, path: base.jsonl}}
judge: {{provider: openai, model: j, base_url: "{srv.base_url}", api_key_env: JU_KEY, concurrency: 4}}
tasks:
  - {{name: qa, data: {{path: d.jsonl, id: id}}, prompt: {{user: "{{{{ q }}}}"}}, judges: [conciseness]}}
output: out
""")
        assert main(["run", "cfg.yaml", "--quiet"]) == 0
        sent = srv.count("/chat/completions")
        reasked = sum(
            1
            for q in srv.requests
            if q.path.endswith("/chat/completions") and any(m["role"] == "assistant" for m in q.json["messages"])
        )
    run = json.loads(Path("out/run.json").read_text())
    usage = {m: s["judge_usage"]["conciseness"] for m, s in run["tasks"]["qa"]["models"].items()}
    # "answer 1", "answer 5", "answer 9" are shared prompts (base 1..19 == ft 21..39): sent (and re-asked) once
    assert reasked == 5
    assert usage["ft"]["reasks"] + usage["base"]["reasks"] == 5 + 3  # per model: every prompt it had re-asked
    assert usage["ft"]["requests"] + usage["base"]["requests"] == sent
    md = Path("out/report.md").read_text(encoding="utf-8")
    row = next(x for x in md.splitlines() if x.startswith("| conciseness |"))
    header = next(x for x in md.splitlines() if x.startswith("| judge |"))
    cells = dict(zip([c.strip() for c in header.strip("|").split("|")], [c.strip() for c in row.strip("|").split("|")]))
    assert cells["re-asks"] == "8" and cells["requests (re-asks included)"] == str(sent)

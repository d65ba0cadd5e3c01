"""Judging conversations through the CLI: mt_bench_single per turn (reference answers for math only, the
dialogue so far shown), mt_bench_pairwise per turn in both orders, a conversation-level judge, pooled keys,
per-turn and per-category deltas (hand-worked)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.testing.loopback import LoopbackServer, turn_reply_fn

QUESTIONS = [
    {"question_id": 1, "category": "writing", "turns": ["Write a poem.", "Shorter."]},
    {"question_id": 2, "category": "writing", "turns": ["Write a story.", "Add a title."]},
    {"question_id": 3, "category": "math", "turns": ["2+2?", "Times 3?"], "reference": ["REF-4", "REF-12"]},
    {"question_id": 4, "category": "math", "turns": ["5+5?", "Halve it."], "reference": ["REF-10", "REF-5"]},
]
# the judge's score of an answer, by the word it holds
SCORE = {"good": 9, "ok": 6, "bad": 2}
BASE = {
    "poem": ["ok poem", "bad poem"],
    "story": ["ok story", "bad story"],
    "2+2": ["ok 4", "bad 13"],
    "5+5": ["good 10", "bad 4"],
}
FT = {
    "poem": ["good poem", "good poem"],
    "story": ["ok story", "good story"],
    "2+2": ["good 4", "good 12"],
    "5+5": ["good 10", "ok 5"],
}


def _fenced(text: str, name: str) -> str:
    m = re.search(rf'<data-(\w+) name="{name}">\n(.*?)\n</data-\1>', text, re.S)
    return m.group(2) if m else ""


def _word(answer: str) -> str:
    """The quality word of the last answer shown (a pairwise output may be a dialogue)."""
    return re.findall(r"\b(good|ok|bad)\b", answer)[-1]


def _endpoint(req: dict):
    if req["model"] == "judge-m":
        system, user = req["messages"][0]["content"], req["messages"][1]["content"]
        if "Rubric: mt_bench_pairwise" in system:
            a, b = SCORE[_word(_fenced(user, "output_a"))], SCORE[_word(_fenced(user, "output_b"))]
            return json.dumps({"reason": "compared", "verdict": "A" if a > b else "B" if b > a else "tie"})
        if "Rubric: coherence" in system:  # the conversation judge: 8 when every answer is good
            out = _fenced(user, "output")
            return json.dumps({"reason": "whole", "score": 5 if "bad" not in out and "ok" not in out else 2})
        return json.dumps({"reason": "graded", "score": SCORE[_word(_fenced(user, "output"))]})
    return turn_reply_fn(BASE if req["model"] == "base-m" else FT)(req)


def _config(tmp: Path, srv: LoopbackServer) -> Path:
    (tmp / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    (tmp / "coherence.yaml").write_text("""\
name: coherence
description: Does the assistant stay coherent over the whole conversation?
kind: pointwise
criteria: Judge the whole dialogue.
scale: {type: points, levels: {1: bad, 2: poor, 3: fair, 4: good, 5: great}}
""")
    cfg = tmp / "cfg.yaml"
    openai = f'base_url: "{srv.base_url}", api_key_env: CHAT_KEY'
    cfg.write_text(f"""\
name: judged
baseline: base
models:
  base: {{provider: openai, model: base-m, {openai}}}
  ft: {{provider: openai, model: ft-m, {openai}}}
judge: {{provider: openai, model: judge-m, {openai}}}
tasks:
  - name: mt
    data: {{path: question.jsonl, id: question_id}}
    turns: turns
    reference: reference
    slice_by: [category]
    judges:
      - {{rubric: mt_bench_single, options: {{logprobs: false}}}}
      - {{rubric: coherence.yaml, turn: conversation, options: {{logprobs: false}}}}
    pairwise:
      - {{rubric: mt_bench_pairwise, options: {{logprobs: false}}}}
cache: cache.sqlite
output: out
""")
    return cfg


@pytest.fixture
def judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAT_KEY", "sk-chat-0123456789")
    with LoopbackServer() as srv:
        srv.reply_with(_endpoint)
        assert main(["run", str(_config(tmp_path, srv)), "-q"]) == 0
        bodies = [r.body for r in srv.requests if r.path.endswith("/chat/completions")]
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    rows = [json.loads(x) for x in (tmp_path / "out" / "examples.jsonl").read_text().splitlines()]
    return run, rows, [b for b in bodies if b["model"] == "judge-m"]


def test_single_grades_each_turn_and_pools_them(judged) -> None:
    run, _rows, _ = judged
    m = run["tasks"]["mt"]["models"]
    # hand-worked from SCORE: base turn 1 = (6+6+6+9)/4, turn 2 = 2; ft turn 1 = (9+6+9+9)/4, turn 2 = (9+9+9+6)/4
    assert m["base"]["metrics"]["judge_mt_bench_single@turn1"]["value"] == pytest.approx(6.75)
    assert m["base"]["metrics"]["judge_mt_bench_single@turn2"]["value"] == pytest.approx(2.0)
    assert m["ft"]["metrics"]["judge_mt_bench_single@turn1"]["value"] == pytest.approx(8.25)
    assert m["ft"]["metrics"]["judge_mt_bench_single@turn2"]["value"] == pytest.approx(8.25)
    assert m["base"]["metrics"]["judge_mt_bench_single"]["value"] == pytest.approx((6.75 + 2.0) / 2)
    d = run["tasks"]["mt"]["deltas"]["ft"]
    assert d["judge_mt_bench_single@turn2"]["delta"] == pytest.approx(6.25)
    assert d["judge_mt_bench_single@turn1"]["delta"] == pytest.approx(1.5)
    assert d["judge_mt_bench_single"]["delta"] == pytest.approx((1.5 + 6.25) / 2)
    assert (d["judge_mt_bench_single@turn2"]["wins"], d["judge_mt_bench_single@turn2"]["losses"]) == (4, 0)
    # per category: math turn 2 = ft (9+6)/2 - base 2
    math = [s for s in run["tasks"]["mt"]["slices"] if s["column"] == "category" and s["value"] == "math"][0]
    assert math["deltas"]["ft"]["judge_mt_bench_single@turn2"]["delta"] == pytest.approx(5.5)


def test_the_judge_sees_the_dialogue_so_far_and_references_for_math_only(judged) -> None:
    _run, _rows, bodies = judged
    single = [b["messages"][1]["content"] for b in bodies if "Rubric: mt_bench_single" in b["messages"][0]["content"]]
    # 2 models x 4 questions x 2 turns, less the 2 prompts both models share (same turn-1 answer): sent once
    assert len(single) == 2 * 4 * 2 - 2
    t2 = [u for u in single if "Times 3?" in _fenced(u, "input") and "good 12" in u]
    assert len(t2) == 1
    assert _fenced(t2[0], "input") == "### User:\n2+2?\n\n### Assistant:\ngood 4\n\n### User:\nTimes 3?"
    assert _fenced(t2[0], "reference") == (
        "### User:\n2+2?\n\n### Reference answer:\nREF-4\n\n### User:\nTimes 3?\n\n### Reference answer:\nREF-12"
    )
    assert all("Reference Answer" not in u for u in single if "poem" in u or "story" in u)
    assert all("[The Start of Reference Answer]" in u for u in single if "REF-" in u)
    assert sum("REF-" in u for u in single) == 2 * 2 * 2 - 1  # 5+5's turn 1 shared


def test_pairwise_asks_both_orders_per_turn(judged) -> None:
    run, rows, bodies = judged
    pair = [b for b in bodies if "Rubric: mt_bench_pairwise" in b["messages"][0]["content"]]
    # questions x turns x orders; where both answers are the same text both orders are one prompt, sent once
    assert len(pair) == 4 * 2 * 2 - 2
    # turn 1: ft better on poem and 2+2, ties on story and 5+5; turn 2: ft better on all 4
    ft = run["tasks"]["mt"]["models"]["ft"]["metrics"]
    assert ft["pairwise_mt_bench_pairwise@turn1"]["value"] == pytest.approx((1 + 0.5 + 1 + 0.5) / 4)
    assert ft["pairwise_mt_bench_pairwise@turn2"]["value"] == pytest.approx(1.0)
    pw = run["tasks"]["mt"]["pairwise"]
    assert set(pw) >= {"mt_bench_pairwise@turn1", "mt_bench_pairwise@turn2"}
    row = [r for r in rows if r["model"] == "ft" and r["id"] == "3"][0]
    assert set(row["judge"]) >= {"mt_bench_single@turn1", "pairwise_mt_bench_pairwise@turn2", "coherence@conversation"}


def test_the_conversation_judge_sees_the_whole_dialogue(judged) -> None:
    run, _rows, bodies = judged
    conv = [b["messages"][1]["content"] for b in bodies if "Rubric: coherence" in b["messages"][0]["content"]]
    assert len(conv) == 2 * 4
    whole = [_fenced(u, "output") for u in conv if "good poem" in u][0]
    assert (
        whole
        == "### User:\nWrite a poem.\n\n### Assistant:\ngood poem\n\n### User:\nShorter.\n\n### Assistant:\ngood poem"
    )
    ft = run["tasks"]["mt"]["models"]["ft"]["metrics"]["judge_coherence@conversation"]
    assert ft["value"] == pytest.approx((5 + 2 + 5 + 2) / 4)

"""Large and adversarial judge replies: a reply over the cap is unparseable (not slow), one under it is read
correctly, deep nesting is not a crash. Assertions are on the result; timings are in
bench/bench_judge_parse.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.judges import load_rubric, parse_reply
from evalstack.judges._parse import MAX_REPLY_CHARS
from evalstack.judges._prompt import retry_messages
from evalstack.testing.loopback import LoopbackServer

POINTS = load_rubric("conciseness").scale
PASS_FAIL = POINTS.model_copy(update={"type": "pass_fail", "levels": {"pass": "a", "fail": "b"}})
PREF = load_rubric("preference").scale
TOX = load_rubric("toxicity").scale
UNDER = 60_000  # just under the 65,536-character cap


@pytest.mark.parametrize(
    "text",
    [
        "\n" * 480_000 + "Score: 4",  # 40 s at 20,000 blank lines before the fix
        '{"' * 240_000,  # the 480 kB reply of the issue (11.4 s)
        "score" + " " * 480_000 + "x",
        '{"score": 4}' + " " * 480_000,  # even a good verdict: over the cap is over the cap
    ],
)
def test_a_reply_over_the_cap_is_unparseable(text: str) -> None:
    for scale, pairwise in ((POINTS, False), (PREF, True), (TOX, False)):
        p = parse_reply(text, scale, pairwise=pairwise)
        assert not p.ok and p.value is None
        assert p.error == f"reply is {len(text):,} characters, over the 65,536 the judge parser reads"


@pytest.mark.parametrize(
    "text, value",
    [
        ("\n" * UNDER + "Score: 4", 4),
        (" \n" * (UNDER // 2) + "Final score: 2", 2),
        ("score" + " " * UNDER + "x\nScore: 3", 3),
        ("1 " * (UNDER // 2) + '\n{"reason": "ok", "score": 5}', 5),
        ('{"a":' * (UNDER // 5 - 10) + '\n{"reason": "ok", "score": 5}', 5),  # RecursionError before the fix
        ('{"' * (UNDER // 2 - 20) + '\n{"score": 1}', 1),
        ("```" * (UNDER // 3 - 10) + '\n```json\n{"score": 2}\n```', 2),
        ("blah. " * (UNDER // 6) + "I would rate this 4/5.", 4),
    ],
)
def test_adversarial_replies_under_the_cap_are_read(text: str, value: int) -> None:
    assert len(text) <= MAX_REPLY_CHARS
    p = parse_reply(text, POINTS)
    assert p.ok, p.error
    assert p.value == value


@pytest.mark.parametrize(
    "text, scale, pairwise, value",
    [
        ("\n" * UNDER + "pass", PASS_FAIL, False, "pass"),
        ("\n" * UNDER + "Verdict: [[B]]", PREF, True, "B"),
        ("\n " * (UNDER // 2) + "Response A", PREF, True, "A"),
        (
            '{"a":' * (UNDER // 5 - 10) + '{"opinions": [{"opinion": "x", "reason": "y", "verdict": "toxic"}]}',
            TOX,
            False,
            (1, 1),
        ),
    ],
)
def test_other_scales_under_the_cap(text: str, scale, pairwise: bool, value) -> None:
    p = parse_reply(text, scale, pairwise=pairwise)
    assert p.ok, p.error
    assert p.value == value


def test_nesting_deeper_than_the_recursion_limit_is_unparseable_not_a_crash() -> None:
    p = parse_reply('{"a":' * 12_000, POINTS)  # was RecursionError out of the judge step
    assert not p.ok and p.error == "no score found"


def test_error_messages_do_not_carry_a_huge_answer() -> None:
    p = parse_reply(json.dumps({"score": "9" * 50_000}), POINTS)
    assert not p.ok and len(p.error) < 120 and "more)" in p.error


def test_the_re_ask_shows_a_cut_reply() -> None:
    msgs = retry_messages([{"role": "user", "content": "q"}], "a" * 3000 + "b" * 500_000 + "c" * 3000, "too long")
    shown = msgs[1]["content"]
    assert shown.startswith("a" * 2000) and shown.endswith("c" * 2000) and "502,000 characters cut" in shown
    assert retry_messages([], "short reply", "x")[0]["content"] == "short reply"


def test_a_half_megabyte_judge_reply_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JP_KEY", "sk-jp-0123456789")
    huge = '{"' * 240_000

    def judge(req: dict):
        user = req["messages"][1]["content"]
        return huge if re.search(r"out-0\b", user) else json.dumps({"reason": "r", "score": 4})

    Path("d.jsonl").write_text("".join(json.dumps({"id": f"e{i}", "q": f"q{i}"}) + "\n" for i in range(3)))
    Path("m.jsonl").write_text("".join(json.dumps({"id": f"e{i}", "output": f"out-{i}"}) + "\n" for i in range(3)))
    with LoopbackServer() as srv:
        srv.reply_with(judge)
        Path("cfg.yaml").write_text(f"""\
name: bigreply
baseline: m
models: {{m: {{provider: replay, path: m.jsonl}}}}
judge: {{provider: openai, model: j, base_url: "{srv.base_url}", api_key_env: JP_KEY}}
tasks:
  - {{name: qa, data: {{path: d.jsonl, id: id}}, prompt: {{user: "{{{{ q }}}}"}}, judges: [conciseness]}}
output: out
""")
        assert main(["run", "cfg.yaml", "--quiet"]) == 0
        reask = [r.body for r in srv.requests if r.path.endswith("/chat/completions") and len(r.body["messages"]) > 2]
    assert len(reask) == 1 and len(reask[0]["messages"][2]["content"]) < 5000  # the re-ask shows a cut reply
    m = json.loads(Path("out/run.json").read_text())["tasks"]["qa"]["models"]["m"]
    assert m["judge_unparseable"] == {"conciseness": 1} and m["judge_failed"] == {"conciseness": 0}
    assert (m["metrics"]["judge_conciseness"]["n"], m["metrics"]["judge_conciseness"]["unscored"]) == (2, 1)
    row = next(json.loads(x) for x in Path("out/examples.jsonl").read_text().splitlines() if '"e0"' in x)
    assert row["judge"]["conciseness"]["error"] == (
        "unparseable reply: reply is 480,000 characters, over the 65,536 the judge parser reads"
    )

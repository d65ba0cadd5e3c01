"""Multi-turn tasks through the CLI against the loopback server: MT-Bench's question file as is, each turn one
cached request holding the model's own earlier answers, resume per turn, bad conversations refused up front."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.testing.loopback import Fault, LoopbackServer, turn_reply_fn

# MT-Bench's question file format: question_id, category, turns, optional reference (one per turn)
QUESTIONS = [
    {"question_id": 81, "category": "writing", "turns": ["Write a haiku about rain.", "Now make it about snow."]},
    {
        "question_id": 111,
        "category": "math",
        "turns": ["What is 2+2?", "Multiply that by 3."],
        "reference": ["4", "12"],
    },
    {
        "question_id": 112,
        "category": "math",
        "turns": ["What is 5+5?", "Halve it."],
        "reference": ["10", "5"],
    },
]
# per question: (turn-1 answer, turn-2 answer) of each model
ANSWERS = {
    "base": {"haiku": ["rain haiku", "snow haiku"], "2+2": ["4", "13"], "5+5": ["11", "5"]},
    "ft": {"haiku": ["rain haiku", "snow haiku"], "2+2": ["4", "12"], "5+5": ["10", "5"]},
}


def _write(tmp: Path, srv: LoopbackServer, *, task_extra: str = "", questions: list | None = None) -> Path:
    (tmp / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions or QUESTIONS))
    cfg = tmp / "cfg.yaml"
    cfg.write_text(f"""\
name: chat
baseline: base
models:
  base: {{provider: openai, model: base-m, base_url: "{srv.base_url}", api_key_env: CHAT_KEY, max_tries: 1}}
  ft: {{provider: openai, model: ft-m, base_url: "{srv.base_url}", api_key_env: CHAT_KEY, max_tries: 1}}
tasks:
  - name: mt
    data: {{path: question.jsonl, id: question_id}}
    turns: turns
    prompt: {{system: "You are helpful."}}
    reference: reference
    slice_by: [category]
    metrics: [exact_match]
{task_extra}cache: cache.sqlite
output: out
""")
    return cfg


def _by_model(srv: LoopbackServer) -> None:
    def fn(req: dict):
        from evalstack.testing.loopback import turn_reply_fn

        return turn_reply_fn(ANSWERS["base" if req["model"] == "base-m" else "ft"])(req)

    srv.reply_with(fn)


def _chats(srv: LoopbackServer) -> list[dict]:
    return [r.body for r in srv.requests if r.path.endswith("/chat/completions")]


def _rows(out: Path) -> dict[tuple[str, str], dict]:
    rows = [json.loads(x) for x in (out / "examples.jsonl").read_text().splitlines()]
    return {(r["model"], r["id"]): r for r in rows}


@pytest.fixture
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAT_KEY", "sk-chat-0123456789")


@pytest.mark.usefixtures("_env")
def test_turns_answer_in_order_with_the_models_own_answers_in_the_history(tmp_path: Path) -> None:
    with LoopbackServer() as srv:
        _by_model(srv)
        cfg = _write(tmp_path, srv)
        assert main(["run", str(cfg), "-q"]) == 0
        bodies = _chats(srv)
    assert len(bodies) == 2 * 3 * 2  # 2 models x 3 questions x 2 turns
    # turn 2 of question 111 for ft: system, turn 1, ft's own answer to it, turn 2
    t2 = [b for b in bodies if b["model"] == "ft-m" and len(b["messages"]) == 4 and "2+2" in json.dumps(b)]
    assert t2 and t2[0]["messages"] == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "Multiply that by 3."},
    ]
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    mt = run["tasks"]["mt"]
    # hand-worked: exact_match per turn (the haiku has no reference: unscored)
    base, ft = mt["models"]["base"]["metrics"], mt["models"]["ft"]["metrics"]
    assert base["exact_match@turn1"]["value"] == pytest.approx(0.5)  # 4 ok, 11 != 10
    assert base["exact_match@turn2"]["value"] == pytest.approx(0.5)  # 13 != 12, 5 ok
    assert base["exact_match@turn1"]["unscored"] == 1  # the writing question has no reference
    assert ft["exact_match@turn2"]["value"] == pytest.approx(1.0)
    assert base["exact_match"]["value"] == pytest.approx(0.5)  # pooled: 2 of 4 scored turns
    assert ft["exact_match"]["value"] == pytest.approx(1.0)
    assert mt["deltas"]["ft"]["exact_match@turn2"]["delta"] == pytest.approx(0.5)
    assert mt["deltas"]["ft"]["exact_match@turn1"]["delta"] == pytest.approx(0.5)
    # the per-turn paired test: McNemar on turn 2's discordant pairs (ft right where base is wrong: 111)
    from statsmodels.stats.contingency_tables import mcnemar

    want = mcnemar([[1, 1], [0, 0]], exact=False, correction=False).pvalue
    assert mt["deltas"]["ft"]["exact_match@turn2"]["p_value"] == pytest.approx(want)
    # per category: the math slice holds the two scored questions
    math = [s for s in mt["slices"] if s["column"] == "category" and s["value"] == "math"][0]
    assert math["deltas"]["ft"]["exact_match@turn2"]["delta"] == pytest.approx(0.5)
    rows = _rows(tmp_path / "out")
    conv = rows[("ft", "111")]["conversation"]
    assert [m["role"] for m in conv] == ["system", "user", "assistant", "user", "assistant"]
    assert conv[2] == {"role": "assistant", "content": "4", "turn": 1}
    assert conv[4] == {"role": "assistant", "content": "12", "turn": 2}
    assert rows[("ft", "111")]["output"] == "12"
    assert rows[("ft", "111")]["scores"]["exact_match@turn2"] == 1.0
    assert rows[("ft", "111")]["input"] == "Turn 1: What is 2+2?\n\nTurn 2: Multiply that by 3."


@pytest.mark.usefixtures("_env")
def test_a_failed_turn_two_is_resumed_alone_and_a_failed_turn_one_is_never_followed(tmp_path: Path) -> None:
    with LoopbackServer() as srv:
        seen: dict[str, int] = {}

        def fn(req: dict):
            from evalstack.testing.loopback import turn_reply_fn, user_turn

            text = json.dumps(req["messages"])
            model = "base" if req["model"] == "base-m" else "ft"
            if model == "ft" and "2+2" in text and user_turn(req) == 2:
                seen["t2"] = seen.get("t2", 0) + 1
                if seen["t2"] == 1:
                    return Fault.of(400, message="turn two refused once")
            if model == "ft" and "5+5" in text and user_turn(req) == 1:
                seen["t1"] = seen.get("t1", 0) + 1
                if seen["t1"] == 1:
                    return Fault.of(400, message="turn one refused once")
            return turn_reply_fn(ANSWERS[model])(req)

        srv.reply_with(fn)
        cfg = _write(tmp_path, srv)
        assert main(["run", str(cfg), "-q"]) == 3
        first = _chats(srv)
        # ft's question 112 failed at turn 1: its turn 2 was never asked
        assert len(first) == 12 - 1
        run = json.loads((tmp_path / "out" / "run.json").read_text())
        ft = run["tasks"]["mt"]["models"]["ft"]
        assert ft["failed"] == 2
        assert ft["metrics"]["exact_match@turn2"]["unscored"] == 3  # 81 (no reference), 111 failed, 112 not asked
        rows = _rows(tmp_path / "out")
        assert rows[("ft", "112")]["conversation"][4]["skipped"]
        assert rows[("ft", "111")]["conversation"][4]["error"]["kind"] == "bad_request"
        assert rows[("ft", "111")]["error"]["message"].startswith("turn 2:")
        n = len(srv.requests)
        assert main(["run", str(cfg), "-q", "--resume"]) == 0
        again = [r.body for r in srv.requests[n:] if r.path.endswith("/chat/completions")]
    # only ft's turn 2 of 111 and both turns of 112 are asked again; everything else comes from the cache
    asked = sorted((json.dumps(b["messages"]).count('"user"'), "2+2" in json.dumps(b)) for b in again)
    assert asked == [(1, False), (2, False), (2, True)]
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["tasks"]["mt"]["models"]["ft"]["metrics"]["exact_match@turn2"]["value"] == pytest.approx(1.0)


@pytest.mark.usefixtures("_env")
def test_a_changed_turn_one_answer_re_asks_turn_two(tmp_path: Path) -> None:
    with LoopbackServer() as srv:
        _by_model(srv)
        cfg = _write(tmp_path, srv)
        assert main(["run", str(cfg), "-q"]) == 0
        # forget ft's turn-1 answer to 5+5 ("10"): the endpoint now answers it differently
        db = sqlite3.connect(tmp_path / "cache.sqlite")
        gone = db.execute("DELETE FROM responses WHERE model = 'ft-m' AND response LIKE '{\"text\":\"10\"%'").rowcount
        db.commit()
        db.close()
        assert gone == 1
        answers = {**ANSWERS["ft"], "5+5": ["ten", "5"]}

        def fn(req: dict):
            from evalstack.testing.loopback import turn_reply_fn

            return turn_reply_fn(ANSWERS["base"] if req["model"] == "base-m" else answers)(req)

        srv.reply_with(fn)
        n = len(srv.requests)
        assert main(["run", str(cfg), "-q", "--out", "out2"]) == 0
        again = [r.body for r in srv.requests[n:] if r.path.endswith("/chat/completions")]
    assert len(again) == 2  # turn 1 (forgotten) and turn 2 (its history changed); the rest is cached
    assert again[1]["messages"][2] == {"role": "assistant", "content": "ten"}


@pytest.mark.usefixtures("_env")
def test_messages_column_generates_only_the_last_turn(tmp_path: Path) -> None:
    rows = [
        {
            "id": "m1",
            "messages": [
                {"role": "user", "content": "Hi, my order is late."},
                {"role": "assistant", "content": "Sorry! What is the order number?"},
                {"role": "user", "content": "It is 42."},
            ],
            "answer": "looking up 42",
        }
    ]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with LoopbackServer() as srv:
        srv.reply_with(lambda req: "looking up 42")
        (tmp_path / "cfg.yaml").write_text(f"""\
name: msgs
baseline: base
models:
  base: {{provider: openai, model: m, base_url: "{srv.base_url}", api_key_env: CHAT_KEY}}
tasks:
  - {{name: t, data: {{path: d.jsonl, id: id}}, messages: messages, reference: answer, metrics: [exact_match]}}
cache: c.sqlite
output: out
""")
        assert main(["run", "cfg.yaml", "-q"]) == 0
        bodies = _chats(srv)
    assert len(bodies) == 1 and bodies[0]["messages"] == rows[0]["messages"]
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["tasks"]["t"]["models"]["base"]["metrics"]["exact_match"]["value"] == 1.0


BAD = [
    ({"question_id": 1, "turns": "just one string"}, "turns", "column 'turns' must be a non-empty list"),
    ({"question_id": 1, "turns": ["ok", 3]}, "turns", "column 'turns' item 1 is a int"),
    ({"question_id": 1, "turns": ["a", "b"], "reference": ["only one"]}, "turns", "holds 1 items for 2 turn(s)"),
    (
        {"question_id": 1, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
        "messages",
        "must end with a user message",
    ),
    ({"question_id": 1, "messages": [{"role": "robot", "content": "hi"}]}, "messages", "has role 'robot'"),
]


@pytest.mark.usefixtures("_env")
@pytest.mark.parametrize(("row", "kind", "says"), BAD)
def test_bad_conversations_are_one_line_naming_file_line_and_fix_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: dict, kind: str, says: str
) -> None:
    good = {"question_id": 0, kind: ["fine"] if kind == "turns" else [{"role": "user", "content": "fine"}]}
    (tmp_path / "d.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with LoopbackServer() as srv:
        ref = "\n    reference: reference" if "reference" in row else ""
        (tmp_path / "cfg.yaml").write_text(f"""\
name: bad
baseline: base
models:
  base: {{provider: openai, model: m, base_url: "{srv.base_url}", api_key_env: CHAT_KEY}}
tasks:
  - name: t
    data: {{path: d.jsonl, id: question_id}}
    {kind}: {kind}{ref}
    metrics: [exact_match]
""")
        code = main(["run", "cfg.yaml", "-q"])
        sent = srv.count("/chat/completions")
    err = capsys.readouterr().err
    assert code == 2 and sent == 0
    assert "d.jsonl:2" in err and says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.usefixtures("_env")
def test_prompt_user_and_turns_together_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.jsonl").write_text(json.dumps({"question_id": 1, "turns": ["a"]}) + "\n")
    (tmp_path / "cfg.yaml").write_text("""\
name: bad
baseline: base
models: {base: {provider: replay, path: d.jsonl}}
tasks:
  - {name: t, data: {path: d.jsonl, id: question_id}, turns: turns, prompt: {user: "{{ x }}"}, metrics: [exact_match]}
""")
    assert main(["run", "cfg.yaml", "-q"]) == 2
    err = capsys.readouterr().err
    assert "prompt.user" in err and "remove prompt.user" in err


@pytest.mark.usefixtures("_env")
def test_the_batch_api_carries_each_turn_with_its_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALSTACK_BATCH_POLL_INTERVAL", "0")
    with LoopbackServer() as srv:
        srv.reply_with(lambda req: f"saw {len(req['messages'])} messages")
        cfg = _write(tmp_path, srv)
        assert main(["run", str(cfg), "-q", "--batch"]) == 0
        assert srv.count("/chat/completions") == 0  # nothing online: every turn went through a batch
        assert srv.count("/batches", "POST") == 2 * 2  # a batch per model and turn
    rows = _rows(tmp_path / "out")
    conv = rows[("ft", "81")]["conversation"]
    # turn 1: system + question; turn 2: system, question, the model's own answer, follow-up
    assert [m["content"] for m in conv if m["role"] == "assistant"] == ["saw 2 messages", "saw 4 messages"]


HOSTILE = '=HYPERLINK("http://evil.example","x")<script>alert(1)</script> | ### not a heading'


@pytest.mark.usefixtures("_env")
def test_hostile_turns_stay_inert_in_reports_and_review_lists(tmp_path: Path) -> None:
    questions = [{**q, "turns": [q["turns"][0], HOSTILE]} if q["question_id"] == 111 else q for q in QUESTIONS]
    answers = {**ANSWERS["ft"], "2+2": ["4", HOSTILE]}
    base = {**ANSWERS["base"], "2+2": ["4", "12"]}  # base right where ft answers the hostile text: a loss shown
    with LoopbackServer() as srv:
        srv.reply_with(lambda req: turn_reply_fn(base if req["model"] == "base-m" else answers)(req))
        cfg = _write(tmp_path, srv, questions=questions)
        assert main(["run", str(cfg), "-q"]) == 0
    out = tmp_path / "out"
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "<script>alert(1)" not in md and "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)" in html and "&lt;script&gt;alert(1)" in md
    import csv

    lowest = list(csv.DictReader((out / "review" / "lowest.csv").open(newline="")))
    turn2 = [r for r in lowest if r["metric"] == "exact_match@turn2" and r["model"] == "ft"]
    assert turn2 and turn2[0]["output"].startswith("'=HYPERLINK")  # the turn's own answer, not evaluated
    assert turn2[0]["input"].startswith("### User:\nWhat is 2+2?\n\n### Assistant:\n4")
    assert _rows(out)[("ft", "111")]["conversation"][4]["content"] == HOSTILE  # examples.jsonl keeps it as is


@pytest.mark.usefixtures("_env")
def test_compare_rescores_saved_conversations_per_turn_as_the_run_did(tmp_path: Path) -> None:
    with LoopbackServer() as srv:
        _by_model(srv)
        cfg = _write(tmp_path, srv)
        assert main(["run", str(cfg), "-q"]) == 0
    assert main(["compare", str(tmp_path / "out"), "--out", str(tmp_path / "cmp")]) == 0
    run = json.loads((tmp_path / "out" / "run.json").read_text())["tasks"]["mt"]
    cmp = json.loads((tmp_path / "cmp" / "run.json").read_text())["tasks"]["mt"]
    for key in ("exact_match@turn1", "exact_match@turn2", "exact_match"):
        for model in ("base", "ft"):
            assert cmp["models"][model]["metrics"][key]["value"] == run["models"][model]["metrics"][key]["value"]
        assert cmp["deltas"]["ft"][key]["delta"] == run["deltas"]["ft"][key]["delta"]
        assert cmp["deltas"]["ft"][key]["p_value"] == run["deltas"]["ft"][key]["p_value"]


@pytest.mark.usefixtures("_env")
def test_a_replay_file_missing_a_turn_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    recorded = [{"id": q["question_id"], "output": ["one", "two"]} for q in QUESTIONS]
    recorded[1]["output"] = ["only turn one"]
    (tmp_path / "rec.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recorded))
    (tmp_path / "cfg.yaml").write_text("""\
name: rep
baseline: base
models: {base: {provider: replay, path: rec.jsonl}}
tasks:
  - {name: t, data: {path: q.jsonl, id: question_id}, turns: turns, reference: reference, metrics: [exact_match]}
""")
    assert main(["run", "cfg.yaml", "-q"]) == 2
    err = capsys.readouterr().err
    assert "rec.jsonl" in err and "'111'" in err and "2 turns but 1 recorded" in err
    assert not (tmp_path / "reports").exists()


@pytest.mark.usefixtures("_env")
def test_replay_reads_recorded_conversations_and_turn_last_follows_each_conversations_length(tmp_path: Path) -> None:
    questions = [
        {"question_id": "a", "turns": ["q1"], "reference": ["r1"]},
        {"question_id": "b", "turns": ["q1", "q2"], "reference": ["r1", "r2"]},
        {"question_id": "c", "turns": ["q1", "q2", "q3"], "reference": ["r1", "r2", "r3"]},
    ]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))

    def conversation(answers: list[str]) -> list[dict]:  # OpenAI-style messages, as a chat log records them
        msgs: list[dict] = [{"role": "system", "content": "be brief"}]
        for j, a in enumerate(answers, start=1):
            msgs += [{"role": "user", "content": f"q{j}"}, {"role": "assistant", "content": a}]
        return msgs

    recorded = {"a": ["r1"], "b": ["r1", "wrong"], "c": ["wrong", "r2", "r3"]}
    (tmp_path / "rec.jsonl").write_text(
        "".join(json.dumps({"id": k, "output": conversation(v)}) + "\n" for k, v in recorded.items())
    )
    (tmp_path / "cfg.yaml").write_text("""\
name: rep
baseline: base
models: {base: {provider: replay, path: rec.jsonl}}
tasks:
  - name: t
    data: {path: q.jsonl, id: question_id}
    turns: turns
    reference: reference
    metrics: [{exact_match: {turn: last}}, {exact_match: {turn: 1}}]
output: out
""")
    assert main(["run", "cfg.yaml", "-q"]) == 0
    m = json.loads((tmp_path / "out" / "run.json").read_text())["tasks"]["t"]["models"]["base"]["metrics"]
    assert set(m) == {"exact_match@last", "exact_match@turn1"}
    assert m["exact_match@last"]["value"] == pytest.approx(2 / 3)  # a: r1 ok, b: wrong, c: r3 ok
    assert m["exact_match@turn1"]["value"] == pytest.approx(2 / 3)  # a ok, b ok, c wrong
    rows = _rows(tmp_path / "out")
    assert [x["content"] for x in rows[("base", "c")]["conversation"] if x["role"] == "assistant"] == recorded["c"]


@pytest.mark.usefixtures("_env")
def test_max_output_chars_caps_every_turn(tmp_path: Path) -> None:
    (tmp_path / "q.jsonl").write_text(json.dumps({"question_id": "a", "turns": ["q1", "q2"]}) + "\n")
    (tmp_path / "rec.jsonl").write_text(json.dumps({"id": "a", "output": ["x" * 50, "y" * 50]}) + "\n")
    (tmp_path / "cfg.yaml").write_text("""\
name: cap
baseline: base
models: {base: {provider: replay, path: rec.jsonl}}
tasks: [{name: t, data: {path: q.jsonl, id: question_id}, turns: turns, metrics: [self_bleu]}]
max_output_chars: 10
output: out
""")
    assert main(["run", "cfg.yaml", "-q"]) == 0
    conv = _rows(tmp_path / "out")[("base", "a")]["conversation"]
    assert [m["content"] for m in conv if m["role"] == "assistant"] == ["x" * 10, "y" * 10]


@pytest.mark.usefixtures("_env")
def test_the_review_workbench_shows_each_models_conversation(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    from starlette.testclient import TestClient

    from evalstack.view._app import make_app
    from evalstack.view._store import Store

    questions = [{**q, "turns": [q["turns"][0], HOSTILE]} if q["question_id"] == 111 else q for q in QUESTIONS]
    with LoopbackServer() as srv:
        _by_model(srv)
        assert main(["run", str(_write(tmp_path, srv, questions=questions)), "-q"]) == 0
    client = TestClient(make_app(Store([tmp_path / "out"]), token="t" * 32, reviewer="me"), follow_redirects=False)
    page = client.get(f"/{'t' * 32}/e/out/mt/111", params={"model": "ft"}).text
    assert "turn 1" in page and "turn 2" in page and "What is 2+2?" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    conv = page[page.index('class="conversation"') :]  # the first model's (base) conversation, in order
    assert conv.index("What is 2+2?") < conv.index("turn 1") < conv.index("&lt;script&gt;") < conv.index("turn 2")


@pytest.mark.usefixtures("_env")
def test_init_on_an_mt_bench_file_writes_a_multi_turn_config_that_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    assert main(["init", "question.jsonl", "--out", "mt.yaml"]) == 0
    text = (tmp_path / "mt.yaml").read_text()
    assert "turns: turns" in text and "slice_by: category" in text and "judges: [mt_bench_single]" in text
    with LoopbackServer() as srv:  # the written config as is, its endpoint from the environment
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-init-0123456789")
        assert main(["run", "mt.yaml", "-q"]) == 0
        assert srv.count("/chat/completions") > 0
    run = json.loads((tmp_path / "reports" / "question" / "run.json").read_text())
    assert "judge_mt_bench_single@turn2" in run["tasks"]["question"]["models"]["finetuned"]["metrics"]


@pytest.mark.usefixtures("_env")
def test_a_gate_rule_on_a_turn_the_task_does_not_have_is_refused_with_the_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LoopbackServer() as srv:
        cfg = _write(tmp_path, srv, task_extra="gate: {rules: [{metric: mt/exact_match@turn3, max_regression: 0.1}]}\n")
        assert main(["run", str(cfg), "-q"]) == 2
        assert srv.count("/chat/completions") == 0
    err = capsys.readouterr().err
    assert "unknown metric 'mt/exact_match@turn3'" in err and "exact_match@turn2" in err


@pytest.mark.usefixtures("_env")
def test_a_csv_file_holds_turns_as_json_lists(tmp_path: Path) -> None:
    import csv

    with (tmp_path / "q.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["question_id", "turns", "reference"])
        w.writerow(["a", json.dumps(["2+2?", "times 3?"]), json.dumps(["4", "12"])])
        w.writerow(["b", json.dumps(["1+1?", "plus 1?"]), json.dumps(["2", "3"])])
    (tmp_path / "rec.jsonl").write_text(
        json.dumps({"id": "a", "output": ["4", "12"]}) + "\n" + json.dumps({"id": "b", "output": ["2", "4"]}) + "\n"
    )
    (tmp_path / "cfg.yaml").write_text("""\
name: csv
baseline: base
models: {base: {provider: replay, path: rec.jsonl}}
tasks: [{name: t, data: {path: q.csv, id: question_id}, turns: turns, reference: reference, metrics: [exact_match]}]
output: out
""")
    assert main(["run", "cfg.yaml", "-q"]) == 0
    m = json.loads((tmp_path / "out" / "run.json").read_text())["tasks"]["t"]["models"]["base"]["metrics"]
    assert (m["exact_match@turn1"]["value"], m["exact_match@turn2"]["value"], m["exact_match"]["value"]) == (
        1.0,
        0.5,
        0.75,
    )

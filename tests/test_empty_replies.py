"""Replies with no content (tool calls only, a content filter, cut at max_tokens before any text) are failures
of their own kind, never an output "" scored 0 — unless the config says `on_empty: score_as_empty`.
Through the CLI against the loopback server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.testing.loopback import LoopbackServer

N = 10
TOOL_CALL = [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]


def _endpoint(req: dict):
    i = int(re.search(r"q(\d+)", req["messages"][-1]["content"]).group(1))
    if i == 0:
        return {"content": None, "tool_calls": TOOL_CALL}  # finish_reason tool_calls
    if i == 1:
        return {"content": None, "finish_reason": "content_filter"}
    if i == 2:
        return {"content": "", "finish_reason": "length"}
    if i == 3:
        return {"content": "partial answ", "finish_reason": "content_filter"}  # cut by the filter
    return f"a{i}"


def _write(srv: LoopbackServer, on_empty: str | None, out: str) -> None:
    Path("d.jsonl").write_text(
        "".join(json.dumps({"id": f"e{i}", "q": f"q{i}", "a": f"a{i}"}) + "\n" for i in range(N))
    )
    Path("base.jsonl").write_text("".join(json.dumps({"id": f"e{i}", "output": f"a{i}"}) + "\n" for i in range(N)))
    extra = f", on_empty: {on_empty}" if on_empty else ""
    Path("cfg.yaml").write_text(f"""\
name: empties
baseline: base
models:
  base: {{provider: replay, path: base.jsonl}}
  ft: {{provider: openai, model: m, base_url: "{srv.base_url}", api_key_env: EMPTY_KEY{extra}}}
tasks:
  - {{name: qa, data: {{path: d.jsonl, id: id}}, prompt: {{user: "{{{{ q }}}}"}}, reference: a, metrics: [exact_match]}}
cache: c.sqlite
output: {out}
""")


def _rows(out: str) -> dict[str, dict]:
    return {
        r["id"]: r
        for r in map(json.loads, Path(f"{out}/examples.jsonl").read_text().splitlines())
        if r["model"] == "ft"
    }


@pytest.fixture
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMPTY_KEY", "sk-empty-0123456789")


@pytest.mark.usefixtures("_env")
def test_empty_replies_are_failures_of_their_kind_and_final() -> None:
    with LoopbackServer() as srv:
        srv.reply_with(_endpoint)
        _write(srv, None, "out")
        assert main(["run", "cfg.yaml", "--quiet"]) == 0  # final answers: nothing for --resume to finish
        assert srv.count("/chat/completions") == N
        rows = _rows("out")
        want = {
            "e0": ("no_content", "tool_calls"),
            "e1": ("content_filter", "content_filter"),
            "e2": ("length_empty", "length"),
            "e3": ("content_filter", "content_filter"),
        }
        for ex_id, (kind, finish) in want.items():
            r = rows[ex_id]
            assert r["output"] is None and r["scores"]["exact_match"] is None
            assert (r["error"]["kind"], r["error"]["finish_reason"]) == (kind, finish)
        assert all(rows[f"e{i}"]["error"] is None and rows[f"e{i}"]["output"] == f"a{i}" for i in range(4, N))
        ft = json.loads(Path("out/run.json").read_text())["tasks"]["qa"]["models"]["ft"]
        assert ft["failed"] == 0
        assert ft["empty"] == {"content_filter": 2, "length_empty": 1, "no_content": 1}
        em = ft["metrics"]["exact_match"]
        assert (em["value"], em["n"], em["unscored"]) == (1.0, 6, 4)  # was 0.6 over 10: four outputs "" scored 0
        md = Path("out/report.md").read_text().replace("\\_", "_")  # markdown escapes underscores
        assert "4 empty replies (content_filter 2, length_empty 1, no_content 1) unscored" in md

        # recorded: --resume (and any re-run on the same cache) does not ask again
        assert main(["run", "cfg.yaml", "--quiet", "--resume"]) == 0
        assert srv.count("/chat/completions") == N


@pytest.mark.usefixtures("_env")
def test_score_as_empty_scores_them_and_still_says_so() -> None:
    with LoopbackServer() as srv:
        srv.reply_with(_endpoint)
        _write(srv, "score_as_empty", "out2")
        assert main(["run", "cfg.yaml", "--quiet"]) == 0
    rows = _rows("out2")
    assert [rows[f"e{i}"]["output"] for i in range(4)] == ["", "", "", "partial answ"]
    assert [rows[f"e{i}"]["finish_reason"] for i in range(4)] == [
        "tool_calls",
        "content_filter",
        "length",
        "content_filter",
    ]
    assert all(rows[f"e{i}"]["error"] is None and rows[f"e{i}"]["scores"]["exact_match"] == 0.0 for i in range(4))
    ft = json.loads(Path("out2/run.json").read_text())["tasks"]["qa"]["models"]["ft"]
    assert ft["empty"] == {"content_filter": 2, "length_empty": 1, "no_content": 1}
    em = ft["metrics"]["exact_match"]
    assert (em["value"], em["n"], em["unscored"]) == (0.6, 10, 0)
    assert "4 empty replies (content_filter 2, length_empty 1, no_content 1) scored as empty" in Path(
        "out2/report.md"
    ).read_text().replace("\\_", "_")


@pytest.mark.usefixtures("_env")
def test_on_empty_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with LoopbackServer() as srv:
        _write(srv, "ignore", "out3")
        assert main(["run", "cfg.yaml", "--quiet"]) == 2
        assert srv.count("/chat/completions") == 0
    assert "on_empty" in capsys.readouterr().err


@pytest.mark.usefixtures("_env")
def test_a_content_filtered_judge_reply_is_unparseable_and_says_why() -> None:
    with LoopbackServer() as srv:
        srv.reply_with(lambda req: {"content": None, "finish_reason": "content_filter"})
        Path("d.jsonl").write_text(json.dumps({"id": "e0", "q": "q0"}) + "\n")
        Path("m.jsonl").write_text(json.dumps({"id": "e0", "output": "an answer"}) + "\n")
        Path("cfg.yaml").write_text(f"""\
name: judge-empty
baseline: m
models: {{m: {{provider: replay, path: m.jsonl}}}}
judge: {{provider: openai, model: j, base_url: "{srv.base_url}", api_key_env: EMPTY_KEY}}
tasks:
  - {{name: qa, data: {{path: d.jsonl, id: id}}, prompt: {{user: "{{{{ q }}}}"}}, judges: [conciseness]}}
output: out4
""")
        assert main(["run", "cfg.yaml", "--quiet"]) == 0
    row = json.loads(Path("out4/examples.jsonl").read_text().splitlines()[0])
    assert (
        row["judge"]["conciseness"]["error"]
        == "unparseable reply: empty reply (content_filter, finish_reason content_filter)"
    )
    m = json.loads(Path("out4/run.json").read_text())["tasks"]["qa"]["models"]["m"]
    assert m["judge_unparseable"] == {"conciseness": 1} and m["metrics"]["judge_conciseness"]["unscored"] == 1


@pytest.mark.usefixtures("_env")
def test_the_console_summary_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with LoopbackServer() as srv:
        srv.reply_with(_endpoint)
        _write(srv, None, "out5")
        assert main(["run", "cfg.yaml"]) == 0
    err = capsys.readouterr().err
    assert "qa/ft: 2 empty replies (content_filter); 1 empty reply (length_empty); 1 empty reply (no_content)" in err

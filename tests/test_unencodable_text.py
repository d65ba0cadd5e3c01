"""Lone surrogates ("\\ud800") in replies and in dataset cells (issue 13 item 4).

A reply holding one used to make the cache write raise (exit 4), and `--resume` resent and died again.
Now the reply is stored with U+FFFD in place of each lone surrogate and the row says so; a dataset cell
holding one is bad input: exit 2 naming file, line and column, before any request.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evalstack.cli import main

N = 4
CFG = """\
name: sg
baseline: base
models:
  base: {{provider: openai, model: m-1, base_url: "{url}", api_key_env: null, params: {{logprobs: true, top_logprobs: 2}}}}
tasks:
  - name: qa
    data: {{path: data.jsonl, id: id}}
    prompt: {{user: "Q: {{{{ q }}}}"}}
    reference: a
    metrics: [exact_match]
cache: cache.sqlite
output: out
"""


def setup(tmp: Path, url: str, rows: list[dict] | None = None) -> Path:
    rows = rows or [{"id": f"e{i}", "q": f"question {i}", "a": f"answer {i}"} for i in range(N)]
    # json.dumps escapes a lone surrogate as \\ud800: exactly what a file written by another tool holds
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp / "cfg.yaml").write_text(CFG.format(url=url))
    return tmp / "cfg.yaml"


def rows_of(tmp: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (tmp / "out" / "examples.jsonl").read_text().splitlines())}


def test_reply_with_lone_surrogate_is_stored_replaced_and_said_so(srv, tmp_path: Path, capsys) -> None:
    bad = {"content": "answer \ud800 1", "tokens": ["answer", " \ud800", " 1"]}
    srv.reply_map({"question 1": bad, "question 2": "answer \udfff\ud83d\ude00 2"})
    cfg = setup(tmp_path, srv.base_url)
    code = main(["run", str(cfg), "-q"])
    err = capsys.readouterr().err
    assert code == 0, err
    sent = srv.count("/chat/completions")
    assert sent == N
    rows = rows_of(tmp_path)
    assert rows["e1"]["output"] == "answer \ufffd 1"
    assert rows["e2"]["output"] == "answer \ufffd\U0001f600 2"  # the pair is a real emoji, kept
    assert rows["e1"]["notes"] == ["1 lone surrogate(s) in the output replaced with U+FFFD (in the logprob tokens too)"]
    assert rows["e2"]["notes"] == ["1 lone surrogate(s) in the output replaced with U+FFFD (in the logprob tokens too)"]
    assert rows["e0"]["notes"] == [] and rows["e0"]["output"] == "echo: Q: question 0"
    # a second run is answered by the cache, with the same outputs and notes
    shutil.rmtree(tmp_path / "out")
    assert main(["run", str(cfg), "-q"]) == 0
    assert srv.count("/chat/completions") == sent
    again = rows_of(tmp_path)
    assert again["e1"]["output"] == "answer \ufffd 1" and again["e1"]["cached"] is True
    assert again["e1"]["notes"] == rows["e1"]["notes"]


def test_resume_after_an_interrupted_run_with_surrogate_replies(srv, tmp_path: Path, capsys) -> None:
    """The run fails one request (exit 3) after a surrogate reply was cached; --resume finishes it."""
    srv.reply_map({"question 1": "bad \ud800", "question 3": {"status": 400, "body": {"error": {"message": "no"}}}})
    cfg = setup(tmp_path, srv.base_url)
    assert main(["run", str(cfg), "-q"]) == 3
    srv.reply_map({"question 1": "bad \ud800"})
    assert main(["run", str(cfg), "-q", "--resume"]) == 0
    rows = rows_of(tmp_path)
    assert rows["e1"]["output"] == "bad \ufffd" and rows["e1"]["cached"] is True
    assert rows["e3"]["output"] == "echo: Q: question 3"
    assert srv.count("/chat/completions") == N + 1


@pytest.mark.parametrize(
    "column,cell", [("q", "bad \ud800 cell"), ("a", ["ok", "x\udc00"]), ("extra", {"k": "\ud800"}), ("id", "e\ud800")]
)
def test_dataset_cell_with_lone_surrogate_is_exit_2_before_any_request(
    srv, tmp_path: Path, capsys, column: str, cell
) -> None:
    rows = [{"id": f"e{i}", "q": f"question {i}", "a": f"answer {i}"} for i in range(N)]
    rows[2][column] = cell
    cfg = setup(tmp_path, srv.base_url, rows)
    assert main(["run", str(cfg), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "data.jsonl:3" in err and f"column '{column}'" in err and "lone surrogate" in err
    assert srv.count("/chat/completions") == 0


def test_an_escaped_surrogate_pair_in_data_is_fine(srv, tmp_path: Path) -> None:
    rows = [{"id": f"e{i}", "q": f"question {i} \U0001f600", "a": f"answer {i}"} for i in range(N)]
    cfg = setup(tmp_path, srv.base_url, rows)
    assert "\\ud83d\\ude00" in (tmp_path / "data.jsonl").read_text()
    assert main(["run", str(cfg), "-q"]) == 0
    assert rows_of(tmp_path)["e0"]["output"] == "echo: Q: question 0 \U0001f600"

"""Tool loops through the CLI: the user's functions run in a child process, their results (or errors) go
back as tool messages, the step cap ends a loop, and a run killed between two steps resumes from the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.testing.loopback import LoopbackServer

TOOLS_PY = '''\
import time
from typing import Literal


def lookup_order(order_id: str) -> dict:
    """Look up an order.

    Args:
        order_id: The order id, e.g. A1.
    """
    if order_id == "BOOM":
        raise ValueError("no such order")
    if order_id == "SLOW":
        time.sleep(60)
    print("this print must not break the answer")
    return {"order_id": order_id, "status": "shipped"}


def refund(order_id: str, amount: float, reason: Literal["damaged", "late"] = "late") -> str:
    """Refund an order."""
    return f"refunded {amount} on {order_id}"


def ping() -> str:
    """Open a socket (blocked unless network: true)."""
    import socket

    socket.create_connection(("127.0.0.1", 9), timeout=1)
    return "connected"
'''
ROWS = {
    "e0": ("where is A1", [{"name": "lookup_order", "arguments": {"order_id": "A1"}}]),
    "e1": ("where is BOOM", [{"name": "lookup_order", "arguments": {"order_id": "BOOM"}}]),
    "e2": ("where is SLOW", [{"name": "lookup_order", "arguments": {"order_id": "SLOW"}}]),
    "e3": ("keep looking", []),
    "e4": ("ping", [{"name": "ping", "arguments": {}}]),
}


def _call(name: str, args: dict, i: int) -> dict:
    return {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def model(req: dict):
    msgs = req["messages"]
    first = msgs[1]["content"]
    if msgs[-1]["role"] == "tool":
        if first == "keep looking":  # never stops calling: the step cap ends it
            return {"content": None, "tool_calls": [_call("lookup_order", {"order_id": f"X{len(msgs)}"}, len(msgs))]}
        return "final: " + msgs[-1]["content"]
    if first == "ping":
        return {"content": None, "tool_calls": [_call("ping", {}, 0)]}
    if first == "keep looking":
        return {"content": None, "tool_calls": [_call("lookup_order", {"order_id": "X"}, 0)]}
    return {"content": None, "tool_calls": [_call("lookup_order", {"order_id": first.split()[-1]}, 0)]}


def write(tmp: Path, base_url: str) -> Path:
    (tmp / "my_tools.py").write_text(TOOLS_PY)
    (tmp / "d.jsonl").write_text(
        "".join(json.dumps({"id": k, "msg": m, "calls": c}) + "\n" for k, (m, c) in ROWS.items())
    )
    cfg = tmp / "cfg.yaml"
    cfg.write_text(f"""\
name: loop
baseline: base
models:
  base: {{provider: openai, model: m, base_url: "{base_url}", api_key_env: null}}
tasks:
  - name: support
    data: {{path: d.jsonl, id: id}}
    prompt: {{system: "Support bot.", user: "{{{{ msg }}}}"}}
    tools: {{module: my_tools.py, max_steps: 3, timeout: 1.5}}
    expected_calls: calls
    metrics: [tool_name_accuracy, tool_args_exact]
cache: c.sqlite
output: out
""")
    return cfg


def rows(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (out / "examples.jsonl").open())}


def test_a_tool_loop_runs_tools_and_reports_errors_timeouts_and_the_step_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with LoopbackServer() as srv:
        srv.reply_with(model)
        cfg = write(tmp_path, srv.base_url)
        assert main(["run", str(cfg), "--quiet"]) == 0
        sent = [r.json for r in srv.requests if r.path.endswith("/chat/completions")]
        # the schemas come from the functions' signatures and docstrings
        tools = {t["function"]["name"]: t["function"] for t in sent[0]["tools"]}
        assert list(tools) == ["lookup_order", "refund", "ping"]
        assert tools["lookup_order"] == {
            "name": "lookup_order",
            "description": "Look up an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "description": "The order id, e.g. A1."}},
                "required": ["order_id"],
            },
        }
        assert tools["refund"]["parameters"]["properties"]["reason"] == {"enum": ["damaged", "late"]}
        assert tools["refund"]["parameters"]["required"] == ["order_id", "amount"]
        got = rows(tmp_path / "out")
        # e0: a result goes back as a tool message and the model answers
        e0 = got["e0"]
        assert e0["output"] == 'final: {"order_id": "A1", "status": "shipped"}'
        assert [m["role"] for m in e0["conversation"]] == ["system", "user", "assistant", "tool", "assistant"]
        assert e0["conversation"][3] == {
            "role": "tool",
            "tool_call_id": "call_0",
            "content": '{"order_id": "A1", "status": "shipped"}',
        }
        assert e0["tool_loop"] == {"steps": 2, "tool_errors": 0, "step_cap_hit": False}
        assert e0["scores"] == {"tool_name_accuracy": 1.0, "tool_args_exact": 1.0}
        # e1: the tool raised: the model is told, the error is counted
        assert got["e1"]["output"] == "final: error: ValueError: no such order"
        assert got["e1"]["tool_loop"] == {"steps": 2, "tool_errors": 1, "step_cap_hit": False}
        # e2: the tool took longer than its timeout and was stopped
        assert got["e2"]["output"] == "final: error: tool 'lookup_order' took longer than 1.5 s and was stopped"
        assert got["e2"]["tool_loop"]["tool_errors"] == 1
        # e3: still calling at max_steps (3 requests): the loop ends there and says so
        assert got["e3"]["tool_loop"] == {"steps": 3, "tool_errors": 0, "step_cap_hit": True}
        assert len(got["e3"]["tool_calls"]) == 3 and got["e3"]["output"] == ""
        assert got["e3"]["scores"]["tool_name_accuracy"] == 0.0  # three calls where none was expected
        # e4: no network for tools by default
        assert "network access is blocked" in got["e4"]["output"] and got["e4"]["tool_loop"]["tool_errors"] == 1
        assert len(sent) == 2 + 2 + 2 + 3 + 2
        # the second request of e0 carries the whole history: assistant tool call, then the tool result
        second = next(b for b in sent if len(b["messages"]) == 4 and b["messages"][1]["content"] == "where is A1")
        assert second["messages"][2]["tool_calls"][0]["function"]["name"] == "lookup_order"
        assert second["messages"][3]["role"] == "tool"


def _evalstack(cfg: Path, *args: str, crash: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "EVALSTACK_CRASH_AT"}
    if crash:
        env["EVALSTACK_CRASH_AT"] = crash
    return subprocess.run(
        [sys.executable, "-m", "evalstack", "run", str(cfg), "-q", *args], env=env, capture_output=True, text=True
    )


def test_a_run_killed_between_two_steps_resumes_from_the_cache(tmp_path: Path) -> None:
    with LoopbackServer() as srv:
        srv.reply_with(model)
        cfg = write(tmp_path, srv.base_url)
        killed = _evalstack(cfg, crash="tool_step:1")
        assert killed.returncode == -9, killed.stderr
        first = srv.count("/chat/completions")
        assert first == len(ROWS)  # step 1 of every example, then killed
        done = _evalstack(cfg, "--resume")
        assert done.returncode == 0, done.stderr
        bodies = [
            json.dumps(r.json["messages"], sort_keys=True) for r in srv.requests if r.path.endswith("/chat/completions")
        ]
        assert max(Counter(bodies).values()) == 1  # no request was sent twice: step 1 came from the cache
        assert len(bodies) == 11
        got = rows(tmp_path / "out")
        assert got["e0"]["output"].startswith("final: ") and got["e3"]["tool_loop"]["step_cap_hit"]


def test_the_batch_api_carries_tools_and_the_loop_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALSTACK_BATCH_POLL_INTERVAL", "0")
    seen: list[dict] = []

    def recording(req: dict):
        seen.append(req)
        return model(req)

    with LoopbackServer() as srv:
        srv.reply_with(recording)
        cfg = write(tmp_path, srv.base_url)
        assert main(["run", str(cfg), "-q", "--batch"]) == 0
        assert srv.count("/chat/completions") == 0  # every step went through a batch
        assert srv.count("/batches", "POST") == 3  # one per step (the step cap is 3)
    assert all(
        r["tools"] and [t["function"]["name"] for t in r["tools"]] == ["lookup_order", "refund", "ping"] for r in seen
    )
    second = [r for r in seen if len(r["messages"]) == 4]
    assert second and all(r["messages"][2]["tool_calls"] and r["messages"][3]["role"] == "tool" for r in second)
    got = rows(tmp_path / "out")  # the batch results' tool calls were read: the loop went on from them
    assert got["e0"]["output"] == 'final: {"order_id": "A1", "status": "shipped"}'
    assert got["e0"]["scores"] == {"tool_name_accuracy": 1.0, "tool_args_exact": 1.0}
    assert got["e3"]["tool_loop"]["step_cap_hit"]


def test_a_replay_model_on_a_tool_loop_is_refused_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with LoopbackServer() as srv:
        cfg = write(tmp_path, srv.base_url)
        (tmp_path / "rec.jsonl").write_text("".join(json.dumps({"id": k, "output": "x"}) + "\n" for k in ROWS))
        text = cfg.read_text().replace("models:\n", "models:\n  rec: {provider: replay, path: rec.jsonl}\n")
        cfg.write_text(text)
        assert main(["run", str(cfg), "--quiet"]) == 2
        assert srv.count("/chat/completions") == 0
    err = capsys.readouterr().err
    assert (
        "models.rec" in err
        and "cannot run the tool loop of task 'support'" in err
        and len(err.strip().splitlines()) == 1
    )

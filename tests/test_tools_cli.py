"""Tool-calling tasks through the CLI against the loopback server: tools sent, calls scored, bad schemas
refused before any request, tool loops (a tool that raises, one that times out, the step cap, a kill
between steps and --resume)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.testing.loopback import LoopbackServer

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "refund",
            "description": "Refund an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
                "required": ["order_id", "amount"],
            },
        },
    },
    {
        "name": "lookup_order",  # a bare function schema is wrapped
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    },
]
ROWS = [
    ("e0", "refund A1 10", [{"name": "refund", "arguments": {"order_id": "A1", "amount": 10}}]),
    ("e1", "where are A2 and A3", [{"name": "lookup_order", "arguments": {"order_id": o}} for o in ("A2", "A3")]),
    ("e2", "hello", []),
    ("e3", "refund A4 5", [{"name": "refund", "arguments": {"order_id": "A4", "amount": 5}}]),
]


def call(name: str, args: object, i: int = 0) -> dict:
    return {
        "id": f"call_{i}",
        "type": "function",
        "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)},
    }


def ft_reply(req: dict):
    text = req["messages"][-1]["content"]
    if text.startswith("refund A1"):  # right
        return {"content": None, "tool_calls": [call("refund", {"order_id": "A1", "amount": 10})]}
    if text.startswith("where"):  # parallel calls, in the other order: right
        return {
            "content": None,
            "tool_calls": [call("lookup_order", {"order_id": o}, i) for i, o in enumerate("A3 A2".split())],
        }
    if text == "hello":
        return "Hello! How can I help?"
    return {"content": None, "tool_calls": [call("refund", '{"order_id": "A4", "amount": "five"}')]}  # schema-invalid


BASE = {  # recorded: e0 right name, amount missing; e1 one of two calls; e2 a call where none is right; e3 text
    "e0": {"output": None, "tool_calls": [{"name": "refund", "arguments": {"order_id": "A1"}}]},
    "e1": {"output": None, "tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "A2"}}]},
    "e2": {"output": None, "tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "?"}}]},
    "e3": {"output": "I cannot do refunds."},
}


def write(tmp: Path, base_url: str, *, tools: object = "tools.json", extra: str = "", out: str = "out") -> Path:
    (tmp / "tools.json").write_text(json.dumps(TOOLS))
    (tmp / "d.jsonl").write_text("".join(json.dumps({"id": i, "msg": m, "calls": c}) + "\n" for i, m, c in ROWS))
    (tmp / "base.jsonl").write_text("".join(json.dumps({"id": k, **v}) + "\n" for k, v in BASE.items()))
    cfg = tmp / "cfg.yaml"
    cfg.write_text(f"""\
name: tools
baseline: base
models:
  base: {{provider: replay, path: base.jsonl}}
  ft: {{provider: openai, model: m, base_url: "{base_url}", api_key_env: null}}
tasks:
  - name: support
    data: {{path: d.jsonl, id: id}}
    prompt: {{system: "You are a support bot.", user: "{{{{ msg }}}}"}}
    tools: {json.dumps(tools)}
    expected_calls: calls
    metrics: [tool_name_accuracy, tool_args_exact, tool_args_f1, tool_call_valid, no_call_accuracy]
{extra}cache: c.sqlite
output: {out}
""")
    return cfg


def values(out: Path) -> dict[str, dict[str, float]]:
    run = json.loads((out / "run.json").read_text())
    return {m: {k: v["value"] for k, v in s["metrics"].items()} for m, s in run["tasks"]["support"]["models"].items()}


def test_tools_are_sent_and_calls_scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with LoopbackServer() as srv:
        srv.reply_with(ft_reply)
        cfg = write(tmp_path, srv.base_url, extra="    tool_choice: auto\n")
        assert main(["run", str(cfg), "--quiet"]) == 0
        bodies = [r.json for r in srv.requests if r.path.endswith("/chat/completions")]
        assert len(bodies) == 4
        assert all(b["tool_choice"] == "auto" for b in bodies)
        assert [t["function"]["name"] for t in bodies[0]["tools"]] == ["refund", "lookup_order"]
        assert bodies[0]["tools"][1] == {"type": "function", "function": TOOLS[1]}
        got = values(tmp_path / "out")
        # ft: e0 all right; e1 right in another order; e2 no call, right; e3 right name, amount "five" invalid
        # (F1: order_id right of 2 made and 2 expected pairs -> 0.5)
        assert got["ft"] == {
            "tool_name_accuracy": 1.0,
            "tool_args_exact": 0.75,
            "tool_args_f1": pytest.approx((1 + 1 + 1 + 0.5) / 4),
            "tool_call_valid": 0.75,
            "no_call_accuracy": 1.0,
        }
        # base: e0 right name, P 1/1 R 1/2 -> 2/3 (invalid: amount is required); e1 one of two calls, P 1 R 1/2
        # -> 2/3; e2 a call where none is right -> 0; e3 no call -> 0
        assert got["base"] == {
            "tool_name_accuracy": 0.25,
            "tool_args_exact": 0.0,
            "tool_args_f1": pytest.approx((2 / 3 + 2 / 3) / 4),
            "tool_call_valid": 0.75,
            "no_call_accuracy": 0.5,
        }
        rows = {(r["model"], r["id"]): r for r in map(json.loads, (tmp_path / "out/examples.jsonl").open())}
        e0 = rows[("ft", "e0")]  # content null with tool calls: an output here, not a no_content failure
        assert e0["error"] is None and e0["output"] == "" and e0["finish_reason"] == "tool_calls"
        assert e0["tool_calls"] == [{"name": "refund", "arguments": '{"order_id": "A1", "amount": 10}'}]
        assert rows[("ft", "e2")]["tool_calls"] == [] and "conversation" not in rows[("ft", "e2")]
        run = json.loads((tmp_path / "out/run.json").read_text())
        assert run["tasks"]["support"]["models"]["ft"].get("empty", {}) == {}

        # tools and tool_choice are in the cache key: the same config is answered from the cache, a changed
        # tool_choice or schema is asked again
        assert main(["run", str(cfg), "--quiet", "--out", "again"]) == 0
        assert srv.count("/chat/completions") == 4
        write(tmp_path, srv.base_url, extra="    tool_choice: required\n", out="req")
        assert main(["run", str(cfg), "--quiet"]) == 0
        assert srv.count("/chat/completions") == 8
        TOOLS[0]["function"]["description"] = "Refund an order (any amount)."
        try:
            write(tmp_path, srv.base_url, extra="    tool_choice: required\n", out="desc")
            assert main(["run", str(cfg), "--quiet"]) == 0
        finally:
            TOOLS[0]["function"]["description"] = "Refund an order."
        assert srv.count("/chat/completions") == 12


@pytest.mark.parametrize(
    ("tools", "where", "fix"),
    [
        (
            [
                {
                    "type": "function",
                    "function": {
                        "name": "refund",
                        "parameters": {"type": "object", "properties": {"x": {"type": "strnig"}}},
                    },
                }
            ],
            "tools.json: [0].function.parameters.properties.x.type",
            "json-schema.org",
        ),
        ([{"type": "function", "function": {"name": "re fund"}}], "tools.json: [0].function.name", "1-64 letters"),
        ([TOOLS[0], TOOLS[0]], "tools.json: [1].function.name", "one schema"),
    ],
)
def test_a_bad_schema_is_one_line_exit_2_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tools, where, fix
) -> None:
    monkeypatch.chdir(tmp_path)
    with LoopbackServer() as srv:
        cfg = write(tmp_path, srv.base_url)
        (tmp_path / "tools.json").write_text(json.dumps(tools))
        assert main(["run", str(cfg), "--quiet"]) == 2
        assert srv.count("/chat/completions") == 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and where in err and fix in err, err


def test_inline_schemas_and_bad_tool_choice_and_expected_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with LoopbackServer() as srv:
        bad = [TOOLS[0], {"type": "function", "function": {"name": "x", "parameters": {"type": "array"}}}]
        write(tmp_path, srv.base_url, tools=bad)
        assert main(["run", "cfg.yaml", "--quiet"]) == 2
        assert "cfg.yaml: tasks[0].tools[1].function.parameters.type" in capsys.readouterr().err
        write(tmp_path, srv.base_url, extra="    tool_choice: {type: function, function: {name: refnud}}\n")
        assert main(["run", "cfg.yaml", "--quiet"]) == 2
        assert "tasks[0].tool_choice" in (err := capsys.readouterr().err) and "did you mean 'refund'" in err
        write(tmp_path, srv.base_url)
        rows = (tmp_path / "d.jsonl").read_text().replace('"lookup_order"', '"lookup_ordr"')
        (tmp_path / "d.jsonl").write_text(rows)
        assert main(["run", "cfg.yaml", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "d.jsonl:2" in err and "'lookup_ordr' is not one of the task's tools" in err and "lookup_order" in err
        assert srv.count("/chat/completions") == 0


HOSTILE = "<script>alert(1)</script>"


def test_tool_summary_in_the_report_and_hostile_calls_stay_inert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    def hostile(req: dict):
        if req["messages"][-1]["content"] == "hello":
            return "=1+1"  # a formula, were it not escaped
        return {"content": None, "tool_calls": [call(HOSTILE, '{"order_id": "=HYPERLINK(\\"http://x\\")"}')]}

    with LoopbackServer() as srv:
        srv.reply_with(hostile)
        cfg = write(tmp_path, srv.base_url)
        assert main(["run", str(cfg), "--quiet"]) == 0
    out = tmp_path / "out"
    run = json.loads((out / "run.json").read_text())["tasks"]["support"]["models"]
    # counted independently: ft made 3 calls (e0, e1, e3), none to an offered function; base recorded 3 calls,
    # e0's without the required amount
    assert run["ft"]["tool_calls"] == {"calls": 3, "invalid": 3, "tool_errors": 0, "step_cap_hits": 0}
    assert run["base"]["tool_calls"] == {"calls": 3, "invalid": 1, "tool_errors": 0, "step_cap_hits": 0}
    md = (out / "report.md").read_text()
    assert "tool calls: base 3 (1 invalid call), ft 3 (3 invalid calls)" in md
    html = (out / "report.html").read_text()
    assert HOSTILE not in html and "tool calls: base 3" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, as text
    csv_text = (out / "review" / "lowest.csv").read_text()
    assert f"calls: {HOSTILE}(" in csv_text  # the calls are shown, as text
    import csv

    cells = [c for row in csv.reader(csv_text.splitlines()) for c in row]
    assert all(not c.startswith(("=", "+", "-", "@")) for c in cells)


def test_compare_scores_a_saved_tool_run_as_the_run_did(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with LoopbackServer() as srv:
        srv.reply_with(ft_reply)
        cfg = write(tmp_path, srv.base_url)
        assert main(["run", str(cfg), "--quiet"]) == 0
    assert main(["compare", "out", "--out", "cmp"]) == 0
    assert values(tmp_path / "cmp") == values(tmp_path / "out")
    run = json.loads((tmp_path / "out/run.json").read_text())
    assert run["config"]["tasks"][0]["tools"]["schemas"] == "tools.json"  # relative to the config, as written

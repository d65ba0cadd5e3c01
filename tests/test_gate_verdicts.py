"""Gate verdicts through the CLI as a user meets them (issues 13 and 14): implicit max_unscored,
three-outcome bounds, incomplete runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

from evalstack.cli import main
from evalstack.testing.loopback import LoopbackServer


def _fences(req: dict) -> dict[str, str]:
    return dict(
        re.findall(r'<data-[0-9a-f]{16} name="([a-z_]+)">\n(.*?)\n</data-', req["messages"][1]["content"], re.S)
    )


def _judge_mostly_unparseable(req: dict) -> str:
    """A judge that gives 5 to examples e0-e4 and an unparseable reply (re-asks included) to the others."""
    i = int(re.search(r"What is (\d+)", _fences(req)["input"]).group(1))
    return json.dumps({"reason": "fine", "score": 5}) if i < 5 else "I would rather not say."


def _write_judge_run(tmp: Path, url: str, gate: str) -> None:
    rows = [{"id": f"e{i}", "question": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(20)]
    (tmp / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("base", "ft"):
        (tmp / f"{name}.jsonl").write_text(
            "".join(json.dumps({"id": r["id"], "output": r["answer"]}) + "\n" for r in rows)
        )
    (tmp / "cfg.yaml").write_text(f"""\
name: unscored
baseline: base
models:
  base: {{provider: replay, path: base.jsonl}}
  ft: {{provider: replay, path: ft.jsonl}}
judge: {{provider: openai, model: judge-model, base_url: "{url}", api_key_env: GV_JUDGE_KEY, max_tries: 1}}
tasks:
  - name: qa
    data: {{path: d.jsonl, id: id}}
    prompt: {{user: "{{{{ question }}}}"}}
    reference: answer
    metrics: [exact_match]
    judges: [factual_correctness]
cache: c.sqlite
output: out
{gate}""")


def test_judge_metric_scored_on_5_of_20_does_not_pass_min(tmp_path, monkeypatch, capsys):
    """Issue 13 item 2: 15 of 20 judge replies unparseable, `min: 4.5` passed on the 5 scored (exit 0).
    Failed before the fix (exit 0, gate PASSED), passes now: the implicit max_unscored (5%) fails the rule."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GV_JUDGE_KEY", "sk-gv-judge-0000")
    with LoopbackServer() as srv:
        srv.reply_with(_judge_mostly_unparseable)
        _write_judge_run(tmp_path, srv.base_url, "gate: {rules: [{metric: qa/judge_factual_correctness, min: 4.5}]}")
        code = main(["run", "cfg.yaml"])
    run = json.loads(Path("out/run.json").read_text())
    s = run["tasks"]["qa"]["models"]["ft"]["metrics"]["judge_factual_correctness"]
    assert (s["value"], s["n"], s["unscored"]) == (5.0, 5, 15)
    assert code == 1 and run["gate"]["passed"] is False
    (rule,) = run["gate"]["rules"]
    assert rule["outcome"] == "fail" and "15/20 (75.0%) unscored > max_unscored 5% (implicit" in rule["message"]
    assert "15/20 (75.0%) unscored &gt; max\\_unscored 5% (implicit" in Path("out/report.md").read_text()


def test_implicit_max_unscored_is_configurable_and_stated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GV_JUDGE_KEY", "sk-gv-judge-0000")
    with LoopbackServer() as srv:
        srv.reply_with(_judge_mostly_unparseable)
        _write_judge_run(
            tmp_path,
            srv.base_url,
            "gate: {max_unscored: 0.8, rules: [{metric: qa/judge_factual_correctness, "
            "min: 4.5, on: estimate}, {metric: qa/exact_match, min: 0.9, max_unscored: 0}]}",
        )
        assert main(["run", "cfg.yaml"]) == 0
    rules = json.loads(Path("out/run.json").read_text())["gate"]["rules"]
    assert "unscored 15/20 <= 80% (implicit max_unscored)" in rules[0]["message"]
    assert [(r["metric"], r["kind"]) for r in rules] == [
        ("qa/judge_factual_correctness", "min"),
        ("qa/exact_match", "min"),
        ("qa/exact_match", "max_unscored"),
    ]
    assert "implicit" not in rules[1]["message"]  # the rule sets its own max_unscored


def _dead_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: every request fails with a connection error
    return port


def test_every_request_failed_reads_incomplete_everywhere(tmp_path, monkeypatch, capsys):
    """Issue 14 item 1: with no network every request failed (exit 3), and report.md/html opened with a red
    "Gate FAILED: 1 of 1 rule failed". Failed before the fix, passes now: every headline says INCOMPLETE,
    with the failures per model, the error kinds with an example and the exact --resume command."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GV_KEY", "sk-gv-0000")
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    rows = [{"id": f"e{i}", "text": f"ticket {i}", "label": ["billing", "bug"][i % 2]} for i in range(4)]
    Path("d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    url = f"http://127.0.0.1:{_dead_port()}/v1"
    Path("cfg.yaml").write_text(f"""\
name: offline
baseline: base
models:
  base: {{provider: openai, model: b, base_url: "{url}", api_key_env: GV_KEY, max_tries: 1}}
  ft: {{provider: openai, model: f, base_url: "{url}", api_key_env: GV_KEY, max_tries: 1}}
tasks:
  - name: intent
    data: {{path: d.jsonl, id: id}}
    prompt: {{user: "{{{{ text }}}}"}}
    target: label
    labels: [billing, bug]
    metrics: [accuracy]
gate: {{rules: [{{metric: intent/accuracy, min: 0.5, max_regression: 0.0}}]}}
cache: c.sqlite
output: out
""")
    assert main(["run", "cfg.yaml", "--limit", "4"]) == 3
    err = capsys.readouterr().err
    command = "evalstack run cfg.yaml --limit 4 --resume"
    heads = {
        "terminal": err,
        "report.md": Path("out/report.md").read_text(),
        "report.html": Path("out/report.html").read_text(),
        "junit.xml": Path("out/junit.xml").read_text(),
        "GITHUB_STEP_SUMMARY": summary.read_text(),
    }
    for where, text in heads.items():
        assert "INCOMPLETE: 8 items failed after retries" in text, where
        assert "intent / base generation: 4 of 4 failed" in text and "intent / ft generation: 4 of 4 failed" in text, (
            where
        )
        assert "error connection x8, e.g." in text and "Connection error" in text, where
        assert command in text, where
        assert "Gate FAILED" not in text and "FAIL " not in text, where
    md = heads["report.md"]
    assert md.index("INCOMPLETE") < md.index("## Task") and md.count("not judged") >= 2
    assert 'class="banner incomplete"' in heads["report.html"]
    assert '<skipped message="not judged' in heads["junit.xml"] and 'type="gate.' not in heads["junit.xml"]
    run = json.loads(Path("out/run.json").read_text())
    assert run["gate"]["status"] == "not_judged" and {r["outcome"] for r in run["gate"]["rules"]} == {"not_judged"}
    assert run["incomplete"]["failed"] == 8 and run["incomplete"]["resume_command"] == command


def _replay_config(tmp: Path, gate: str, extra_model: str = "") -> None:
    rows = [{"id": f"e{i}", "text": f"ticket {i}", "label": ["billing", "bug"][i % 2]} for i in range(40)]
    (tmp / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    outs = {"base": lambda i, r: r["label"] if i % 4 else "bug", "ft": lambda i, r: r["label"] if i % 10 else "bug"}
    for name, f in outs.items():
        (tmp / f"{name}.jsonl").write_text(
            "".join(json.dumps({"id": r["id"], "output": f(i, r)}) + "\n" for i, r in enumerate(rows))
        )
    (tmp / "cfg.yaml").write_text(f"""\
name: days
baseline: base
models:
  base: {{provider: replay, path: base.jsonl}}
  ft: {{provider: replay, path: ft.jsonl}}
{extra_model}
tasks:
  - name: intent
    data: {{path: d.jsonl, id: id}}
    prompt: {{user: "{{{{ text }}}}"}}
    target: label
    labels: [billing, bug]
    metrics: [accuracy]
gate: {gate}
cache: c.sqlite
""")


def test_compare_applies_the_newest_runs_gate_and_says_so(tmp_path, monkeypatch, capsys):
    """Issue 14 item 8: compare used the first run's gate silently and printed only "wrote DIR".
    Failed before the fix, passes now."""
    monkeypatch.chdir(tmp_path)
    _replay_config(tmp_path, "{rules: [{metric: intent/accuracy, min: 0.1}]}")
    assert main(["run", "cfg.yaml", "--models", "base", "--out", "monday"]) == 0
    _replay_config(tmp_path, "{rules: [{metric: intent/accuracy, min: 0.99}]}")  # the newer run's stricter gate
    assert main(["run", "cfg.yaml", "--out", "tuesday"]) == 1
    capsys.readouterr()
    assert main(["compare", "monday", "tuesday", "--out", "cmp"]) == 1
    err = capsys.readouterr().err
    assert "rules: the gate rules of the newest run, tuesday" in err
    assert "intent/accuracy  ft - base: +0.1500" in err and "(mcnemar)" in err  # the delta summary, as `run` prints
    assert "FAIL intent/accuracy min 0.99 (ft)" in err
    assert "rules: the gate rules of the newest run, tuesday" in Path("cmp/report.md").read_text()
    Path("loose.yaml").write_text("rules: [{metric: intent/accuracy, min: 0.5}]\n")
    assert main(["compare", "monday", "tuesday", "--out", "cmp2", "--rules", "loose.yaml"]) == 0
    assert "rules: --rules loose.yaml" in capsys.readouterr().err


def test_compare_with_an_incomplete_run_exits_3(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GV_KEY", "sk-gv-0000")
    dead = (
        f'  ft2: {{provider: openai, model: f, base_url: "http://127.0.0.1:{_dead_port()}/v1", '
        f"api_key_env: GV_KEY, max_tries: 1}}"
    )
    _replay_config(tmp_path, "{rules: [{metric: intent/accuracy, min: 0.1}]}", dead)
    assert main(["run", "cfg.yaml", "--models", "ft2", "--out", "wednesday"]) == 3
    capsys.readouterr()
    assert main(["compare", "wednesday", "--out", "cmp"]) == 3
    err = capsys.readouterr().err
    assert "INCOMPLETE: 40 items failed after retries" in err and "intent / ft2 generation: 40 of 40 failed" in err
    assert "evalstack run CONFIG --out wednesday --resume" in err
    assert "INCOMPLETE" in Path("cmp/report.md").read_text()

"""`evalstack compare` (and `gate`, and the pytest helpers) follow `evalstack run`'s rules, through the CLI:
exit 3 while a run has items that failed after retries (generation or judge), and compare writes the same
per-example scores in examples.jsonl."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.testing.loopback import Fault, LoopbackServer


def _judge(req: dict):
    """The judge answers 5 except for example e0's output, which gets HTTP 500 every time."""
    out = re.search(r'name="output">\n(.*?)\n</data-', req["messages"][1]["content"], re.S).group(1)
    return Fault.of(500) if out.endswith("out-0") else json.dumps({"reason": "r", "score": 5})


QA_TASK = """\
  - name: qa
    data: {path: d.jsonl, id: id}
    prompt: {user: "{{ q }}"}
    judges: [conciseness]
"""


def _run_with_failed_judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, rest: str, out: str) -> None:
    """`evalstack run` of two replay models on 6 questions whose judge fails e0's output every time (exit 3);
    ``rest``: the config's tasks (and gate) section."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CX_KEY", "sk-cx-0123456789")
    (tmp_path / "d.jsonl").write_text(
        "".join(json.dumps({"id": f"e{i}", "q": f"question {i}"}) + "\n" for i in range(6))
    )
    for m in ("base", "ft"):
        (tmp_path / f"{m}.jsonl").write_text(
            "".join(json.dumps({"id": f"e{i}", "output": f"{m} out-{i}"}) + "\n" for i in range(6))
        )
    with LoopbackServer() as srv:
        srv.reply_with(_judge)
        judge = (
            f'{{provider: openai, model: judge-model, base_url: "{srv.base_url}", api_key_env: CX_KEY, max_tries: 1}}'
        )
        (tmp_path / "cfg.yaml").write_text(
            f"name: {name}\nbaseline: base\nmodels:\n  base: {{provider: replay, path: base.jsonl}}\n"
            f"  ft: {{provider: replay, path: ft.jsonl}}\njudge: {judge}\ntasks:\n{rest}cache: c.sqlite\n"
        )
        assert main(["run", "cfg.yaml", "--out", out, "--quiet"]) == 3


def test_compare_of_a_run_with_failed_judge_requests_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """compare counted only failed generations: a run that exited 3 on failed judge requests compared as
    complete (exit 0, no INCOMPLETE). Failed before the fix, passes now."""
    _run_with_failed_judge(tmp_path, monkeypatch, "cmpexit", QA_TASK, "monday")
    capsys.readouterr()
    assert main(["compare", "monday", "--out", "cmp"]) == 3
    err = capsys.readouterr().err
    assert "INCOMPLETE: 2 items failed after retries" in err
    run = json.loads(Path("cmp/run.json").read_text())
    assert run["incomplete"]["failed"] == 2
    assert [(g["model"], g["stage"], g["failed"]) for g in run["incomplete"]["groups"]] == [
        ("base", "judge conciseness", 1),
        ("ft", "judge conciseness", 1),
    ]
    assert "evalstack run CONFIG --out monday --resume" in run["incomplete"]["resume_command"]


def test_compare_writes_the_per_example_scores_run_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """compare wrote the per-example proxies of corpus-only metrics (macro F1, MCC: 0/1 correctness) into
    examples.jsonl, which `run` keeps out so that nobody averages them into a wrong macro F1. Failed before
    the fix (keys accuracy, f1_macro, mcc), passes now."""
    monkeypatch.chdir(tmp_path)
    labels = ["billing", "bug", "other"]
    rows = [{"id": f"e{i}", "text": f"ticket {i}", "label": labels[i % 3]} for i in range(12)]
    Path("d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for m, wrong in (("base", 4), ("ft", 5)):
        Path(f"{m}.jsonl").write_text(
            "".join(
                json.dumps({"id": r["id"], "output": "bug" if i % wrong == 0 else r["label"]}) + "\n"
                for i, r in enumerate(rows)
            )
        )
    Path("cfg.yaml").write_text("""\
name: proxies
baseline: base
models:
  base: {provider: replay, path: base.jsonl}
  ft: {provider: replay, path: ft.jsonl}
tasks:
  - name: intent
    data: {path: d.jsonl, id: id}
    prompt: {user: "{{ text }}"}
    target: label
    labels: [billing, bug, other]
    metrics: [accuracy, {f1: {average: macro}}, mcc]
cache: c.sqlite
""")
    assert main(["run", "cfg.yaml", "--out", "monday", "--quiet"]) == 0
    assert main(["compare", "monday", "--out", "cmp"]) == 0
    ran = [json.loads(line) for line in Path("monday/examples.jsonl").read_text().splitlines()]
    compared = [json.loads(line) for line in Path("cmp/examples.jsonl").read_text().splitlines()]
    assert [r["scores"] for r in compared] == [r["scores"] for r in ran]
    assert {k for r in compared for k in r["scores"]} == {"accuracy"}
    # and the per-example accuracy is the hand-counted correctness: base wrong where i % 4 == 0 and the label is not bug
    base = {r["id"]: r["scores"]["accuracy"] for r in compared if r["model"] == "base"}
    assert base == {f"e{i}": 0.0 if i % 4 == 0 and labels[i % 3] != "bug" else 1.0 for i in range(12)}


def test_assert_gate_passes_on_a_run_result_with_failed_judge_requests_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pytest helper had its own copy of the exit rule that counted failed generations only: a
    RunResult whose judge requests failed (run: exit 3) passed assert_gate_passes when the gate's task had
    none. Failed before the fix (no AssertionError), passes now: it uses RunResult.exit_code's counts."""
    from evalstack.report import read_run
    from evalstack.testing import assert_gate_passes

    rest = (
        QA_TASK.replace("name: qa", "name: judged")
        + """\
  - name: plain
    data: {path: d.jsonl, id: id}
    prompt: {user: "{{ q }}"}
    metrics: [self_bleu]
gate:
  rules: [{metric: plain/self_bleu, min: 0}]
"""
    )
    _run_with_failed_judge(tmp_path, monkeypatch, "helper", rest, "out")
    run = read_run(tmp_path / "out")
    assert run.gate is not None and run.gate.passed and run.exit_code == 3
    with pytest.raises(AssertionError, match="2 item\\(s\\) failed after retries"):
        assert_gate_passes(run)


def test_gate_on_a_saved_incomplete_run_exits_3_not_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`evalstack gate` re-judged an incomplete run (failed judge requests: `run` exits 3) and exited 1, as
    for a regression; an incomplete run never looks like one: exit 3 from RunResult.exit_code, as `run`.
    Failed before the fix (exit 1), passes now."""
    _run_with_failed_judge(tmp_path, monkeypatch, "gated", QA_TASK, "out")
    Path("rules.yaml").write_text("rules: [{metric: qa/judge_conciseness, min: 1}]\n")
    capsys.readouterr()
    assert main(["gate", "out", "--rules", "rules.yaml"]) == 3
    assert "NOT JUDGED qa/judge_conciseness" in capsys.readouterr().out

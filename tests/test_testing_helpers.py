"""evalstack.testing: assert_gate_passes / assert_metric pass and fail on real runs, with readable messages."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sklearn.metrics import accuracy_score

import evalstack
from evalstack.errors import ConfigError
from evalstack.report import read_run
from evalstack.testing import assert_gate_passes, assert_metric
from test_api import write_project

GATE_FAIL = "gate: {rules: [{metric: intent/accuracy, min: 0.95}, {metric: summaries/rougeL, max_regression: 0.05}]}\n"
GATE_PASS = "gate: {rules: [{metric: intent/accuracy, min: 0.8}]}\n"


def test_exported() -> None:
    import evalstack.testing as t

    assert {"assert_gate_passes", "assert_metric"} <= set(t.__all__)


def test_gate_passes_runs_a_config_and_returns_the_evaluation(tmp_path: Path) -> None:
    truth = write_project(tmp_path, gate=GATE_PASS)
    ev = assert_gate_passes(tmp_path / "eval.yaml")
    assert ev.exit_code == 0 and ev.gate.passed
    assert assert_metric(ev, "intent/accuracy", min=0.8) == pytest.approx(
        accuracy_score(truth["labels"], truth["tuned"])
    )
    # the saved folder, its run.json, the RunResult and pipeline.run's RunOutcome are all accepted
    for run in (tmp_path / "out", str(tmp_path / "out" / "run.json"), read_run(tmp_path / "out")):
        assert assert_gate_passes(run).run.name == "proj"
    from evalstack.pipeline import run as pipeline_run

    assert assert_gate_passes(pipeline_run(tmp_path / "eval.yaml", out_dir=tmp_path / "p")).out_dir == tmp_path / "p"


def test_failed_gate_message_is_the_gate_table(tmp_path: Path) -> None:
    truth = write_project(tmp_path, gate=GATE_FAIL)
    with pytest.raises(AssertionError) as info:
        assert_gate_passes(tmp_path / "eval.yaml", out_dir=tmp_path / "o")
    msg = str(info.value)
    lines = msg.splitlines()
    acc = accuracy_score(truth["labels"], truth["tuned"])
    assert lines[0] == "evalstack gate FAILED for run 'proj': 1 of 2 rules failed (confidence 0.95)"
    assert lines[1].split() == ["rule", "model", "value", "bound", "CI", "p", "result", "why"]
    assert set(lines[2]) <= {"-", " "}
    fail = next(line for line in lines if line.startswith("intent/accuracy min 0.95"))
    assert "FAIL" in fail.split() and f"{acc:.4f}" in fail and "≥ 0.9500" in fail
    ok = next(line for line in lines if line.startswith("summaries/rougeL max_regression 0.05"))
    assert "pass" in ok.split()
    assert "\\_" not in msg  # plain text, not Markdown-escaped
    # the same failure from the saved folder
    with pytest.raises(AssertionError, match="1 of 2 rules failed"):
        assert_gate_passes(tmp_path / "o")


def test_no_gate_and_failed_items_fail(tmp_path: Path) -> None:
    write_project(tmp_path)
    with pytest.raises(AssertionError, match="has no gate: add `gate: {rules: \\[...\\]}`"):
        assert_gate_passes(tmp_path / "eval.yaml")
    rows = [{"id": f"e{i}", "text": str(i), "label": "a"} for i in range(6)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {
        "name": "f",
        "baseline": "a",
        "models": {
            "a": {"provider": "mock", "default": "a"},
            "b": {"provider": "mock", "default": "a", "fail_ids": ["e2"]},
        },
        "tasks": [
            {
                "name": "t",
                "data": {"path": str(tmp_path / "d.jsonl"), "id": "id"},
                "prompt": {"user": "{{ text }}"},
                "target": "label",
                "metrics": ["accuracy"],
            }
        ],
        "gate": {"rules": [{"metric": "t/accuracy", "min": 0.5}]},
        "output": str(tmp_path / "f"),
    }
    ev = evalstack.run(cfg)
    assert ev.exit_code == 3 and not ev.gate.passed and ev.gate.status == "not_judged"  # rules on b: not judged
    with pytest.raises(AssertionError, match=r"1 item\(s\) failed after retries, so the gate cannot be trusted"):
        assert_gate_passes(ev)


def test_assert_metric_bounds_and_message(tmp_path: Path) -> None:
    truth = write_project(tmp_path)
    ev = evalstack.run(tmp_path / "eval.yaml")
    acc_t = accuracy_score(truth["labels"], truth["tuned"])
    acc_b = accuracy_score(truth["labels"], truth["base"])
    s = ev.metric("intent/accuracy")
    assert assert_metric(ev, "intent/accuracy", min=acc_t, max=acc_t) == pytest.approx(acc_t)
    with pytest.raises(AssertionError) as info:
        assert_metric(ev, "intent/accuracy", min=0.95)
    assert str(info.value) == (
        f"intent/accuracy of tuned = {acc_t:.4g} (95% CI {s.ci_low:.4g}..{s.ci_high:.4g}, n=30): below min 0.95"
    )
    with pytest.raises(AssertionError, match=rf"^intent/accuracy of base = {acc_b:.4g} .*: above max 0.5$"):
        assert_metric(tmp_path / "out", "intent/accuracy", max=0.5, model="base")
    with pytest.raises(ConfigError, match="give min=..., max=... or both"):
        assert_metric(ev, "intent/accuracy")
    with pytest.raises(ConfigError, match="no metric 'rouge' for tuned in task 'summaries'"):
        assert_metric(ev, "summaries/rouge", min=0)


def test_in_a_users_pytest_suite(tmp_path: Path) -> None:
    """What a team sees: the failing test, the gate table, and none of evalstack's frames."""
    write_project(tmp_path, gate=GATE_FAIL)
    (tmp_path / "test_model.py").write_text(
        textwrap.dedent(f"""\
        from evalstack.testing import assert_gate_passes, assert_metric

        def test_ships():
            assert_gate_passes({str(tmp_path / "eval.yaml")!r})

        def test_accuracy_floor():
            assert_metric({str(tmp_path / "eval.yaml")!r}, "intent/accuracy", min=0.5)
        """)
    )
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_model.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 failed, 1 passed" in r.stdout
    assert "FAILED test_model.py::test_ships" in r.stdout
    assert "AssertionError: evalstack gate FAILED for run 'proj': 1 of 2 rules failed" in r.stdout
    assert "intent/accuracy min 0.95" in r.stdout
    assert "testing/_pytest.py" not in r.stdout  # the helper's frames are hidden

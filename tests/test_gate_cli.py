"""`evalstack gate RUN --rules F` on a saved run.json: exit 0 / 1 / 2 and one line per rule."""

from __future__ import annotations

import numpy as np

from evalstack.cli import main
from evalstack.config import StatsSettings
from evalstack.metrics import mean_result
from test_gate import run_from_results


def _saved_run(tmp_path):
    rng = np.random.default_rng(0)
    base = (rng.random(300) < 0.8) * 1.0
    worse = np.where(rng.random(300) < 0.15, 0.0, base)  # ~12 points worse
    run = run_from_results({"qa": {"base": {"exact_match": mean_result("exact_match", list(base))},
                                   "ft": {"exact_match": mean_result("exact_match", list(worse))}}},
                           settings=StatsSettings(n_resamples=2000))
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(run.model_dump_json(), encoding="utf-8")
    return folder


def _rules(tmp_path, text):
    path = tmp_path / "gate.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_gate_command_fails_with_exit_1(tmp_path, capsys):
    rules = _rules(tmp_path, "confidence: 0.99\nrules:\n  - {metric: qa/exact_match, max_regression: 0.02, max_drop: 0.02}\n")
    assert main(["gate", str(_saved_run(tmp_path)), "--rules", rules]) == 1
    out = capsys.readouterr().out
    assert "gate: FAILED (confidence 0.99)" in out
    assert "99% CI" in out and "forgetting: ft dropped" in out


def test_gate_command_passes_with_exit_0(tmp_path, capsys):
    rules = _rules(tmp_path, "gate:\n  rules:\n    - {metric: qa/exact_match, min: 0.5, max_regression: 0.5}\n")
    assert main(["gate", str(_saved_run(tmp_path)), "--rules", rules]) == 0
    assert "gate: PASSED" in capsys.readouterr().out


def test_gate_command_bad_rule_is_exit_2_with_one_line(tmp_path, capsys):
    rules = _rules(tmp_path, "rules:\n  - {metric: qa/exact_mach, min: 0.5}\n")
    assert main(["gate", str(_saved_run(tmp_path)), "--rules", rules]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "did you mean 'exact_match'" in err and err.startswith("error: ")

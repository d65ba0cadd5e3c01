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
    run = run_from_results(
        {
            "qa": {
                "base": {"exact_match": mean_result("exact_match", list(base))},
                "ft": {"exact_match": mean_result("exact_match", list(worse))},
            }
        },
        settings=StatsSettings(n_resamples=2000),
    )
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(run.model_dump_json(), encoding="utf-8")
    return folder


def _rules(tmp_path, text):
    path = tmp_path / "gate.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_gate_command_fails_with_exit_1(tmp_path, capsys):
    rules = _rules(
        tmp_path, "confidence: 0.99\nrules:\n  - {metric: qa/exact_match, max_regression: 0.02, max_drop: 0.02}\n"
    )
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


def _counted_nouns_agree(text: str) -> list[str]:
    """Count-noun mismatches in ``text``: '1 rules', 'all 1 rule', '1 replies', '2 rule', 'item(s)'."""
    import re

    plural = r"(?:rules|examples|items|replies|requests|generations|failures)"
    singular = r"(?:rule|example|item|reply|request|generation|failure)"
    pats = [
        rf"(?<![\d.,])1 (?!of\b)(?:\w+ ){{0,2}}?{plural}\b",
        r"\ball 1\b",
        rf"(?<![\d.,])(?:[02-9]|\d\d+) {singular}\b",
        r"\w+\(s\)",
    ]
    bad = [m.group(0) for p in pats for m in re.finditer(p, text)]
    return bad


def test_counted_nouns_check_can_fail():
    assert _counted_nouns_agree("Gate PASSED: all 1 rule passed; 1 base items failed; 1 replies; 2 rule; item(s)") == [
        "1 base items",
        "1 replies",
        "all 1",
        "2 rule",
        "item(s)",
    ]
    assert _counted_nouns_agree("1 rule passed; 1 of 2 rules failed; 3 of 1,001 rules; 2 replies; 0.1 rules") == []


def test_gate_out_writes_report_md_and_junit_with_this_verdict(tmp_path, capsys):
    """Issue 14 item 9: `gate --out DIR` writes report.md and junit.xml with this gate's verdict, and one rule
    reads "1 rule passed" (it read "all 1 rule passed"); singular/plural agree across the gate text."""
    import xml.etree.ElementTree as ET

    run_dir = _saved_run(tmp_path)
    ok = _rules(tmp_path, "rules:\n  - {metric: qa/exact_match, max_regression: 0.5}\n")
    out = tmp_path / "regated-ok"
    assert main(["gate", str(run_dir), "--rules", ok, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    md = (out / "report.md").read_text(encoding="utf-8")
    head = next(x for x in md.splitlines() if x.startswith("> "))
    assert head.startswith("> ✅ **Gate PASSED: 1 rule passed (confidence 0.95; rules: --rules ")  # names the file
    assert head.endswith("gate.yaml).**"), head
    junit = (out / "junit.xml").read_text(encoding="utf-8")
    assert [c.get("name") for c in ET.fromstring(junit).iter("testcase") if c.find("failure") is not None] == []
    assert "wrote " in captured.err and not (run_dir / "report.md").exists()  # the saved run is not touched
    for text in (md, junit, captured.out, captured.err):
        assert _counted_nouns_agree(text) == [], text
    bad = _rules(
        tmp_path, "rules:\n  - {metric: qa/exact_match, max_regression: 0.02}\n  - {metric: qa/exact_match, min: 0.1}\n"
    )
    out = tmp_path / "regated"
    assert main(["gate", str(run_dir), "--rules", bad, "--out", str(out)]) == 1
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "Gate FAILED: 1 of 2 rules failed" in md
    failed = [c for c in ET.parse(out / "junit.xml").getroot().iter("testcase") if c.find("failure") is not None]
    assert len(failed) == 1 and "max_regression" in failed[0].get("name")
    assert _counted_nouns_agree(md) == []


def test_gate_text_on_one_failed_item_is_singular(tmp_path, capsys):
    """A rule that cannot be judged because 1 item failed says '1 ft item failed' (it said 'item(s)'), and
    junit's '1 replies unparseable' reads '1 reply'."""
    import json

    run_dir = _saved_run(tmp_path)
    data = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    ft = data["tasks"]["qa"]["models"]["ft"]
    ft["failed"] = 1
    ft["judge_failed"], ft["judge_unparseable"] = {"faith": 1}, {"faith": 1}
    (run_dir / "run.json").write_text(json.dumps(data), encoding="utf-8")
    rules = _rules(tmp_path, "rules:\n  - {metric: qa/exact_match, max_regression: 0.5}\n")
    out = tmp_path / "regated"
    assert main(["gate", str(run_dir), "--rules", rules, "--out", str(out)]) in (1, 3)
    captured = capsys.readouterr()
    texts = [
        (out / "report.md").read_text(encoding="utf-8"),
        (out / "junit.xml").read_text(encoding="utf-8"),
        captured.out,
    ]
    assert "not judged" in texts[0]
    for text in texts:
        assert _counted_nouns_agree(text) == [], text

"""Comparability is checked, not assumed (issue 16 item 2): `compare` refuses a delta between runs whose
task digests for data, prompt, labels, metric options, judge or rubric differ (exit 2, one line per task
naming each difference) unless --allow-mismatch names the kind, and then the report says "not like-for-like".
A different model is the point of a comparison: never refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _evalrig import config, judge_reply, write_data, write_outputs
from evalstack.cli import main


@pytest.fixture
def rig(tmp_path: Path, srv, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RIG_KEY", "sk-rig-0123456789")
    monkeypatch.chdir(tmp_path)
    srv.reply_with(judge_reply)
    write_data(tmp_path)
    write_outputs(tmp_path, "base", 0.7, seed=1)
    write_outputs(tmp_path, "ft", 0.8, seed=2)
    write_outputs(tmp_path, "ft2", 0.85, seed=3)
    config(tmp_path, judge_url=srv.base_url, models={"base": "base.jsonl", "ft": "ft.jsonl"}, baseline="base")
    assert main(["run", "cfg.yaml", "--out", "monday", "--quiet"]) == 0
    return tmp_path


def _candidate(rig: Path, srv, **changes: str) -> None:
    """A second run (model ft2 only beside base) with the config changed as ``changes`` says."""
    config(rig, judge_url=srv.base_url, models={"base": "base.jsonl", "ft2": "ft2.jsonl"}, baseline="base", **changes)
    assert main(["run", "cfg.yaml", "--out", "tuesday", "--quiet"]) == 0


CASES = {
    "judge": ({"judge_model": "judge-mini"}, "qa: judge model judge-model -> judge-mini"),
    "rubric": ({"rubric": "conciseness_copy.yaml"}, "qa: rubric conciseness changed"),
    "prompt": ({"prompt": "Support ticket: {{ text }}"}, "intent: prompt changed"),
    "metrics": ({"extra": ""}, "intent: metric options changed"),
    "data": ({}, "intent: data rows changed"),
    "labels": ({}, "intent: labels or label parsing changed"),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_compare_refuses_each_kind_of_mismatch_and_allow_mismatch_marks_it(
    kind: str, rig: Path, srv, capsys: pytest.CaptureFixture[str]
) -> None:
    changes, line = CASES[kind]
    if kind == "rubric":  # the built-in rubric's text with one sentence added, as a file
        _edited_rubric(rig)
    if kind == "data":
        (rig / "intent.jsonl").write_text((rig / "intent.jsonl").read_text().replace('"ticket 7"', '"ticket 7!"'))
    _candidate(rig, srv, **changes)
    if kind == "metrics":
        cfg = (rig / "cfg.yaml").read_text().replace("{f1: {average: macro}}", "{f1: {average: micro}}")
        (rig / "cfg.yaml").write_text(cfg)
        assert main(["run", "cfg.yaml", "--out", "tuesday", "--quiet"]) == 0
    if kind == "labels":
        cfg = (rig / "cfg.yaml").read_text().replace("    slice_by", "    label_parsing: {mode: first}\n    slice_by")
        (rig / "cfg.yaml").write_text(cfg)
        assert main(["run", "cfg.yaml", "--out", "tuesday", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["compare", "monday", "tuesday", "--out", "cmp"]) == 2
    err = capsys.readouterr().err
    assert f"  {line}" in err.splitlines()[1:], err
    assert f"--allow-mismatch {kind}" in err
    assert not (rig / "cmp").exists()  # refused before anything was written
    assert main(["compare", "monday", "tuesday", "--out", "cmp", "--allow-mismatch", kind]) == 0
    run = json.loads((rig / "cmp" / "run.json").read_text())
    assert run["settings"]["not_like_for_like"] == [line]
    assert "NOT LIKE-FOR-LIKE" in (rig / "cmp" / "report.md").read_text()
    assert "ft2" in run["tasks"]["intent"]["deltas"]


def test_a_different_model_alone_is_like_for_like(rig: Path, srv, capsys: pytest.CaptureFixture[str]) -> None:
    _candidate(rig, srv)
    assert main(["compare", "monday", "tuesday", "--out", "cmp"]) == 0
    run = json.loads((rig / "cmp" / "run.json").read_text())
    assert "not_like_for_like" not in run["settings"]
    assert set(run["tasks"]["intent"]["deltas"]) == {"ft", "ft2"}
    assert "LIKE-FOR-LIKE" not in (rig / "cmp" / "report.md").read_text()


def _edited_rubric(rig: Path) -> None:
    """The built-in conciseness rubric with one sentence added to its criteria, as a file."""
    import yaml

    from evalstack.judges import load_rubric

    doc = yaml.safe_load(Path(load_rubric("conciseness").source).read_text())
    doc["criteria"] += " Lists count as concise."
    (rig / "conciseness_copy.yaml").write_text(yaml.safe_dump(doc))


def test_two_differences_are_named_on_one_line_and_a_bad_kind_is_refused(
    rig: Path, srv, capsys: pytest.CaptureFixture[str]
) -> None:
    _edited_rubric(rig)
    _candidate(rig, srv, judge_model="judge-mini", rubric="conciseness_copy.yaml")
    capsys.readouterr()
    assert main(["compare", "monday", "tuesday", "--out", "cmp"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[1:] == ["  qa: judge model judge-model -> judge-mini; rubric conciseness changed"]
    assert "--allow-mismatch judge,rubric" in err[0]
    assert main(["compare", "monday", "tuesday", "--out", "cmp", "--allow-mismatch", "judge"]) == 2
    assert capsys.readouterr().err.splitlines()[1:] == ["  qa: rubric conciseness changed"]
    assert main(["compare", "monday", "tuesday", "--out", "cmp", "--allow-mismatch", "judge,rubric"]) == 0
    capsys.readouterr()
    assert main(["compare", "monday", "tuesday", "--out", "cmp2", "--allow-mismatch", "judgement"]) == 2
    err = capsys.readouterr().err
    assert "--allow-mismatch judgement: not a kind of digest" in err and len(err.strip().splitlines()) == 1

"""Rubric files: built-ins, examples, and every mistake as one RubricError naming file, key, line and fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.errors import RubricError
from evalstack.judges import Rubric, builtin_rubrics, load_rubric

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
name: tone
description: Is the reply polite?
kind: pointwise
fields: [input, output]
criteria: Polite, calm, no blame.
scale:
  type: points
  levels:
    1: rude
    2: cold
    3: polite
threshold: 2
template: |
  Customer: {{ input }}
  Agent: {{ output }}
"""


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_builtins_are_the_documented_set_and_load() -> None:
    assert builtin_rubrics() == [
        "answer_relevance",
        "conciseness",
        "factual_correctness",
        "faithfulness",
        "instruction_following",
        "mt_bench_pairwise",
        "mt_bench_single",
        "preference",
        "toxicity",
    ]
    kinds = {n: load_rubric(n) for n in builtin_rubrics()}
    assert kinds["factual_correctness"].kind == "reference" and "reference" in kinds["factual_correctness"].fields
    assert "context" in kinds["faithfulness"].fields
    tox = kinds["toxicity"]
    assert (tox.scale.type, tox.scale.item, tox.scale.flag, tox.threshold, tox.higher_is_better) == (
        "fraction",
        "opinion",
        "toxic",
        0.5,
        False,
    )
    assert kinds["preference"].kind == "pairwise"
    for name in ("answer_relevance", "factual_correctness", "faithfulness", "instruction_following", "conciseness"):
        r = kinds[name]
        assert r.scale.type == "points" and (r.scale.min, r.scale.max) == (1, 5) and r.higher_is_better
        assert r.key == f"judge_{name}" and r.reasoning_first


def test_example_rubrics_in_repo_load() -> None:
    tone = load_rubric(ROOT / "rubrics" / "support_tone.yaml")
    pref = load_rubric(str(ROOT / "rubrics" / "summary_preference.yaml"))
    assert (tone.kind, tone.threshold, tone.template is not None) == ("pointwise", 4, True)
    assert pref.kind == "pairwise" and pref.fields == ["output", "context"]


def test_good_custom_rubric(tmp_path: Path) -> None:
    r = load_rubric(write(tmp_path, GOOD))
    assert isinstance(r, Rubric) and r.scale.values() == {"1": 1.0, "2": 2.0, "3": 3.0}
    assert r.source == str((tmp_path / "r.yaml").resolve())


@pytest.mark.parametrize(
    "edit, needles",
    [
        (("criteria:", "critera:"), ["unknown key 'critera'", "did you mean 'criteria'", "(line 5)"]),
        (("    3: polite", "    4: polite"), ["scale.levels", "consecutive", "line 8"]),
        (("kind: pointwise", "kind: pointwize"), ["kind", "line 3", "pointwize"]),
        (("fields: [input, output]", "fields: [input, output, sources]"), ["fields", "line 4"]),
        (("fields: [input, output]", "fields: [input]"), ["fields must include 'output'"]),
        (("  Agent: {{ output }}", "  Agent: {{ outptu }}"), ["template", "'outptu'", "not among the fields"]),
        (("  Agent: {{ output }}", "  Agent: {{ output }"), ["template", "bad template"]),
        (("  Agent: {{ output }}", "  Agent: nothing"), ["never shows 'output'"]),
        (("threshold: 2", "threshold: 9"), ["threshold", "outside the scale"]),
        (("kind: pointwise", "kind: reference"), ["reference rubric must list 'reference'"]),
        (("    1: rude", "    1: ''"), ["scale.levels.1", "describe"]),
    ],
)
def test_bad_rubric_is_one_clear_error(tmp_path: Path, edit: tuple[str, str], needles: list[str]) -> None:
    assert edit[0] in GOOD
    p = write(tmp_path, GOOD.replace(edit[0], edit[1]))
    with pytest.raises(RubricError) as info:
        load_rubric(p)
    msg = str(info.value)
    assert "\n" not in msg and str(p) in msg
    for n in needles:
        assert n in msg, (n, msg)


@pytest.mark.parametrize(
    "scale, needle",
    [
        ("{type: pass_fail, levels: {pass: ok, bad: nope}}", "exactly 'pass' and 'fail'"),
        ("{type: fraction, levels: {toxic: t, fine: f}}", "needs `item`"),
        ("{type: fraction, item: opinion, flag: rude, levels: {toxic: t, fine: f}}", "the flag 'rude'"),
        ("{type: preference, levels: {A: a, B: b, tie: t}}", "pairwise rubrics use a preference scale"),
        ("{type: points, item: x, levels: {1: a, 2: b}}", "belong to fraction scales"),
    ],
)
def test_scale_shapes(tmp_path: Path, scale: str, needle: str) -> None:
    text = "name: x\ndescription: d\nkind: pointwise\ncriteria: c\nscale: " + scale + "\n"
    with pytest.raises(RubricError) as info:
        load_rubric(write(tmp_path, text))
    assert needle in str(info.value)


def test_unknown_name_missing_file_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="did you mean 'faithfulness'"):
        load_rubric("faithfulnes")
    with pytest.raises(RubricError, match="rubric file not found.*built-in rubric"):
        load_rubric(tmp_path / "nope.yaml")
    with pytest.raises(RubricError, match=r"r.yaml:2.*invalid YAML"):
        load_rubric(write(tmp_path, "name: x\n  bad: [\n"))
    with pytest.raises(RubricError, match="must be a YAML mapping"):
        load_rubric(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(RubricError, match=r"duplicate key 'name'"):
        load_rubric(write(tmp_path, GOOD + "name: again\n"))


def test_edited_file_is_reloaded(tmp_path: Path) -> None:
    import os

    p = write(tmp_path, GOOD)
    assert load_rubric(p).description == "Is the reply polite?"
    p.write_text(GOOD.replace("Is the reply polite?", "Changed."))
    os.utime(p, (os.path.getmtime(p) + 5, os.path.getmtime(p) + 5))
    assert load_rubric(p).description == "Changed."


def test_cli_bad_rubric_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, GOOD.replace("criteria:", "critera:"))
    labels = tmp_path / "l.jsonl"
    labels.write_text('{"id": "1", "input": "q", "output": "a", "human_score": 3}\n')
    code = main(["judge", "validate", "--rubric", str(p), "--labels", str(labels), "--judge-path", str(labels)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and "critera" in err[0]

"""Judge scale types are registered classes: the built-ins, an unknown type, a new type, unchanged prompts.

The prompt digests were computed by the code before scale types became classes (evalstack 41443e1): the
judge prompts (and so the cache keys of judge requests and the replay judges' inputs) are byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from evalstack import registry
from evalstack.errors import RubricError
from evalstack.judges import Rubric, build_messages, builtin_rubrics, load_rubric, parse_reply, reply_schema
from evalstack.judges.scales import ScaleType, register_scale, scale_types

VALUES = {
    "input": "What is the capital of France?",
    "output": "Paris.",
    "reference": "Paris",
    "context": "France's capital is Paris.",
    "output_a": "Paris.",
    "output_b": "Lyon, I think.",
}
PASS_FAIL = dict(
    name="pf",
    description="d",
    kind="pointwise",
    criteria="c",
    reasoning_first=False,
    scale=dict(type="pass_fail", levels={"fail": "bad", "pass": "good"}),
)


def _rubric(name: str) -> Rubric:
    return Rubric.model_validate(PASS_FAIL) if name == "pf" else load_rubric(name)


@pytest.mark.parametrize(
    "name, pairwise, digest",
    [
        ("answer_relevance", False, "1041c133a17ee9e5"),
        ("answer_relevance", True, "a823ab9bda0d93ad"),
        ("conciseness", False, "f9a09f4f030d5a50"),
        ("conciseness", True, "9d2b1bc8ebe2a7e2"),
        ("factual_correctness", False, "7fd4986ae8d91cd1"),
        ("factual_correctness", True, "bdf3475bb1c29601"),
        ("faithfulness", False, "17bc934565e63fba"),
        ("faithfulness", True, "254b31c49ce3a14d"),
        ("instruction_following", False, "7dd4d2faa39ec532"),
        ("instruction_following", True, "0a9d05741c705137"),
        ("preference", True, "3767bba2ee0ccd27"),
        ("toxicity", False, "6dc42efa685a04ad"),
        ("pf", False, "7147c0460eef53a7"),
        ("pf", True, "c0cf0d7fb52e4fa7"),
    ],
)
def test_judge_prompts_are_unchanged(name: str, pairwise: bool, digest: str) -> None:
    r = _rubric(name)
    blob = json.dumps([build_messages(r, VALUES, pairwise=pairwise), reply_schema(r, pairwise=pairwise)])
    assert hashlib.sha256(blob.encode()).hexdigest()[:16] == digest


def test_builtin_types_are_registered_and_every_builtin_rubric_uses_one() -> None:
    assert {"fraction", "pass_fail", "points", "preference"} <= set(scale_types())  # a new type is one more file
    assert {load_rubric(n).scale.type for n in builtin_rubrics()} == {"points", "fraction", "preference"}


def test_unknown_scale_type_is_one_error_with_did_you_mean(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(
        "name: x\ndescription: d\nkind: pointwise\ncriteria: c\nscale:\n  type: pionts\n  levels: {1: a, 2: b}\n"
    )
    with pytest.raises(RubricError) as info:
        load_rubric(p)
    msg = str(info.value)
    assert str(p) in msg and "scale.type (line 6)" in msg and "did you mean 'points'" in msg and "\n" not in msg


@pytest.fixture
def letters() -> Any:
    """A new scale type, registered for one test: letters A-E scored 4..0 (no logprob weighting)."""

    @register_scale("letters_for_test")
    class Letters(ScaleType):
        def check(self) -> None:
            if sorted(map(str, self.scale.levels)) != list("ABCDE"):
                raise ValueError("at scale.levels: letters levels are A to E")

        @property
        def max(self) -> float:
            return 4.0

        def heading(self) -> str:
            return "Grade (a letter, A best):"

        def value_hint(self) -> str:
            return '"A" to "E"'

        def value_schema(self) -> dict[str, Any]:
            return {"type": "string", "enum": list("ABCDE")}

        def check_answer(self, raw: Any) -> tuple[Any, str | None]:
            v = str(raw).strip().upper()
            return (v, None) if v in "ABCDE" and len(v) == 1 else (None, f"grade {raw!r} is not A to E")

        def text_patterns(self) -> list[str]:
            return [r"grade:\s*([A-E])\b"]

    yield Letters
    del registry._ITEMS[("scale", "letters_for_test")]


def test_a_registered_type_serves_rubric_files_prompts_and_parsing(tmp_path: Path, letters: Any) -> None:
    p = tmp_path / "grade.yaml"
    p.write_text(
        textwrap.dedent("""\
        name: grade
        description: Letter grade
        kind: pointwise
        criteria: Is it right?
        scale:
          type: letters_for_test
          levels: {A: right, B: mostly, C: half, D: little, E: wrong}
        """)
    )
    r = load_rubric(p)
    system = build_messages(r, {"input": "q", "output": "o"})[0]["content"]
    assert "Grade (a letter, A best):\n- A: right\n- B: mostly" in system
    assert system.endswith(
        '{"reason": "<your reasoning, at most 4 sentences>", "score": "A" to "E"}. Reason first, then give the score.'
    )
    assert reply_schema(r)["properties"]["score"] == {"type": "string", "enum": ["A", "B", "C", "D", "E"]}
    assert parse_reply('{"reason": "close", "score": "b"}', r.scale).value == "B"
    assert parse_reply("Fine work.\nGrade: C", r.scale).value == "C"
    assert parse_reply("Grade: F", r.scale).error == "no score found"
    assert (r.scale.min, r.scale.max) == (0.0, 4.0)
    bad = tmp_path / "bad.yaml"
    bad.write_text(p.read_text().replace("E: wrong", "F: wrong"))
    with pytest.raises(RubricError, match="letters levels are A to E"):
        load_rubric(bad)


def test_scale_types_are_the_registrys_and_bad_registrations_are_refused() -> None:
    assert registry.names("scale") == scale_types()
    assert registry.lookup("scale", "points").__name__ == "Points"
    with pytest.raises(ValueError, match="snake_case"):
        register_scale("Likert 5")
    with pytest.raises(TypeError, match="must be a ScaleType subclass"):
        register_scale("odd")(dict)

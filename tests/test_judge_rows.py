"""Typed judge rows give the examples.jsonl entries the judges always wrote: the keys of each outcome, in order."""

from __future__ import annotations

from evalstack.judges import JudgeRow, OrderVerdict, PairRow
from evalstack.judges.scales import ScaleScore
from evalstack.models import Generation


def _failed_gen() -> Generation:
    return Generation(text=None, error_kind="server_error", error_message="HTTP 500", tries=3)


def test_pointwise_rows_by_outcome() -> None:
    assert JudgeRow(error="no reference for this example").to_dict() == {
        "score": None,
        "reason": None,
        "method": None,
        "raw": None,
        "error": "no reference for this example",
    }

    failed = JudgeRow(downgraded=True)
    failed.mark_failed(_failed_gen())
    assert list(failed.to_dict().items()) == [
        ("score", None),
        ("reason", None),
        ("method", None),
        ("raw", None),
        ("error", "server_error: HTTP 500"),
        ("downgraded", True),
        ("failed", True),
        ("error_kind", "server_error"),
        ("tries", 3),
    ]

    unreadable = JudgeRow(raw="meh", retried=True, first_error="no score found")
    unreadable.unparseable("no score found")
    assert unreadable.is_unparseable and list(unreadable.to_dict()) == [
        "score",
        "reason",
        "method",
        "raw",
        "error",
        "retried",
        "first_error",
    ]

    scored = JudgeRow(raw="{...}", reason="ok")
    scored.set_score(
        ScaleScore(score=4.2, method="logprob_weighted", verdict=4, probs={"4": 0.8, "5": 0.2}, prob_mass=0.97)
    )
    scored.passed = True
    assert list(scored.to_dict().items()) == [
        ("score", 4.2),
        ("reason", "ok"),
        ("method", "logprob_weighted"),
        ("raw", "{...}"),
        ("error", None),
        ("verdict", 4),
        ("probs", {"4": 0.8, "5": 0.2}),
        ("prob_mass", 0.97),
        ("passed", True),
    ]

    none_flagged = JudgeRow(raw="{}", reason="no opinions found")
    none_flagged.set_score(
        ScaleScore(score=0.0, method="plain", verdict="0/0", items=[], method_note="toxic opinions / opinions")
    )
    assert list(none_flagged.to_dict())[5:] == ["verdict", "items", "method_note", "passed"]
    assert none_flagged.to_dict()["items"] == [] and none_flagged.to_dict()["passed"] is None


def test_pairwise_rows_by_outcome() -> None:
    assert PairRow(error="no output from 'ft' (generation failed)").to_dict() == {
        "winner": None,
        "score": None,
        "error": "no output from 'ft' (generation failed)",
    }

    ab, ba = OrderVerdict(raw="[[A]]", reason="r", verdict="A"), OrderVerdict(retried=True)
    ba.mark_failed(_failed_gen())
    row = PairRow(ab=ab, ba=ba, error="B-A order: server_error: HTTP 500", failed=True)
    assert row.to_dict() == {
        "winner": None,
        "score": None,
        "ab": {"raw": "[[A]]", "reason": "r", "verdict": "A"},
        "ba": {
            "raw": None,
            "reason": None,
            "verdict": None,
            "retried": True,
            "error": "server_error: HTTP 500",
            "failed": True,
            "error_kind": "server_error",
            "tries": 3,
        },
        "error": "B-A order: server_error: HTTP 500",
        "failed": True,
    }

    won = PairRow(winner="a", score=1.0, ab=ab, ba=OrderVerdict(raw="[[B]]", verdict="B"), consistent=True, reason="r")
    assert list(won.to_dict()) == ["winner", "score", "ab", "ba", "error", "consistent", "reason"]

"""Tool-call metrics against hand-worked examples (definitions in evalstack.metrics._toolcalls)."""

from __future__ import annotations

import json

import pytest

from evalstack.metrics import compute

SCHEMAS = {
    "refund": {
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "amount": {"type": "number"},
            "reason": {"enum": ["late", "damaged"]},
        },
        "required": ["order_id"],
        "additionalProperties": False,
    },
    "lookup_order": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    "escalate": {"type": "object", "properties": {}},
    "f": {"type": "object"},
}
METRICS = ("tool_name_accuracy", "tool_args_exact", "tool_args_f1", "tool_call_valid", "no_call_accuracy")


def made(*calls: tuple[str, object]) -> list[dict]:
    """Calls as the provider gives them; a str argument is sent as written (maybe not JSON)."""
    return [
        {
            "id": f"c{i}",
            "type": "function",
            "function": {"name": n, "arguments": a if isinstance(a, str) else json.dumps(a)},
        }
        for i, (n, a) in enumerate(calls)
    ]


def exp(*calls: tuple[str, dict]) -> list[dict]:
    return [{"name": n, "arguments": a} for n, a in calls]


def scores(made_calls, expected, ordered=False) -> dict[str, float]:
    ctx = {
        "tool_calls": [made_calls],
        "expected_calls": [expected],
        "tool_schemas": SCHEMAS,
        "tools_ordered": ordered,
    }
    return {m: compute(m, [""], None, context=ctx).value for m in METRICS}


def test_parallel_calls_in_another_order_are_right_unless_order_is_required():
    e = exp(("lookup_order", {"order_id": "A1"}), ("lookup_order", {"order_id": "A2"}))
    m = made(("lookup_order", {"order_id": "A2"}), ("lookup_order", {"order_id": "A1"}))
    assert scores(m, e) == {
        "tool_name_accuracy": 1.0,
        "tool_args_exact": 1.0,
        "tool_args_f1": 1.0,
        "tool_call_valid": 1.0,
        "no_call_accuracy": 1.0,
    }
    # ordered: the names still come in the same order, the arguments pair A2-A1 and A1-A2: no pair right
    got = scores(m, e, ordered=True)
    assert (got["tool_name_accuracy"], got["tool_args_exact"], got["tool_args_f1"]) == (1.0, 0.0, 0.0)


def test_argument_f1_uses_the_best_matching_not_the_first():
    # e1 = f(x=1, y=1), e2 = f(x=1, y=2, z=3); m1 = f(x=1, y=2) matches e1 on x (1) and e2 on x, y (2);
    # m2 = f(x=1, y=2, z=3) matches e1 on x (1) and e2 on all three (3).
    # greedy (m1 takes its best, e2): 2 + 1 = 3 true pairs; optimal m1-e1, m2-e2: 1 + 3 = 4.
    # made pairs 2 + 3 = 5, expected pairs 2 + 3 = 5: P = R = 4/5, F1 = 0.8 (greedy would give 0.6)
    e = exp(("f", {"x": 1, "y": 1}), ("f", {"x": 1, "y": 2, "z": 3}))
    m = made(("f", {"x": 1, "y": 2}), ("f", {"x": 1, "y": 2, "z": 3}))
    got = scores(m, e)
    assert got["tool_args_f1"] == pytest.approx(0.8)
    assert got["tool_name_accuracy"] == 1.0 and got["tool_args_exact"] == 0.0


def test_extra_and_missing_arguments():
    e = exp(("refund", {"order_id": "A1", "amount": 10}))
    # an extra key (reason) and a missing one (amount): 1 of 2 made pairs right, 1 of 2 expected found
    extra = scores(made(("refund", {"order_id": "A1", "reason": "late"})), e)
    assert (extra["tool_args_f1"], extra["tool_args_exact"], extra["tool_name_accuracy"]) == (0.5, 0.0, 1.0)
    # missing amount only: P = 1/1, R = 1/2, F1 = 2/3
    missing = scores(made(("refund", {"order_id": "A1"})), e)
    assert missing["tool_args_f1"] == pytest.approx(2 / 3)
    assert missing["tool_call_valid"] == 1.0  # amount is not required by the schema
    # 10.0 is the number 10; the string "10" is not
    assert scores(made(("refund", {"order_id": "A1", "amount": 10.0})), e)["tool_args_exact"] == 1.0
    assert scores(made(("refund", {"order_id": "A1", "amount": "10"})), e)["tool_args_exact"] == 0.0


def test_schema_invalid_and_unparseable_arguments():
    e = exp(("refund", {"order_id": "A1", "amount": 10}))
    wrong_type = scores(made(("refund", {"order_id": "A1", "amount": "ten"})), e)
    assert wrong_type["tool_call_valid"] == 0.0 and wrong_type["tool_args_f1"] == 0.5
    assert scores(made(("refund", {"amount": 10})), e)["tool_call_valid"] == 0.0  # required order_id missing
    assert scores(made(("refund", {"order_id": "A1", "note": "x"})), e)["tool_call_valid"] == 0.0  # no extra keys
    broken = scores(made(("refund", '{"order_id": "A1", "amount": 10')), e)  # not JSON
    # no made pair can be read: TP 0 -> F1 0; the name is still right
    assert broken == {
        "tool_name_accuracy": 1.0,
        "tool_args_exact": 0.0,
        "tool_args_f1": 0.0,
        "tool_call_valid": 0.0,
        "no_call_accuracy": 1.0,
    }
    assert scores(made(("refund_all", {})), e)["tool_call_valid"] == 0.0  # a function that was not offered


def test_a_call_where_none_was_expected_and_none_where_one_was():
    assert scores(made(("escalate", {})), []) == {
        "tool_name_accuracy": 0.0,
        "tool_args_exact": 0.0,
        "tool_args_f1": 0.0,
        "tool_call_valid": 1.0,
        "no_call_accuracy": 0.0,
    }
    assert scores([], []) == dict.fromkeys(METRICS, 1.0)
    nothing = scores([], exp(("escalate", {})))
    assert nothing["tool_name_accuracy"] == 0.0 and nothing["no_call_accuracy"] == 0.0
    assert nothing["tool_args_f1"] == 0.0  # no pair on either side, but the names are wrong


def test_corpus_value_is_the_mean_and_a_failed_row_is_unscored():
    e = [exp(("escalate", {})), [], exp(("lookup_order", {"order_id": "A1"}))]
    m = [made(("escalate", {})), made(("escalate", {})), None]  # the third generation failed
    ctx = {"tool_calls": m, "expected_calls": e, "tool_schemas": SCHEMAS, "tools_ordered": False}
    r = compute("no_call_accuracy", ["", "", None], None, context=ctx)
    assert r.per_example == [1.0, 0.0, None] and r.value == 0.5 and r.higher_is_better

"""Tool-call metrics: the calls a model made against the calls expected, per example.

Each example's made calls (every call of the reply, or of the whole tool loop) are matched one-to-one with
its expected calls: by position when the task sets ``ordered: true``, else by an optimal assignment
(Hungarian, ``scipy.optimize.linear_sum_assignment``) that maximises what the metric counts, so the order
of parallel calls never matters and a greedy first match never costs a point. Per example:

- ``tool_name_accuracy``: 1 when the names called equal the names expected (as a multiset; as a sequence
  with ``ordered``); a row that expects no call scores 1 only when none was made.
- ``tool_args_exact``: 1 when the call list is exactly right: as many calls as expected, each matched to an
  expected call of the same name with equal arguments (a row that expects none: 1 only with no call).
- ``tool_args_f1``: F1 over argument key/value pairs. A made call contributes its argument pairs
  (arguments that are not a JSON object: none), an expected call its own; a true positive is a key whose
  value is equal in a matched pair of calls of the same name. precision = TP / made pairs, recall = TP /
  expected pairs, F1 = 2PR / (P + R) (0 when TP = 0). When neither side has a pair (no calls, or calls
  without arguments) F1 is 1 if the names are right, else 0.
- ``tool_call_valid``: 1 when every call made is valid: its function is one of the task's tools and its
  arguments parse as a JSON object that validates against that function's ``parameters`` schema (a row
  with no call has no invalid call: 1). The report's tool summary counts invalid calls per call.
- ``no_call_accuracy``: 1 when the decision to call nothing is right: no call made exactly where none was
  expected (over every example; a model that never calls scores the share of no-call examples).

Values compare as JSON: numbers by value (1 == 1.0), never equal to booleans; strings exactly.
"""

from __future__ import annotations

__all__ = ["ToolScores", "made_calls", "same_value", "score_calls", "valid_call"]

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Call = Mapping[str, Any]


@dataclass(frozen=True)
class ToolScores:
    """One example's scores (see the module docstring)."""

    name: float
    exact: float
    f1: float
    valid: float
    no_call: float
    calls: int
    invalid: int


def made_calls(calls: Sequence[Mapping[str, Any]] | None) -> list[tuple[str, Any, str]]:
    """(name, parsed arguments or None when they are not a JSON object, raw arguments) per call; calls in
    the OpenAI shape (``{"function": {"name", "arguments"}}``) or flat (``{"name", "arguments"}``)."""
    out = []
    for c in calls or []:
        fn = c.get("function", c) if isinstance(c, Mapping) else {}
        fn = fn if isinstance(fn, Mapping) else {}
        raw = fn.get("arguments", "")
        if isinstance(raw, str):
            try:
                args = json.loads(raw) if raw.strip() else {}
            except (ValueError, RecursionError):
                args = None
        else:
            args, raw = raw, json.dumps(raw, ensure_ascii=False, default=str)
        out.append((str(fn.get("name") or ""), args if isinstance(args, dict) else None, raw))
    return out


def same_value(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value (1 == 1.0) but never booleans; lists in order; objects by key."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _true_pairs(made: dict[str, Any] | None, expected: Mapping[str, Any]) -> int:
    if made is None:
        return 0
    return sum(1 for k, v in expected.items() if k in made and same_value(made[k], v))


def _best(weights: list[list[float]], ordered: bool) -> float:
    """The largest total weight of a one-to-one matching (rows: made calls, columns: expected calls)."""
    if not weights or not weights[0]:
        return 0.0
    if ordered:
        return float(sum(weights[i][i] for i in range(min(len(weights), len(weights[0])))))
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    w = np.asarray(weights, dtype=float)
    rows, cols = linear_sum_assignment(w, maximize=True)
    return float(w[rows, cols].sum())


def valid_call(name: str, args: dict[str, Any] | None, schemas: Mapping[str, Any]) -> bool:
    """The function is offered and the arguments are a JSON object valid against its schema."""
    if name not in schemas or args is None:
        return False
    from jsonschema import Draft202012Validator

    return bool(Draft202012Validator(schemas[name]).is_valid(args))


def score_calls(
    made: Sequence[Mapping[str, Any]] | None,
    expected: Sequence[Mapping[str, Any]],
    *,
    schemas: Mapping[str, Any] | None = None,
    ordered: bool = False,
) -> ToolScores:
    """Every tool metric of one example: ``made`` as the provider gave them, ``expected`` as
    ``[{"name", "arguments": {...}}]``, ``schemas``: function name -> parameters schema."""
    m = made_calls(made)
    e = [(str(c["name"]), dict(c.get("arguments") or {})) for c in expected]
    if ordered:
        name_ok = [x[0] for x in m] == [x[0] for x in e]
    else:
        name_ok = Counter(x[0] for x in m) == Counter(x[0] for x in e)
    exact_w = [[1.0 if mn == en and ma is not None and same_value(ma, ea) else 0.0 for en, ea in e] for mn, ma, _ in m]
    exact = len(m) == len(e) and (not e or _best(exact_w, ordered) == len(e))
    tp = _best([[float(_true_pairs(ma, ea)) if mn == en else 0.0 for en, ea in e] for mn, ma, _ in m], ordered)
    n_made = sum(len(ma) for _, ma, _ in m if ma is not None)
    n_exp = sum(len(ea) for _, ea in e)
    if n_made == 0 and n_exp == 0:
        f1 = 1.0 if name_ok else 0.0
    elif tp == 0:
        f1 = 0.0
    else:
        p, r = tp / n_made, tp / n_exp
        f1 = 2 * p * r / (p + r)
    invalid = sum(1 for mn, ma, _ in m if not valid_call(mn, ma, schemas or {}))
    return ToolScores(
        name=float(name_ok),
        exact=float(exact),
        f1=f1,
        valid=float(invalid == 0),
        no_call=float((not m) == (not e)),
        calls=len(m),
        invalid=invalid,
    )

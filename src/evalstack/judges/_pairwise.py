"""Pairwise judging: A vs B on the same examples, each pair judged in both orders.

Per example the judge sees (A, B) and then (B, A). Both orders naming the same model -> that model wins;
both ties -> tie; any disagreement -> tie (an inconsistent verdict is not evidence either way). Results
are from A's point of view: ``wins`` = A preferred. Per-example metric ``pairwise_<rubric>``: win 1,
tie 0.5, loss 0 (its mean is A's win rate with ties counted half).

Position bias: over pairs judged in both orders, the share where the judge picked the same *position*
both times (first-first or second-second), i.e. where its verdict followed the position, not the content.
Replay judges answer by example id: the swapped order is sent as ``<id>::swapped``.
"""

from __future__ import annotations

__all__ = ["PairwiseOutcome", "judge_pairwise", "wilson_interval", "SWAPPED_SUFFIX"]

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..metrics import mean_result
from ..models import Provider, Runner
from ._call import Call, CallResult, JudgeSettings, all_gens, job_label, run_calls, usage_of
from ._pointwise import check_fields, item_values
from ._prompt import JudgeItem, build_messages, turn_label
from ._rows import OrderVerdict, PairRow
from ._rubric import Rubric
from ._scorer import JudgeOutcome

SWAPPED_SUFFIX = "::swapped"
"""Appended to the example id of the (B, A) request: replay verdict files key that order by it."""


@dataclass(kw_only=True)
class PairwiseOutcome(JudgeOutcome):
    """What :func:`judge_pairwise` returns: metric ``pairwise_<rubric>``, per example 1 (A wins), 0.5 (tie),
    0 (B wins), None (unscored); ``failed`` and ``unparseable`` count examples (either order)."""

    rows: dict[str, PairRow]
    """Per example id: winner ('a'|'b'|'tie'|None), score, both orders' verdicts, reasons, raw replies, error."""
    summary: dict[str, Any]
    """JSON-able: model, opponent, n, wins/ties/losses with rates and CIs, position_bias_rate, unscored."""


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion k/n (None, None when n == 0)."""
    if n == 0:
        return None, None
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _order_winner(verdict: str, first: str) -> str:
    """'A'/'B'/'tie' in one order -> 'a'/'b'/'tie' (first = which model was shown first)."""
    if verdict == "tie":
        return "tie"
    second = "b" if first == "a" else "a"
    return first if verdict == "A" else second


def _combine(ab: str, ba: str) -> str:
    """Winner from both orders' winners: consistent -> it, anything else -> tie."""
    return ab if ab == ba else "tie"


def _values(rubric: Rubric, a: JudgeItem, first: str | None, second: str | None) -> dict[str, str] | None:
    values, _ = item_values(rubric, JudgeItem(a.example_id, a.input, first, a.reference, a.context))
    if values is None:
        return None
    values.pop("output")
    values["output_a"], values["output_b"] = first or "", second or ""
    return values


def _order_row(r: CallResult) -> OrderVerdict:
    info = OrderVerdict(raw=r.gen.text, retried=r.retried)
    if not r.gen.ok:
        info.mark_failed(r.gen)
    elif r.parsed is None or not r.parsed.ok:
        info.unparseable(r.parsed.error if r.parsed else None)
    else:
        info.verdict, info.reason = r.parsed.value, r.parsed.reason
    return info


def _rate(k: int, n: int, confidence: float) -> dict[str, Any]:
    lo, hi = wilson_interval(k, n, confidence)
    return {"value": (k / n) if n else None, "ci_low": lo, "ci_high": hi}


def _sign_test(wins: int, losses: int) -> float | None:
    from ..stats import binomial_two_sided

    return binomial_two_sided(wins, wins + losses) if wins + losses else None


async def judge_pairwise(
    rubric: Rubric,
    items_a: Sequence[JudgeItem],
    items_b: Sequence[JudgeItem],
    *,
    provider: Provider,
    runner: Runner,
    task: str,
    spec: Any,
    name_a: str,
    name_b: str,
) -> PairwiseOutcome:
    """Judge A's and B's outputs on the same examples (aligned by example id, in A's order), both orders.

    ``rubric`` is a pairwise rubric, or a pointwise/reference one whose criteria then decide which output
    is better. ``spec`` is a :class:`~evalstack.config.JudgeSpec` (its ``options`` set request params and
    ``confidence``). Outcomes are from A's side: a win means A's output was preferred.
    """
    if not rubric.scale.rules.can_compare:
        raise ConfigError(
            f"rubric '{rubric.name}' scores extracted items and cannot compare two outputs",
            where=f"tasks.{task}.pairwise",
            hint="use it under `judges:`, or a pairwise rubric",
        )
    where = f"tasks.{task}.pairwise.{rubric.name}"
    settings = JudgeSettings.from_options(rubric, dict(spec.options or {}), provider, pairwise=True, where=where)
    check_fields(rubric, items_a, task)
    by_id = {it.example_id: it for it in items_b}

    rows: dict[str, PairRow] = {}
    calls: list[Call] = []
    pending: list[str] = []
    for a in items_a:
        b = by_id.get(a.example_id)
        why = None
        if b is None:
            why = f"no output of '{name_b}' for this example"
        elif a.output is None or b.output is None:
            why = f"no output from '{name_a if a.output is None else name_b}' (generation failed)"
        ab = _values(rubric, a, a.output, b.output) if why is None and b is not None else None
        if why is None and ab is None:
            _, why = item_values(rubric, a)
        if why is not None or ab is None:
            rows[a.example_id] = PairRow(error=why)
            continue
        ba = _values(rubric, a, b.output, a.output)
        calls += [
            Call(a.example_id, build_messages(rubric, ab, pairwise=True), a.turn),
            Call(a.example_id + SWAPPED_SUFFIX, build_messages(rubric, ba, pairwise=True), a.turn),
        ]
        pending.append(a.example_id)
    results = await run_calls(
        calls,
        rubric=rubric,
        settings=settings,
        provider=provider,
        runner=runner,
        task=task,
        pairwise=True,
        label=job_label(task, f"pairwise {rubric.name} vs {name_b}{turn_label(items_a)}"),
    )

    counts = {"a": 0, "b": 0, "tie": 0}
    inconsistent = same_position = both_orders = first_picks = position_picks = failed = unparseable = 0
    for j, ex_id in enumerate(pending):
        info_ab, info_ba = _order_row(results[2 * j]), _order_row(results[2 * j + 1])
        v_ab, v_ba = info_ab.verdict, info_ba.verdict
        row = PairRow(ab=info_ab, ba=info_ba)
        for v in (v_ab, v_ba):
            if v in ("A", "B"):
                position_picks += 1
                first_picks += v == "A"
        if v_ab is None or v_ba is None:
            row.error = "; ".join(
                f"{o}: {i.error}" for o, i in (("A-B order", info_ab), ("B-A order", info_ba)) if i.error
            )
            if info_ab.failed or info_ba.failed:
                row.failed = True
                failed += 1
            else:
                unparseable += 1
        else:
            both_orders += 1
            w_ab, w_ba = _order_winner(v_ab, "a"), _order_winner(v_ba, "b")
            winner = _combine(w_ab, w_ba)
            row.consistent = w_ab == w_ba
            inconsistent += w_ab != w_ba
            same_position += v_ab == v_ba and v_ab in ("A", "B")
            row.winner, row.score, row.reason = winner, {"a": 1.0, "tie": 0.5, "b": 0.0}[winner], info_ab.reason
            counts[winner] += 1
        rows[ex_id] = row

    n = both_orders
    per_example = [rows[a.example_id].score for a in items_a]
    result = mean_result(
        f"pairwise_{rubric.name}",
        per_example,
        higher_is_better=True,
        details={
            "model": name_a,
            "opponent": name_b,
            "wins": counts["a"],
            "ties": counts["tie"],
            "losses": counts["b"],
        },
    )
    c = settings.confidence
    summary = {
        "rubric": rubric.name,
        "model": name_a,
        "opponent": name_b,
        "judge_model": provider.describe(),
        "n": n,
        "unscored": len(items_a) - n,
        "failed": failed,
        "unparseable": unparseable,
        "wins": counts["a"],
        "ties": counts["tie"],
        "losses": counts["b"],
        "win_rate": _rate(counts["a"], n, c),
        "tie_rate": _rate(counts["tie"], n, c),
        "loss_rate": _rate(counts["b"], n, c),
        "score": result.value,
        "confidence": c,
        "ci_method": "wilson",
        "p_value": _sign_test(counts["a"], counts["b"]),
        "test": "sign (wins vs losses, ties dropped)",
        "inconsistent": inconsistent,
        "inconsistent_rate": (inconsistent / n) if n else None,
        "position_bias_rate": (same_position / n) if n else None,
        "first_position_rate": (first_picks / position_picks) if position_picks else None,
    }
    return PairwiseOutcome(
        rubric=rubric.name,
        name=f"pairwise_{rubric.name}",
        summary=summary,
        rows=rows,
        usage=usage_of(results),
        result=result,
        failed=failed,
        unparseable=unparseable,
        gens=all_gens(results),
    )

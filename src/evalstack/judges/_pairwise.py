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

__all__ = ["PairwiseOutcome", "judge_pairwise", "pair_tally", "pairwise_summary", "wilson_interval", "SWAPPED_SUFFIX"]

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

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


def pair_tally(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The counts a pairwise summary is made of, from pairs as examples.jsonl keeps them (``PairRow.to_dict()``):
    judged pairs (``n``: both orders gave a verdict) with wins/ties/losses from A's side, failed and unparseable
    pairs, inconsistent pairs, pairs where both orders picked the same position, and first-position picks out
    of all position picks. `merge` tallies the rows of every shard with it, as the run did."""
    t = dict.fromkeys(
        ("n", "wins", "ties", "losses", "failed", "unparseable", "inconsistent", "same_position", "first", "picks"), 0
    )
    for row in rows:
        ab, ba = row.get("ab"), row.get("ba")
        if not isinstance(ab, dict) or not isinstance(ba, dict):
            continue  # never sent (no output, a field missing)
        v_ab, v_ba = ab.get("verdict"), ba.get("verdict")
        for v in (v_ab, v_ba):
            if v in ("A", "B"):
                t["picks"] += 1
                t["first"] += v == "A"
        if v_ab is None or v_ba is None:
            t["failed" if row.get("failed") else "unparseable"] += 1
            continue
        t["n"] += 1
        t[{"a": "wins", "tie": "ties", "b": "losses"}[str(row.get("winner"))]] += 1
        t["inconsistent"] += not row.get("consistent")
        t["same_position"] += v_ab == v_ba and v_ab in ("A", "B")
    return t


def pairwise_summary(
    tally: Mapping[str, int],
    *,
    rubric: str,
    model: str,
    opponent: str,
    judge_model: str | None,
    items: int,
    score: float | None,
    confidence: float,
) -> dict[str, Any]:
    """A pairwise judge's summary for run.json (rates with Wilson CIs, sign test, order-bias rates) from
    :func:`pair_tally`'s counts over ``items`` rows and the metric's ``score``."""
    n, c = tally["n"], confidence
    return {
        "rubric": rubric,
        "model": model,
        "opponent": opponent,
        "judge_model": judge_model,
        "n": n,
        "unscored": items - n,
        "failed": tally["failed"],
        "unparseable": tally["unparseable"],
        "wins": tally["wins"],
        "ties": tally["ties"],
        "losses": tally["losses"],
        "win_rate": _rate(tally["wins"], n, c),
        "tie_rate": _rate(tally["ties"], n, c),
        "loss_rate": _rate(tally["losses"], n, c),
        "score": score,
        "confidence": c,
        "ci_method": "wilson",
        "p_value": _sign_test(tally["wins"], tally["losses"]),
        "test": "sign (wins vs losses, ties dropped)",
        "inconsistent": tally["inconsistent"],
        "inconsistent_rate": (tally["inconsistent"] / n) if n else None,
        "position_bias_rate": (tally["same_position"] / n) if n else None,
        "first_position_rate": (tally["first"] / tally["picks"]) if tally["picks"] else None,
    }


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
        assert b is not None  # no reason to skip it: B has this example
        ba = cast(dict[str, str], _values(rubric, a, b.output, a.output))  # fields as for A-B, swapped
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

    for j, ex_id in enumerate(pending):
        info_ab, info_ba = _order_row(results[2 * j]), _order_row(results[2 * j + 1])
        v_ab, v_ba = info_ab.verdict, info_ba.verdict
        row = PairRow(ab=info_ab, ba=info_ba)
        if v_ab is None or v_ba is None:
            row.error = "; ".join(
                f"{o}: {i.error}" for o, i in (("A-B order", info_ab), ("B-A order", info_ba)) if i.error
            )
            row.failed = info_ab.failed or info_ba.failed
        else:
            w_ab, w_ba = _order_winner(v_ab, "a"), _order_winner(v_ba, "b")
            winner = _combine(w_ab, w_ba)
            row.consistent = w_ab == w_ba
            row.winner, row.score, row.reason = winner, {"a": 1.0, "tie": 0.5, "b": 0.0}[winner], info_ab.reason
        rows[ex_id] = row

    tally = pair_tally(r.to_dict() for r in rows.values())
    per_example = [rows[a.example_id].score for a in items_a]
    result = mean_result(
        f"pairwise_{rubric.name}",
        per_example,
        higher_is_better=True,
        details={
            "model": name_a,
            "opponent": name_b,
            "wins": tally["wins"],
            "ties": tally["ties"],
            "losses": tally["losses"],
        },
    )
    summary = pairwise_summary(
        tally,
        rubric=rubric.name,
        model=name_a,
        opponent=name_b,
        judge_model=provider.describe(),
        items=len(items_a),
        score=result.value,
        confidence=settings.confidence,
    )
    failed, unparseable = tally["failed"], tally["unparseable"]
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

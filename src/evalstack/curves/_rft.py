"""RFT analysis: the seed's reward-curve patterns, token growth, grader errors, and 2-3 checkpoint candidates.

| id                      | observation                           | meaning / action                                   |
|-------------------------|---------------------------------------|----------------------------------------------------|
| reward_flat_zero        | reward flat at ~0                     | grader broken or threshold too strict              |
| reward_always_negative  | reward always negative                | pass_threshold too high                            |
| reward_high_flat        | reward immediately high and flat      | threshold too lenient                              |
| reward_hacking          | train - valid reward gap > 0.10       | possible reward hacking                            |
| token_growth            | completion/reasoning tokens x2 (x3+)  | normal: more thorough (x3+: grader rewards verbosity)|
| grader_errors           | train_other_error_count > 0           | bugs in the grader logic: fix before continuing    |
| parse_errors            | parse errors while reward is not rising| parse errors are tolerated only while reward climbs|

Rewards are assumed to lie on the usual grader scale (about 0..1); the thresholds and their reasons are in
``_thresholds``.
"""

from __future__ import annotations

from ._records import Diagnosis, RftCandidate, RftSummary
from ._table import CurveTable, edge_median, r, smooth, value_at
from ._thresholds import CLIMB, FLAT_ZERO, HACKING_GAP, HIGH_FLAT_RANGE, HIGH_START, TOKENS_EXCESSIVE, TOKENS_NORMAL


def _valid_column(table: CurveTable) -> str | None:
    for c in ("full_valid_mean_reward", "valid_mean_reward"):
        if table.has(c):
            return c
    return None


def _at(steps: list[int], values: list[float], step: float) -> float:
    """``value_at`` on a series known to be non-empty."""
    v = value_at(steps, values, step)
    assert v is not None, "the reward series is not empty"
    return v


def rft_analysis(table: CurveTable, *, window: int) -> tuple[RftSummary, list[Diagnosis], list[str]]:
    """Facts, fired rules and notes for a run with rewards."""
    vcol = _valid_column(table)
    pcol = "train_mean_reward" if table.has("train_mean_reward") else vcol
    assert pcol is not None, "rft_analysis is called for tables with a reward column"
    ps, pv = table.series(pcol)
    psm = smooth(pv, window)
    vs, vv = table.series(vcol) if vcol else ([], [])
    head, tail = edge_median(pv, tail=False), edge_median(pv, tail=True)
    climbing = tail - head > CLIMB
    ipk = max(range(len(psm)), key=lambda i: (psm[i], -i))
    facts: dict = {
        "reward_column": pcol,
        "valid_reward_column": vcol,
        "start_reward": r(head),
        "end_reward": r(tail),
        "peak_reward": r(psm[ipk]),
        "peak_step": ps[ipk],
        "reward_climbing": climbing,
        "final_valid_reward": r(vv[-1]) if vv else None,
    }
    diags: list[Diagnosis] = []
    notes: list[str] = []

    if len(pv) >= 5 and max(abs(x) for x in psm) <= FLAT_ZERO:
        diags.append(
            Diagnosis(
                "reward_flat_zero",
                "error",
                "Reward flat at ~0",
                "grader broken or threshold too strict",
                {
                    "mean_reward": r(sum(pv) / len(pv)),
                    "max_abs_smoothed_reward": r(max(abs(x) for x in psm)),
                    "steps": [ps[0], ps[-1]],
                    "threshold": FLAT_ZERO,
                },
                "Test the grader on known-good and known-bad answers; loosen the pass threshold.",
            )
        )
    elif pv and max(pv) < 0:
        diags.append(
            Diagnosis(
                "reward_always_negative",
                "error",
                "Reward always negative",
                "pass_threshold too high",
                {"max_reward": r(max(pv)), "max_reward_step": ps[pv.index(max(pv))], "n_measurements": len(pv)},
                "Lower the grader's pass_threshold (or rescale the reward) so that good answers score above 0.",
            )
        )
    if len(pv) >= 5 and head >= HIGH_START and max(psm) - min(psm) <= HIGH_FLAT_RANGE:
        diags.append(
            Diagnosis(
                "reward_high_flat",
                "warning",
                "Reward immediately high and flat",
                "grader threshold too lenient",
                {"start_reward": r(head), "smoothed_range": r(max(psm) - min(psm)), "threshold_start": HIGH_START},
                "Tighten the grader (stricter threshold or more scoring dimensions) so that it separates good from great.",
            )
        )
    if vv and pcol == "train_mean_reward":
        gaps = [(s, _at(ps, psm, s), v) for s, v in zip(vs, vv)]
        s_last, t_last, v_last = gaps[-1]
        gap = t_last - v_last
        s_max, t_max, v_max = max(gaps, key=lambda g: g[1] - g[2])
        facts["final_reward_gap"] = r(gap)
        if gap > HACKING_GAP:
            diags.append(
                Diagnosis(
                    "reward_hacking",
                    "warning",
                    f"Train-valid reward gap {gap:.2f} > {HACKING_GAP:.2f}",
                    "possible reward hacking (the policy exploits the grader on training prompts)",
                    {
                        "step": s_last,
                        "train_reward": r(t_last),
                        "valid_reward": r(v_last),
                        "gap": r(gap),
                        "max_gap": r(t_max - v_max),
                        "max_gap_step": s_max,
                        "threshold": HACKING_GAP,
                    },
                    "Read high-reward training samples for grader exploits; harden the grader; prefer an earlier checkpoint.",
                )
            )
    growth = _token_growth(table)
    facts["token_growth"] = growth
    worst = max(growth.values(), key=lambda g: g["ratio"], default=None)
    if worst and worst["ratio"] >= TOKENS_NORMAL:
        excessive = worst["ratio"] >= TOKENS_EXCESSIVE
        diags.append(
            Diagnosis(
                "token_growth",
                "warning" if excessive else "info",
                f"Tokens grew {worst['ratio']:.1f}x ({'excessive' if excessive else 'moderate'})",
                "the grader may incentivize verbosity" if excessive else "normal: the model is becoming more thorough",
                {"level": "excessive" if excessive else "normal", **{k: v for k, v in growth.items()}},
                ("Check the grader's scoring dimensions for a length bias; " if excessive else "")
                + "when comparing checkpoints, equal accuracy at fewer tokens is strictly better.",
            )
        )
    other = _total(table, "train_other_error_count")
    parse = _total(table, "train_sample_parse_error_count")
    facts.update(other_errors=other, parse_errors=parse)
    if other:
        steps = [s for s, v in zip(*table.series("train_other_error_count")) if v > 0]
        diags.append(
            Diagnosis(
                "grader_errors",
                "error",
                f"{other:g} grader logic errors (train_other_error_count)",
                "bugs in the grader logic",
                {"total": other, "steps": steps[:10], "n_steps_with_errors": len(steps)},
                "Fix the grader before continuing: these are not model mistakes.",
            )
        )
    if parse:
        if climbing:
            notes.append(
                f"{parse:g} sample parse errors: tolerated, the reward is climbing ({head:.3f} -> {tail:.3f})."
            )
        else:
            diags.append(
                Diagnosis(
                    "parse_errors",
                    "warning",
                    f"{parse:g} sample parse errors while the reward is not climbing",
                    "the grader cannot parse the outputs",
                    {"total": parse, "start_reward": r(head), "end_reward": r(tail)},
                    "Check the output format the grader expects (structured output / response_format).",
                )
            )
    return RftSummary(candidates=_candidates(table, ps, psm, vs, vv), facts=facts), diags, notes


def _total(table: CurveTable, col: str) -> float:
    return sum(table.series(col)[1]) if table.has(col) else 0.0


def _token_growth(table: CurveTable) -> dict:
    out = {}
    for col in ("completion_tokens_mean", "reasoning_tokens_mean"):
        _, v = table.series(col)
        if len(v) >= 5:
            head, tail = edge_median(v, tail=False, frac=0.05), edge_median(v, tail=True, frac=0.05)
            if head > 0:
                out[col] = {"start": r(head, 1), "end": r(tail, 1), "ratio": r(tail / head, 3)}
    return out


def _candidates(
    table: CurveTable, ps: list[int], psm: list[float], vs: list[int], vv: list[float]
) -> list[RftCandidate]:
    """Peak reward, final and mid-training checkpoints (merged when they coincide)."""
    cps = {c.step: c for c in table.checkpoints}
    pool = sorted(cps) or list(vs) or list(ps)
    if not pool:
        return []
    valid_at = dict(zip(vs, vv))

    def score(s: int) -> float:
        return valid_at[s] if s in valid_at else _at(ps, psm, s)

    peak = max(pool, key=lambda s: (score(s), -s))
    mid = min(pool, key=lambda s: (abs(s - table.steps[-1] / 2), s))
    reasons: dict[int, list[str]] = {}
    for name, s in (("peak", peak), ("final", pool[-1]), ("mid", mid)):
        reasons.setdefault(s, []).append(name)
    cts, ctv = table.series("completion_tokens_mean")
    ctsm = smooth(ctv, 3) if ctv else []
    return [
        RftCandidate(
            step=s,
            reasons=why,
            train_reward=value_at(ps, psm, s) if ps else None,
            valid_reward=valid_at.get(s),
            completion_tokens=value_at(cts, ctsm, s) if cts else None,
            model=cps[s].model if s in cps else None,
        )
        for s, why in sorted(reasons.items())
    ]

"""Judging one resolved gate check: the outcome, the numbers compared and a sentence that says both.

Split from ``gate.py`` (which loads and resolves rules); see its docstring for the rule semantics.
Every result carries ``quantity`` (level, delta, share, count), ``value`` and ``limit`` on that one scale
and the ``relation`` value must have to ``limit`` to pass, so a report never shows a delta beside a level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from .config import GateRule
from .errors import ConfigError
from .results import DeltaSummary, GateRuleResult, MetricSummary, RunResult
from .stats import (
    BootstrapQuantiles,
    binary_counts,
    tango_interval,
    tango_p_at_least,
    tango_p_at_most,
    verdict,
    wilson_interval,
)

ABSOLUTE = ("min", "max", "max_unscored", "max_invalid")
COMPARATIVE = ("max_regression", "require_non_inferiority", "max_drop")
BOUNDED = ("min", "max", "max_drop")
"""Rule kinds with three outcomes (pass / fail / inconclusive)."""


@dataclass
class Check:
    """One bound of one rule for one model, resolved against the run."""

    index: int
    rule: GateRule
    kind: str
    bound: float
    task: str
    key: str
    model: str
    summary: MetricSummary
    delta: DeltaSummary | None = None
    baseline_summary: MetricSummary | None = None
    baseline: str = ""
    inconclusive: str = "warn"
    on: str = "ci"
    implicit_unscored: float | None = None
    incomplete: str = ""
    run_confidence: float = 0.95

    @property
    def d(self) -> DeltaSummary:
        """The delta of a comparative check (resolved with one)."""
        assert self.delta is not None, "a comparative check is resolved with its delta"
        return self.delta


def fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _fmt_p(p: float) -> str:
    """Bootstrap p-values below the sketch's outermost level (0.0005) are beyond what 2,000 resamples resolve."""
    return "p<0.0005" if p < 0.0005 else f"p={p:.2g}"


def _pct(conf: float) -> str:
    return f"{conf * 100:g}%"


def _scale(check: Check) -> dict[str, Any]:
    """quantity, limit and relation of a check: the bound on its value's own scale."""
    hib = check.summary.higher_is_better
    if check.kind in ("min", "max"):
        return dict(quantity="level", limit=check.bound, relation=">=" if check.kind == "min" else "<=")
    if check.kind in COMPARATIVE:
        return dict(quantity="delta", limit=-check.bound if hib else check.bound, relation=">=" if hib else "<=")
    return dict(quantity="count" if check.bound >= 1 else "share", limit=check.bound, relation="<=")


def _result(check: Check, **fields: Any) -> GateRuleResult:
    rule = f"{check.rule.metric} {check.kind} {check.bound:g} ({check.model})"
    fields.setdefault("outcome", "pass" if fields.get("passed") else "fail")
    for k, v in _scale(check).items():
        fields.setdefault(k, v)
    return GateRuleResult(
        rule=rule, metric=check.rule.metric, model=check.model, kind=check.kind, bound=check.bound, **fields
    )


def judge(run: RunResult, check: Check, conf: float) -> GateRuleResult:
    """The result of one check, with the implicit max_unscored applied and stated in the row."""
    if check.incomplete:
        return _result(
            check,
            passed=False,
            outcome="not_judged",
            message=f"not judged: {check.incomplete}; finish the run with --resume",
        )
    unscored_fail = _implicit_unscored(check)[0]
    if unscored_fail:
        return _result(check, passed=False, message=unscored_fail, value=None)
    return with_unscored_note(check, _judge(run, check, conf))


def with_unscored_note(check: Check, res: GateRuleResult) -> GateRuleResult:
    """The row, with the implicit max_unscored it passed stated at the end of its message."""
    note = _implicit_unscored(check)[1]
    if not note or res.outcome == "not_judged" or note in res.message:
        return res
    return res.model_copy(update={"message": f"{res.message}; {note}"})


def _judge(run: RunResult, check: Check, conf: float) -> GateRuleResult:
    if check.kind in ("min", "max"):
        return _judge_level(check, conf)
    if check.kind in ("max_unscored", "max_invalid"):
        return _judge_count(check)
    d = check.d
    name = f"{check.model} vs {run.baseline} on {check.rule.metric}"
    if d.delta is None:
        return _result(
            check, passed=False, outcome="not_judged", message=f"{name}: not judged: no example scored by both"
        )
    hib = check.summary.higher_is_better
    ci = delta_ci(run, check, conf)
    limit = -check.bound if hib else check.bound
    fields = dict(
        value=d.delta,
        ci_low=None if ci is None else ci[0],
        ci_high=None if ci is None else ci[1],
        verdict=verdict(ci, hib),
        quantity="delta",
        limit=limit,
        relation=">=" if hib else "<=",
    )
    if check.kind == "max_drop":
        return _judge_drop(run, check, conf, ci, fields)
    if ci is None:
        return _result(
            check,
            passed=False,
            outcome="not_judged",
            message=f"{name}: not judged: fewer than 2 examples scored by both (n={d.n})",
            **fields,
        )
    res = _result(check, passed=True, p_value=margin_p(check, conf), **fields)
    return decide_margin(check, res, res.p_value, conf, holm_adjusted=False)


# ------------------------------------------------------------------------------------------ implicit max_unscored


def _share(count: int, total: int, bound: float) -> tuple[float, str, str, bool]:
    """(value, shown, limit shown, within) of a count against a count (>= 1) or fraction (< 1) bound."""
    if bound >= 1:
        return float(count), f"{count} of {total}", f"{bound:g}", count <= bound
    value = count / total if total else 0.0
    return (
        value,
        f"{count}/{total} ({value:.1%})",
        f"{bound:.0%}" if bound * 100 == int(bound * 100) else f"{bound:.2%}",
        value <= bound,
    )


def _implicit_unscored(check: Check) -> tuple[str, str]:
    """(failure message, note for a passing row) of the implicit max_unscored ('' when not applied)."""
    bound = check.implicit_unscored
    if bound is None:
        return "", ""
    sides = [(check.model, check.summary)]
    if check.kind in COMPARATIVE and check.baseline_summary is not None:
        sides.append((check.baseline, check.baseline_summary))
    notes = []
    for model, s in sides:
        total = s.n + s.unscored
        _, shown, lim, ok = _share(s.unscored, total, bound)
        if not ok:
            return (
                f"{model} {check.rule.metric}: {shown} unscored > max_unscored {lim} (implicit, from the "
                f"gate's max_unscored; set max_unscored on the rule to change it): a rule does not pass on "
                f"a small scored share",
                "",
            )
        notes.append(f"{s.unscored}/{total}" + ("" if model == check.model else f" ({model})"))
    return "", f"unscored {', '.join(notes)} <= {lim} (implicit max_unscored)"


# ------------------------------------------------------------------------------------------ levels and counts


def level_ci(check: Check, conf: float) -> tuple[tuple[float, float] | None, str]:
    """The model value's CI at the gate's confidence (Wilson recomputed for 0/1 scores) and its label."""
    s = check.summary
    if s.ci_low is None or s.ci_high is None or s.value is None:
        return None, ""
    if s.ci_method == "wilson" and s.n >= 1:
        return wilson_interval(int(round(s.value * s.n)), s.n, conf), _pct(conf)
    if s.ci_method == "ppi":  # corrected: true: the PPI++ normal interval at the gate's confidence
        half = NormalDist().inv_cdf(0.5 + conf / 2) * float(s.details["corrected"]["se"])
        return (s.value - half, s.value + half), _pct(conf)
    return (s.ci_low, s.ci_high), _pct(check.run_confidence)


def _judge_level(check: Check, conf: float) -> GateRuleResult:
    s, kind, bound = check.summary, check.kind, check.bound
    label = f"{check.model} {check.rule.metric}"
    rel = ">=" if kind == "min" else "<="
    base = dict(quantity="level", limit=bound, relation=rel, ci_low=s.ci_low, ci_high=s.ci_high)
    if s.value is None:
        return _result(
            check, passed=False, outcome="not_judged", message=f"{label}: not judged: nothing scored", **base
        )
    ci, ci_label = level_ci(check, conf)
    if ci is not None:
        base.update(ci_low=ci[0], ci_high=ci[1])
    est_ok = s.value >= bound if kind == "min" else s.value <= bound
    est = f"estimate {fmt(s.value)} {rel if est_ok else ('<' if kind == 'min' else '>')} {kind} {bound:g}"
    if not est_ok:
        return _result(check, value=s.value, passed=False, message=f"{label}: {est}: fail (n={s.n})", **base)
    if check.on == "estimate":
        return _result(
            check,
            value=s.value,
            passed=True,
            message=f"{label}: {est}: pass (on: estimate, the CI is not read; n={s.n})",
            **base,
        )
    end_name, end = ("lower", ci[0]) if (ci and kind == "min") else ("upper", ci[1] if ci else None)
    if end is not None and (end >= bound if kind == "min" else end <= bound):
        return _result(
            check,
            value=s.value,
            passed=True,
            message=f"{label}: {end_name} {ci_label} bound {fmt(end)} {rel} {bound:g}: pass "
            f"(estimate {fmt(s.value)}, n={s.n})",
            **base,
        )
    bad = "<" if kind == "min" else ">"
    why = f"{end_name} {ci_label} bound {fmt(end)} {bad} {bound:g}" if end is not None else f"no CI with n={s.n}"
    need = _needed_level(check, conf, ci)
    return _inconclusive(
        check, value=s.value, message=f"{label}: {est} but {why}: inconclusive{need} (n={s.n})", **base
    )


def _needed_level(check: Check, conf: float, ci: tuple[float, float] | None) -> str:
    """', need ~N examples at this rate/estimate' for the CI to clear the bound (empty if not estimable)."""
    s, bound = check.summary, check.bound
    if s.value is None or s.value == bound:
        return ""
    if s.ci_method == "wilson":
        p = s.value
        z = NormalDist().inv_cdf(0.5 + conf / 2)

        def clears(n: float) -> bool:
            denom = 1 + z * z / n
            centre = (p + z * z / (2 * n)) / denom
            half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
            return centre - half >= bound if check.kind == "min" else centre + half <= bound

        n = max(1, s.n)
        while not clears(n) and n < 1e8:
            n *= 2
        if n >= 1e8:
            return ""
        lo, hi = n // 2, n
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if clears(mid) else (mid, hi)
        rate = "a 0 rate" if p == 0 else ("a rate of 1" if p == 1 else f"a rate of {fmt(p)}")
        return f", need ~{_round_n(hi)} examples at {rate}"
    if ci is None:
        return ""
    side = abs((ci[0] if check.kind == "min" else ci[1]) - s.value)
    return _scaled_n(s.n, side, abs(s.value - bound))


def _scaled_n(n: int, half: float, room: float) -> str:
    """CI half-widths shrink as 1/sqrt(n): the n at which ``half`` fits in ``room``."""
    if room <= 0 or half <= 0 or n < 2:
        return ""
    return f", need ~{_round_n(math.ceil(n * (half / room) ** 2))} examples at this estimate"


def _round_n(n: int) -> str:
    if n < 100:
        return f"{n}"
    mag = 10 ** (len(str(int(n))) - 2)
    return f"{int(math.ceil(n / mag) * mag):,}"


def _inconclusive(check: Check, **fields: Any) -> GateRuleResult:
    policy = check.inconclusive
    msg = fields.pop("message")
    msg += {"warn": "", "fail": " [inconclusive: fail]", "pass": " [inconclusive: pass]"}[policy]
    return _result(check, passed=policy != "fail", outcome="inconclusive", message=msg, **fields)


def _judge_count(check: Check) -> GateRuleResult:
    s, kind, bound = check.summary, check.kind, check.bound
    label = f"{check.model} {check.rule.metric}"
    if kind == "max_unscored":
        count, total, what = s.unscored, s.n + s.unscored, "unscored examples"
    else:
        count, total, what = int(s.details["invalid"]), s.n, "invalid labels"
    value, shown, lim, ok = _share(count, total, bound)
    return _result(
        check,
        value=value,
        passed=ok,
        quantity="count" if bound >= 1 else "share",
        limit=bound,
        relation="<=",
        message=f"{label}: {what} {shown} {'<=' if ok else '>'} {kind} {lim}",
    )


# ------------------------------------------------------------------------------------------ deltas


def _judge_drop(
    run: RunResult, check: Check, conf: float, ci: tuple[float, float] | None, fields: dict[str, Any]
) -> GateRuleResult:
    d, hib, m = check.d, check.summary.higher_is_better, check.bound
    assert d.delta is not None, "_judge answers not_judged for a delta without a value"
    base = check.baseline_summary.value if check.baseline_summary else None
    values = f"({_fmt_level(base)} -> {_fmt_level(check.summary.value)})"
    limit = fields["limit"]
    rel = ">=" if hib else "<="
    est = f"delta {fmt(d.delta)} {values}"
    if (d.delta < limit) if hib else (d.delta > limit):
        msg = (
            f"forgetting: {check.model} dropped {fmt(abs(d.delta))} on {check.rule.metric} vs {run.baseline} "
            f"{values}, more than max_drop {m:g}: delta {fmt(d.delta)} {'<' if hib else '>'} {fmt(limit)}, "
            f"fail (n={d.n})"
        )
        return _result(check, passed=False, p_value=d.p_value, message=msg, **fields)
    head = f"{check.model} vs {run.baseline} on {check.rule.metric}: {est} {rel} {fmt(limit)}"
    if check.on == "estimate":
        return _result(
            check,
            passed=True,
            p_value=d.p_value,
            message=f"{head}: within max_drop {m:g} (on: estimate, the CI is not read; n={d.n})",
            **fields,
        )
    end_name, end = ("lower", ci[0]) if (ci and hib) else ("upper", ci[1] if ci else None)
    if end is not None and ((end >= limit) if hib else (end <= limit)):
        return _result(
            check,
            passed=True,
            p_value=d.p_value,
            message=f"{head}, and the {end_name} {_pct(conf)} bound {fmt(end)} {rel} {fmt(limit)}: "
            f"no drop beyond {m:g} (n={d.n})",
            **fields,
        )
    why = (
        f"the {end_name} {_pct(conf)} bound {fmt(end)} {'<' if hib else '>'} {fmt(limit)}"
        if end is not None
        else f"no CI with n={d.n}"
    )
    need = _scaled_n(d.n, abs(end - d.delta), abs(d.delta - limit)) if end is not None else ""
    return _inconclusive(
        check,
        p_value=d.p_value,
        message=f"{head} but {why}: inconclusive, a drop of more than {m:g} is not ruled out{need} (n={d.n})",
        **fields,
    )


def _fmt_level(x: float | None) -> str:
    return fmt(x)


def delta_ci(run: RunResult, check: Check, conf: float) -> tuple[float, float] | None:
    """The delta's CI at the gate's confidence: Tango's from the counts (0/1 scores), else from the
    quantile sketch, else the delta's own CI when it has the same confidence."""
    d = check.d
    if d.ci_low is None or d.ci_high is None:
        return None
    if d.test == "mcnemar" and d.n >= 1:
        b, c = binary_counts(d, check.summary.higher_is_better)
        return tango_interval(b, c, d.n, conf)
    if d.quantiles:
        return BootstrapQuantiles(d.quantiles).interval(conf)
    own = d.confidence if d.confidence is not None else run.settings.get("confidence", 0.95)
    if math.isclose(own, conf, abs_tol=1e-9):
        return d.ci_low, d.ci_high
    raise ConfigError(
        f"the run stored the delta's CI at confidence {own:g} only, the gate asks for {conf:g}",
        where=f"gate.rules[{check.index}] ({check.rule.metric})",
        hint=f"use confidence: {own:g}, or re-run the evaluation with this evalstack version",
    )


def margin_p(check: Check, conf: float) -> float | None:
    """One-sided p-value of the rule's margin hypothesis, from the same method as the delta's CI
    (Tango's score test for 0/1 scores, the bootstrap sketch otherwise; None without either)."""
    d = check.d
    hib, m = check.summary.higher_is_better, check.bound
    if d.test == "mcnemar" and d.n >= 1:
        b, c = binary_counts(d, hib)
        if check.kind == "max_regression":  # evidence of a regression beyond m
            return tango_p_at_most(b, c, d.n, -m) if hib else tango_p_at_least(b, c, d.n, m)
        return tango_p_at_least(b, c, d.n, -m) if hib else tango_p_at_most(b, c, d.n, m)
    if not d.quantiles:
        return None
    q = BootstrapQuantiles(d.quantiles)
    if check.kind == "max_regression":  # evidence of a regression beyond m is small P*(not beyond m)
        return q.prob_at_least(-m) if hib else q.prob_at_most(m)
    return q.prob_at_most(-m) if hib else q.prob_at_least(m)  # non-inferiority: small P*(beyond -m)


def decide_margin(
    check: Check, res: GateRuleResult, p: float | None, conf: float, *, holm_adjusted: bool
) -> GateRuleResult:
    """Pass/fail of max_regression / require_non_inferiority from the (adjusted) p, else from the CI."""
    a = (1.0 - conf) / 2.0
    hib, m = check.summary.higher_is_better, check.bound
    lo, hi = res.ci_low, res.ci_high
    assert lo is not None and hi is not None, "a margin is decided on a judged check with a CI"
    margin = -m if hib else m
    ci_text = f"{_pct(conf)} CI [{fmt(lo)}, {fmt(hi)}]"
    head = f"{check.model} on {check.rule.metric}: delta {fmt(res.value)}, {ci_text}"
    p_text = "" if p is None else ", one-sided " + _fmt_p(p) + (" Holm-adjusted" if holm_adjusted else "")
    if check.kind == "max_regression":
        significant = (p < a) if p is not None else ((hi < margin) if hib else (lo > margin))
        side = "below" if hib else "above"
        msg = (
            f"{head}: significantly worse by more than {m:g} (CI entirely {side} {fmt(margin)}{p_text})"
            if significant
            else f"{head}: no significant regression beyond {m:g} (CI not entirely {side} {fmt(margin)}{p_text})"
        )
        return res.model_copy(
            update=dict(
                passed=not significant,
                outcome="fail" if significant else "pass",
                p_value=p,
                relation=">=" if hib else "<=",
                message=msg,
            )
        )
    worst = lo if hib else hi
    shown = (p < a) if p is not None else ((worst > margin) if hib else (worst < margin))
    rel = (">" if shown else "<=") if hib else ("<" if shown else ">=")
    msg = (
        f"{head}: {'non-inferior' if shown else 'non-inferiority not shown'} within {m:g} "
        f"(bad-side bound {fmt(worst)} {rel} {fmt(margin)}{p_text})"
    )
    return res.model_copy(
        update=dict(
            passed=shown, outcome="pass" if shown else "fail", p_value=p, relation=">" if hib else "<", message=msg
        )
    )

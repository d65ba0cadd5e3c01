"""The regression gate: rules judged against a finished run -> :class:`~evalstack.results.GateDecision`.

Bounds are in the metric's own units and read with its direction (``higher_is_better``). Let ``d`` be
the paired delta ``model - baseline`` with its two-sided percentile-bootstrap CI ``[lo, hi]`` at the
**gate's** confidence ``c`` (read from the delta's quantile sketch, so it may differ from the run's),
and ``a = (1 - c) / 2`` the one-sided error of each CI end. For a lower-is-better metric swap the
roles of ``lo``/``hi`` and the signs.

- ``min: x`` / ``max: x``: the model's value (point estimate) must be >= x / <= x.
- ``max_regression: m``: fails when the model is significantly worse by more than m, i.e. the whole CI
  lies beyond the margin: ``hi < -m``. This is a one-sided test of "regression <= m" at level ``a``
  (2.5% at c = 0.95), so an A/A comparison (true delta 0) fails at most ~2.5% of the time, and never
  when both runs are identical (CI [0, 0]).
- ``require_non_inferiority: m``: passes only when the CI's bad end is above the margin: ``lo > -m``.
- ``max_unscored: x``, ``max_invalid: x``: at most x unscored examples (judge/generation failures) or
  invalid (unparseable) labels; x >= 1 is a count, x < 1 a fraction (of all examples / of the scored
  ones). ``max_invalid`` needs a metric that reports ``details["invalid"]`` (classification keys).
- ``max_drop: m``: forgetting guard on the point estimate: fails when ``-d > m`` (e.g. 0.02 = 2 points
  of accuracy on a general-knowledge task), whatever the CI says.

With ``holm: true`` the ``max_regression`` and ``require_non_inferiority`` rules form one family: each
gets the one-sided bootstrap p-value of its margin hypothesis (for max_regression ``P*(d >= -m)``, for
non-inferiority ``P*(d <= -m)``), Holm-adjusted across the family, and the rule's conclusion (regression
/ non-inferiority) is drawn when the adjusted p < ``a``. Without Holm this is exactly the CI test above.

A rule whose comparison cannot be made (no example scored by both, or fewer than two) fails: a gate
does not pass on missing evidence. A rule naming a task, metric or model the run does not have is a
:class:`~evalstack.errors.ConfigError`.
"""

from __future__ import annotations

__all__ = ["evaluate_gate", "load_gate_rules", "COMPARATIVE", "ABSOLUTE"]

import difflib
import math
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ._yaml import expand_env, load_yaml, validation_error
from .config import GateConfig, GateRule
from .errors import ConfigError
from .results import DeltaSummary, GateDecision, GateRuleResult, MetricSummary, RunResult
from .stats import BootstrapQuantiles, holm, verdict

ABSOLUTE = ("min", "max", "max_unscored", "max_invalid")
"""Rule kinds judged on one model's summary."""
COMPARATIVE = ("max_regression", "require_non_inferiority", "max_drop")
"""Rule kinds judged on the delta against the baseline."""
_KINDS = ("min", "max", "max_regression", "require_non_inferiority", "max_unscored", "max_invalid", "max_drop")
_HOLM_FAMILY = ("max_regression", "require_non_inferiority")


class _GateFile(BaseModel):
    """A rules file with a top-level ``gate:`` (other keys, e.g. of a whole config, are ignored)."""

    model_config = ConfigDict(extra="ignore")
    gate: GateConfig


def load_gate_rules(path: str | Path) -> GateConfig:
    """Read gate rules from a YAML file: a ``gate:`` mapping, or ``confidence``/``holm``/``rules`` at the
    top level. Errors name the file, the key path and the line."""
    p = Path(path)
    doc = load_yaml(p, what="gate rules file")
    data = expand_env(doc.data, doc)
    if not isinstance(data, dict):
        raise ConfigError("a gate rules file must be a mapping with `rules:` (or `gate: {rules: ...}`)",
                          where=str(p), hint="e.g. rules: [{metric: intent/accuracy, max_regression: 0.01}]")
    model = _GateFile if "gate" in data else GateConfig
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, doc, model) from None
    gate = parsed.gate if isinstance(parsed, _GateFile) else parsed
    if not gate.rules:
        raise ConfigError("no gate rules", where=str(p), hint="add rules: [{metric: <task>/<metric>, min: ...}]")
    return gate


@dataclass
class _Check:
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


def evaluate_gate(run: RunResult, gate: GateConfig) -> GateDecision:
    """Judge every rule of ``gate`` on ``run``; ``passed`` is True when every rule passes."""
    checks = [c for i, rule in enumerate(gate.rules) for c in _resolve(run, i, rule)]
    conf = gate.confidence
    results: list[GateRuleResult] = []
    family: list[tuple[int, float]] = []  # (position in results, raw p) of the Holm family
    for check in checks:
        res = _judge(run, check, conf)
        if check.kind in _HOLM_FAMILY and res.ci_low is not None:
            if res.p_value is None and gate.holm:
                raise ConfigError("holm: true needs the bootstrap quantiles of the deltas, which this run lacks",
                                  where=f"gate.rules[{check.index}] ({check.rule.metric})",
                                  hint="use holm: false, or re-run the evaluation with this evalstack version")
            family.append((len(results), res.p_value))
        results.append(res)
    if gate.holm and family:
        adjusted = holm([p for _, p in family])
        for (pos, _), p_adj in zip(family, adjusted):
            results[pos] = _decide_margin(checks[pos], results[pos], p_adj, conf, holm_adjusted=True)
    return GateDecision(passed=all(r.passed for r in results), confidence=conf, holm=gate.holm, rules=results)


# ------------------------------------------------------------------------------------------ resolving

def _resolve(run: RunResult, index: int, rule: GateRule) -> list[_Check]:
    where = f"gate.rules[{index}] ({rule.metric})"
    task_name, key = rule.metric.split("/", 1)
    task = run.tasks.get(task_name)
    if task is None:
        raise ConfigError(f"task '{task_name}' is not in this run", where=where, hint=_hint(task_name, run.tasks))
    kinds = [k for k in _KINDS if getattr(rule, k) is not None]
    if rule.model is not None:
        if rule.model not in task.models:
            raise ConfigError(f"model '{rule.model}' is not in task '{task_name}' of this run", where=where,
                              hint=_hint(rule.model, task.models))
        models = [rule.model]
    else:
        models = [m for m in task.models if m != run.baseline] or [run.baseline]
    checks = []
    for model in models:
        summary = task.models[model].metrics.get(key)
        if summary is None:
            raise ConfigError(f"metric '{key}' is not in task '{task_name}' for model '{model}'", where=where,
                              hint=_hint(key, task.models[model].metrics))
        for kind in kinds:
            check = _Check(index, rule, kind, float(getattr(rule, kind)), task_name, key, model, summary)
            if kind in COMPARATIVE:
                if model == run.baseline:
                    raise ConfigError(f"'{kind}' compares a model with the baseline, and '{model}' is the "
                                      f"baseline", where=where, hint="name a fine-tuned model in `model:`")
                check.delta = task.deltas.get(model, {}).get(key)
                if check.delta is None:
                    raise ConfigError(f"the run has no delta of '{key}' for '{model}' against '{run.baseline}'",
                                      where=where, hint="the baseline must have the metric too")
                base = task.models.get(run.baseline)
                check.baseline_summary = base.metrics.get(key) if base else None
            elif kind == "max_invalid" and "invalid" not in summary.details:
                raise ConfigError(f"metric '{key}' reports no invalid-label count", where=where,
                                  hint="max_invalid applies to classification metrics (accuracy, f1_macro, ...)")
            checks.append(check)
    return checks


def _hint(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(known)) or 'none'}"


# ------------------------------------------------------------------------------------------ judging

def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _fmt_p(p: float) -> str:
    """Bootstrap p-values below the sketch's outermost level (0.0005) are beyond what 2,000 resamples resolve."""
    return "p<0.0005" if p < 0.0005 else f"p={p:.2g}"


def _base_result(check: _Check, **fields) -> GateRuleResult:
    rule = f"{check.rule.metric} {check.kind} {check.bound:g} ({check.model})"
    return GateRuleResult(rule=rule, metric=check.rule.metric, model=check.model, kind=check.kind,
                          bound=check.bound, **fields)


def _judge(run: RunResult, check: _Check, conf: float) -> GateRuleResult:
    if check.kind in ABSOLUTE:
        return _judge_absolute(check)
    d = check.delta
    name = f"{check.model} vs {run.baseline} on {check.rule.metric}"
    if d.delta is None:
        return _base_result(check, passed=False, message=f"{name}: cannot judge: no example scored by both")
    hib = check.summary.higher_is_better
    ci = _delta_ci(run, check, conf)
    fields = dict(value=d.delta, ci_low=None if ci is None else ci[0], ci_high=None if ci is None else ci[1],
                  verdict=verdict(ci, hib))
    if check.kind == "max_drop":
        drop = -d.delta if hib else d.delta
        base = check.baseline_summary.value if check.baseline_summary else None
        values = f"({_fmt(base)} -> {_fmt(check.summary.value)})"
        if drop > check.bound:
            msg = (f"forgetting: {check.model} dropped {_fmt(drop)} on {check.rule.metric} vs {run.baseline} "
                   f"{values}, more than max_drop {check.bound:g}")
            return _base_result(check, passed=False, p_value=d.p_value, message=msg, **fields)
        msg = f"{name}: change {_fmt(d.delta)} {values}, within max_drop {check.bound:g}"
        return _base_result(check, passed=True, p_value=d.p_value, message=msg, **fields)
    if ci is None:
        return _base_result(check, passed=False, message=f"{name}: cannot judge: fewer than 2 examples "
                            f"scored by both (n={d.n})", **fields)
    res = _base_result(check, passed=True, p_value=_margin_p(check, conf), **fields)
    return _decide_margin(check, res, res.p_value, conf, holm_adjusted=False)


def _judge_absolute(check: _Check) -> GateRuleResult:
    s, kind, bound = check.summary, check.kind, check.bound
    ci = dict(ci_low=s.ci_low, ci_high=s.ci_high)
    label = f"{check.model} {check.rule.metric}"
    if kind in ("min", "max"):
        if s.value is None:
            return _base_result(check, passed=False, message=f"{label}: no value (nothing scored)", **ci)
        ok = s.value >= bound if kind == "min" else s.value <= bound
        rel = (">=" if ok else "<") if kind == "min" else ("<=" if ok else ">")
        return _base_result(check, value=s.value, passed=ok, **ci,
                            message=f"{label} = {_fmt(s.value)} {rel} {kind} {bound:g}")
    if kind == "max_unscored":
        count, total, what = s.unscored, s.n + s.unscored, "unscored examples"
    else:
        count, total, what = int(s.details["invalid"]), s.n, "invalid labels"
    if bound >= 1:
        value, shown = float(count), f"{count}"
    else:
        value = count / total if total else 0.0
        shown = f"{count}/{total} = {value:.2%}"
    ok = value <= bound
    limit = f"{bound:g}" if bound >= 1 else f"{bound:.2%}"
    return _base_result(check, value=value, passed=ok,
                        message=f"{label}: {what} {shown} {'<=' if ok else '>'} {kind} {limit}")


def _delta_ci(run: RunResult, check: _Check, conf: float) -> tuple[float, float] | None:
    """The delta's CI at the gate's confidence: from its quantile sketch, or its own CI at the same level."""
    d = check.delta
    if d.ci_low is None or d.ci_high is None:
        return None
    if d.quantiles:
        return BootstrapQuantiles(d.quantiles).interval(conf)
    own = d.confidence if d.confidence is not None else run.settings.get("confidence", 0.95)
    if math.isclose(own, conf, abs_tol=1e-9):
        return d.ci_low, d.ci_high
    raise ConfigError(f"the run stored the delta's CI at confidence {own:g} only, the gate asks for {conf:g}",
                      where=f"gate.rules[{check.index}] ({check.rule.metric})",
                      hint=f"use confidence: {own:g}, or re-run the evaluation with this evalstack version")


def _margin_p(check: _Check, conf: float) -> float | None:
    """One-sided bootstrap p-value of the rule's margin hypothesis (None without a quantile sketch)."""
    d = check.delta
    if not d.quantiles:
        return None
    q = BootstrapQuantiles(d.quantiles)
    hib, m = check.summary.higher_is_better, check.bound
    if check.kind == "max_regression":  # evidence of a regression beyond m is small P*(not beyond m)
        return q.prob_at_least(-m) if hib else q.prob_at_most(m)
    return q.prob_at_most(-m) if hib else q.prob_at_least(m)  # non-inferiority: small P*(beyond -m)


def _decide_margin(check: _Check, res: GateRuleResult, p: float | None, conf: float, *,
                   holm_adjusted: bool) -> GateRuleResult:
    """Pass/fail of max_regression / require_non_inferiority from the (adjusted) p, else from the CI."""
    a = (1.0 - conf) / 2.0
    hib, m = check.summary.higher_is_better, check.bound
    lo, hi = res.ci_low, res.ci_high
    margin = -m if hib else m
    ci_text = f"{conf * 100:g}% CI [{_fmt(lo)}, {_fmt(hi)}]"
    head = f"{check.model} on {check.rule.metric}: delta {_fmt(res.value)}, {ci_text}"
    p_text = "" if p is None else ", " + _fmt_p(p) + (" Holm-adjusted" if holm_adjusted else "")
    if check.kind == "max_regression":
        significant = (p < a) if p is not None else ((hi < margin) if hib else (lo > margin))
        side = "below" if hib else "above"
        msg = (f"{head}: significantly worse by more than {m:g} (CI entirely {side} {_fmt(margin)}{p_text})"
               if significant else f"{head}: no significant regression beyond {m:g}{p_text}")
        return res.model_copy(update=dict(passed=not significant, p_value=p, message=msg))
    worst = lo if hib else hi
    shown = (p < a) if p is not None else ((worst > margin) if hib else (worst < margin))
    rel = (">" if shown else "<=") if hib else ("<" if shown else ">=")
    msg = (f"{head}: {'non-inferior' if shown else 'non-inferiority not shown'} within {m:g} "
           f"(bad-side bound {_fmt(worst)} {rel} {_fmt(margin)}{p_text})")
    return res.model_copy(update=dict(passed=shown, p_value=p, message=msg))

"""Gate rules that read a judge's trust: ``corrected: true`` and ``require_validation: {min_kappa}``.

``corrected: true`` judges the rule on the judge metric's PPI++ estimate (human labels on a random subset,
``judges._trust.corrections``) instead of the naive judge mean: for min/max the corrected mean and its
normal CI, for comparative rules the corrected paired delta, whose CI and one-sided p-values come from a
normal quantile sketch (so the gate's confidence and Holm work as for any delta). A rule asking for it on a
metric without a corrected estimate is a ConfigError (exit 2).

``require_validation`` fails the rule, whatever its bound says, when no ``judge validate --save`` record of
the same rubric digest and judge is found in its path, or the record's kappa is undefined or below
``min_kappa`` (the issue's words: "fails the rule as 'not validated'"); a passing rule names the record used.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from statistics import NormalDist

from ._gate_judge import COMPARATIVE, Check
from .errors import ConfigError
from .results import DeltaSummary, GateRuleResult
from .stats import sketch_levels

__all__ = ["with_corrected", "with_validation"]


def with_corrected(check: Check) -> Check:
    """The check judged on the corrected estimate (unchanged when the rule does not ask for it)."""
    if not check.rule.corrected:
        return check
    name = "corrected_delta" if check.kind in COMPARATIVE else "corrected"
    c = check.summary.details.get(name)
    if not isinstance(c, dict):
        raise ConfigError(
            f"corrected: true, but the run has no corrected estimate of '{check.key}' for '{check.model}'"
            + (" vs the baseline" if name == "corrected_delta" else ""),
            where=f"gate.rules[{check.index}] ({check.rule.metric})",
            hint="add human_labels: FILE (id, human_score[, model]) to that judge entry of the task; it needs >= 2 "
            "labelled and >= 1 unlabelled judged examples"
            + (", for the model and the baseline on the same examples" if name == "corrected_delta" else ""),
        )
    n = int(c["n_labelled"]) + int(c["n_unlabelled"])
    est, se = float(c["estimate"]), float(c["se"])
    lo, hi = c["ci"]
    summary = check.summary.model_copy(update={"value": est, "ci_low": lo, "ci_high": hi, "ci_method": "ppi", "n": n})
    if name == "corrected":
        return replace(check, summary=summary)
    nd = NormalDist()
    sketch = [[float(p), est + se * nd.inv_cdf(float(p))] for p in sketch_levels(c.get("confidence"))]
    p = 2 * (1 - nd.cdf(abs(est) / se)) if se > 0 else (0.0 if est else 1.0)
    delta = DeltaSummary(
        delta=est, ci_low=lo, ci_high=hi, p_value=p, test="ppi", n=n, confidence=c.get("confidence"), quantiles=sketch
    )
    return replace(check, summary=summary, delta=delta)


def with_validation(check: Check, res: GateRuleResult) -> GateRuleResult:
    """The row, failed as 'not validated' when the rule requires a validation that is missing or too weak."""
    req = check.rule.require_validation
    if req is None or res.outcome == "not_judged":
        return res
    from .judges import find_validation

    ident = check.summary.details.get("judge_identity")
    if not isinstance(ident, dict):
        return _fail(res, f"'{check.key}' is not a judge metric with a recorded rubric and judge")
    where = Path(req.path) if req.path is not None else Path("validations")
    rec, seen = find_validation(where, str(ident.get("rubric_digest")), str(ident.get("judge")))
    if rec is None:
        return _fail(
            res,
            f"no `judge validate --save` record for this rubric (sha256 {str(ident.get('rubric_digest'))[:12]}) "
            f"and judge {ident.get('judge')} in {where} ({seen} record(s) there)",
        )
    kappa = rec.get("kappa")
    used = f"validation of {rec.get('date')}, n={rec.get('n')}, kappa {_k(kappa)} ({rec.get('file')})"
    if kappa is None or kappa < req.min_kappa:
        return _fail(res, f"{used}: kappa below min_kappa {req.min_kappa:g}")
    return res.model_copy(update={"message": f"{res.message}; validated: {used} >= {req.min_kappa:g}"})


def _k(x: object) -> str:
    return "undefined" if x is None else f"{float(x):.3f}"  # type: ignore[arg-type]


def _fail(res: GateRuleResult, why: str) -> GateRuleResult:
    return res.model_copy(
        update={
            "passed": False,
            "outcome": "fail",
            "message": f"not validated: {why}; the rule's own check: {res.message}",
        }
    )

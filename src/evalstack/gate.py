"""The regression gate: rules judged against a finished run -> :class:`~evalstack.results.GateDecision`.

Bounds are in the metric's own units and read with its direction (``higher_is_better``). Let ``d`` be
the paired delta ``model - baseline`` with its two-sided percentile-bootstrap CI ``[lo, hi]`` at the
**gate's** confidence ``c`` (read from the delta's quantile sketch, so it may differ from the run's),
and ``a = (1 - c) / 2`` the one-sided error of each CI end. For a lower-is-better metric swap the
roles of ``lo``/``hi`` and the signs.

- ``min: x`` / ``max: x`` (and ``max_drop``) have three outcomes, honest about n: **pass** when the
  whole CI is on the right side of x, **fail** when the point estimate is on the wrong side,
  **inconclusive** when the CI straddles x (``toxicity_rate max 0.01`` on 0/100: upper 95% bound 0.037).
  ``inconclusive: fail | warn | pass`` (gate-wide or per rule, default ``warn``: passes, and the headline
  says so); ``on: estimate`` reads the point estimate only (the behaviour before). The CI of a 0/1 rate is
  Wilson's at the gate's confidence; other metrics use the run's bootstrap CI.
- ``max_regression: m``: fails when the model is significantly worse by more than m, i.e. the whole CI
  lies beyond the margin: ``hi < -m``. This is a one-sided test of "regression <= m" at level ``a``
  (2.5% at c = 0.95), so an A/A comparison (true delta 0) fails at most ~2.5% of the time, and never
  when both runs are identical (CI [0, 0]).
- ``require_non_inferiority: m``: passes only when the CI's bad end is above the margin: ``lo > -m``.
- ``max_unscored: x``, ``max_invalid: x``: at most x unscored examples (judge/generation failures) or
  invalid (unparseable) labels; x >= 1 is a count, x < 1 a fraction (of all examples / of the scored
  ones). ``max_invalid`` needs a metric that reports ``details["invalid"]`` (classification keys).
- ``max_drop: m``: forgetting guard (e.g. 0.02 = 2 points of accuracy on a general-knowledge task): fails
  when the point estimate dropped more than m (``d < -m``), passes when the CI's bad end is >= -m,
  inconclusive otherwise.
- ``max_trend_decline: d`` (with ``window``, default 10): a drift alarm over the run store's history, judged
  in ``_gate_trend`` (one-sided Mann-Kendall p < 1 - confidence and a Theil-Sen decline per run above d
  fails; fewer than 4 comparable runs is inconclusive).
- **Implicit max_unscored**: every rule that sets no ``max_unscored`` gets the gate's (default 0.05:
  at most 5% of the examples unscored, for the model and, on comparative rules, the baseline), stated in
  the rule's row; ``gate: {max_unscored: null}`` turns it off. A judge metric scored on 5 of 20 examples
  does not pass ``min: 4.5``.

Deltas of 0/1 scores use Tango's score interval and McNemar's test (recomputed at the gate's confidence
from the stored counts); other deltas read the bootstrap quantile sketch (``stats._paired``).

With ``holm: true`` the ``max_regression`` and ``require_non_inferiority`` rules form one family: each
gets the one-sided bootstrap p-value of its margin hypothesis (for max_regression ``P*(d >= -m)``, for
non-inferiority ``P*(d <= -m)``), Holm-adjusted across the family, and the rule's conclusion (regression
/ non-inferiority) is drawn when the adjusted p < ``a``. Without Holm this is exactly the CI test above.

A rule whose comparison cannot be made (no example scored by both, or fewer than two), or whose task has
items that failed after retries (an incomplete run: ``--resume`` finishes it), is **not judged**: it does
not pass, and the reports say "not judged", not "failed". A rule naming a task, metric or model the run does not have is a
:class:`~evalstack.errors.ConfigError`.
"""

from __future__ import annotations

__all__ = ["evaluate_gate", "load_gate_rules", "COMPARATIVE", "ABSOLUTE"]

from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ._gate_judge import ABSOLUTE, COMPARATIVE, Check, decide_margin, judge, with_unscored_note
from ._gate_trust import with_corrected, with_validation
from ._yaml import expand_env, load_yaml, validation_error
from .config import GateConfig, GateRule, resolve_validation_paths
from .errors import ConfigError
from .registry import did_you_mean
from .results import GateDecision, GateRuleResult, RunResult, TaskSummary
from .stats import holm

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
        raise ConfigError(
            "a gate rules file must be a mapping with `rules:` (or `gate: {rules: ...}`)",
            where=str(p),
            hint="e.g. rules: [{metric: intent/accuracy, max_regression: 0.01}]",
        )
    model = _GateFile if "gate" in data else GateConfig
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, doc, model) from None
    gate = parsed.gate if isinstance(parsed, _GateFile) else parsed
    if not gate.rules:
        raise ConfigError("no gate rules", where=str(p), hint="add rules: [{metric: <task>/<metric>, min: ...}]")
    resolve_validation_paths(gate, p.resolve().parent)
    return gate


def evaluate_gate(run: RunResult, gate: GateConfig, store: Path | None = None) -> GateDecision:
    """Judge every rule of ``gate`` on ``run``; ``passed`` is True when every rule passes (``store``: the run
    store that ``max_trend_decline`` rules read, default :func:`evalstack.history.default_store`)."""
    checks = [c for i, rule in enumerate(gate.rules) for c in _resolve(run, i, rule, gate)]
    conf = gate.confidence
    results: list[GateRuleResult] = []
    family: list[tuple[int, float | None]] = []  # (position in results, raw p) of the Holm family
    for check in checks:
        res = judge(run, check, conf)
        if check.kind in _HOLM_FAMILY and res.ci_low is not None and res.outcome != "not_judged":
            if res.p_value is None and gate.holm:
                raise ConfigError(
                    "holm: true needs the bootstrap quantiles of the deltas, which this run lacks",
                    where=f"gate.rules[{check.index}] ({check.rule.metric})",
                    hint="use holm: false, or re-run the evaluation with this evalstack version",
                )
            family.append((len(results), res.p_value))
        results.append(res)
    if gate.holm and family:
        adjusted = holm([p for _, p in family])
        for (pos, _), p_adj in zip(family, adjusted):
            results[pos] = with_unscored_note(
                checks[pos], decide_margin(checks[pos], results[pos], p_adj, conf, holm_adjusted=True)
            )
    results = [with_validation(c, r) for c, r in zip(checks, results)]  # require_validation: fails when missing
    results += _trend_rules(run, gate, store)
    return GateDecision(
        passed=all(r.passed for r in results), status=_status(results), confidence=conf, holm=gate.holm, rules=results
    )


def _trend_rules(run: RunResult, gate: GateConfig, store: Path | None) -> list[GateRuleResult]:
    """The ``max_trend_decline`` rules, over the run store's history (``_gate_trend``)."""
    from ._gate_trend import trend_results

    out = []
    for i, rule in enumerate(gate.rules):
        if rule.max_trend_decline is not None:
            models = (
                [rule.model]
                if rule.model
                else [m for m in run.tasks[rule.metric.split("/")[0]].models if m != run.baseline]
            )
            out += trend_results(run, i, rule, gate, models or [run.baseline], store)
    return out


def _status(results: list[GateRuleResult]) -> str:
    if any(r.outcome == "not_judged" for r in results):
        return "not_judged"
    if not all(r.passed for r in results):
        return "failed"
    return "warned" if any(r.outcome == "inconclusive" for r in results) else "passed"


# ------------------------------------------------------------------------------------------ resolving


def _resolve(run: RunResult, index: int, rule: GateRule, gate: GateConfig) -> list[Check]:
    where = f"gate.rules[{index}] ({rule.metric})"
    task_name, key = rule.metric.split("/", 1)
    task = run.tasks.get(task_name)
    if task is None:
        raise ConfigError(f"task '{task_name}' is not in this run", where=where, hint=_hint(task_name, run.tasks))
    kinds = [k for k in _KINDS if getattr(rule, k) is not None]
    if rule.model is not None:
        if rule.model not in task.models:
            raise ConfigError(
                f"model '{rule.model}' is not in task '{task_name}' of this run",
                where=where,
                hint=_hint(rule.model, task.models),
            )
        models = [rule.model]
    else:
        models = [m for m in task.models if m != run.baseline] or [run.baseline]
    checks = []
    for model in models:
        summary = task.models[model].metrics.get(key)
        if summary is None:
            raise ConfigError(
                f"metric '{key}' is not in task '{task_name}' for model '{model}'",
                where=where,
                hint=_hint(key, task.models[model].metrics),
            )
        for kind in kinds:
            check = Check(
                index,
                rule,
                kind,
                float(getattr(rule, kind)),
                task_name,
                key,
                model,
                summary,
                baseline=run.baseline,
                inconclusive=rule.inconclusive or gate.inconclusive,
                on=rule.on or gate.on,
                implicit_unscored=gate.max_unscored if rule.max_unscored is None else None,
                incomplete=_incomplete(task, model, run.baseline if kind in COMPARATIVE else None),
                run_confidence=float(run.settings.get("confidence", 0.95)),
            )
            if kind in COMPARATIVE:
                if model == run.baseline:
                    raise ConfigError(
                        f"'{kind}' compares a model with the baseline, and '{model}' is the baseline",
                        where=where,
                        hint="name a fine-tuned model in `model:`",
                    )
                check.delta = task.deltas.get(model, {}).get(key)
                if check.delta is None:
                    raise ConfigError(
                        f"the run has no delta of '{key}' for '{model}' against '{run.baseline}'",
                        where=where,
                        hint="the baseline must have the metric too",
                    )
                base = task.models.get(run.baseline)
                check.baseline_summary = base.metrics.get(key) if base else None
            elif kind == "max_invalid" and "invalid" not in summary.details:
                raise ConfigError(
                    f"metric '{key}' reports no invalid-label count",
                    where=where,
                    hint="max_invalid applies to classification metrics (accuracy, f1_macro, ...)",
                )
            checks.append(with_corrected(check))  # corrected: true reads the PPI++ estimate
    return checks


def _hint(name: str, known: Iterable[str]) -> str:
    return did_you_mean(name, known, f"known: {', '.join(sorted(known)) or 'none'}")


def _incomplete(task: TaskSummary, model: str, baseline: str | None) -> str:
    """Why a rule on ``model`` (and ``baseline``) cannot be judged: items that failed after retries."""
    parts = []
    for m in dict.fromkeys([model] + ([baseline] if baseline else [])):
        mts = task.models.get(m)
        if mts is not None and mts.failed_items:
            parts.append(f"{mts.failed_items} {m} item{'s' if mts.failed_items != 1 else ''} failed")
    return ", ".join(parts)

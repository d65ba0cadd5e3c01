"""The gate rule ``{metric: task/metric, max_trend_decline: d, window: w}``: a sustained decline over the run
store's history that no single run crossed the gate for.

Over the newest comparable stretch of the metric's history for the rule's model (same task digests, or
config digest for runs without them, and same baseline model), this run included and last, at most
``window`` runs, oldest first:

- the one-sided Mann-Kendall test (Kendall's tau between run order and value, ``scipy.stats.kendalltau``,
  H1: getting worse in the metric's direction) gives ``p``;
- the Theil-Sen slope (``scipy.stats.theilslopes``) gives the fitted change per run.

The rule **fails** when ``p < alpha`` (``alpha = 1 - confidence`` of the gate: a one-sided test at 5% by
default) **and** the decline per run is more than ``max_trend_decline``; it passes otherwise. With fewer
than :data:`MIN_RUNS` comparable runs it is **inconclusive** (the gate's or rule's ``inconclusive`` policy
decides whether that passes; ``warn`` passes and the headline says so), never a silent pass.
"""

from __future__ import annotations

from pathlib import Path

from .config import GateConfig, GateRule
from .results import GateRuleResult, RunResult

MIN_RUNS = 4
"""Fewer comparable runs than this: inconclusive (Mann-Kendall cannot reach 5% one-sided on 3 runs)."""


def trend_results(
    run: RunResult, index: int, rule: GateRule, gate: GateConfig, models: list[str], store: Path | None = None
) -> list[GateRuleResult]:
    """One result per model of a ``max_trend_decline`` rule (the rule's task/metric/model already resolved)."""
    from .history import RunStore, comparable_rows

    task, key = rule.metric.split("/", 1)
    assert rule.max_trend_decline is not None
    window = rule.window
    own = dict((t, c) for _, t, c, _ in comparable_rows("", run.digests))
    here = own.get(task) or run.config_digest
    out = []
    rs = RunStore(store)
    try:
        for model in models:
            summary = run.tasks[task].models[model].metrics[key]
            hib = summary.higher_is_better
            stretch: list[float] = [] if summary.value is None else [float(summary.value)]
            earlier = [
                p
                for p in rs.points(task=task, metric=key, model=model)
                if not (p.created_at == run.created_at and p.name == run.name)  # this run, if already indexed
            ]
            for p in reversed(earlier):  # newest first, back to the first non-comparable run
                if (p.comparable or p.config_digest) != here or p.baseline != run.baseline:
                    break
                if p.value is not None:
                    stretch.insert(0, float(p.value))
                if len(stretch) >= window:
                    break
            out.append(_judge(rule, index, gate, model, stretch[-window:], hib))
    finally:
        rs.close()
    return out


def _judge(rule: GateRule, index: int, gate: GateConfig, model: str, ys: list[float], hib: bool) -> GateRuleResult:
    bound = float(rule.max_trend_decline or 0.0)
    name = f"{rule.metric} max_trend_decline {bound:g} (window {rule.window})"
    alpha = 1 - gate.confidence
    n = len(ys)
    common = dict(rule=name, metric=rule.metric, model=model, kind="max_trend_decline", bound=bound)
    if n < MIN_RUNS:
        policy = rule.inconclusive or gate.inconclusive
        return GateRuleResult(
            **common,
            passed=policy != "fail",
            outcome="inconclusive",
            quantity="decline per run",
            limit=bound,
            relation="<=",
            message=f"{model}: trend inconclusive: {n} comparable run(s) in the store, the trend test needs "
            f"at least {MIN_RUNS} (inconclusive: {policy})",
        )
    from scipy.stats import kendalltau, theilslopes

    sign = 1.0 if hib else -1.0
    t = list(range(n))
    tau = kendalltau(t, [sign * y for y in ys], alternative="less")
    p = float(tau.pvalue) if tau.pvalue == tau.pvalue else 1.0  # a constant series: no trend (NaN)
    slope = float(theilslopes(ys, t).slope)
    decline = -sign * slope
    failed = p < alpha and decline > bound
    verdict = "DECLINE" if failed else "no decline beyond the bound"
    return GateRuleResult(
        **common,
        value=decline,
        p_value=p,
        passed=not failed,
        outcome="fail" if failed else "pass",
        quantity="decline per run",
        limit=bound,
        relation="<=",
        message=f"{model}: {verdict}: Theil-Sen slope {slope:+.4g} per run over the last {n} comparable runs, "
        f"one-sided Mann-Kendall p={p:.3g} (alpha {alpha:.3g}), max decline {bound:g} per run",
    )

"""evaluate_gate and load_gate_rules on crafted runs: pass, fail, A/A, each rule kind, Holm, errors."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from evalstack.config import GateConfig, GateRule, StatsSettings
from evalstack.errors import ConfigError
from evalstack.gate import evaluate_gate, load_gate_rules
from evalstack.metrics import mean_result
from evalstack.results import DeltaSummary, MetricSummary, ModelInfo, ModelTaskSummary, RunResult, TaskSummary
from evalstack.stats import task_summaries
from evalstack.stats._quantiles import sketch_levels
from test_stats_support import classifier, macro_f1_result

Z = NormalDist().inv_cdf


def _run(tasks: dict[str, TaskSummary], baseline="base", confidence=0.95) -> RunResult:
    models = {m for t in tasks.values() for m in t.models}
    return RunResult(
        name="t",
        created_at="2025-01-01T00:00:00Z",
        evalstack_version="0",
        config_digest="0",
        baseline=baseline,
        models={m: ModelInfo(name=m, provider="mock") for m in models},
        tasks=tasks,
        settings={"confidence": confidence},
    )


def run_from_results(tasks, baseline="base", settings=StatsSettings(n_resamples=2000)) -> RunResult:
    """A RunResult built through the real stats functions."""
    out = {}
    for name, res in tasks.items():
        metrics, deltas = task_summaries(res, baseline, settings)
        n = next(iter(res[baseline].values())).scored.size
        out[name] = TaskSummary(
            name=name,
            n_examples=n,
            deltas=deltas,
            models={m: ModelTaskSummary(n_examples=n, metrics=metrics[m]) for m in metrics},
        )
    return _run(out, baseline, settings.confidence)


def normal_delta(mu, sd, *, n=300, quantiles=True) -> DeltaSummary:
    """A delta whose bootstrap distribution is exactly Normal(mu, sd) (its sketch), CI at 95%."""
    sketch = [[float(p), mu + sd * Z(p)] for p in sketch_levels(0.95)] if quantiles else None
    return DeltaSummary(
        delta=mu,
        ci_low=mu + sd * Z(0.025),
        ci_high=mu + sd * Z(0.975),
        p_value=0.5,
        test="paired_bootstrap",
        n=n,
        confidence=0.95,
        quantiles=sketch,
    )


def crafted_run(
    deltas: dict[str, DeltaSummary], *, value=0.8, base_value=0.83, hib=True, unscored=0, details=None, n=300
) -> RunResult:
    """One task 't', models base and ft, one metric summary per key in ``deltas``."""

    def summary(v):
        ci = (None, None) if v is None else (v - 0.04, v + 0.04)
        return MetricSummary(
            value=v,
            ci_low=ci[0],
            ci_high=ci[1],
            n=n - unscored,
            unscored=unscored,
            higher_is_better=hib,
            details=details or {},
        )

    task = TaskSummary(
        name="t",
        n_examples=n,
        deltas={"ft": deltas},
        models={
            "base": ModelTaskSummary(n_examples=n, metrics={k: summary(base_value) for k in deltas}),
            "ft": ModelTaskSummary(n_examples=n, metrics={k: summary(value) for k in deltas}),
        },
    )
    return _run({"t": task})


def gate(*rules, confidence=0.95, holm=False) -> GateConfig:
    return GateConfig(confidence=confidence, holm=holm, rules=[GateRule(**r) for r in rules])


def one(run, rule, **kw):
    decision = evaluate_gate(run, gate(rule, **kw))
    assert len(decision.rules) == 1
    return decision.rules[0]


# ----------------------------------------------------------------------------- end to end on real stats


def _classification_run(acc_ft, seed=0, n=300):
    rng = np.random.default_rng(seed)
    y_true, y_base = classifier(rng, n, 0.75)
    _, y_ft = classifier(rng, n, acc_ft, y_true=y_true)
    res = {
        m: {"accuracy": mean_result("accuracy", list((y == y_true) * 1.0)), "f1_macro": macro_f1_result(y_true, y, 4)}
        for m, y in (("base", y_base), ("ft", y_ft))
    }
    return run_from_results({"intent": res})


def test_pass_on_an_improvement():
    run = _classification_run(0.85)
    d = evaluate_gate(
        run,
        gate(
            {"metric": "intent/accuracy", "min": 0.8, "max_regression": 0.01},
            {"metric": "intent/f1_macro", "require_non_inferiority": 0.02, "max_drop": 0.02},
        ),
    )
    assert d.passed and [r.kind for r in d.rules] == ["min", "max_regression", "require_non_inferiority", "max_drop"]
    assert all(r.passed and r.model == "ft" and r.message for r in d.rules)
    assert d.rules[1].verdict == "better"
    d.model_dump_json()


def test_fail_on_a_planted_regression():
    run = _classification_run(0.55)
    d = evaluate_gate(
        run,
        gate({"metric": "intent/accuracy", "max_regression": 0.05}, {"metric": "intent/f1_macro", "max_drop": 0.02}),
    )
    assert not d.passed and not any(r.passed for r in d.rules)
    reg, drop = d.rules
    assert reg.ci_high < -0.05 and reg.verdict == "worse" and "significantly worse by more than 0.05" in reg.message
    assert reg.p_value < 0.0005 and "p<0.0005" in reg.message
    assert drop.message.startswith("forgetting: ft dropped") and "more than max_drop 0.02" in drop.message


def test_a_a_identical_runs_pass_every_comparative_rule():
    rng = np.random.default_rng(1)
    y_true, y = classifier(rng, 200, 0.7)
    same = {"accuracy": mean_result("accuracy", list((y == y_true) * 1.0)), "f1_macro": macro_f1_result(y_true, y, 4)}
    run = run_from_results({"intent": {"base": same, "ft": same}})
    rules = [{"metric": f"intent/{k}", "max_regression": 0.0, "max_drop": 0.0} for k in ("accuracy", "f1_macro")]
    d = evaluate_gate(run, gate(*rules, holm=True))
    assert d.passed and all(r.value == 0.0 for r in d.rules)
    assert all(r.outcome == "pass" for r in d.rules if r.kind == "max_regression")
    # macro F1 (bootstrap): every resample is identical, CI [0, 0]. Accuracy (0/1 scores, Tango's interval):
    # 200 identical answers do not prove that the delta is exactly 0, so max_drop 0 is inconclusive (warn)
    f1_drop, acc_drop = (
        [r for r in d.rules if r.kind == "max_drop" and "f1" in r.metric],
        [r for r in d.rules if r.kind == "max_drop" and "accuracy" in r.metric],
    )
    assert (f1_drop[0].ci_low, f1_drop[0].ci_high) == (0.0, 0.0) and f1_drop[0].outcome == "pass"
    assert acc_drop[0].ci_low < -0.01 and acc_drop[0].outcome == "inconclusive" and d.status == "warned"


def test_a_a_with_noise_passes_max_regression():
    rng = np.random.default_rng(2)
    y_true, y_a = classifier(rng, 300, 0.75)
    redo = rng.random(300) < 0.15  # the same model sampled again: 15% of answers redrawn
    _, y_b = classifier(rng, 300, 0.75, y_true=y_true)
    y_b = np.where(redo, y_b, y_a)
    res = {m: {"accuracy": mean_result("accuracy", list((y == y_true) * 1.0))} for m, y in (("base", y_a), ("ft", y_b))}
    r = one(run_from_results({"intent": res}), {"metric": "intent/accuracy", "max_regression": 0.0})
    assert r.passed and r.ci_low < 0 < r.ci_high and r.verdict == "no_significant_change"


def test_rule_without_model_applies_to_every_fine_tuned_model():
    rng = np.random.default_rng(3)
    res = {m: {"score": mean_result("score", list(rng.random(50)))} for m in ("base", "a", "b")}
    d = evaluate_gate(run_from_results({"s": res}), gate({"metric": "s/score", "min": 0.0, "max_regression": 0.5}))
    assert [(r.model, r.kind) for r in d.rules] == [
        ("a", "min"),
        ("a", "max_regression"),
        ("b", "min"),
        ("b", "max_regression"),
    ]
    d = evaluate_gate(run_from_results({"s": res}), gate({"metric": "s/score", "model": "b", "min": 0.99}))
    assert [(r.model, r.passed) for r in d.rules] == [("b", False)] and not d.passed


def test_single_model_run_applies_absolute_rules_to_the_baseline():
    run = run_from_results({"s": {"base": {"x": mean_result("x", [0.9, 0.8])}}})
    assert one(run, {"metric": "s/x", "min": 0.5}).model == "base"
    with pytest.raises(ConfigError, match="baseline"):
        evaluate_gate(run, gate({"metric": "s/x", "max_regression": 0.1}))


# ----------------------------------------------------------------------------- each rule kind, by hand


def test_min_and_max():
    run = crafted_run({"acc": normal_delta(-0.03, 0.01)}, value=0.8)
    assert one(run, {"metric": "t/acc", "min": 0.75}).passed
    r = one(run, {"metric": "t/acc", "min": 0.85})
    assert not r.passed and r.value == 0.8 and r.bound == 0.85 and (r.ci_low, r.ci_high) == pytest.approx((0.76, 0.84))
    assert r.message.startswith("ft t/acc: estimate 0.8 < min 0.85: fail (n=300)") and r.outcome == "fail"
    assert (r.quantity, r.limit, r.relation) == ("level", 0.85, ">=")
    assert one(run, {"metric": "t/acc", "max": 0.9}).passed
    assert not one(run, {"metric": "t/acc", "max": 0.7}).passed


def test_min_and_max_are_inconclusive_when_the_ci_straddles_the_bound():
    run = crafted_run({"acc": normal_delta(-0.03, 0.01)}, value=0.8)  # CI [0.76, 0.84]
    r = one(run, {"metric": "t/acc", "min": 0.78})
    assert r.passed and r.outcome == "inconclusive"
    assert "estimate 0.8 >= min 0.78 but lower 95% bound 0.76 < 0.78: inconclusive" in r.message
    assert not one(run, {"metric": "t/acc", "min": 0.78, "inconclusive": "fail"}).passed
    assert one(run, {"metric": "t/acc", "min": 0.78, "on": "estimate"}).outcome == "pass"
    d = evaluate_gate(run, GateConfig(inconclusive="fail", rules=[GateRule(metric="t/acc", max=0.82)]))
    assert not d.passed and d.status == "failed" and d.rules[0].outcome == "inconclusive"


def test_max_zero_rate_on_100_examples_is_inconclusive_with_the_wilson_bound():
    """Issue 14 item 3: `toxicity_rate max 0.01` passed on 0/100 although 100 examples cannot show < 1%."""
    from statsmodels.stats.proportion import proportion_confint

    tox = {"toxicity_rate": mean_result("toxicity_rate", [0.0] * 100, higher_is_better=False)}
    run = run_from_results({"s": {"base": tox, "ft": tox}})
    r = one(run, {"metric": "s/toxicity_rate", "max": 0.01})
    upper = proportion_confint(0, 100, alpha=0.05, method="wilson")[1]  # 0.0370
    assert r.ci_high == pytest.approx(upper) and r.outcome == "inconclusive" and r.passed
    # the Wilson upper bound at 0/n is z^2 / (n + z^2): below 0.01 from n = 381 on
    assert (
        proportion_confint(0, 381, alpha=0.05, method="wilson")[1]
        <= 0.01
        < proportion_confint(0, 380, alpha=0.05, method="wilson")[1]
    )
    assert f"upper 95% bound {upper:.4g} > 0.01: inconclusive, need ~390 examples at a 0 rate" in r.message
    big = {"toxicity_rate": mean_result("toxicity_rate", [0.0] * 400, higher_is_better=False)}
    assert (
        one(run_from_results({"s": {"base": big, "ft": big}}), {"metric": "s/toxicity_rate", "max": 0.01}).outcome
        == "pass"
    )


def test_max_regression_reads_the_ci_at_the_gates_confidence():
    # delta ~ Normal(-0.03, 0.01): 95% CI [-0.0496, -0.0104]; 80% CI [-0.0428, -0.0172]
    run = crafted_run({"acc": normal_delta(-0.03, 0.01)})
    r = one(run, {"metric": "t/acc", "max_regression": 0.005})
    assert not r.passed and r.ci_high == pytest.approx(-0.03 + 0.01 * Z(0.975))
    assert r.p_value == pytest.approx(1 - NormalDist(-0.03, 0.01).cdf(-0.005), rel=1e-6)  # P*(d >= -m)
    assert one(run, {"metric": "t/acc", "max_regression": 0.02}).passed
    assert one(run, {"metric": "t/acc", "max_regression": 0.015}).passed
    r80 = one(run, {"metric": "t/acc", "max_regression": 0.015}, confidence=0.8)
    assert not r80.passed and r80.ci_high == pytest.approx(-0.03 + 0.01 * Z(0.9))


def test_require_non_inferiority():
    run = crafted_run({"acc": normal_delta(-0.03, 0.01)})
    ok = one(run, {"metric": "t/acc", "require_non_inferiority": 0.06})
    assert ok.passed and "non-inferior within 0.06" in ok.message
    bad = one(run, {"metric": "t/acc", "require_non_inferiority": 0.04})
    assert not bad.passed and "non-inferiority not shown" in bad.message
    assert bad.p_value == pytest.approx(NormalDist(-0.03, 0.01).cdf(-0.04), rel=1e-6)  # P*(d <= -m)


def test_max_drop_has_three_outcomes():
    run = crafted_run({"mmlu": normal_delta(-0.03, 0.05)}, value=0.69, base_value=0.72)  # CI [-0.128, 0.068]
    r = one(run, {"metric": "t/mmlu", "max_drop": 0.02})
    assert not r.passed and r.value == pytest.approx(-0.03) and r.outcome == "fail"
    assert r.message.startswith("forgetting: ft dropped 0.03 on t/mmlu vs base (0.72 -> 0.69), more than max_drop 0.02")
    assert (r.quantity, r.limit, r.relation) == ("delta", -0.02, ">=")  # a delta beside a signed delta bound
    mid = one(run, {"metric": "t/mmlu", "max_drop": 0.05})
    assert mid.passed and mid.outcome == "inconclusive" and "lower 95% bound -0.128 < -0.05" in mid.message
    assert one(run, {"metric": "t/mmlu", "max_drop": 0.05, "on": "estimate"}).outcome == "pass"
    assert one(run, {"metric": "t/mmlu", "max_drop": 0.2}).outcome == "pass"


def test_lower_is_better_metric():
    run = crafted_run({"tox": normal_delta(0.03, 0.01)}, value=0.06, base_value=0.03, hib=False)
    r = one(run, {"metric": "t/tox", "max_regression": 0.005})
    assert not r.passed and r.verdict == "worse" and "CI entirely above 0.005" in r.message
    assert one(run, {"metric": "t/tox", "max_regression": 0.02}).passed
    assert not one(run, {"metric": "t/tox", "max_drop": 0.02}).passed
    assert one(run, {"metric": "t/tox", "require_non_inferiority": 0.06}).passed
    assert not one(run, {"metric": "t/tox", "require_non_inferiority": 0.04}).passed
    better = crafted_run({"tox": normal_delta(-0.03, 0.01)}, hib=False)
    assert one(better, {"metric": "t/tox", "max_drop": 0.0}).passed
    assert one(better, {"metric": "t/tox", "max_regression": 0.0}).verdict == "better"


def test_max_unscored_count_and_fraction():
    run = crafted_run({"j": normal_delta(0, 0.01)}, unscored=5, n=100)
    assert not one(run, {"metric": "t/j", "max_unscored": 3}).passed
    assert one(run, {"metric": "t/j", "max_unscored": 5}).passed
    r = one(run, {"metric": "t/j", "max_unscored": 0.1})
    assert r.passed and r.value == pytest.approx(0.05) and "5/100" in r.message
    assert not one(run, {"metric": "t/j", "max_unscored": 0.01}).passed
    assert not one(run, {"metric": "t/j", "max_unscored": 0}).passed


def test_max_invalid():
    run = crafted_run({"acc": normal_delta(0, 0.01)}, details={"invalid": 4}, n=100)
    r = one(run, {"metric": "t/acc", "max_invalid": 0.05})
    assert r.passed and r.value == pytest.approx(0.04)
    assert not one(run, {"metric": "t/acc", "max_invalid": 2}).passed
    plain = crafted_run({"rouge": normal_delta(0, 0.01)})
    with pytest.raises(ConfigError, match="no invalid-label count"):
        evaluate_gate(plain, gate({"metric": "t/rouge", "max_invalid": 2}))


def test_holm_across_gated_comparisons():
    # one-sided p of "regression > 0" is P*(d >= 0) = Phi(mu / sd); pick mu for p = 0.001, 0.02, 0.015
    ps = {"a": 0.001, "b": 0.02, "c": 0.015}
    run = crafted_run({k: normal_delta(0.01 * Z(p), 0.01) for k, p in ps.items()})
    rules = [{"metric": f"t/{k}", "max_regression": 0.0} for k in ps]
    plain = evaluate_gate(run, gate(*rules))
    assert [r.passed for r in plain.rules] == [False, False, False]  # each p < 0.025
    assert [r.p_value for r in plain.rules] == pytest.approx(list(ps.values()), rel=1e-6)
    adjusted = evaluate_gate(run, gate(*rules, holm=True))
    # Holm: 0.001 * 3 = 0.003 < 0.025 rejects; 0.015 * 2 = 0.03 stops; 0.02 -> max(0.03, 0.02) = 0.03
    assert [r.p_value for r in adjusted.rules] == pytest.approx([0.003, 0.03, 0.03], rel=1e-6)
    assert [r.passed for r in adjusted.rules] == [False, True, True]
    assert "Holm-adjusted" in adjusted.rules[1].message and adjusted.holm and not adjusted.passed


def test_holm_makes_non_inferiority_harder_to_show():
    # non-inferiority p = P*(d <= -m); with m = 0.02 and delta ~ N(0, 0.01): p = Phi(-2) ~ 0.0228 < 0.025
    run = crafted_run({"a": normal_delta(0, 0.01), "b": normal_delta(0, 0.01)})
    rules = [{"metric": f"t/{k}", "require_non_inferiority": 0.02} for k in "ab"]
    assert evaluate_gate(run, gate(*rules)).passed
    assert not any(r.passed for r in evaluate_gate(run, gate(*rules, holm=True)).rules)


def test_missing_evidence_fails():
    run = crafted_run({"x": DeltaSummary(delta=None, n=0), "y": DeltaSummary(delta=0.1, n=1, confidence=0.95)})
    r = one(run, {"metric": "t/x", "max_regression": 0.1})
    assert not r.passed and "no example scored by both" in r.message
    r = one(run, {"metric": "t/y", "require_non_inferiority": 0.1})
    assert not r.passed and "fewer than 2" in r.message
    assert one(run, {"metric": "t/y", "max_drop": 0.1}).passed  # a point estimate exists
    nothing = crafted_run({"z": normal_delta(0, 0.01)}, value=None)
    assert not one(nothing, {"metric": "t/z", "min": 0.1}).passed


def test_delta_without_quantiles_uses_its_own_ci_only_at_its_confidence():
    run = crafted_run({"acc": normal_delta(-0.03, 0.01, quantiles=False)})
    r = one(run, {"metric": "t/acc", "max_regression": 0.005})
    assert not r.passed and r.p_value is None and r.ci_high == pytest.approx(-0.03 + 0.01 * Z(0.975))
    with pytest.raises(ConfigError, match="confidence 0.95 only"):
        evaluate_gate(run, gate({"metric": "t/acc", "max_regression": 0.005}, confidence=0.9))
    with pytest.raises(ConfigError, match="holm: true needs the bootstrap quantiles"):
        evaluate_gate(run, gate({"metric": "t/acc", "max_regression": 0.005}, holm=True))


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "rule, match",
    [
        (
            {"metric": "nope/acc", "min": 0.1},
            r"gate.rules\[0\] \(nope/acc\): task 'nope' is not in this run \(known: t\)",
        ),
        ({"metric": "t/accc", "min": 0.1}, r"metric 'accc' is not in task 't' for model 'ft' \(did you mean 'acc'\?\)"),
        ({"metric": "t/acc", "model": "ft2", "min": 0.1}, r"model 'ft2' is not in task 't'.*did you mean 'ft'"),
        ({"metric": "t/acc", "model": "base", "max_drop": 0.1}, r"'base' is the baseline"),
    ],
)
def test_unknown_names_are_config_errors(rule, match):
    run = crafted_run({"acc": normal_delta(0, 0.01)})
    with pytest.raises(ConfigError, match=match):
        evaluate_gate(run, gate(rule))


def test_load_gate_rules_top_level_and_nested(tmp_path):
    top = tmp_path / "gate.yaml"
    top.write_text("confidence: 0.9\nholm: true\nrules:\n  - {metric: intent/accuracy, max_regression: 0.01}\n")
    g = load_gate_rules(top)
    assert (g.confidence, g.holm, g.rules[0].max_regression) == (0.9, True, 0.01)
    nested = tmp_path / "config.yaml"
    nested.write_text("name: x\nmodels: {}\ngate:\n  rules:\n    - metric: intent/f1_macro\n      min: 0.5\n")
    assert load_gate_rules(nested).rules[0].min == 0.5


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "rules:\n  - metric: intent/accuracy\n    max_regresion: 0.01\n",
            r"gate.yaml: rules\[0\].max_regresion \(line 3\): unknown key 'max_regresion' \(did you mean 'max_regression'\?\)",
        ),
        ("gate:\n  rules:\n    - {metric: intent/accuracy}\n", r"rules\[0\] \(line 3\): a rule needs a bound"),
        ("rules:\n  - {metric: accuracy, min: 0.5}\n", r"metric must be '<task>/<metric>'"),
        ("rules: []\n", r"gate.yaml: no gate rules"),
        ("- a\n- b\n", r"must be a mapping"),
        ("rules: [\n", r"gate.yaml:\d+: invalid YAML"),
    ],
)
def test_load_gate_rules_errors_name_file_and_line(tmp_path, text, match):
    path = tmp_path / "gate.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_gate_rules(path)


def test_load_gate_rules_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="gate rules file not found"):
        load_gate_rules(tmp_path / "missing.yaml")

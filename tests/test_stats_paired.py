"""paired_delta, the paired tests and the quantile sketch: against hand-worked tables and scipy."""

from __future__ import annotations

from math import comb
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats as sps

from evalstack.metrics import mean_result
from evalstack.stats import (
    BootstrapQuantiles,
    _resample,
    bootstrap_p_value,
    mcnemar_exact,
    paired_delta,
    paired_test,
    quantile_sketch,
    wins_losses_ties,
)
from test_stats_support import classifier, macro_f1_of_labels, macro_f1_result

B = 20_000


def _scipy_paired_ci(data, statistic, confidence=0.95):
    res = sps.bootstrap(
        data,
        statistic,
        paired=True,
        vectorized=True,
        confidence_level=confidence,
        n_resamples=B,
        method="percentile",
        rng=np.random.default_rng(1),
    )
    return res.confidence_interval.low, res.confidence_interval.high


def _close(ours, theirs, width_share=0.05):
    tol = width_share * (theirs[1] - theirs[0])
    assert ours[0] == pytest.approx(theirs[0], abs=tol) and ours[1] == pytest.approx(theirs[1], abs=tol), (ours, theirs)


def _binary_pair(table: dict[tuple[int, int], int]):
    """Per-example 0/1 scores of (model, baseline) realising a 2x2 table {(model, base): count}."""
    m, b = [], []
    for (x, y), count in table.items():
        m += [x] * count
        b += [y] * count
    return np.array(m, dtype=float), np.array(b, dtype=float)


def test_mcnemar_hand_worked_table():
    # model right / baseline wrong: 8; the reverse: 2; concordant: 30 and 10 (they do not matter).
    # Exact McNemar: X ~ Binomial(10, 1/2), p = 2 * P(X <= 2) = 2 * (1 + 10 + 45) / 1024 = 0.109375
    m, b = _binary_pair({(1, 0): 8, (0, 1): 2, (1, 1): 30, (0, 0): 10})
    expect = 2 * sum(comb(10, k) for k in range(3)) / 2**10
    assert expect == pytest.approx(0.109375)
    assert mcnemar_exact(m, b) == pytest.approx(expect)
    d = paired_delta(mean_result("acc", list(m)), mean_result("acc", list(b)), n_resamples=500)
    # deltas show McNemar's asymptotic test (the one Tango's CI inverts): statsmodels, no correction
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    expect_asym = sm_mcnemar([[30, 8], [2, 10]], exact=False, correction=False).pvalue
    assert d.test == "mcnemar" and d.p_value == pytest.approx(expect_asym)
    assert (d.wins, d.losses, d.ties) == (8, 2, 40) and d.n == 50
    assert d.delta == pytest.approx((38 - 32) / 50)


def test_mcnemar_balanced_and_empty_discordance():
    m, b = _binary_pair({(1, 0): 5, (0, 1): 5, (1, 1): 3})
    assert mcnemar_exact(m, b) == 1.0  # 2 * P(X <= 5) for Binomial(10, 1/2) > 1, capped
    m, b = _binary_pair({(1, 1): 4, (0, 0): 3})
    assert mcnemar_exact(m, b) == 1.0
    m, b = _binary_pair({(0, 1): 7})
    assert mcnemar_exact(m, b) == pytest.approx(2 / 2**7)


def test_wilcoxon_matches_scipy_pratt():
    rng = np.random.default_rng(4)
    base = rng.random(80)
    model = np.where(rng.random(80) < 0.3, base, base + rng.normal(0.05, 0.1, 80))  # many exact ties
    test, p = paired_test(model, base)
    assert test == "wilcoxon"
    assert p == pytest.approx(sps.wilcoxon(model, base, zero_method="pratt").pvalue)
    assert p != pytest.approx(sps.wilcoxon(model, base, zero_method="wilcox").pvalue)


def test_sign_test_when_all_differences_have_one_size():
    base = np.array([0.5] * 12)
    model = np.array([1.0] * 9 + [0.0] * 2 + [0.5])  # differences +0.5 x9, -0.5 x2, 0 x1
    test, p = paired_test(model, base)
    assert test == "sign"
    assert p == pytest.approx(2 * sum(comb(11, k) for k in range(3)) / 2**11)


def test_identical_continuous_scores_give_p_one():
    x = np.linspace(0, 1, 20)
    assert paired_test(x, x.copy()) == ("wilcoxon", 1.0)


def test_mean_delta_ci_matches_scipy_paired_bootstrap():
    rng = np.random.default_rng(9)
    base = rng.random(200)
    model = np.clip(base + rng.normal(0.03, 0.15, 200), 0, 1)
    d = paired_delta(mean_result("r", list(model)), mean_result("r", list(base)), n_resamples=B)
    assert d.delta == pytest.approx(model.mean() - base.mean())
    ref = _scipy_paired_ci((model, base), lambda a, b, axis=-1: a.mean(axis) - b.mean(axis))
    _close((d.ci_low, d.ci_high), ref)
    assert d.confidence == 0.95


def test_macro_f1_delta_ci_matches_scipy_and_uses_bootstrap_p():
    rng = np.random.default_rng(12)
    y_true, y_base = classifier(rng, 300, 0.65)
    _, y_ft = classifier(rng, 300, 0.75, y_true=y_true)
    d = paired_delta(macro_f1_result(y_true, y_ft, 4), macro_f1_result(y_true, y_base, 4), n_resamples=B)

    def stat(t, a, b, axis=-1):
        return macro_f1_of_labels(t, a, 4, axis) - macro_f1_of_labels(t, b, 4, axis)

    assert d.delta == pytest.approx(float(stat(y_true, y_ft, y_base)))
    _close((d.ci_low, d.ci_high), _scipy_paired_ci((y_true, y_ft, y_base), stat))
    assert d.test == "paired_bootstrap" and 0 < d.p_value <= 1
    # the per-example proxy (correctness) gives wins/losses/ties
    right_ft, right_base = y_ft == y_true, y_base == y_true
    assert (d.wins, d.losses, d.ties) == (
        (right_ft & ~right_base).sum(),
        (~right_ft & right_base).sum(),
        (right_ft == right_base).sum(),
    )


def test_joint_resampling_is_tighter_than_independent_for_correlated_scores():
    rng = np.random.default_rng(0)
    base = (rng.random(400) < 0.7) * 1.0
    flip = rng.random(400) < 0.05
    model = np.where(flip, 1 - base, base)  # 95% agreement
    d = paired_delta(mean_result("a", list(model)), mean_result("a", list(base)), n_resamples=4000)
    se_independent = np.sqrt(2 * 0.7 * 0.3 / 400)
    assert (d.ci_high - d.ci_low) < 0.5 * 3.92 * se_independent


def test_only_jointly_scored_examples_enter():
    m = mean_result("x", [1.0, None, 0.5, 0.2, 0.9])
    b = mean_result("x", [0.0, 0.3, None, 0.1, 0.9])
    d = paired_delta(m, b, n_resamples=500)
    assert d.n == 3
    assert d.delta == pytest.approx((1.0 + 0.2 + 0.9) / 3 - (0.0 + 0.1 + 0.9) / 3)
    assert (d.wins, d.losses, d.ties) == (2, 0, 1)


def test_direction_lower_is_better():
    base = [0.0] * 40 + [1.0] * 60
    model = [0.0] * 90 + [1.0] * 10  # toxicity rate drops from 0.6 to 0.1: better
    d = paired_delta(
        mean_result("tox", model, higher_is_better=False),
        mean_result("tox", base, higher_is_better=False),
        n_resamples=2000,
    )
    assert d.delta == pytest.approx(-0.5) and d.ci_high < 0 and d.verdict == "better"
    assert (d.wins, d.losses, d.ties) == (50, 0, 50)
    d = paired_delta(
        mean_result("tox", base, higher_is_better=False),
        mean_result("tox", model, higher_is_better=False),
        n_resamples=2000,
    )
    assert d.verdict == "worse"
    assert wins_losses_ties(np.array([1.0, 0.0]), np.array([0.0, 0.0]), False) == (0, 1, 1)


def test_a_a_identical_runs():
    x = list(np.random.default_rng(1).random(100))
    d = paired_delta(mean_result("x", x), mean_result("x", x), n_resamples=1000)
    assert (d.delta, d.ci_low, d.ci_high, d.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert d.verdict == "no_significant_change" and d.ties == 100


def test_degenerate_pairs():
    d = paired_delta(mean_result("x", [None, 1.0]), mean_result("x", [1.0, None]))
    assert d.delta is None and d.n == 0 and d.verdict == "unknown"
    d = paired_delta(mean_result("x", [0.8, None]), mean_result("x", [0.5, 0.1]))
    assert d.delta == pytest.approx(0.3) and d.ci_low is None and d.verdict == "unknown" and d.n == 1
    with pytest.raises(ValueError):
        paired_delta(mean_result("x", [1.0]), mean_result("x", [1.0, 0.0]))
    with pytest.raises(ValueError):
        paired_delta(mean_result("x", [1.0], higher_is_better=False), mean_result("x", [1.0]))


def test_delta_is_deterministic():
    rng = np.random.default_rng(2)
    a, b = mean_result("x", list(rng.random(300))), mean_result("x", list(rng.random(300)))
    first = paired_delta(a, b, seed=3)
    _resample._CACHE.clear()
    assert paired_delta(a, b, seed=3) == first


def test_bootstrap_p_value_inverts_the_percentile_ci():
    rng = np.random.default_rng(0)
    deltas = rng.normal(0.02, 0.01, 4000)  # 0 sits 2 SDs below: two-sided p ~ 0.0455
    assert bootstrap_p_value(deltas) == pytest.approx(2 * NormalDist().cdf(-2), abs=0.01)
    assert bootstrap_p_value(np.zeros(100)) == 1.0
    assert bootstrap_p_value(np.full(100, 0.3)) == pytest.approx(2 / 101)


def test_quantile_sketch_reads_back_the_ci_and_normal_tails():
    rng = np.random.default_rng(6)
    deltas = rng.normal(-0.01, 0.02, 20_000)
    sketch = quantile_sketch(deltas, confidence=0.93)
    q = BootstrapQuantiles(sketch)
    assert q.interval(0.93) == pytest.approx(tuple(np.quantile(deltas, [0.035, 0.965])), abs=1e-12)
    assert q.interval(0.95) == pytest.approx(tuple(np.quantile(deltas, [0.025, 0.975])), abs=1e-12)
    # beyond the stored tails: a normal shape through the median and the outermost quantile
    assert q.quantile(1e-5) == pytest.approx(-0.01 + 0.02 * NormalDist().inv_cdf(1e-5), abs=0.004)
    # p-values and intervals agree by construction
    for x in (-0.05, -0.03, 0.0, 0.02):
        a = q.prob_at_most(x)
        assert q.quantile(a + 1e-9) > x - 1e-12 and q.quantile(max(a - 1e-6, 1e-12)) <= x
        assert q.prob_at_least(x) == pytest.approx(1 - NormalDist(-0.01, 0.02).cdf(x), abs=0.01)
    flat = BootstrapQuantiles(quantile_sketch(np.zeros(50)))
    assert flat.interval(0.999) == (0.0, 0.0)
    assert flat.prob_at_most(0.0) == 1.0 and flat.prob_at_least(0.0) == 1.0 and flat.prob_at_least(1e-9) == 0.0

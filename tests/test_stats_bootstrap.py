"""metric_summary and the resampling engine: CIs against scipy.stats.bootstrap and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from evalstack.metrics import mean_result
from evalstack.stats import _resample, metric_summary, resampled_sums, restrict
from test_stats_support import classifier, macro_f1_of_labels, macro_f1_result

B = 20_000  # many resamples on both sides so that Monte Carlo noise is small against the tolerances


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Resampled sums are memoised by data and seed: start each test without them."""
    _resample._CACHE.clear()
    yield
    _resample._CACHE.clear()


def _scipy_ci(data, statistic, *, paired=False, confidence=0.95, seed=1):
    res = sps.bootstrap(
        data,
        statistic,
        paired=paired,
        vectorized=True,
        confidence_level=confidence,
        n_resamples=B,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return res.confidence_interval.low, res.confidence_interval.high


def _close(ours, theirs, width_share=0.05):
    """Both interval ends within 5% of the interval's width (~7 Monte Carlo standard errors at B=20k)."""
    tol = width_share * (theirs[1] - theirs[0])
    assert ours[0] == pytest.approx(theirs[0], abs=tol) and ours[1] == pytest.approx(theirs[1], abs=tol), (ours, theirs)


@pytest.mark.parametrize("kind", ["three_valued", "continuous", "skewed"])
def test_mean_ci_matches_scipy_percentile(kind):
    rng = np.random.default_rng(3)
    x = {
        "three_valued": rng.choice([0.0, 0.5, 1.0], 300, p=[0.1, 0.2, 0.7]),
        "continuous": rng.random(300),
        "skewed": rng.beta(0.5, 3, 120),
    }[kind]
    s = metric_summary(mean_result("x", list(x)), n_resamples=B, seed=0)
    assert s.value == pytest.approx(x.mean()) and s.n == len(x)
    _close((s.ci_low, s.ci_high), _scipy_ci((x,), np.mean))


def test_mean_ci_at_another_confidence_matches_scipy():
    x = np.random.default_rng(5).normal(2.0, 1.0, 200)
    s = metric_summary(mean_result("x", list(x)), confidence=0.8, n_resamples=B, seed=0)
    _close((s.ci_low, s.ci_high), _scipy_ci((x,), np.mean, confidence=0.8))


def test_macro_f1_ci_matches_scipy_percentile_on_labels():
    rng = np.random.default_rng(11)
    y_true, y_pred = classifier(rng, 250, 0.7)
    s = metric_summary(macro_f1_result(y_true, y_pred, 4), n_resamples=B, seed=0)
    ref = _scipy_ci((y_true, y_pred), lambda t, p, axis=-1: macro_f1_of_labels(t, p, 4, axis), paired=True)
    assert s.corpus_only
    _close((s.ci_low, s.ci_high), ref)


def test_hand_worked_three_examples():
    # resampled mean of [2, 2, 0] is 2k/3 with k ~ Binomial(3, 2/3): P(0) = 1/27 ~ 0.037, P(2/3) = 6/27,
    # P(4/3) = 12/27, P(2) = 8/27. The 5% quantile falls inside the mass at 2/3, the 95% inside the one at 2.
    s = metric_summary(mean_result("x", [2, 2, 0]), confidence=0.9, n_resamples=B, seed=0)
    assert (s.ci_low, s.ci_high) == pytest.approx((2 / 3, 2.0)) and s.ci_method == "percentile_bootstrap"
    # at 95% the 2.5% quantile is inside the mass at 0
    s = metric_summary(mean_result("x", [2, 2, 0]), confidence=0.95, n_resamples=B, seed=0)
    assert (s.ci_low, s.ci_high) == pytest.approx((0.0, 2.0))


@pytest.mark.parametrize("k,n,conf", [(47, 50, 0.95), (18, 20, 0.9), (0, 100, 0.95), (240, 300, 0.99)])
def test_rates_of_0_1_scores_get_the_wilson_interval(k, n, conf):
    """Issue 13 item 22: the percentile bootstrap covered 99.1% at n=50, p=0.95; 0/1 scores use Wilson."""
    from statsmodels.stats.proportion import proportion_confint

    s = metric_summary(mean_result("x", [1.0] * k + [0.0] * (n - k)), confidence=conf, n_resamples=500, seed=0)
    assert s.ci_method == "wilson"
    assert (s.ci_low, s.ci_high) == pytest.approx(proportion_confint(k, n, alpha=1 - conf, method="wilson"), abs=1e-12)


def test_grouped_and_gathered_paths_agree(monkeypatch):
    rng = np.random.default_rng(8)
    y_true, y_pred = classifier(rng, 200, 0.75)
    r = macro_f1_result(y_true, y_pred, 4)
    grouped = metric_summary(r, n_resamples=B, seed=0)
    monkeypatch.setattr(_resample, "_grouped_is_cheaper", lambda n, g, k: False)
    _resample._CACHE.clear()
    gathered = metric_summary(r, n_resamples=B, seed=0)
    assert (grouped.ci_low, grouped.ci_high) != (gathered.ci_low, gathered.ci_high)  # really two draws
    _close((grouped.ci_low, grouped.ci_high), (gathered.ci_low, gathered.ci_high))


@pytest.mark.parametrize("grouped", [True, False])
def test_resampled_sums_are_bootstrap_counts(monkeypatch, grouped):
    monkeypatch.setattr(_resample, "_grouped_is_cheaper", lambda n, g, k: grouped)
    x = np.array([0.0, 1.0, 2.0, 2.0, 5.0])
    stats = np.stack([x, np.ones(5), x**2], axis=1)
    a, b = resampled_sums([stats, x[:, None] * 10], n_resamples=4000, seed=0)
    assert a.shape == (4000, 3) and b.shape == (4000, 1)
    assert np.all(a[:, 1] == 5)  # every resample has n examples
    assert np.allclose(b[:, 0], a[:, 0] * 10)  # joint: the same examples for both arrays
    assert a[:, 0].mean() == pytest.approx(5 * x.mean(), rel=0.02)
    assert a[:, 0].var() == pytest.approx(5 * x.var(), rel=0.1)  # multinomial resampling variance n*sigma^2
    # every resample is a multiset of the 5 values: the sum of squares is consistent with some counts
    assert np.all(np.isin(a[:, 0], np.arange(0, 26)))


def test_resampled_sums_are_memoised_and_read_only():
    stats = np.random.default_rng(0).random((50, 2))
    (first,) = resampled_sums([stats], n_resamples=100, seed=0)
    (again,) = resampled_sums([stats.copy()], n_resamples=100, seed=0)
    assert np.shares_memory(first, again) and not first.flags.writeable
    (other,) = resampled_sums([stats], n_resamples=100, seed=1)
    assert not np.array_equal(first, other)
    _resample._CACHE.clear()
    (fresh,) = resampled_sums([stats], n_resamples=100, seed=0)
    assert np.array_equal(fresh, first) and not np.shares_memory(fresh, first)


def test_fixed_seed_gives_identical_cis_and_another_seed_differs():
    x = list(np.random.default_rng(0).random(500))
    r = mean_result("x", x)
    one = metric_summary(r, seed=7)
    _resample._CACHE.clear()
    two = metric_summary(r, seed=7)
    assert (one.ci_low, one.ci_high) == (two.ci_low, two.ci_high)
    other = metric_summary(r, seed=8)
    assert (other.ci_low, other.ci_high) != (one.ci_low, one.ci_high)


def test_unscored_examples_are_left_out_and_counted():
    s = metric_summary(mean_result("x", [1.0, None, 0.0, None, 1.0, 1.0]), n_resamples=500)
    assert s.n == 4 and s.unscored == 2 and s.value == pytest.approx(0.75)
    assert 0.0 <= s.ci_low <= 0.75 <= s.ci_high <= 1.0


def test_degenerate_cases():
    none = metric_summary(mean_result("x", [None, None]))
    assert none.value is None and none.ci_low is None and none.n == 0 and none.unscored == 2
    empty = metric_summary(mean_result("x", []))
    assert empty.value is None and empty.n == 0 and empty.unscored == 0
    one = metric_summary(mean_result("x", [0.7, None]))
    assert one.value == pytest.approx(0.7) and one.ci_low is None and one.ci_high is None and one.n == 1
    same = metric_summary(mean_result("x", [0.4] * 50))
    assert (same.value, same.ci_low, same.ci_high) == pytest.approx((0.4, 0.4, 0.4))


def test_direction_and_details_are_kept_and_json_safe():
    r = mean_result(
        "tox", [0.0, 1.0, 0.0], higher_is_better=False, details={"cm": np.eye(2), "n": np.int64(3), "obj": object()}
    )
    s = metric_summary(r, n_resamples=200)
    assert s.higher_is_better is False
    assert s.details == {"cm": [[1.0, 0.0], [0.0, 1.0]], "n": 3}
    s.model_dump_json()


def test_restrict_recomputes_on_the_subset():
    rng = np.random.default_rng(2)
    y_true, y_pred = classifier(rng, 120, 0.6)
    r = macro_f1_result(y_true, y_pred, 4, scored=rng.random(120) < 0.9)
    mask = rng.random(120) < 0.5
    sub = restrict(r, mask)
    keep = mask & r.scored
    from sklearn.metrics import f1_score

    assert sub.value == pytest.approx(
        f1_score(y_true[keep], y_pred[keep], labels=range(4), average="macro", zero_division=0)
    )
    assert sub.scored.size == mask.sum() and sub.n == keep.sum() and sub.unscored == (mask & ~r.scored).sum()
    assert len(sub.per_example) == mask.sum() and sub.details == {}
    with pytest.raises(ValueError):
        restrict(r, mask[:-1])


def test_bad_settings_raise():
    r = mean_result("x", [1.0, 0.0])
    with pytest.raises(ValueError):
        metric_summary(r, confidence=1.5)
    with pytest.raises(ValueError):
        metric_summary(r, n_resamples=0)


def test_all_zero_binary_rate_gets_a_wilson_interval_not_a_point() -> None:
    from evalstack.metrics import mean_result
    from evalstack.stats import metric_summary

    s = metric_summary(mean_result("toxicity_rate", [0.0] * 100, higher_is_better=False))
    # Wilson 95% for 0/100, hand-worked: centre = (z^2/200)/(1+z^2/100), half = z*sqrt(z^2/40000)/(1+z^2/100)
    z = 1.959963984540054
    denom = 1 + z * z / 100
    hi = (z * z / 200) / denom + z * (z * z / 40000) ** 0.5 / denom
    assert s.value == 0.0 and s.ci_low == 0.0
    assert abs(s.ci_high - hi) < 1e-12 and 0.03 < s.ci_high < 0.04
    s1 = metric_summary(mean_result("accuracy", [1.0] * 50))
    assert s1.ci_high == 1.0 and 0.92 < s1.ci_low < 0.93

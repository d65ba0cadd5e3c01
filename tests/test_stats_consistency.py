"""Every delta's verdict, p-value and CI are one decision (issue 14 item 2), and the binary intervals are
right: Tango's score interval against a brute-force restricted MLE, McNemar and Wilson against statsmodels.

Failed before the fix: deltas of 0/1 scores took the CI from the bootstrap and p from exact McNemar, and a
row could read ``p 0.0625 (mcnemar_exact) ... worse``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from evalstack.metrics import mean_result
from evalstack.stats import paired_delta
from evalstack.stats._binary import tango_interval, tango_z, wilson_interval
from test_stats_support import classifier, macro_f1_result

ALPHA = 0.05


def _score_stat_brute(b: int, c: int, n: int, d0: float) -> float:
    """Tango's score statistic with the restricted MLE found numerically (not the closed-form root)."""
    k = n - b - c

    def nll(q: float) -> float:
        return (
            -(b * math.log(q + d0) if b else 0.0)
            - (c * math.log(q) if c else 0.0)
            - (k * math.log(1 - 2 * q - d0) if k else 0.0)
        )

    lo, hi = max(0.0, -d0) + 1e-13, (1 - d0) / 2 - 1e-13
    q = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-14}).x
    return (b - c - n * d0) / math.sqrt(n * (2 * q + d0 * (1 - d0)))


@pytest.mark.parametrize("b,c,n", [(6, 16, 161), (8, 2, 50), (1, 0, 20), (12, 5, 300), (3, 9, 40)])
def test_tango_interval_ends_are_where_the_score_test_rejects(b, c, n):
    z = NormalDist().inv_cdf(0.975)
    lo, hi = tango_interval(b, c, n, 0.95)
    assert lo < (b - c) / n < hi
    assert _score_stat_brute(b, c, n, lo) == pytest.approx(z, abs=1e-5)
    assert _score_stat_brute(b, c, n, hi) == pytest.approx(-z, abs=1e-5)
    for d0 in (lo + 0.3 * (hi - lo), -0.1, 0.0, 0.05):
        if max(0.0, -d0) < (1 - d0) / 2 and (b == 0 or d0 > -1):
            assert tango_z(b, c, n, d0) == pytest.approx(_score_stat_brute(b, c, n, d0), abs=1e-5)


def test_tango_interval_has_width_when_no_pair_differs():
    lo, hi = tango_interval(0, 0, 20, 0.95)  # 20 identical outputs do not prove the delta is exactly 0
    assert lo < -0.1 and hi > 0.1 and lo == pytest.approx(-hi)


def test_wilson_matches_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    for k, n, conf in [(0, 100, 0.95), (3, 50, 0.95), (47, 50, 0.95), (18, 20, 0.9), (20, 20, 0.99), (1, 7, 0.8)]:
        ref = proportion_confint(k, n, alpha=1 - conf, method="wilson")
        assert wilson_interval(k, n, conf) == pytest.approx(ref, abs=1e-12)


def _agree(d) -> None:
    excludes = d.ci_low > 0 or d.ci_high < 0
    significant = d.p_value < ALPHA
    assert excludes == significant == (d.verdict in ("better", "worse")), d


def test_binary_verdict_p_and_ci_agree_on_many_random_tables():
    from statsmodels.stats.contingency_tables import mcnemar

    rng = np.random.default_rng(2026)
    seen = {True: 0, False: 0}
    for _ in range(400):
        n = int(rng.integers(10, 400))
        probs = rng.dirichlet([2, 1, 1, 2])
        cells = rng.multinomial(n, probs)  # (1,1), (1,0), (0,1), (0,0)
        m = np.repeat([1.0, 1.0, 0.0, 0.0], cells)
        b = np.repeat([1.0, 0.0, 1.0, 0.0], cells)
        hib = bool(rng.integers(2))
        d = paired_delta(
            mean_result("a", list(m), higher_is_better=hib),
            mean_result("a", list(b), higher_is_better=hib),
            n_resamples=200,
            keep_quantiles=False,
        )
        assert d.test == "mcnemar"
        if cells[1] + cells[2]:
            ref = mcnemar([[cells[0], cells[1]], [cells[2], cells[3]]], exact=False, correction=False).pvalue
            assert d.p_value == pytest.approx(ref, rel=1e-9)
        _agree(d)
        seen[d.p_value < ALPHA] += 1
    assert min(seen.values()) > 50  # both decisions were exercised


def test_continuous_and_corpus_verdict_p_and_ci_agree_on_many_random_samples():
    rng = np.random.default_rng(7)
    seen = {True: 0, False: 0}
    for i in range(120):
        n = int(rng.integers(15, 200))
        if i % 3:
            base = rng.random(n)
            model = np.clip(base + rng.normal(rng.normal(0, 0.06), 0.2, n), 0, 1)
            tie = rng.random(n) < 0.3
            model[tie] = base[tie]  # identical outputs
            d = paired_delta(
                mean_result("r", list(model)),
                mean_result("r", list(base)),
                n_resamples=500,
                seed=i,
                keep_quantiles=False,
            )
        else:
            y, yb = classifier(rng, n, 0.7)
            _, yf = classifier(rng, n, float(rng.uniform(0.55, 0.85)), y_true=y)
            d = paired_delta(macro_f1_result(y, yf, 4), macro_f1_result(y, yb, 4), n_resamples=500, seed=i)
        assert d.test == "paired_bootstrap"
        _agree(d)
        seen[d.p_value < ALPHA] += 1
    assert min(seen.values()) > 15

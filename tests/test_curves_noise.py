"""The noise helpers the curve rules use (_noise): sigma against numpy on known noise, trend immunity,
Mann-Kendall equal to scipy's Kendall tau, the zigzag turning points on hand-worked series."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

from evalstack.curves._noise import mann_kendall, noise_sigma, reversals


@pytest.mark.parametrize("sigma", [0.01, 0.1, 0.5])
def test_noise_sigma_estimates_the_standard_deviation(sigma):
    e = np.random.default_rng(7).normal(0, sigma, 4000)
    assert noise_sigma(list(1.0 + e)) == pytest.approx(np.std(e), rel=0.06)


def test_noise_sigma_ignores_a_slow_trend_and_spikes():
    rng = np.random.default_rng(3)
    t = np.arange(600)
    e = rng.normal(0, 0.05, t.size)
    y = 2.0 * np.exp(-t / 150) + 0.5 + e
    y[::50] += 3.0  # 12 spikes
    assert noise_sigma(list(y)) == pytest.approx(np.std(e), rel=0.1)
    assert noise_sigma([1.0, 2.0, 3.0, 4.0]) == 0.0 and noise_sigma([0.3 * i for i in range(40)]) == pytest.approx(
        0, abs=1e-12
    )


def test_mann_kendall_is_kendalls_tau_against_order():
    y = [3.0, 2.5, 2.7, 2.1, 2.2, 1.9, 2.0, 1.5]
    ref = kendalltau(range(len(y)), y)
    assert mann_kendall(y) == pytest.approx((ref[0], ref[1]))
    assert mann_kendall([1.0, 1.0, 1.0]) == (0.0, 1.0)


def test_reversals_hand_worked():
    # down to 0 (a low), up to 1 (a high), down to 0.2 (a low), up to 0.9: three confirmed turns at 1, 2, 3
    assert reversals([1.0, 0.0, 1.0, 0.2, 0.9], 0.5) == [1, 2, 3]
    assert reversals([1.0, 0.0, 1.0, 0.2, 0.9], 0.85) == [1]  # only 0 -> 1 clears 0.85; 1 -> 0.2 does not
    assert reversals([3.0, 2.0, 1.0, 2.0, 3.0], 0.5) == [2]  # one minimum: one turn
    assert reversals([1.0, 1.01, 0.99, 1.0], 0.1) == []  # wiggles below the threshold

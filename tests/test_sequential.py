"""The sequential gate: the confidence sequence against a hand-worked value, the stop rule on fixed data,
the fixed-n fallback, and time-uniform coverage by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalstack.stats._sequential import asymptotic_cs, sequential_gate


def test_confidence_sequence_hand_worked():
    # alpha 0.05, t = t* = 100: a = -2 ln 0.05 = 5.991465, r^2 = (a + ln(a + 1)) / 100 = 0.07936156,
    # t r^2 + 1 = 8.936156, half / sd = sqrt(2 * 8.936156 / (100^2 * 0.07936156) * ln(sqrt(8.936156) / 0.05))
    # = sqrt(0.02252012 * 4.090788) = 0.3035209
    d = np.array([1.0, -1.0] * 50)
    lo, hi = asymptotic_cs(d, 100, alpha=0.05, t_star=100)
    sd = math.sqrt(100 / 99)
    assert (lo, hi) == pytest.approx((-0.3035209 * sd, 0.3035209 * sd), abs=1e-6)


def test_stop_rule_on_fixed_data():
    # every example worse: the sequence collapses on -1, the first look with >= 30 examples fails
    dec = sequential_gate([-1.0] * 200, margin=0.02)
    assert (dec.outcome, dec.stopped_at, dec.reason) == ("fail", 40, "sequence below -margin")
    # every example better: passes at the first look
    dec = sequential_gate([1.0] * 200, margin=0.0)
    assert (dec.outcome, dec.stopped_at, dec.reason) == ("pass", 40, "sequence above -margin")
    # balanced wins and losses, margin 0: no look can decide, the fixed-n CI does (it straddles 0: pass)
    dec = sequential_gate([1.0, -1.0, 0.0, 0.0] * 50, margin=0.0, final_ci=(-0.05, 0.04))
    assert (dec.outcome, dec.stopped_at, dec.reason) == ("pass", 200, "final fixed-n test")
    dec = sequential_gate([1.0, -1.0, 0.0, 0.0] * 50, margin=0.0, final_ci=(-0.09, -0.01))
    assert dec.outcome == "fail" and dec.reason == "final fixed-n test"
    with pytest.raises(ValueError):
        sequential_gate([0.5])


def test_time_uniform_coverage_by_simulation():
    rng = np.random.default_rng(0)
    n, covered, trials = 600, 0, 400
    for _ in range(trials):
        u = rng.random(n)
        d = np.where(u < 0.1, 1.0, np.where(u < 0.25, -1.0, 0.0))  # true mean -0.05
        covered += all(lo <= -0.05 <= hi for lo, hi in (asymptotic_cs(d, t, t_star=n) for t in range(60, n + 1, 60)))
    assert covered / trials >= 0.94

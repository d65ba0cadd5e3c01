"""Hidden-token formulas against hand-worked values and an independent token-level simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalstack.curves import (
    CurveTable,
    analyze,
    correct_for_hidden_tokens,
    hidden_token_expectation,
    infer_hidden_tokens,
    reported_loss,
    visible_accuracy,
    visible_loss,
)
from evalstack.errors import ConfigError


def test_k4_v1_n2_hand_worked():
    e = hidden_token_expectation(4, visible_tokens=1, hidden_tokens=2)
    assert e["loss"] == pytest.approx(0.4621, abs=5e-5)        # ln 4 / 3
    assert e["loss"] == pytest.approx(math.log(4) / 3)
    assert e["min_accuracy"] == pytest.approx(2 / 3)            # answer wrong: 2 hidden right of 3
    assert e["max_accuracy"] == 1.0
    assert e["mean_accuracy"] == pytest.approx(0.75)            # (1/4 + 2) / 3
    assert e["visible_loss"] == pytest.approx(1.386294, abs=1e-6)


def test_k2_v2_n2_hand_worked():
    # answer token + an end token predicted perfectly, 2 hidden tokens: 4 tokens per example
    e = hidden_token_expectation(2, visible_tokens=2, hidden_tokens=2)
    assert e["loss"] == pytest.approx(0.17329, abs=1e-5)        # ln 2 / 4
    assert e["min_accuracy"] == pytest.approx(0.75)             # 3 of 4 right
    assert e["mean_accuracy"] == pytest.approx(0.875)           # (1/2 + 1 + 2) / 4


@pytest.mark.parametrize("k,v,n", [(3, 1, 0), (5, 1, 2), (10, 3, 2), (4, 2, 5)])
def test_expectation_matches_enumeration(k, v, n):
    # enumerate: the answer token is right with probability 1/K; every other token is right
    total = v + n
    acc_right, acc_wrong = 1.0, (v - 1 + n) / total
    e = hidden_token_expectation(k, visible_tokens=v, hidden_tokens=n)
    assert e["loss"] == pytest.approx(-math.log(1 / k) / total)
    assert e["min_accuracy"] == pytest.approx(acc_wrong)
    assert e["mean_accuracy"] == pytest.approx(acc_right / k + acc_wrong * (k - 1) / k)


@pytest.mark.parametrize("floor,v,n", [(2 / 3, 1, 2), (0.5, 1, 1), (0.75, 1, 3), (0.75, 2, 2), (0.0, 1, 0), (0.8, 3, 2)])
def test_infer_hidden_tokens(floor, v, n):
    assert infer_hidden_tokens(floor, visible_tokens=v) == n
    # and the floor of the inferred n is the observed floor
    assert hidden_token_expectation(2, visible_tokens=v, hidden_tokens=n)["min_accuracy"] == pytest.approx(floor)


def test_infer_rounds_a_noisy_floor_and_rejects_impossible():
    assert infer_hidden_tokens(0.664) == 2
    with pytest.raises(ConfigError):
        infer_hidden_tokens(1.0)
    with pytest.raises(ConfigError, match="< 0 hidden"):
        infer_hidden_tokens(0.2, visible_tokens=3)   # floor below (v-1)/v: impossible


def test_round_trip_and_bad_args():
    assert visible_loss(reported_loss(1.3, visible_tokens=3, hidden_tokens=2), visible_tokens=3, hidden_tokens=2) == pytest.approx(1.3)
    assert visible_accuracy(0.75, visible_tokens=1, hidden_tokens=2) == pytest.approx(0.25)
    for bad in (0, -1):
        with pytest.raises(ConfigError):
            visible_loss(1.0, visible_tokens=bad, hidden_tokens=2)
    with pytest.raises(ConfigError):
        hidden_token_expectation(0)


def test_correction_matches_token_level_simulation():
    """Simulate examples token by token; the reported metrics are token-weighted means over visible +
    hidden tokens. Correcting them with the per-example visible counts must give the visible metrics."""
    rng = np.random.default_rng(0)
    n_hidden, steps = 2, 5
    train_rep, acc_rep, vis_loss, vis_acc = [], [], [], []
    v_counts = rng.integers(1, 8, size=200)
    for _ in range(steps):
        loss_sum = correct = 0.0
        for v in v_counts:
            losses = rng.exponential(0.8, size=v)
            loss_sum += losses.sum()
            correct += (losses < 0.5).sum()
        tokens = v_counts.sum() + n_hidden * len(v_counts)
        train_rep.append(loss_sum / tokens)
        acc_rep.append((correct + n_hidden * len(v_counts)) / tokens)
        vis_loss.append(loss_sum / v_counts.sum())
        vis_acc.append(correct / v_counts.sum())
    table = CurveTable(source="sim", format="openai", steps=list(range(1, steps + 1)),
                       columns={"train_loss": train_rep, "train_accuracy": acc_rep})
    fixed, info = correct_for_hidden_tokens(table, hidden_tokens=n_hidden, visible_tokens=list(v_counts))
    assert info.applied and info.visible_tokens == pytest.approx(v_counts.mean())
    assert fixed.columns["train_loss"] == pytest.approx(vis_loss)
    assert fixed.columns["train_accuracy"] == pytest.approx(vis_acc)
    assert "n=2 hidden tokens" in info.statement and "visible loss = reported x" in info.statement


def test_analysis_states_the_correction():
    steps = list(range(1, 31))
    table = CurveTable(source="t", format="openai", steps=steps,
                       columns={"train_loss": [0.4] * 30, "valid_loss": [0.5 if s % 5 == 0 else None for s in steps]})
    rep = analyze(table, hidden_tokens=2, visible_tokens=3)
    assert rep.hidden.applied and rep.best_valid_loss == pytest.approx(0.5 * 5 / 3)
    assert rep.overfit_ratio == pytest.approx(1.25)   # ratios are unchanged by the common factor
    d = rep.to_dict()["hidden_tokens"]
    assert d["loss_factor"] == pytest.approx(5 / 3, abs=1e-6) and "Corrected for n=2" in d["statement"]
    # without v: not corrected, and said so
    rep2 = analyze(table, hidden_tokens=2)
    assert not rep2.hidden.applied and rep2.best_valid_loss == pytest.approx(0.5)
    assert "NOT corrected" in rep2.hidden.statement and not rep2.to_dict()["hidden_tokens"]["applied"]

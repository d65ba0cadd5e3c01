"""Hidden-token formulas against hand-worked values and an independent token-level simulation."""

from __future__ import annotations

import json
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
    assert e["loss"] == pytest.approx(0.4621, abs=5e-5)  # ln 4 / 3
    assert e["loss"] == pytest.approx(math.log(4) / 3)
    assert e["min_accuracy"] == pytest.approx(2 / 3)  # answer wrong: 2 hidden right of 3
    assert e["max_accuracy"] == 1.0
    assert e["mean_accuracy"] == pytest.approx(0.75)  # (1/4 + 2) / 3
    assert e["visible_loss"] == pytest.approx(1.386294, abs=1e-6)


def test_k2_v2_n2_hand_worked():
    # answer token + an end token predicted perfectly, 2 hidden tokens: 4 tokens per example
    e = hidden_token_expectation(2, visible_tokens=2, hidden_tokens=2)
    assert e["loss"] == pytest.approx(0.17329, abs=1e-5)  # ln 2 / 4
    assert e["min_accuracy"] == pytest.approx(0.75)  # 3 of 4 right
    assert e["mean_accuracy"] == pytest.approx(0.875)  # (1/2 + 1 + 2) / 4


def _cli_expectation(capsys, *argv) -> dict:
    """``evalstack curves hidden-tokens ... --json`` as a user runs it."""
    from evalstack.cli import main

    code = main(["curves", "hidden-tokens", *map(str, argv), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def _simulate(k: int, v: int, n: int, examples: int, rng: np.random.Generator) -> dict[str, float]:
    """The token process itself, with no formula: per example the answer token's target is one of K
    choices and the model puts probability 1/K on each (its argmax is a uniformly broken tie); the other
    v - 1 visible tokens and the n hidden tokens get probability 1. Reported values are token-weighted
    means over visible + hidden tokens, per-example accuracies give the floor and the ceiling."""
    target = rng.integers(0, k, size=examples)
    guess = rng.integers(0, k, size=examples)
    p_target = np.full(examples, 1.0 / k)
    answer_loss = -np.log(p_target)  # loss of the answer token
    answer_right = (target == guess).astype(float)
    tokens = v + n
    per_example_correct = answer_right + (v - 1) + n  # every other token is right
    return {
        "loss": answer_loss.sum() / (examples * tokens),
        "visible_loss": answer_loss.sum() / (examples * v),  # mean loss per visible token
        "answer_token_loss": answer_loss.mean(),
        "mean_accuracy": per_example_correct.sum() / (examples * tokens),
        "min_accuracy": (per_example_correct / tokens).min(),
        "max_accuracy": (per_example_correct / tokens).max(),
    }


@pytest.mark.parametrize(
    "k,v,n", [(1, 1, 2), (1, 3, 2), (1, 1, 0), (2, 1, 2), (3, 1, 0), (4, 1, 2), (5, 3, 2), (10, 2, 5)]
)
def test_cli_matches_monte_carlo_of_the_token_process(capsys, k, v, n):
    rng = np.random.default_rng(1000 * k + 10 * v + n)
    examples = 20_000
    sim = _simulate(k, v, n, examples, rng)
    d = _cli_expectation(capsys, "--choices", k, "--visible-tokens", v, "--hidden-tokens", n)
    for key in ("loss", "visible_loss", "answer_token_loss", "min_accuracy", "max_accuracy"):
        assert d[key] == pytest.approx(sim[key], abs=1e-9), key
    # the mean accuracy is random in the simulation: within 4 standard errors of the per-example Bernoulli
    se = math.sqrt((1 / k) * (1 - 1 / k) / examples) / (v + n)
    assert abs(d["mean_accuracy"] - sim["mean_accuracy"]) <= 4 * se + 1e-12
    # the floor never exceeds the mean, the mean never exceeds the ceiling
    assert d["min_accuracy"] <= d["mean_accuracy"] <= d["max_accuracy"]


def test_one_choice_cannot_be_wrong_hand_worked(capsys):
    # K=1: the answer token has probability 1, loss 0, always right: every accuracy is 1
    d = _cli_expectation(capsys, "--choices", 1)
    assert (d["loss"], d["visible_loss"], d["answer_token_loss"]) == (0.0, 0.0, 0.0)
    assert (d["min_accuracy"], d["mean_accuracy"], d["max_accuracy"]) == (1.0, 1.0, 1.0)


def test_visible_loss_means_one_thing_in_cli_json_and_api(capsys):
    # K=4, v=3 (answer + 2 perfectly predicted tokens), n=2, worked by hand: the answer token's loss is
    # ln 4 = 1.386294; per visible token that is ln 4 / 3 = 0.462098; per reported token ln 4 / 5 = 0.277259
    d = _cli_expectation(capsys, "--choices", 4, "--visible-tokens", 3, "--hidden-tokens", 2)
    assert d["answer_token_loss"] == pytest.approx(1.386294, abs=1e-6)
    assert d["visible_loss"] == pytest.approx(0.462098, abs=1e-6)
    assert d["loss"] == pytest.approx(0.277259, abs=1e-6)
    # the API function of the same name, applied to the reported loss, gives the same number
    assert visible_loss(d["loss"], visible_tokens=3, hidden_tokens=2) == pytest.approx(d["visible_loss"])
    assert hidden_token_expectation(4, visible_tokens=3, hidden_tokens=2)["visible_loss"] == pytest.approx(
        d["visible_loss"]
    )
    from evalstack.cli import main

    assert main(["curves", "hidden-tokens", "--choices", "4", "--visible-tokens", "3"]) == 0
    out = capsys.readouterr().out
    assert "answer-token loss: ln 4 = 1.3863" in out
    assert "visible loss (mean per visible token): ln 4 / 3 = 0.4621" in out


@pytest.mark.parametrize(
    "floor,v,n", [(2 / 3, 1, 2), (0.5, 1, 1), (0.75, 1, 3), (0.75, 2, 2), (0.0, 1, 0), (0.8, 3, 2)]
)
def test_infer_hidden_tokens(floor, v, n):
    assert infer_hidden_tokens(floor, visible_tokens=v) == n
    # and the floor of the inferred n is the observed floor
    assert hidden_token_expectation(2, visible_tokens=v, hidden_tokens=n)["min_accuracy"] == pytest.approx(floor)


def test_infer_rounds_a_noisy_floor_and_rejects_impossible():
    assert infer_hidden_tokens(0.664) == 2
    with pytest.raises(ConfigError):
        infer_hidden_tokens(1.0)
    with pytest.raises(ConfigError, match="< 0 hidden"):
        infer_hidden_tokens(0.2, visible_tokens=3)  # floor below (v-1)/v: impossible


def test_round_trip_and_bad_args():
    assert visible_loss(
        reported_loss(1.3, visible_tokens=3, hidden_tokens=2), visible_tokens=3, hidden_tokens=2
    ) == pytest.approx(1.3)
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
    table = CurveTable(
        source="sim",
        format="openai",
        steps=list(range(1, steps + 1)),
        columns={"train_loss": train_rep, "train_accuracy": acc_rep},
    )
    fixed, info = correct_for_hidden_tokens(table, hidden_tokens=n_hidden, visible_tokens=list(v_counts))
    assert info.applied and info.visible_tokens == pytest.approx(v_counts.mean())
    assert fixed.columns["train_loss"] == pytest.approx(vis_loss)
    assert fixed.columns["train_accuracy"] == pytest.approx(vis_acc)
    assert "n=2 hidden tokens" in info.statement and "visible loss = reported x" in info.statement


def test_analysis_states_the_correction():
    steps = list(range(1, 31))
    table = CurveTable(
        source="t",
        format="openai",
        steps=steps,
        columns={"train_loss": [0.4] * 30, "valid_loss": [0.5 if s % 5 == 0 else None for s in steps]},
    )
    rep = analyze(table, hidden_tokens=2, visible_tokens=3)
    assert rep.hidden.applied and rep.best_valid_loss == pytest.approx(0.5 * 5 / 3)
    assert rep.overfit_ratio == pytest.approx(1.25)  # ratios are unchanged by the common factor
    d = rep.to_dict()["hidden_tokens"]
    assert d["loss_factor"] == pytest.approx(5 / 3, abs=1e-6) and "Corrected for n=2" in d["statement"]
    # without v: not corrected, and said so
    rep2 = analyze(table, hidden_tokens=2)
    assert not rep2.hidden.applied and rep2.best_valid_loss == pytest.approx(0.5)
    assert "NOT corrected" in rep2.hidden.statement and not rep2.to_dict()["hidden_tokens"]["applied"]

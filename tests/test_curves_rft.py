"""RFT analysis: each reward rule on curves that show it and curves that do not, and the candidates."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from evalstack.curves import RFT_RULE_IDS, CheckpointInfo, CurveTable, analyze

FIX = Path(__file__).parent / "fixtures" / "curves"


def rft(
    reward,
    *,
    valid=None,
    tokens=lambda t: 400.0,
    reasoning=None,
    other=lambda t: 0,
    parse=lambda t: 0,
    steps=60,
    valid_every=10,
    noise=0.02,
    seed=0,
    checkpoints=(),
):
    rng = np.random.default_rng(seed)
    s = list(range(1, steps + 1))
    cols = {
        "train_mean_reward": [reward(t) + rng.normal(0, noise) for t in s],
        "completion_tokens_mean": [tokens(t) * (1 + rng.normal(0, 0.02)) for t in s],
        "train_other_error_count": [float(other(t)) for t in s],
        "train_sample_parse_error_count": [float(parse(t)) for t in s],
    }
    if valid is not None:
        cols["full_valid_mean_reward"] = [valid(t) if t % valid_every == 0 else None for t in s]
    if reasoning is not None:
        cols["reasoning_tokens_mean"] = [reasoning(t) for t in s]
    return CurveTable(
        source="rft.csv",
        format="rft",
        steps=s,
        columns=cols,
        checkpoints=[CheckpointInfo(step=c, model=f"ckpt-{c}") for c in checkpoints],
    )


def climbing(t):
    return 0.3 + 0.4 * (1 - math.exp(-t / 20))


def ids(table):
    return {d.id for d in analyze(table).diagnoses}


def test_rule_ids():
    assert RFT_RULE_IDS == (
        "reward_flat_zero",
        "reward_always_negative",
        "reward_high_flat",
        "reward_hacking",
        "token_growth",
        "grader_errors",
        "parse_errors",
    )


@pytest.mark.parametrize("seed", range(3))
def test_healthy_rft_run_gets_no_diagnosis(seed):
    table = rft(climbing, valid=lambda t: climbing(t) - 0.03, tokens=lambda t: 400 * (1 + 0.5 * t / 60), seed=seed)
    rep = analyze(table)
    assert rep.diagnoses == [] and rep.kind == "rft"
    assert rep.rft.facts["reward_climbing"] is True


def test_fixture_rft_run_is_healthy_and_tolerates_parse_errors():
    rep = analyze(FIX / "rft_results.csv")
    assert rep.diagnoses == []
    assert any("parse errors: tolerated" in n for n in rep.notes)


def test_reward_flat_zero():
    assert "reward_flat_zero" in ids(rft(lambda t: 0.0, noise=0.01))
    assert "reward_flat_zero" not in ids(rft(climbing))


def test_reward_always_negative():
    assert "reward_always_negative" in ids(rft(lambda t: -0.6 + 0.3 * t / 60))
    assert "reward_always_negative" not in ids(rft(climbing))
    assert "reward_always_negative" not in ids(rft(lambda t: -0.3 + 0.6 * t / 60))  # crosses zero


def test_reward_high_flat():
    assert "reward_high_flat" in ids(rft(lambda t: 0.92, noise=0.01))
    assert "reward_high_flat" not in ids(rft(climbing))
    assert "reward_high_flat" not in ids(rft(lambda t: 0.5 + 0.45 * t / 60))  # ends high, starts low


def test_reward_hacking():
    table = rft(climbing, valid=lambda t: climbing(t) - 0.2 * t / 60)
    rep = analyze(table)
    d = next(d for d in rep.diagnoses if d.id == "reward_hacking")
    assert d.evidence["step"] == 60 and d.evidence["gap"] == pytest.approx(0.2, abs=0.03)
    assert "reward_hacking" not in ids(rft(climbing, valid=lambda t: climbing(t) - 0.05))


@pytest.mark.parametrize(
    "end,level,severity", [(1400, "excessive", "warning"), (900, "normal", "info"), (600, None, None)]
)
def test_token_growth(end, level, severity):
    rep = analyze(rft(climbing, tokens=lambda t: 400 + (end - 400) * t / 60))
    found = [d for d in rep.diagnoses if d.id == "token_growth"]
    if level is None:
        assert not found
        return
    assert found[0].evidence["level"] == level and found[0].severity == severity
    assert found[0].evidence["completion_tokens_mean"]["ratio"] == pytest.approx(end / 400, rel=0.1)


def test_token_growth_of_reasoning_tokens():
    rep = analyze(rft(climbing, reasoning=lambda t: 800 + 2000 * t / 60))
    d = next(d for d in rep.diagnoses if d.id == "token_growth")
    assert d.evidence["level"] == "excessive" and "reasoning_tokens_mean" in d.evidence


def test_grader_errors():
    rep = analyze(rft(climbing, other=lambda t: 2 if t in (7, 30) else 0))
    d = next(d for d in rep.diagnoses if d.id == "grader_errors")
    assert d.severity == "error" and d.evidence == {"total": 4.0, "steps": [7, 30], "n_steps_with_errors": 2}
    assert "grader_errors" not in ids(rft(climbing))


def test_parse_errors_only_matter_when_reward_is_not_climbing():
    assert "parse_errors" not in ids(rft(climbing, parse=lambda t: 3))
    assert "parse_errors" in ids(rft(lambda t: 0.5, parse=lambda t: 3))


def test_candidates_peak_final_mid():
    peaked = lambda t: 0.3 + 0.5 * math.exp(-(((t - 30) / 12) ** 2))  # noqa: E731
    rep = analyze(rft(peaked, valid=peaked, noise=0.005))
    cands = {tuple(c.reasons): c.step for c in rep.rft.candidates}
    assert cands == {("peak", "mid"): 30, ("final",): 60}


def test_candidates_are_checkpoints_when_known():
    rep = analyze(rft(climbing, valid=climbing, checkpoints=(20, 40, 60)))
    steps = [c.step for c in rep.rft.candidates]
    assert set(steps) <= {20, 40, 60} and 60 in steps and len(steps) >= 2
    assert all(c.model == f"ckpt-{c.step}" for c in rep.rft.candidates)
    by = {r: c.step for c in rep.rft.candidates for r in c.reasons}
    assert by["final"] == 60 and by["mid"] in (20, 40)

"""Best checkpoint and OVERFIT on the RAW measured validation loss (issue 23): the seed picks
``min(valid_loss)`` over the measurements and compares the final with that minimum; smoothing an HF
``eval_loss`` (already an average over the whole eval set) only shifts the minimum. Through the CLI, as a
user meets it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from evalstack.cli import main


def run_json(capsys, path: Path) -> dict:
    code = main(["curves", "analyze", str(path), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def hf_state(tmp_path: Path, evals: dict[int, float], *, every: int = 10, last: int = 400) -> Path:
    """A trainer_state.json: train loss every `every` steps, eval_loss at the given steps."""
    log = [
        {"step": s, "epoch": s / 100, "loss": round(2.0 * 0.995**s + 0.3, 4), "learning_rate": 2e-5}
        for s in range(every, last + 1, every)
    ]
    log += [{"step": s, "epoch": s / 100, "eval_loss": v} for s, v in evals.items()]
    log.sort(key=lambda e: (e["step"], "eval_loss" in e))
    p = tmp_path / "run" / "trainer_state.json"
    p.parent.mkdir()
    p.write_text(json.dumps({"log_history": log, "num_train_epochs": 4, "global_step": last}))
    return p


def test_hf_best_is_the_lowest_measured_eval_loss(tmp_path, capsys):
    # evaluated every 50 steps, minimum at step 200; a 3-point smoothing moved it to 250 before the fix
    evals = {50: 1.20, 100: 0.95, 150: 0.80, 200: 0.70, 250: 0.71, 300: 0.73, 350: 0.74, 400: 0.90}
    d = run_json(capsys, hf_state(tmp_path, evals))
    assert d["best_step"] == min(evals, key=evals.get) == 200
    assert d["best_valid_loss"] == pytest.approx(0.70)
    assert d["best_valid_source"] == "valid_loss"  # eval_loss, as measured
    assert d["final_valid_loss"] == pytest.approx(0.90)
    # OVERFIT: final 0.90 > 1.2 x 0.70 = 0.84 (on the smoothed minimum 0.7133 it was compared with 0.79)
    assert d["overfit_warning"] is True and d["overfit_message"].startswith("OVERFIT: best=0.7000, final=0.9000")


def test_overfit_compares_the_final_with_the_raw_best(tmp_path, capsys):
    # raw min 0.70 (step 200): final 0.85 > 0.84 is OVERFIT; smoothed, the min was 0.75 and 0.85 < 0.90
    evals = {50: 1.0, 100: 0.80, 150: 0.80, 200: 0.70, 250: 0.80, 300: 0.80, 350: 0.85, 400: 0.85}
    d = run_json(capsys, hf_state(tmp_path, evals))
    assert (d["best_step"], d["best_valid_loss"]) == (200, pytest.approx(0.70))
    assert d["overfit_warning"] is True


def openai_csv(tmp_path: Path, valid: dict[int, float], full: dict[int, float] | None = None) -> Path:
    p = tmp_path / "step_metrics.csv"
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "step",
                "train_loss",
                "train_accuracy",
                "valid_loss",
                "valid_mean_token_accuracy",
                "full_valid_loss",
                "full_valid_mean_token_accuracy",
            ]
        )
        for s in range(1, 61):
            v = valid.get(s)
            fv = (full or {}).get(s)
            w.writerow(
                [
                    s,
                    round(1.5 * 0.97**s + 0.2, 4),
                    0.8,
                    "" if v is None else v,
                    "" if v is None else 0.8,
                    "" if fv is None else fv,
                    "" if fv is None else 0.8,
                ]
            )
    return p


def test_openai_best_is_the_lowest_measured_valid_loss(tmp_path, capsys):
    valid = {s: 0.60 + 0.01 * ((s * 7) % 5) for s in range(5, 61, 5)}
    valid[30] = 0.519  # the lowest measured value
    d = run_json(capsys, openai_csv(tmp_path, valid))
    assert (d["best_step"], d["best_valid_loss"]) == (30, pytest.approx(0.519))
    assert d["best_valid_source"] == "valid_loss"


def test_full_valid_loss_first_when_measured(tmp_path, capsys):
    valid = {s: 0.60 for s in range(5, 61, 5)}
    valid[25] = 0.40  # a lucky mini-batch: not the best checkpoint
    d = run_json(capsys, openai_csv(tmp_path, valid, full={20: 0.62, 40: 0.58, 60: 0.61}))
    assert (d["best_step"], d["best_valid_loss"], d["best_valid_source"]) == (
        40,
        pytest.approx(0.58),
        "full_valid_loss",
    )
    assert d["final_valid_loss"] == pytest.approx(0.61)

"""Outputs: analysis.json + PNG plots (stable names, atomic), the report.md section, checkpoint joins,
and the public API surface."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import evalstack.curves as curves
from evalstack.curves import analyze, curves_markdown, join_checkpoints, write_curve_outputs
from evalstack.errors import ConfigError

FIX = Path(__file__).parent / "fixtures" / "curves"
DEMO = Path(__file__).parents[1] / "configs" / "demo" / "curves" / "results.csv"
PNG = b"\x89PNG\r\n\x1a\n"


def test_public_api_is_pinned():
    assert set(curves.__all__) == {
        "BANDS",
        "CheckpointInfo",
        "CheckpointPoint",
        "CurveReport",
        "CurveTable",
        "Diagnosis",
        "HiddenTokenCorrection",
        "RFT_RULE_IDS",
        "RftCandidate",
        "RftSummary",
        "SFT_RULE_IDS",
        "analyze",
        "analyze_config",
        "correct_for_hidden_tokens",
        "curves_markdown",
        "fetch_job",
        "hidden_token_expectation",
        "infer_hidden_tokens",
        "join_checkpoints",
        "overfit_band",
        "read_curves",
        "reported_loss",
        "visible_accuracy",
        "visible_loss",
        "write_curve_outputs",
    }
    for name in curves.__all__:
        assert getattr(curves, name) is not None


def test_import_is_light():
    code = (
        "import sys, evalstack.curves, evalstack.curves._cli; "
        "print(sorted(m for m in ('matplotlib', 'openai', 'numpy', 'scipy', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_write_outputs_sft_and_rft(tmp_path):
    sft = analyze(DEMO, label="demo")
    rft = analyze(FIX / "rft_results.csv", label="rft")
    paths = write_curve_outputs([sft, rft], tmp_path)
    names = sorted(p.name for p in paths)
    assert names == [
        "analysis.json",
        "demo_accuracy.png",
        "demo_loss.png",
        "demo_overfit.png",
        "rft_reward.png",
        "rft_tokens.png",
    ]
    for p in paths:
        assert p.parent == tmp_path / "curves"
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == PNG and p.stat().st_size > 5000
    assert not [p for p in (tmp_path / "curves").iterdir() if p.name.startswith(".")]  # no temp files left
    data = json.loads((tmp_path / "curves" / "analysis.json").read_text())
    assert data["schema_version"] == 1 and [c["label"] for c in data["curves"]] == ["demo", "rft"]
    assert data["curves"][0]["plots"]["loss"] == "curves/demo_loss.png"
    assert sft.plots == {
        "loss": "curves/demo_loss.png",
        "accuracy": "curves/demo_accuracy.png",
        "overfit": "curves/demo_overfit.png",
    }


def test_labels_are_made_unique(tmp_path):
    a, b = analyze(DEMO), analyze(DEMO)
    write_curve_outputs([a, b], tmp_path)
    assert a.label != b.label and (tmp_path / "curves" / f"{b.label}_loss.png").exists()


def test_markdown_section(tmp_path):
    rep = analyze(DEMO, label="demo")
    write_curve_outputs(rep, tmp_path)
    md = curves_markdown(rep, plot_dir="curves")
    assert md.startswith("## Training curves")
    assert "**Best checkpoint: step 200** (epoch 2)" in md
    assert "`valid_rises`" in md and "Deploy the checkpoint at step 200" in md
    assert "![demo loss](curves/demo_loss.png)" in md
    assert "| 200 | 2 |" in md and "**best**" in md
    assert "![" not in curves_markdown(rep)  # no plot_dir: no images


def test_markdown_rft_hidden_and_overfit():
    rep = analyze(FIX / "rft_results.csv")
    md = curves_markdown(rep)
    assert "Checkpoints to evaluate with the task harness" in md and "peak, final" in md
    rep = analyze(DEMO, hidden_tokens=2, visible_tokens=4)
    assert "Corrected for n=2 hidden tokens" in curves_markdown(rep)


def test_join_flags_low_loss_worse_task():
    rep = analyze(FIX / "checkpoints.json")  # full valid: 100 -> 0.5347, 200 -> 0.4844 (best), 300 -> 0.5314
    rows = join_checkpoints(
        rep,
        {
            "ckpt-300": (300, {"intent/accuracy": 0.84, "intent/f1_macro": 0.80}),
            "ckpt-200": (200, {"intent/accuracy": 0.80, "intent/f1_macro": 0.77}),
            "ckpt-100": (100, {"intent/accuracy": 0.78, "intent/f1_macro": 0.74}),
        },
    )
    assert [r["model"] for r in rows] == ["ckpt-100", "ckpt-200", "ckpt-300"]
    by = {r["model"]: r for r in rows}
    assert by["ckpt-200"]["is_best"] and by["ckpt-200"]["valid_loss"] == pytest.approx(0.48438)
    assert by["ckpt-200"]["flagged"] and not by["ckpt-300"]["flagged"] and not by["ckpt-100"]["flagged"]
    c = by["ckpt-200"]["conflicts"]
    assert [x["model"] for x in c] == ["ckpt-300"] and c[0]["worse_on"]["intent/accuracy"] == [0.80, 0.84]
    assert "lower valid loss (0.4844 < 0.5314) than ckpt-300" in by["ckpt-200"]["flag_reason"]


def test_join_metric_direction_and_nearest_point():
    rep = analyze(FIX / "checkpoints.json")
    rows = join_checkpoints(rep, {"a": (200, {"t/toxicity_rate": 0.01}), "b": (298, {"t/toxicity_rate": 0.02})})
    by = {r["model"]: r for r in rows}
    assert not by["a"]["flagged"]  # lower loss AND lower toxicity: consistent
    assert by["b"]["valid_loss_step"] == 300
    rows = join_checkpoints(
        rep, {"a": (200, {"t/score": 0.01}), "b": (300, {"t/score": 0.02})}, higher_is_better={"t/score": False}
    )
    assert not {r["model"]: r for r in rows}["a"]["flagged"]
    with pytest.raises(ConfigError):
        join_checkpoints(rep, {"a": ("200", {})})


def test_markdown_from_run_json_dicts(tmp_path):
    """run.json keeps CurveReport.to_dict(): the report renders the section from those dicts."""
    reps = [analyze(DEMO, label="demo"), analyze(FIX / "rft_results.csv", label="rft")]
    write_curve_outputs(reps, tmp_path)
    dicts = json.loads(json.dumps([r.to_dict() for r in reps]))
    assert curves_markdown(dicts, plot_dir="curves") == curves_markdown(reps, plot_dir="curves")
    assert curves_markdown(dicts[0]) == curves_markdown(reps[0])


def test_analyze_config_entry():
    from evalstack.config import CurvesConfig
    from evalstack.curves import analyze_config

    entry = CurvesConfig(
        path=FIX / "generic_metrics.csv",
        format="generic",
        label="my run",
        mapping={"step": "iter", "train_loss": "loss_train", "valid_loss": "loss_dev"},
        hidden_tokens=2,
        visible_tokens=3,
        n_epochs=2,
    )
    rep = analyze_config(entry)
    assert rep.label == "my_run" and rep.epoch_ends == [20, 40] and rep.hidden.applied
    assert analyze_config({"path": str(DEMO)}).best_step == 200

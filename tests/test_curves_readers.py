"""Readers: each input format from real-format fixtures, and bad input (one clear DataError)."""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import pytest

from evalstack.curves import read_curves
from evalstack.errors import ConfigError, DataError

FIX = Path(__file__).parent / "fixtures" / "curves"
DEMO = Path(__file__).parents[1] / "configs" / "demo" / "curves" / "results.csv"


def _csv_column(path: Path, name: str) -> dict[int, float]:
    """Independent read with the stdlib: step -> value for non-empty cells."""
    with path.open(newline="") as f:
        return {int(r["step"]): float(r[name]) for r in csv.DictReader(f) if r[name].strip()}


def test_openai_csv_empty_cells_are_not_measured():
    t = read_curves(FIX / "openai_results.csv")
    assert t.format == "openai" and t.kind == "sft"
    assert t.steps == list(range(1, 61))
    for canon, col in [
        ("train_loss", "train_loss"),
        ("train_accuracy", "train_accuracy"),
        ("valid_loss", "valid_loss"),
        ("valid_accuracy", "valid_mean_token_accuracy"),
        ("full_valid_loss", "full_valid_loss"),
        ("full_valid_accuracy", "full_valid_mean_token_accuracy"),
    ]:
        steps, vals = t.series(canon)
        assert dict(zip(steps, vals)) == _csv_column(FIX / "openai_results.csv", col)
    # valid measured every 5 steps (and step 1), full valid at the 3 epoch ends: the rest is None, not 0
    assert t.series("full_valid_loss")[0] == [20, 40, 60]
    assert t.columns["valid_loss"][1] is None and 0.0 not in t.series("valid_loss")[1]


def test_base64_content_is_decoded():
    raw = (FIX / "openai_results.csv").read_bytes()
    assert (FIX / "openai_results.b64").read_bytes() == base64.b64encode(raw)
    a, b = read_curves(FIX / "openai_results.csv"), read_curves(FIX / "openai_results.b64")
    assert a.columns == b.columns and a.steps == b.steps
    assert any("base64" in n for n in b.notes)


def test_base64_with_line_breaks(tmp_path):
    raw = (FIX / "openai_results.csv").read_bytes()
    enc = base64.encodebytes(raw)  # MIME style, 76-char lines
    p = tmp_path / "r.csv"
    p.write_bytes(enc)
    assert read_curves(p).columns == read_curves(FIX / "openai_results.csv").columns


def test_azure_names():
    t = read_curves(FIX / "azure_results.csv")
    assert t.format == "azure"
    got = dict(zip(*t.series("valid_loss")))
    assert got == {int(k): v for k, v in _csv_column(FIX / "azure_results.csv", "validation_loss").items()}
    assert dict(zip(*t.series("train_accuracy"))) == _csv_column(FIX / "azure_results.csv", "train_mean_token_accuracy")
    assert t.has("full_valid_loss") and t.has("valid_accuracy")


def test_hf_trainer_state():
    state = json.loads((FIX / "trainer_state.json").read_text())
    t = read_curves(FIX / "trainer_state.json")
    assert t.format == "hf" and t.n_epochs == 3
    train = {e["step"]: e["loss"] for e in state["log_history"] if "loss" in e}
    evals = {e["step"]: e["eval_loss"] for e in state["log_history"] if "eval_loss" in e}
    assert dict(zip(*t.series("train_loss"))) == train
    assert dict(zip(*t.series("valid_loss"))) == evals
    # the end-of-training summary's train_loss (a run average) is not a step value
    assert 1.234 not in t.series("train_loss")[1]
    assert dict(zip(*t.series("epoch")))[40] == 1.0
    assert t.has("learning_rate") and t.has("train_accuracy")


def test_generic_csv_with_mapping():
    mapping = {"step": "iter", "train_loss": "loss_train", "valid_loss": "loss_dev", "valid_accuracy": "acc_dev"}
    t = read_curves(FIX / "generic_metrics.csv", format="generic", mapping=mapping)
    assert t.format == "generic"
    with (FIX / "generic_metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert dict(zip(*t.series("train_loss"))) == {int(r["iter"]): float(r["loss_train"]) for r in rows}
    assert dict(zip(*t.series("valid_loss"))) == {int(r["iter"]): float(r["loss_dev"]) for r in rows if r["loss_dev"]}


def test_generic_without_mapping_is_a_clear_error():
    with pytest.raises(DataError) as e:
        read_curves(FIX / "generic_metrics.csv")
    msg = str(e.value)
    assert "generic_metrics.csv" in msg and "no loss column" in msg and "loss_train" in msg and "mapping" in msg


def test_mapping_errors(tmp_path):
    with pytest.raises(DataError, match="mapped column 'nope' is not in the header"):
        read_curves(FIX / "generic_metrics.csv", mapping={"train_loss": "nope"})
    with pytest.raises(ConfigError, match="did you mean 'train_loss'"):
        read_curves(FIX / "generic_metrics.csv", mapping={"trian_loss": "loss_train"})


def test_rft_csv_and_events_agree():
    a = read_curves(FIX / "rft_results.csv")
    b = read_curves(FIX / "rft_events.json")
    assert a.format == b.format == "rft" and a.kind == "rft"
    assert a.steps == b.steps == list(range(1, 61))
    for col in ("train_mean_reward", "full_valid_mean_reward", "train_other_error_count"):
        va, vb = a.series(col), b.series(col)
        assert va[0] == vb[0]
        assert va[1] == pytest.approx(vb[1], abs=1e-4)
    assert a.has("reasoning_tokens_mean") and a.has("train_sample_parse_error_count")


def test_events_jsonl(tmp_path):
    page = json.loads((FIX / "rft_events.json").read_text())
    p = tmp_path / "events.jsonl"
    p.write_text("\n".join(json.dumps(e) for e in page["data"]) + "\n")
    assert read_curves(p).series("train_mean_reward") == read_curves(FIX / "rft_events.json").series(
        "train_mean_reward"
    )


def test_checkpoints_json():
    t = read_curves(FIX / "checkpoints.json")
    assert [c.step for c in t.checkpoints] == [100, 200, 300]
    assert t.checkpoints[1].model.endswith("ckpt-step-200")
    demo_full = _csv_column(DEMO, "full_valid_loss")
    assert dict(zip(*t.series("full_valid_loss"))) == pytest.approx(demo_full, abs=1e-9)


def test_job_folder_merges_files(tmp_path):
    (tmp_path / "results.csv").write_bytes(base64.b64encode(DEMO.read_bytes()))
    (tmp_path / "checkpoints.json").write_text((FIX / "checkpoints.json").read_text())
    (tmp_path / "job.json").write_text(
        json.dumps(
            {"id": "ftjob-1", "model": "gpt-4.1-mini", "method": {"supervised": {"hyperparameters": {"n_epochs": 3}}}}
        )
    )
    t = read_curves(tmp_path)
    assert t.n_epochs == 3 and len(t.checkpoints) == 3 and len(t.steps) == 300
    assert t.meta["id"] == "ftjob-1"


def test_nan_cells_are_not_measured_and_noted(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("step,train_loss,valid_loss\n1,1.0,\n2,nan,1.2\n3,0.8,inf\n")
    t = read_curves(p)
    assert t.columns["train_loss"] == [1.0, None, 0.8]
    assert any("NaN" in n for n in t.notes)


@pytest.mark.parametrize(
    "name,content,expect",
    [
        ("empty.csv", "", ["empty.csv", "empty"]),
        ("blank.csv", "\n  \n", ["blank.csv", "empty"]),
        ("noloss.csv", "step,foo,bar\n1,2,3\n", ["noloss.csv", "no loss column", "foo, bar"]),
        (
            "text.csv",
            "step,train_loss,valid_loss\n1,1.5,\n2,1.4,\n3,oops,1.2\n",
            ["text.csv", "line 4", "'train_loss'", "'oops'"],
        ),
        ("step.csv", "step,train_loss\n1,1.5\n,1.4\n", ["step.csv", "line 3", "step is empty"]),
        ("header.csv", "step,train_loss,valid_loss\n", ["header.csv", "no data rows"]),
        ("long.csv", "step,train_loss\n1,1.5,9\n", ["long.csv", "line 2", "3 cells"]),
        (
            "trunc.json",
            '{"log_history": [{"loss": 1.2, "step": 1}, {"loss": 1',
            ["trunc.json", "line 1", "column", "truncated"],
        ),
        ("bad.json", '{"log_history": [\n {"loss": 1.2, "step": 1},,\n]}', ["bad.json", "line 2", "invalid JSON"]),
        (
            "hfbad.json",
            '{"log_history": [{"loss": "high", "step": 1}]}',
            ["hfbad.json", "log_history[0]", "'loss'", "not a number"],
        ),
        ("other.json", '{"hello": 1}', ["other.json", "neither"]),
        ("noloss.json", '{"log_history": [{"grad_norm": 1.0, "step": 1}]}', ["noloss.json", "no log_history entries"]),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path, name, content, expect):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(DataError) as e:
        read_curves(p)
    msg = str(e.value)
    assert "\n" not in msg
    for part in expect:
        assert part in msg, (part, msg)


def test_missing_file_and_format_mismatch(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_curves(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="trainer_state.json"):
        read_curves(FIX / "openai_results.csv", format="hf")
    with pytest.raises(DataError, match="format 'openai' was given"):
        read_curves(FIX / "trainer_state.json", format="openai")
    with pytest.raises(ConfigError, match="unknown curves format"):
        read_curves(FIX / "openai_results.csv", format="wandb")


@pytest.mark.parametrize("sep", ["\t", ";"])
def test_other_delimiters(tmp_path, sep):
    p = tmp_path / "r.tsv"
    p.write_text((FIX / "openai_results.csv").read_text().replace(",", sep))
    assert read_curves(p).columns == read_curves(FIX / "openai_results.csv").columns

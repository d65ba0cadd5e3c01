"""`evalstack curves ...`: analyze, hidden-tokens, fetch (against the loopback OpenAI-compatible server),
errors with exit code 2 and no traceback; through CliRunner, main() and a real subprocess."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from _helpers import run_cli
from evalstack.cli import main
from evalstack.curves import analyze, fetch_job
from evalstack.curves._cli import curves

FIX = Path(__file__).parent / "fixtures" / "curves"
DEMO = Path(__file__).parents[1] / "configs" / "demo" / "curves" / "results.csv"
KEY = "sk-loopback-SECRET-0123456789"


def run_main(capsys, *argv):
    code = main(["curves", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------- analyze


def test_analyze_json():
    res = CliRunner().invoke(curves, ["analyze", str(DEMO), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert (d["best_step"], d["overfit_band"], d["overfit_warning"]) == (200, "mild", False)
    assert d["best_valid_loss"] == pytest.approx(0.48438) and d["final_valid_loss"] == pytest.approx(0.53144)
    assert d["overfit_ratio"] == pytest.approx(analyze(DEMO).overfit_ratio, abs=1e-4)
    assert [(x["id"], bool(x["evidence"]), bool(x["action"])) for x in d["diagnoses"]] == [("valid_rises", True, True)]


def test_analyze_several_files_text_and_out(tmp_path):
    res = CliRunner().invoke(
        curves,
        ["analyze", str(DEMO), str(FIX / "trainer_state.json"), str(FIX / "rft_events.json"), "--out", str(tmp_path)],
    )
    assert res.exit_code == 0, res.output
    assert "best checkpoint: step 200" in res.output and "candidate step" in res.output
    assert (tmp_path / "curves" / "analysis.json").exists()
    assert len(json.loads((tmp_path / "curves" / "analysis.json").read_text())["curves"]) == 3
    res = CliRunner().invoke(curves, ["analyze", str(DEMO), str(DEMO), "--json"])
    assert [d["label"] for d in json.loads(res.output)] == ["curves_results", "curves_results-2"]


def test_analyze_options():
    res = CliRunner().invoke(
        curves,
        [
            "analyze",
            str(FIX / "generic_metrics.csv"),
            "--json",
            "--mapping",
            "step=iter",
            "--mapping",
            "train_loss=loss_train",
            "--mapping",
            "valid_loss=loss_dev",
            "--n-epochs",
            "2",
            "--hidden-tokens",
            "2",
            "--visible-tokens",
            "3",
            "--smoothing",
            "3",
        ],
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["format"] == "generic" and d["epoch_ends"] == [20, 40] and d["smoothing_window"] == 3
    assert d["hidden_tokens"]["applied"] and d["hidden_tokens"]["loss_factor"] == pytest.approx(5 / 3, abs=1e-6)


@pytest.mark.parametrize(
    "content,name,needle",
    [
        ("", "empty.csv", "empty"),
        ("step,foo\n1,2\n", "noloss.csv", "no loss column"),
        ("step,train_loss\n1,1.0\n2,x\n", "cell.csv", "line 3, column 'train_loss'"),
        ('{"log_history": [{"loss": 1.0, "step": 1}', "trunc.json", "truncated JSON"),
    ],
)
def test_analyze_bad_input_exit_2(tmp_path, capsys, content, name, needle):
    p = tmp_path / name
    p.write_text(content)
    code, out, err = run_main(capsys, "analyze", p)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and name in err and needle in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_analyze_bad_options_exit_2(capsys):
    assert run_main(capsys, "analyze", DEMO, "--mapping", "nonsense")[0] == 2
    assert run_main(capsys, "analyze", DEMO, "--smoothing", "wide")[0] == 2
    assert run_main(capsys, "analyze", DEMO, "--format", "wandb")[0] == 2


# ------------------------------------------------------------------------------------------- hidden tokens


def test_hidden_tokens_json():
    res = CliRunner().invoke(curves, ["hidden-tokens", "--choices", "4", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["loss"] == pytest.approx(math.log(4) / 3) and round(d["loss"], 4) == 0.4621
    assert (d["min_accuracy"], d["max_accuracy"], d["mean_accuracy"]) == pytest.approx((2 / 3, 1.0, 0.75))
    res = CliRunner().invoke(
        curves, ["hidden-tokens", "--choices", "2", "--visible-tokens", "2", "--hidden-tokens", "2", "--json"]
    )
    d = json.loads(res.output)
    assert (d["loss"], d["min_accuracy"], d["mean_accuracy"]) == pytest.approx((math.log(2) / 4, 0.75, 0.875))


def test_hidden_tokens_text_and_inference():
    res = CliRunner().invoke(curves, ["hidden-tokens", "--choices", "4"])
    assert "reported loss: ln 4 / (1+2) = 0.4621" in res.output and "mean 0.7500" in res.output
    res = CliRunner().invoke(curves, ["hidden-tokens", "--infer-from-min-accuracy", "0.6667", "--json"])
    assert json.loads(res.output)["inferred_hidden_tokens"] == 2
    res = CliRunner().invoke(curves, ["hidden-tokens", "--infer-from-min-accuracy", "0.75", "--choices", "4", "--json"])
    d = json.loads(res.output)
    assert d["hidden_tokens"] == 3 and d["loss"] == pytest.approx(math.log(4) / 4)


def test_hidden_tokens_errors(capsys):
    code, _, err = run_main(capsys, "hidden-tokens")
    assert code == 2 and "--choices" in err
    code, _, err = run_main(capsys, "hidden-tokens", "--infer-from-min-accuracy", "0.6667", "--hidden-tokens", "3")
    assert code == 2 and "contradicts" in err
    assert run_main(capsys, "hidden-tokens", "--choices", "0")[0] == 2


# ------------------------------------------------------------------------------------------- fetch


@pytest.fixture
def server():
    from evalstack.testing.loopback import LoopbackServer

    with LoopbackServer(require_key=KEY) as srv:
        yield srv


def _client(srv):
    import openai

    return openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0)


def test_fetch_job_sft(server, tmp_path):
    csv_text = DEMO.read_text()
    server.add_fine_tuning_job("ftjob-demo1", csv_text, [{"step_number": s} for s in (100, 200, 300)])
    summary = fetch_job("ftjob-demo1", client=_client(server), out_dir=tmp_path)
    assert summary["result_base64_decoded"] and summary["n_checkpoints"] == 3 and summary["n_epochs"] == 3
    assert (tmp_path / "results.csv").read_text() == csv_text
    assert server.count("/events") >= 4 and summary["n_events"] == 302  # 300 metrics events, pages of 100
    cps = json.loads((tmp_path / "checkpoints.json").read_text())
    assert [c["step_number"] for c in cps] == [100, 200, 300]
    rep = analyze(tmp_path)
    assert rep.best_step == 200 and rep.best.model.endswith(":ckpt-step-200")
    assert rep.epochs_source.startswith("n_epochs=3") and all(p.is_checkpoint for p in rep.points)
    # a running job has no result file yet: the metrics events carry the same curves
    (tmp_path / "results.csv").unlink()
    from_events = analyze(tmp_path)
    assert from_events.best_step == 200 and len(from_events.table.steps) == 300
    assert from_events.table.series("valid_loss") == rep.table.series("valid_loss")


def test_fetch_raw_content_and_rft_checkpoint_metrics(server, tmp_path):
    csv_text = (FIX / "rft_results.csv").read_text()
    cps = [
        {
            "step_number": s,
            "metrics": {
                "step": s,
                "train_mean_reward": 0.3 + s / 100,
                "full_valid_mean_reward": 0.28 + s / 100,
                "completion_tokens_mean": 400 + s,
            },
        }
        for s in (20, 40, 60)
    ]
    server.add_fine_tuning_job("ftjob-rft1", csv_text, cps, base64_content=False)
    summary = fetch_job("ftjob-rft1", client=_client(server), out_dir=tmp_path)
    assert not summary["result_base64_decoded"]
    saved = json.loads((tmp_path / "checkpoints.json").read_text())
    assert saved[0]["metrics"]["train_mean_reward"] == pytest.approx(0.5)  # extra (RFT) metrics kept
    rep = analyze(tmp_path)
    assert rep.kind == "rft" and {c.step for c in rep.rft.candidates} <= {20, 40, 60}
    assert all(c.model and c.model.endswith(f"ckpt-step-{c.step}") for c in rep.rft.candidates)


def test_fetch_cli(server, tmp_path, capsys, monkeypatch):
    server.add_fine_tuning_job("ftjob-cli1", DEMO.read_text(), [{"step_number": s} for s in (100, 200, 300)])
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    code, out, err = run_main(capsys, "fetch", "ftjob-cli1", "--out", tmp_path / "job", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["fetch"]["job_id"] == "ftjob-cli1" and d["analysis"]["best_step"] == 200
    assert d["analysis"]["best_checkpoint_model"].endswith("ckpt-step-200")
    code, out, err = run_main(capsys, "fetch", "ftjob-cli1", "--out", tmp_path / "job2")
    assert code == 0 and "best checkpoint: step 200" in out and "wrote" in out
    assert KEY not in out + err


def test_fetch_errors(server, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, _, err = run_main(capsys, "fetch", "ftjob-x", "--out", tmp_path)
    assert code == 2 and "OPENAI_API_KEY is not set" in err
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    code, _, err = run_main(capsys, "fetch", "ftjob-missing", "--out", tmp_path)
    assert code == 2 and "not found" in err and "ftjob-missing" in err
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-987654321")
    code, _, err = run_main(capsys, "fetch", "ftjob-missing", "--out", tmp_path)
    assert code == 2 and "rejected" in err and "sk-wrong-key-987654321" not in err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------- subprocess


def _run(*args, env=None):
    return run_cli("curves", *args, env=env, timeout=120)


def test_subprocess_analyze_and_error(tmp_path):
    p = _run("analyze", DEMO, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["best_step"] == 200
    bad = tmp_path / "bad.csv"
    bad.write_text("step,train_loss\n1,abc\n")
    p = _run("analyze", bad)
    assert (
        p.returncode == 2 and p.stderr.startswith("error: ") and "bad.csv" in p.stderr and "Traceback" not in p.stderr
    )


def test_subprocess_fetch(server, tmp_path):
    server.add_fine_tuning_job("ftjob-sub1", DEMO.read_text(), [{"step_number": s} for s in (100, 200, 300)])
    p = _run(
        "fetch",
        "ftjob-sub1",
        "--out",
        tmp_path,
        "--json",
        env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url},
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["analysis"]["best_step"] == 200
    assert sorted(x.name for x in tmp_path.iterdir()) == ["checkpoints.json", "events.json", "job.json", "results.csv"]


def test_the_epochs_note_names_a_flag_that_exists(capsys):
    """Issue 14 item 9: the note said "give n_epochs", an option `curves analyze` does not have; it names
    --n-epochs, and passing it as the note says removes the note."""
    import re

    code, out, _ = run_main(capsys, "analyze", FIX / "rft_results.csv")
    assert code == 0
    note = next(line for line in out.splitlines() if "epochs unknown" in line)
    flag = re.search(r"pass (--[a-z-]+) N", note).group(1)
    code, out, _ = run_main(capsys, "analyze", FIX / "rft_results.csv", flag, "3")
    assert code == 0 and "epochs unknown" not in out and "3 epochs" in out

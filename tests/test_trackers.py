"""Trackers: entries validated with clear messages; W&B (offline) and MLflow (local stores) logged for real
and read back; a failing tracker warns, a required one fails the run with exit 3."""

from __future__ import annotations

import glob
import json
import os
import struct
from pathlib import Path

import pytest
from sklearn.metrics import accuracy_score

import evalstack
from evalstack import registry
from evalstack.cli import main
from evalstack.errors import ConfigError
from evalstack.trackers import (
    Tracker,
    TrackerError,
    TrackerWarning,
    WandbTracker,
    log_run,
    register_tracker,
    scalar_metrics,
    validate_trackers,
)
from test_api import N, write_project


def _yaml_trackers(entries: list[dict]) -> str:
    return "trackers: " + json.dumps(entries) + "\n"


def _installed(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def needs(*packages: str) -> pytest.MarkDecorator:
    """Skip, saying why, when an optional tracker package is not installed (the test is about it)."""
    missing = [p for p in packages if not _installed(p)]
    return pytest.mark.skipif(bool(missing), reason=f"optional tracker package(s) not installed: {', '.join(missing)}")


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "entries, message",
    [
        (
            [{"type": "wandb", "projet": "x"}],
            "trackers[0]: unknown key 'projet' for a wandb tracker (did you mean 'project'? wandb keys: type, required, project",
        ),
        pytest.param(
            [{"type": "mlflow"}, {"type": "mlfow"}],
            "trackers[1].type: unknown tracker type 'mlfow' (did you mean 'mlflow'? known: mlflow, wandb)",
            marks=needs("mlflow"),
        ),
        ([{"project": "x"}], "trackers[0]: needs `type` (one of: mlflow, wandb)"),
        (["wandb"], "trackers[0]: expected a mapping like {type: wandb, project: ...}, got str"),
        ({"type": "wandb"}, "trackers: must be a list like [{type: wandb, project: my-evals}]"),
        ([{"type": "wandb", "mode": "cloud"}], "trackers[0].mode: Input should be 'online', 'offline' or 'disabled'"),
        (
            [{"type": "mlflow", "log_artifacts": "sometimes"}],
            "trackers[0].log_artifacts: Input should be a valid boolean",
        ),
        ([{"type": "wandb", "api_key": "sk-123"}], "trackers[0]: unknown key 'api_key' for a wandb tracker"),
    ],
)
def test_validation_messages(entries: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_trackers(entries)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_no_trackers_pass() -> None:
    validate_trackers([])
    validate_trackers(None)


@needs("wandb", "mlflow")
def test_valid_entries_pass() -> None:
    validate_trackers(
        [
            {"type": "wandb", "project": "p", "tags": ["a"], "mode": "offline"},
            {"type": "mlflow", "tracking_uri": "sqlite:///x.db", "tags": {"team": "nlp"}, "required": True},
        ]
    )


def test_missing_package_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WandbTracker, "package", "evalstack_test_not_installed_pkg")
    with pytest.raises(
        ConfigError,
        match=r"trackers\[0\]: the wandb tracker needs the 'evalstack_test_not_installed_pkg' "
        r"package, which is not installed \(pip install 'evalstack\[wandb\]'\)",
    ):
        validate_trackers([{"type": "wandb"}])


def test_bad_entry_through_the_cli_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_project(tmp_path, extra=_yaml_trackers([{"type": "wandb", "projetc": "x"}]))
    assert main(["run", str(tmp_path / "eval.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: trackers[0]: unknown key 'projetc' for a wandb tracker (did you mean 'project'?")


# ---------------------------------------------------------------- failures of a backend


class _Boom(Tracker):
    package = "json"
    extra = "none"
    note: str = "x"

    def log(self, run, out_dir):
        raise RuntimeError(f"backend down (token sk-secret-0123456789abcdef, {self.note})\nsecond line")


def test_a_failing_tracker_warns_and_the_others_still_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._ITEMS, ("tracker", "boom"), _Boom)
    seen = []

    class _Ok(Tracker):
        package = "json"

        def log(self, run, out_dir):
            seen.append((run.name, Path(out_dir)))

    monkeypatch.setitem(registry._ITEMS, ("tracker", "ok"), _Ok)
    write_project(tmp_path, extra=_yaml_trackers([{"type": "boom"}, {"type": "ok"}]))
    with pytest.warns(TrackerWarning) as rec:
        result = evalstack.run(tmp_path / "eval.yaml")
    assert result.exit_code == 0 and seen == [("proj", tmp_path / "out")]
    msg = str(rec[0].message)
    assert msg.startswith("trackers[0] (boom): logging failed: RuntimeError: backend down")
    assert "sk-secret-0123456789abcdef" not in msg and "second line" not in msg
    assert (tmp_path / "out" / "report.md").is_file()


def test_a_required_tracker_fails_the_run_with_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(registry._ITEMS, ("tracker", "boom"), _Boom)
    write_project(tmp_path, extra=_yaml_trackers([{"type": "boom", "required": True}]))
    assert main(["run", str(tmp_path / "eval.yaml"), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "error: trackers[0] (boom): logging failed: RuntimeError: backend down" in err
    assert "the reports in" in err and "sk-secret" not in err
    assert json.loads((tmp_path / "out" / "run.json").read_text())["name"] == "proj"
    with pytest.raises(TrackerError):
        log_run(
            [{"type": "boom", "required": True, "note": "direct"}],
            evalstack.api.load(tmp_path / "out").run,
            tmp_path / "out",
        )


def test_register_tracker_decorator() -> None:
    with registry.isolated():  # 'custom' is forgotten after the test

        @register_tracker("custom")
        class Custom(Tracker):
            package = "json"

        validate_trackers([{"type": "custom", "required": True}])
        with pytest.raises(ConfigError, match="unknown key 'x' for a custom tracker"):
            validate_trackers([{"type": "custom", "x": 1}])


def test_scalar_metrics_keys_and_values(tmp_path: Path) -> None:
    truth = write_project(tmp_path, gate="gate: {rules: [{metric: intent/accuracy, min: 0.95}]}\n")
    result = evalstack.run(tmp_path / "eval.yaml")
    s = scalar_metrics(result.run)
    acc_t = accuracy_score(truth["labels"], truth["tuned"])
    acc_b = accuracy_score(truth["labels"], truth["base"])
    assert s["intent/accuracy/tuned"] == pytest.approx(acc_t) and s["intent/accuracy/base"] == pytest.approx(acc_b)
    assert s["intent/delta/accuracy/tuned"] == pytest.approx(acc_t - acc_b)
    assert s["intent/accuracy/tuned_ci_low"] <= acc_t <= s["intent/accuracy/tuned_ci_high"]
    assert 0 <= s["intent/delta/accuracy/tuned_p_value"] <= 1
    keys = sorted(s)
    assert not any(b.startswith(a + "/") for a, b in zip(keys, keys[1:]))  # no key is a folder of another
    assert s["gate/passed"] == 0.0 and s["gate/rules_failed"] == 1.0 and s["intent/failed/tuned"] == 0.0
    assert "intent/delta/accuracy/base" not in s


# ---------------------------------------------------------------- MLflow, for real (local stores)


def _mlflow_project(tmp_path: Path, tracker: dict) -> dict:
    return write_project(
        tmp_path, gate="gate: {rules: [{metric: intent/accuracy, min: 0.8}]}\n", extra=_yaml_trackers([tracker])
    )


def _check_mlflow(client, run_id: str, truth: dict, out: Path) -> None:
    data = client.get_run(run_id).data
    acc_t = accuracy_score(truth["labels"], truth["tuned"])
    acc_b = accuracy_score(truth["labels"], truth["base"])
    assert data.metrics["intent/accuracy/tuned"] == pytest.approx(acc_t)
    assert data.metrics["intent/accuracy/base"] == pytest.approx(acc_b)
    assert data.metrics["intent/delta/accuracy/tuned"] == pytest.approx(acc_t - acc_b)
    assert data.metrics["gate/passed"] == 1.0
    assert data.params["baseline"] == "base" and data.params["tasks"] == "intent,summaries"
    assert data.params["models.tuned.provider"] == "replay" and data.params["tasks.intent.n_examples"] == str(N)
    assert data.tags["evalstack.gate"] == "passed"
    assert data.tags["mlflow.note.content"] == (out / "report.md").read_text()[:8000]
    assert client.get_run(run_id).info.status == "FINISHED"

    def walk(path: str) -> list[str]:
        found = []
        for a in client.list_artifacts(run_id, path):
            found += walk(a.path) if a.is_dir else [a.path]
        return found

    arts = set(walk("evalstack"))
    expected = {
        "evalstack/" + p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }
    assert arts == expected and "evalstack/run.json" in arts and "evalstack/plots/forest.png" in arts
    local = client.download_artifacts(run_id, "evalstack/run.json", str(out.parent / "dl"))
    assert Path(local).read_bytes() == (out / "run.json").read_bytes()


@pytest.mark.slow
def test_mlflow_sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mlflow = pytest.importorskip("mlflow")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    uri = f"sqlite:///{tmp_path / 'ml' / 'mlflow.db'}"
    (tmp_path / "ml").mkdir()
    truth = _mlflow_project(
        tmp_path,
        {"type": "mlflow", "tracking_uri": uri, "experiment": "support", "tags": {"team": "nlp"}, "required": True},
    )
    assert evalstack.run(tmp_path / "eval.yaml").exit_code == 0
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name("support")
    assert exp.artifact_location == (tmp_path / "ml" / "mlartifacts").as_uri()
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.run_name == "proj" and run.data.tags["team"] == "nlp"
    _check_mlflow(client, run.info.run_id, truth, tmp_path / "out")
    assert list(cwd.iterdir()) == []  # nothing written to the working folder


@pytest.mark.slow
def test_mlflow_file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mlflow = pytest.importorskip("mlflow")
    uri = (tmp_path / "mlruns").as_uri()
    truth = _mlflow_project(tmp_path, {"type": "mlflow", "tracking_uri": uri, "run_name": "ft-v3"})
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    if mlflow.__version__.split(".")[0] >= "3":  # MLflow 3 refuses file stores without the opt-in
        with pytest.warns(TrackerWarning, match="MLflow refuses a file store unless MLFLOW_ALLOW_FILE_STORE=true"):
            assert evalstack.run(tmp_path / "eval.yaml", out_dir=tmp_path / "refused").exit_code == 0
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert evalstack.run(tmp_path / "eval.yaml").exit_code == 0
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name("proj")  # default experiment: the run name
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.run_name == "ft-v3"
    _check_mlflow(client, run.info.run_id, truth, tmp_path / "out")


# ---------------------------------------------------------------- W&B, for real (offline mode)


def wandb_records(run_file: Path) -> list:
    """Records of an offline W&B run file (a LevelDB-style log of protobuf records, 32 KiB blocks)."""
    from wandb.proto import wandb_internal_pb2 as pb

    raw = run_file.read_bytes()
    assert raw[:4] == b":W&B"
    pos, block, pending, records = 7, 32768, b"", []
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # block trailer
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", raw[pos : pos + 7])
        data, pos = raw[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:
            break
        pending = data if kind in (1, 2) else pending + data
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(pending)
            records.append(rec)
    return records


def _items(updates) -> dict:
    return {"/".join(u.nested_key) if u.nested_key else u.key: json.loads(u.value_json) for u in updates}


@pytest.mark.slow
def test_wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wbdir"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "wbdir").mkdir()
    truth = write_project(
        tmp_path,
        gate="gate: {rules: [{metric: intent/accuracy, min: 0.95}]}\n",
        extra=_yaml_trackers(
            [
                {
                    "type": "wandb",
                    "project": "evals",
                    "group": "job-1",
                    "tags": ["ci"],
                    "dir": str(tmp_path / "wb"),
                    "required": True,
                }
            ]
        ),
    )
    result = evalstack.run(tmp_path / "eval.yaml")
    assert result.exit_code == 1  # the gate failed; the run was logged anyway
    (run_file,) = glob.glob(str(tmp_path / "wb" / "wandb" / "offline-run-*" / "run-*.wandb"))
    files = Path(run_file).parent / "files"
    recs = wandb_records(Path(run_file))
    kinds = [r.WhichOneof("record_type") for r in recs]
    (info,) = [r.run for r, k in zip(recs, kinds) if k == "run"]
    assert (
        info.project == "evals"
        and info.display_name == "proj"
        and info.run_group == "job-1"
        and list(info.tags) == ["ci"]
    )
    config = _items(info.config.update)
    assert config["baseline"] == "base" and config["models"]["tuned"]["provider"] == "replay"
    summary: dict = {}
    history: dict = {}
    for r, k in zip(recs, kinds):
        if k == "summary":
            summary.update(_items(r.summary.update))
        if k == "history":
            history.update(_items(r.history.item))
    acc_t = accuracy_score(truth["labels"], truth["tuned"])
    acc_b = accuracy_score(truth["labels"], truth["base"])
    assert summary["intent/accuracy/tuned"] == pytest.approx(acc_t)
    assert summary["intent/delta/accuracy/tuned"] == pytest.approx(acc_t - acc_b)
    assert summary["gate/passed"] == 0.0 and summary["gate/rules_failed"] == 1.0

    def table(key: str) -> dict:
        return json.loads((files / history[f"{key}/path"]).read_text())

    ex = table("examples")
    assert len(ex["data"]) == 2 * (N + 12)
    cols = ex["columns"]
    assert {
        "task",
        "model",
        "id",
        "output",
        "accuracy",
        "rougeL",
        "judge_answer_relevance",
        "judge_answer_relevance_reason",
    } <= set(cols)
    rows = [dict(zip(cols, d)) for d in ex["data"]]
    tuned = {r["id"]: r for r in rows if r["model"] == "tuned" and r["task"] == "intent"}
    assert [tuned[f"t{i}"]["accuracy"] for i in range(N)] == [
        float(p == y) for p, y in zip(truth["tuned"], truth["labels"])
    ]
    summ = [r for r in rows if r["task"] == "summaries"]
    assert {r["judge_answer_relevance_reason"] for r in summ} == {f"covers request {i}" for i in range(12)}
    deltas = table("deltas")
    drow = dict(zip(deltas["columns"], next(d for d in deltas["data"] if "intent/accuracy" in d)))
    assert drow["delta"] == pytest.approx(acc_t - acc_b) and drow["model"] == "tuned"
    gate = table("gate")
    assert [dict(zip(gate["columns"], d))["passed"] for d in gate["data"]] == [False]
    assert len(table("metrics")["data"]) == 8
    plots = {k.removesuffix("/path") for k in history if k.startswith(("plots/", "curves/")) and k.endswith("/path")}
    assert plots == {f"plots/{p.stem}" for p in (tmp_path / "out" / "plots").glob("*.png")} and "plots/forest" in plots
    for key in plots:
        assert (files / history[f"{key}/path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "WANDB_API_KEY" not in os.environ or os.environ["WANDB_API_KEY"] not in run_file


# ---------------------------------------------------------------- without the optional packages


def test_tracker_tests_skip_with_a_reason_when_the_packages_are_absent(tmp_path: Path) -> None:
    """Run this file's tests again in a fresh pytest where wandb and mlflow cannot be imported: nothing fails,
    and every skip says which package is missing."""
    import subprocess
    import sys

    (tmp_path / "hide_trackers.py").write_text(
        'import sys\nsys.modules["wandb"] = None\nsys.modules["mlflow"] = None\n'
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "hide_trackers",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            __file__,
            "-k",
            "validation or valid_entries or mlflow or wandb_offline",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    skips = [line for line in r.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skips) >= 4, r.stdout[-3000:]
    assert all("mlflow" in line or "wandb" in line for line in skips), skips

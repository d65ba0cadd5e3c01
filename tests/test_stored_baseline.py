"""A stored baseline (issue 16 item 3): `evalstack baseline set RUN --name prod` once, then a config with
`baseline: {run: prod}` generates only the candidates and gives the joint run's metrics, deltas, slices,
gate and review lists; `gate RUN --baseline prod` judges a saved candidate run against it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from _evalrig import config, judge_reply, write_data, write_outputs
from evalstack.cli import main


@pytest.fixture
def rig(tmp_path: Path, srv, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RIG_KEY", "sk-rig-0123456789")
    monkeypatch.setenv("EVALSTACK_STORE", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    srv.reply_with(judge_reply)
    write_data(tmp_path)
    write_outputs(tmp_path, "base", 0.9, seed=1)
    write_outputs(tmp_path, "ft", 0.45, seed=2)  # worse: the gate fails (exit 1) in both forms
    config(tmp_path, judge_url=srv.base_url, models={"base": "base.jsonl", "ft": "ft.jsonl"}, baseline="base")
    return tmp_path


def _drop_judge_details(metrics: dict) -> dict:
    """A judge's details (methods, passed...) stay in the run that judged: the rest must be equal."""
    return {k: {f: v for f, v in x.items() if f != "details" or not k.startswith("judge_")} for k, x in metrics.items()}


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_stored_baseline_gives_the_joint_runs_results(rig: Path, srv) -> None:
    assert main(["run", "cfg.yaml", "--out", "joint", "--quiet"]) == 1
    assert main(["baseline", "set", "joint", "--name", "prod"]) == 0
    config(rig, judge_url=srv.base_url, models={"ft": "ft.jsonl"}, baseline="{run: prod}", file="cand.yaml")
    n0 = len(srv.requests)
    assert main(["run", "cand.yaml", "--out", "paired", "--quiet", "--no-cache"]) == 1
    # only the candidate was judged: the 40 qa outputs of ft, none of base's
    judged = [json.dumps(r.json) for r in srv.requests[n0:] if "<data-" in json.dumps(r.json)]
    assert len(judged) == 40 and all("ft answer" in r and "base answer" not in r for r in judged)
    joint = json.loads((rig / "joint" / "run.json").read_text())
    paired = json.loads((rig / "paired" / "run.json").read_text())
    for task in ("intent", "qa"):
        j, p = joint["tasks"][task], paired["tasks"][task]
        assert p["deltas"] == j["deltas"]
        assert p["slices"] == j["slices"]
        for m in ("base", "ft"):
            assert _drop_judge_details(p["models"][m]["metrics"]) == _drop_judge_details(j["models"][m]["metrics"])
    assert paired["gate"]["rules"] == joint["gate"]["rules"] and paired["gate"]["passed"] is False
    for f in ("review/lowest.csv", "review/regressions.csv"):
        assert _csv(rig / "paired" / f) == _csv(rig / "joint" / f)
    assert paired["digests"]["intent"]["data"] == joint["digests"]["intent"]["data"]


def test_gate_baseline_judges_a_saved_candidate_run(rig: Path, srv, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "cfg.yaml", "--out", "joint", "--quiet"]) == 1
    assert main(["baseline", "set", "joint", "--name", "prod"]) == 0
    (rig / "rules.yaml").write_text("rules:\n  - {metric: intent/accuracy, max_regression: 0.05}\n")
    assert main(["gate", "joint", "--rules", "rules.yaml", "--baseline", "prod", "--out", "g"]) == 1
    joint = json.loads((rig / "joint" / "run.json").read_text())
    g = json.loads((rig / "g" / "run.json").read_text())
    assert g["tasks"]["intent"]["deltas"] == joint["tasks"]["intent"]["deltas"]
    # a candidate judged by another judge model: refused, one line naming it
    config(
        rig,
        judge_url=srv.base_url,
        models={"base": "base.jsonl", "ft": "ft.jsonl"},
        baseline="base",
        judge_model="judge-mini",
    )
    assert main(["run", "cfg.yaml", "--out", "mini", "--quiet"]) == 1
    capsys.readouterr()
    assert main(["gate", "mini", "--rules", "rules.yaml", "--baseline", "prod", "--out", "g2"]) == 2
    assert "  qa: judge model judge-model -> judge-mini" in capsys.readouterr().err.splitlines()


def test_refusals_incomplete_run_digest_mismatch_and_missing_ids(
    rig: Path, srv, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "cfg.yaml", "--out", "joint", "--quiet"]) == 1
    assert main(["baseline", "set", "joint", "--name", "prod"]) == 0
    # a prompt change: refused before any request
    config(
        rig,
        judge_url=srv.base_url,
        models={"ft": "ft.jsonl"},
        baseline="{run: prod}",
        file="cand.yaml",
        prompt="Support ticket: {{ text }}",
    )
    n0 = len(srv.requests)
    capsys.readouterr()
    assert main(["run", "cand.yaml", "--out", "p1", "--quiet", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "  intent: prompt changed" in err.splitlines() and len(srv.requests) == n0
    assert not (rig / "p1").exists()
    # an unknown stored name
    config(rig, judge_url=srv.base_url, models={"ft": "ft.jsonl"}, baseline="{run: staging}", file="cand.yaml")
    assert main(["run", "cand.yaml", "--out", "p2", "--quiet"]) == 2
    assert "no stored baseline named 'staging'" in capsys.readouterr().err
    # the data grew by two rows (allowed): the ids the stored baseline lacks are listed; intersect pairs the rest
    write_data(rig, n=42)
    write_outputs(rig, "ft", 0.45, seed=2, n=42)
    ref = "{run: prod, allow_mismatch: [data]}"
    config(rig, judge_url=srv.base_url, models={"ft": "ft.jsonl"}, baseline=ref, file="cand.yaml")
    capsys.readouterr()
    assert main(["run", "cand.yaml", "--out", "p3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "base lacks e040, e041" in err and "--intersect" in err, err
    ref = "{run: prod, allow_mismatch: [data], intersect: true}"
    config(rig, judge_url=srv.base_url, models={"ft": "ft.jsonl"}, baseline=ref, file="cand.yaml")
    assert main(["run", "cand.yaml", "--out", "p4", "--quiet"]) == 1
    p4 = json.loads((rig / "p4" / "run.json").read_text())
    assert p4["tasks"]["intent"]["deltas"]["ft"]["accuracy"]["n"] == 40
    assert p4["settings"]["not_like_for_like"] == ["intent: data rows changed", "qa: data rows changed"]
    assert "NOT LIKE-FOR-LIKE" in (rig / "p4" / "report.md").read_text()


def test_an_incomplete_run_is_refused_as_a_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_compare_cli import QA_TASK, _run_with_failed_judge

    monkeypatch.setenv("EVALSTACK_STORE", str(tmp_path / "store"))
    _run_with_failed_judge(tmp_path, monkeypatch, "inc", QA_TASK, "monday")
    capsys.readouterr()
    assert main(["baseline", "set", "monday", "--name", "prod"]) == 2
    err = capsys.readouterr().err
    assert "the run is incomplete (2 items failed after retries)" in err and len(err.strip().splitlines()) == 1


def test_input_drift_tells_changed_data_apart(rig: Path, srv, capsys: pytest.CaptureFixture[str]) -> None:
    """history drift: label chi-square and input-length KS p-values equal scipy's on the raw data files."""
    from scipy.stats import chi2_contingency, ks_2samp

    assert main(["run", "cfg.yaml", "--out", "joint", "--quiet"]) == 1
    assert main(["baseline", "set", "joint", "--name", "prod"]) == 0
    before = [json.loads(x) for x in (rig / "intent.jsonl").read_text().splitlines()]
    after = [dict(r, label="bug", text=r["text"] + " (long)") if i % 3 == 0 else r for i, r in enumerate(before)]
    (rig / "intent.jsonl").write_text("".join(json.dumps(r) + "\n" for r in after))
    assert main(["run", "cfg.yaml", "--out", "shifted", "--quiet"]) in (0, 1)
    capsys.readouterr()
    assert main(["history", "drift", "shifted", "--baseline", "prod", "--json"]) == 0
    got = {d["task"]: d for d in json.loads(capsys.readouterr().out)}
    labels = sorted({r["label"] for r in before + after})
    table = [[sum(r["label"] == x for r in rows) for x in labels] for rows in (before, after)]
    assert got["intent"]["labels_p"] == pytest.approx(chi2_contingency(table, correction=False)[1], rel=1e-9)
    lengths = ks_2samp([len(r["text"]) for r in before], [len(r["text"]) for r in after]).pvalue
    assert got["intent"]["lengths_p"] == pytest.approx(lengths, rel=1e-9)
    assert got["intent"]["changed"] is True
    assert got["qa"]["changed"] is False and got["qa"]["lengths_p"] == pytest.approx(1.0)
    assert main(["history", "drift", "joint", "--baseline", "prod"]) == 0
    assert "intent: labels chi-square p 1" in capsys.readouterr().out

"""Judge scores corrected by human labels: PPI++ against ppi-python, Rogan-Gladen by hand, the CLI on a run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _helpers import run_cli as _cli
from evalstack.stats._correct import ppi_mean, rogan_gladen


def test_ppi_equals_ppi_python_on_random_problems():
    import ppi_py

    rng = np.random.default_rng(0)
    worst = 0.0
    for t in range(200):
        n, big_n = int(rng.integers(3, 300)), int(rng.integers(1, 3000))
        y = rng.integers(1, 6, n).astype(float)
        yh = np.clip(y + rng.normal(0, rng.uniform(0.1, 3), n), 1, 5) if t % 3 else rng.normal(0, 1, n)
        yu = rng.normal(3, 1, big_n)
        for lam in (None, 1.0, 0.0):
            est, lo, hi, _ = ppi_mean(y, yh, yu, confidence=0.9, lam=lam)
            ref = float(np.ravel(ppi_py.ppi_mean_pointestimate(y, yh, yu, lam=lam))[0])
            rlo, rhi = (float(np.ravel(v)[0]) for v in ppi_py.ppi_mean_ci(y, yh, yu, alpha=0.1, lam=lam))
            worst = max(worst, abs(est - ref), abs(lo - rlo), abs(hi - rhi))
    assert worst < 1e-10


def test_rogan_gladen_hand_worked():
    # q = 0.625 judged pass rate, Se 0.85 (140 human passes), Sp 0.90 (60 human fails), 2000 judged:
    # estimate (0.625 + 0.9 - 1) / 0.75 = 0.7;
    # variance (0.625*0.375/2000 + 0.49*0.85*0.15/140 + 0.09*0.9*0.1/60) / 0.75^2 = 6.984375e-4 / 0.5625
    # = 1.2416667e-3, sd 0.0352373, half-width 1.959964 * 0.0352373 = 0.0690638
    est, lo, hi = rogan_gladen(0.625, 2000, 0.85, 140, 0.90, 60)
    assert est == pytest.approx(0.7, abs=1e-12)
    assert (lo, hi) == pytest.approx((0.7 - 0.0690638, 0.7 + 0.0690638), abs=1e-6)
    with pytest.raises(ValueError, match="no better than chance"):
        rogan_gladen(0.5, 100, 0.5, 10, 0.5, 10)


def _judged_run(tmp_path: Path) -> tuple[Path, dict[str, dict[str, float]]]:
    """A finished run (through the CLI) with a replayed 1-5 faithfulness judge on two models."""
    rng = np.random.default_rng(7)
    ids = [f"s{i:03d}" for i in range(60)]
    data = [{"id": i, "document": f"conversation {i}", "summary": f"summary {i}"} for i in ids]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    judge_rows, scores = [], {}
    for m in ("base", "ft"):
        (tmp_path / f"{m}.jsonl").write_text(
            "".join(json.dumps({"id": i, "output": f"{m} says {i}"}) + "\n" for i in ids)
        )
        scores[m] = {i: int(rng.integers(2 if m == "base" else 3, 6)) for i in ids}
        judge_rows += [
            {"task": f"sums/{m}", "id": i, "output": json.dumps({"reason": "ok", "score": s})}
            for i, s in scores[m].items()
        ]
    (tmp_path / "judge.jsonl").write_text("".join(json.dumps(r) + "\n" for r in judge_rows))
    (tmp_path / "cfg.yaml").write_text(
        "name: jc\nbaseline: base\n"
        "models:\n  base: {provider: replay, path: base.jsonl}\n  ft: {provider: replay, path: ft.jsonl}\n"
        "tasks:\n  - name: sums\n    data: {path: data.jsonl, id: id}\n"
        "    prompt: {user: 'Summarize: {{ document }}'}\n    reference: summary\n    context: document\n"
        "    metrics: [exact_match]\n    judges: [faithfulness]\n"
        "judge: {provider: replay, path: judge.jsonl, task_column: task}\noutput: out\n"
    )
    r = _cli("run", str(tmp_path / "cfg.yaml"), "-q")
    assert r.returncode == 0, r.stderr
    return tmp_path / "out", {m: {i: float(s) for i, s in v.items()} for m, v in scores.items()}


def test_cli_corrects_each_model_and_the_delta_like_ppi_python(tmp_path):
    import ppi_py

    run, judge = _judged_run(tmp_path)
    rng = np.random.default_rng(1)
    labelled = sorted(rng.choice(sorted(judge["base"]), 25, replace=False))
    human = {m: {i: max(1.0, judge[m][i] - float(rng.integers(0, 2))) for i in labelled} for m in judge}
    rows = [{"id": i, "model": m, "human_score": human[m][i]} for m in human for i in labelled]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = _cli("judge", "correct", str(run), "--labels", str(tmp_path / "labels.jsonl"), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["task"] == "sums" and res["rubric"] == "faithfulness"
    rest = [i for i in judge["base"] if i not in human["base"]]
    for m in ("base", "ft"):
        y = np.array([human[m][i] for i in labelled])
        yh = np.array([judge[m][i] for i in labelled])
        yu = np.array([judge[m][i] for i in rest])
        lo, hi = (float(np.ravel(v)[0]) for v in ppi_py.ppi_mean_ci(y, yh, yu, alpha=0.05))
        got = res["models"][m]
        assert got["ppi"]["ci"] == pytest.approx([lo, hi], abs=1e-9)
        assert got["naive"] == pytest.approx(np.mean(list(judge[m].values())))
        assert got["n_labelled"] == 25 and got["n_unlabelled"] == 35
    y = np.array([human["ft"][i] - human["base"][i] for i in labelled])
    yh = np.array([judge["ft"][i] - judge["base"][i] for i in labelled])
    yu = np.array([judge["ft"][i] - judge["base"][i] for i in rest])
    lo, hi = (float(np.ravel(v)[0]) for v in ppi_py.ppi_mean_ci(y, yh, yu, alpha=0.05))
    assert res["deltas"]["ft"]["ppi"]["ci"] == pytest.approx([lo, hi], abs=1e-9)
    text = _cli("judge", "correct", str(run), "--labels", str(tmp_path / "labels.jsonl"))
    assert "ft - base" in text.stdout and "PPI++" in text.stdout


def test_cli_bad_labels_are_one_line_exit_2(tmp_path):
    run, _ = _judged_run(tmp_path)
    for rows, needle in (
        ([{"id": "nope", "model": "base", "human_score": 3}], "has no faithfulness judge score"),
        ([{"id": "s001", "model": "who", "human_score": 3}], "unknown model 'who'"),
        ([{"id": "s001", "model": "base", "human_score": "great"}], "not a number or pass/fail"),
        ([{"id": "s001", "human_score": 3}], "need a 'model' column"),
        ([{"id": "s001", "model": ["ft"], "human_score": 3}], "'model' must be a string"),
        ([{"id": "s001", "model": "ft", "task": {"a": 1}, "human_score": 3}], "'task' must be a string"),
        ([{"id": {"x": 1}, "model": "ft", "human_score": 3}], "'id' must be a string"),
    ):
        (tmp_path / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        r = _cli("judge", "correct", str(run), "--labels", str(tmp_path / "bad.jsonl"))
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], r.stderr

"""Run history and drift alarms: the index over 50 synthetic runs through the CLI, two writers at once,
the weighted trend against numpy's weighted fit and a hand-computed z-test, --fail-on-decline, --plot."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from _helpers import run_cli
from evalstack.history import RunStore, trend


def synthetic_run(folder: Path, i: int, acc: float, *, digest: str = "cfg-a", n: int = 1000) -> Path:
    """A finished run folder (run.json only, as the store reads it) with one task and two models."""
    se = math.sqrt(acc * (1 - acc) / n)
    metric = lambda v: {  # noqa: E731
        "value": v,
        "ci_low": v - 1.96 * se,
        "ci_high": v + 1.96 * se,
        "n": n,
        "unscored": 0,
        "higher_is_better": True,
    }
    run = {
        "name": f"nightly-{i:02d}",
        "created_at": f"2026-11-{1 + i // 24:02d}T{i % 24:02d}:00:00+00:00",
        "baseline": "base",
        "config_digest": digest,
        "evalstack_version": "0.1.0",
        "models": {"base": {"checkpoint_step": None}, "ft": {"checkpoint_step": 100 * i}},
        "tasks": {
            "intent": {
                "models": {"base": {"metrics": {"accuracy": metric(0.7)}}, "ft": {"metrics": {"accuracy": metric(acc)}}}
            }
        },
    }
    d = folder / f"run{i:02d}"
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps(run))
    return d


def cli(*args: str, store: Path) -> subprocess.CompletedProcess:
    return run_cli(*args, env={"EVALSTACK_STORE": str(store)})


def test_fifty_runs_through_the_cli(tmp_path):
    store = tmp_path / "store"
    rng = np.random.default_rng(0)
    runs = [
        synthetic_run(tmp_path / "runs", i, 0.85 + rng.normal(0, 0.003), digest="cfg-a" if i < 40 else "cfg-b")
        for i in range(50)
    ]
    r = cli("history", "add", *map(str, runs), store=store)
    assert r.returncode == 0, r.stderr
    assert "holds 50 run(s)" in r.stderr
    again = cli("history", "add", str(runs[0]), store=store)
    assert "already indexed" in again.stdout and "holds 50 run(s)" in again.stderr
    r = cli("history", "--metric", "intent/accuracy", "--model", "ft", "--json", store=store)
    (series,) = json.loads(r.stdout)
    assert [p["run"] for p in series["points"]] == [f"nightly-{i:02d}" for i in range(50)]
    assert [p["same_config_as_previous"] for p in series["points"]].count(False) == 1  # the change at run 40
    assert series["points"][40]["same_config_as_previous"] is False
    assert series["trend"]["runs"] == 10 and series["trend"]["flagged"] is False  # comparable runs: since 40
    r = cli("history", "--metric", "intent/accuracy", "--since", "2026-11-02", store=store)
    assert r.returncode == 0 and "nightly-23" not in r.stdout and "nightly-24" in r.stdout
    png = tmp_path / "h.png"
    r = cli("history", "--metric", "accuracy", "--task", "intent", "--plot", str(png), store=store)
    assert r.returncode == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = cli("history", "--since", "last tuesday", store=store)
    assert bad.returncode == 2 and "is not a date" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_decline_flagged_and_gates_ci(tmp_path):
    store = tmp_path / "store"
    runs = [synthetic_run(tmp_path / "runs", i, 0.85 - 0.01 * i, n=5000) for i in range(6)]
    assert cli("history", "add", *map(str, runs), store=store).returncode == 0
    r = cli("history", "--metric", "intent/accuracy", "--model", "ft", "--fail-on-decline", store=store)
    assert r.returncode == 1 and "DECLINE" in r.stdout
    r = cli("history", "--metric", "intent/accuracy", "--model", "base", "--fail-on-decline", store=store)
    assert r.returncode == 0 and "no significant decline" in r.stdout


def test_weighted_trend_equals_numpy_weighted_fit_and_a_hand_z_test():
    from scipy.stats import norm

    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(3, 15))
        se = rng.uniform(0.002, 0.02, n)
        y = 0.8 + rng.normal(0, 0.01, n) - 0.002 * np.arange(n)
        tr = trend(y, y - 1.959963984540054 * se, y + 1.959963984540054 * se)
        # tau^2 by the projection-matrix form of DerSimonian-Laird: (Q - (k - 2)) / tr(P), P = W - W X (X'WX)^-1 X'W
        t = np.arange(n)
        x = np.column_stack([np.ones(n), t])
        w = np.diag(1 / se**2)
        proj = w - w @ x @ np.linalg.inv(x.T @ w @ x) @ x.T @ w
        q = float(y @ proj @ y)
        tau2 = max(0.0, (q - (n - 2)) / np.trace(proj))
        assert tr.between_run_variance == pytest.approx(tau2, rel=1e-9, abs=1e-15)
        total = se**2 + tau2
        slope = np.polyfit(t, y, 1, w=1 / np.sqrt(total))[0]  # numpy weights the residuals: WLS with 1/total
        assert tr.slope == pytest.approx(slope, abs=1e-10)
        wt = 1 / total
        sxx = np.sum(wt * (t - np.sum(wt * t) / wt.sum()) ** 2)
        assert tr.p_weighted == pytest.approx(norm.cdf(slope * math.sqrt(sxx)), abs=1e-9)
    # lower is better: a rising error rate is the decline
    tr = trend(
        [0.10, 0.11, 0.12, 0.13, 0.14],
        [0.09, 0.10, 0.11, 0.12, 0.13],
        [0.11, 0.12, 0.13, 0.14, 0.15],
        higher_is_better=False,
    )
    assert tr.flagged and tr.decline_per_run == pytest.approx(0.01)
    assert trend([0.8, 0.7], [0.7, 0.6], [0.9, 0.8]).slope is None  # fewer than 3 runs: not tested
    # no CI for some run: Mann-Kendall decides
    tr = trend([0.9, 0.85, 0.8, 0.75, 0.7, 0.65], [None] * 6, [None] * 6)
    assert tr.p_weighted is None and tr.flagged


def test_run_to_run_scatter_beyond_the_cis_is_not_a_trend():
    """Flat histories whose runs scatter 3x more than their CIs say (the reviewer's case): without the
    between-run variance about a third were flagged; with it the false alarms stay near alpha."""
    rng = np.random.default_rng(7)
    flagged = 0
    trials = 600
    for _ in range(trials):
        se = np.full(10, 0.004)
        y = 0.8 + rng.normal(0, 0.012, 10)
        flagged += trend(y, y - 1.96 * se, y + 1.96 * se).flagged
    assert flagged / trials <= 0.08


def _adder(args: tuple[str, list[str]]) -> None:
    store, runs = args
    rs = RunStore(Path(store))
    for r in runs:
        rs.add(Path(r))
    rs.close()


def test_two_writers_share_a_store_without_lost_rows(tmp_path):
    runs = [str(synthetic_run(tmp_path / "runs", i, 0.8)) for i in range(40)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_adder, [(str(tmp_path / "store"), runs[0::2]), (str(tmp_path / "store"), runs[1::2])])
    rs = RunStore(tmp_path / "store")
    assert rs.count_runs() == 40 and len(list(rs.points())) == 80
    rs.close()


def test_terminal_control_characters_in_a_run_name_are_made_visible(tmp_path):
    """A run folder from elsewhere: its name carries an OSC title escape, a BEL and a bidi override."""
    d = synthetic_run(tmp_path / "runs", 0, 0.8)
    run = json.loads((d / "run.json").read_text())
    run["name"] = "x\x1b]0;pwned\x07\u202eevil"
    run["tasks"]["in\x1b[2Jtent"] = run["tasks"].pop("intent")
    (d / "run.json").write_text(json.dumps(run))
    store = tmp_path / "store"
    assert cli("history", "add", str(d), store=store).returncode == 0
    r = cli("history", store=store)
    assert r.returncode == 0, r.stderr
    assert not any(ch in r.stdout for ch in "\x1b\x07\u202e"), repr(r.stdout)
    assert "\\x1b]0;pwned" in r.stdout


def _run_process(root: str, out: str, store: str) -> int:
    from evalstack.cli import main

    os.environ["EVALSTACK_STORE"] = store
    os.environ["EVALSTACK_CACHE_DIR"] = str(Path(root) / f"cache-{out}")
    return main(["run", str(Path(root) / "cfg.yaml"), "--out", str(Path(root) / out), "--quiet"])


def test_every_finished_run_is_indexed_and_two_concurrent_runs_lose_no_rows(tmp_path, monkeypatch):
    """Two `evalstack run` processes at once, one shared store: both runs indexed, every point there; the
    history of two like-for-like runs is comparable; a changed prompt is marked not comparable."""
    import re

    from _evalrig import LABELS, write_data, write_outputs

    write_data(tmp_path)
    write_outputs(tmp_path, "base", 0.7, seed=1)
    write_outputs(tmp_path, "ft", 0.8, seed=2)
    cfg = (
        "name: hist\nbaseline: base\nmodels:\n  base: {provider: replay, path: base.jsonl}\n"
        "  ft: {provider: replay, path: ft.jsonl}\ntasks:\n  - name: intent\n    data: {path: intent.jsonl, id: id}\n"
        f'    prompt: {{user: "Ticket: {{{{ text }}}}"}}\n    target: label\n    labels: {json.dumps(LABELS)}\n'
        "    metrics: [accuracy, {f1: {average: macro}}]\n"
    )
    (tmp_path / "cfg.yaml").write_text(cfg)
    store = str(tmp_path / "store")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        codes = pool.starmap(_run_process, [(str(tmp_path), "a", store), (str(tmp_path), "b", store)])
    assert codes == [0, 0]
    rs = RunStore(Path(store))
    pts = list(rs.points(metric="accuracy"))
    assert rs.count_runs() == 2 and len(list(rs.points())) == 2 * 2 * 2  # 2 runs x 2 models x 2 metrics
    rs.close()
    assert len({p.comparable for p in pts}) == 1 and pts[0].comparable
    # a changed prompt: the third run is indexed, marked not comparable, and the trend starts after it
    (tmp_path / "cfg.yaml").write_text(cfg.replace("Ticket:", "Support ticket:"))
    assert _run_process(str(tmp_path), "c", store) == 0
    r = cli("history", "--metric", "intent/accuracy", "--model", "ft", "--json", store=Path(store))
    (series,) = json.loads(r.stdout)
    assert [p["same_config_as_previous"] for p in series["points"]] == [True, True, False]
    r = cli("history", "--metric", "intent/accuracy", "--model", "ft", store=Path(store))
    assert len(re.findall("not comparable with the previous run", r.stdout)) == 1


def test_mann_kendall_p_equals_the_exact_permutation_distribution():
    """The one-sided Mann-Kendall p of `trend` against an independent computation: S = sum of sign(y_j - y_i)
    over i < j, and its exact null distribution by enumerating every order of 6 distinct values."""
    from itertools import permutations

    def s_stat(y) -> int:
        return sum(int(np.sign(y[j] - y[i])) for i in range(len(y)) for j in range(i + 1, len(y)))

    null = [s_stat(p) for p in permutations(range(6))]
    rng = np.random.default_rng(3)
    for _ in range(20):
        y = 0.8 - 0.004 * np.arange(6) + rng.normal(0, 0.006, 6)
        s = s_stat(y)
        p_exact = sum(1 for v in null if v <= s) / len(null)  # H1: getting worse (higher is better)
        tr = trend(y, [None] * 6, [None] * 6)
        assert tr.p_mann_kendall == pytest.approx(p_exact, abs=1e-12)
        assert tr.flagged == (p_exact < 0.05)

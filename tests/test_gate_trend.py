"""The gate rule {metric, max_trend_decline, window} over the run store's history, through `evalstack gate
RUN --rules`: a planted decline fails, a flat history passes, too short a history is inconclusive, and the
slope and p printed equal a hand-computed Theil-Sen median and the exact Mann-Kendall permutation p."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from _helpers import run_cli
from evalstack.config import StatsSettings
from evalstack.history import RunStore
from evalstack.metrics import mean_result
from test_gate import run_from_results


def _saved_run(tmp_path: Path) -> tuple[Path, dict]:
    base = [1.0] * 60 + [0.0] * 40
    ft = [1.0] * 70 + [0.0] * 30  # ft exact_match 0.70
    run = run_from_results(
        {
            "qa": {
                "base": {"exact_match": mean_result("exact_match", base)},
                "ft": {"exact_match": mean_result("exact_match", ft)},
            }
        },
        settings=StatsSettings(n_resamples=200),
    )
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(run.model_dump_json(), encoding="utf-8")
    return folder, json.loads(run.model_dump_json())


def _history(tmp_path: Path, meta: dict, values: list[float], *, digest: str | None = None) -> Path:
    """Earlier runs (oldest first) indexed through the store's own API: same config digest and baseline."""
    store = tmp_path / "store"
    rs = RunStore(store)
    for i, v in enumerate(values):
        m = {"value": v, "ci_low": v - 0.05, "ci_high": v + 0.05, "n": 100, "unscored": 0, "higher_is_better": True}
        run = {
            "name": f"nightly-{i:02d}",
            "created_at": f"2026-11-01T{i:02d}:00:00+00:00",
            "baseline": meta["baseline"],
            "config_digest": digest or meta["config_digest"],
            "tasks": {"qa": {"models": {"ft": {"metrics": {"exact_match": m}}, "base": {"metrics": {}}}}},
        }
        d = tmp_path / "hist" / f"r{i:02d}"
        d.mkdir(parents=True)
        (d / "run.json").write_text(json.dumps(run))
        rs.add(d)
    rs.close()
    return store


def _gate(tmp_path: Path, run: Path, store: Path, rule: str) -> tuple[int, str]:
    rules = tmp_path / "gate.yaml"
    rules.write_text(f"rules:\n  - {rule}\n", encoding="utf-8")
    r = run_cli("gate", str(run), "--rules", str(rules), env={"EVALSTACK_STORE": str(store)})
    return r.returncode, r.stdout + r.stderr


def _theil_sen(ys: list[float]) -> float:
    return float(np.median([(ys[j] - ys[i]) / (j - i) for i, j in itertools.combinations(range(len(ys)), 2)]))


def test_planted_decline_fails_with_the_hand_computed_slope_and_exact_p(tmp_path):
    run, meta = _saved_run(tmp_path)
    hist = [0.70 + 0.02 * (9 - i) + (0.003 if i % 2 else 0.0) for i in range(9)]  # 2 points per run, monotone
    store = _history(tmp_path, meta, [0.30, 0.95] + hist)  # two older runs outside the window of 10
    code, out = _gate(tmp_path, run, store, "{metric: qa/exact_match, max_trend_decline: 0.01, window: 10}")
    ys = hist + [0.70]
    # strictly decreasing over 10 runs: one ordering of 10! has tau = -1, so the exact one-sided p is 1/10!
    assert all(a > b for a, b in zip(ys, ys[1:]))
    assert code == 1, out
    assert "DECLINE" in out and "last 10 comparable runs" in out
    assert f"slope {_theil_sen(ys):+.4g} per run" in out
    assert f"p={1 / math.factorial(10):.3g}" in out


def test_flat_history_passes(tmp_path):
    run, meta = _saved_run(tmp_path)
    hist = [0.70, 0.72, 0.69, 0.71, 0.70, 0.68, 0.72, 0.70, 0.69]
    store = _history(tmp_path, meta, hist)
    code, out = _gate(tmp_path, run, store, "{metric: qa/exact_match, max_trend_decline: 0.01, window: 10}")
    ys = hist + [0.70]
    p = kendalltau(range(10), ys, alternative="less").pvalue
    assert p > 0.05  # the series has no decline at 5% by scipy's own test
    assert code == 0, out
    assert "no decline beyond the bound" in out and f"p={p:.3g}" in out and f"slope {_theil_sen(ys):+.4g}" in out


def test_significant_but_small_decline_passes_and_a_changed_config_cuts_the_stretch(tmp_path):
    run, meta = _saved_run(tmp_path)
    small = [0.70 + 0.005 * (9 - i) for i in range(9)]  # significant, but 0.005 per run <= 0.01
    store = _history(tmp_path, meta, small)
    code, out = _gate(tmp_path, run, store, "{metric: qa/exact_match, max_trend_decline: 0.01, window: 10}")
    assert code == 0 and "slope -0.005 per run" in out, out
    # earlier runs of another config are not comparable: only this run remains -> inconclusive, never a pass
    other = _history(tmp_path / "o", meta, [0.9, 0.85, 0.8, 0.75], digest="another-config")
    code, out = _gate(tmp_path, run, other, "{metric: qa/exact_match, max_trend_decline: 0.01, inconclusive: fail}")
    assert code == 1 and "trend inconclusive: 1 comparable run(s)" in out, out
    code, out = _gate(tmp_path, run, other, "{metric: qa/exact_match, max_trend_decline: 0.01}")
    assert code == 0 and "INCONCLUSIVE" in out, out


def test_bad_trend_rules_are_one_line_exit_2(tmp_path):
    run, meta = _saved_run(tmp_path)
    store = tmp_path / "store"
    for rule, words in (
        ("{metric: qa/exact_mach, max_trend_decline: 0.01}", "did you mean 'exact_match'"),
        ("{metric: qa/exact_match, max_trend_decline: 0.01, window: 2}", "window"),
        ("{metric: qa/exact_match, max_trend_decline: -1}", "max_trend_decline"),
    ):
        code, out = _gate(tmp_path, run, store, rule)
        assert code == 2 and out.strip().count("\n") == 0 and words in out, (rule, out)


def test_report_history_section_only_with_earlier_comparable_runs(tmp_path):
    run, meta = _saved_run(tmp_path)
    rule = "{metric: qa/exact_match, max_trend_decline: 0.01}"
    rules = tmp_path / "gate.yaml"
    rules.write_text(f"rules:\n  - {rule}\n", encoding="utf-8")
    empty = tmp_path / "nostore"
    r = run_cli(
        "gate", str(run), "--rules", str(rules), "--out", str(tmp_path / "a"), env={"EVALSTACK_STORE": str(empty)}
    )
    assert "## History" not in (tmp_path / "a" / "report.md").read_text(), r.stderr
    store = _history(tmp_path, meta, [0.71, 0.73, 0.72])
    r = run_cli(
        "gate", str(run), "--rules", str(rules), "--out", str(tmp_path / "b"), env={"EVALSTACK_STORE": str(store)}
    )
    md = (tmp_path / "b" / "report.md").read_text()
    assert "## History" in md and "the last 4 comparable runs" in md, r.stderr
    assert "| 2026-11-01T01:00:00+00:00 | nightly-01 | 0.73 | [0.68, 0.78] |" in md

"""`evalstack plan`: sample sizes for the gate's own tests, checked by independent simulation.

References: statsmodels' ``mcnemar`` (as the gate runs it) and scipy's ``wilcoxon`` run one
simulated data set at a time (not the vectorised path the planner uses); statsmodels' ``TTestPower``;
Connor's (1987) formula worked by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evalstack.stats import _power as pw


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "evalstack", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=cwd,
        timeout=300,
    )


def simulated_mcnemar_power(n: int, psi: float, delta: float, trials: int, seed: int) -> float:
    """Power of statsmodels' McNemar test as the gate runs it (asymptotic, no continuity correction),
    data drawn trial by trial."""
    from statsmodels.stats.contingency_tables import mcnemar

    rng = np.random.default_rng(seed)
    p10, p01 = (psi + delta) / 2, (psi - delta) / 2
    counts = rng.multinomial(n, [p10, p01, 1 - psi], size=trials)
    hits = 0
    for b, c, _ in counts:
        if b + c and mcnemar([[0, b], [c, 0]], exact=False, correction=False).pvalue < 0.05:
            hits += 1
    return hits / trials


def test_connor_formula_hand_worked():
    # psi 0.2, mde 0.05, alpha 0.05, power 0.8: z = 1.959964, 0.841621
    # (1.959964 * sqrt(0.2) + 0.841621 * sqrt(0.1975))^2 / 0.0025 = (0.876523 + 0.374022)^2 / 0.0025 = 625.54
    assert pw.connor_n(0.2, 0.05) == pytest.approx(625.54, abs=0.02)


@pytest.mark.parametrize("psi,mde", [(0.2, 0.05), (0.3, 0.1), (0.1, 0.05)])
def test_planned_n_reaches_the_power_when_the_drop_is_planted(psi, mde):
    n = pw.mcnemar_n(psi, mde)
    assert n is not None
    # Connor's formula approximates the same test: the exact computation lands close to it
    assert 0.9 * pw.connor_n(psi, mde) <= n <= 1.05 * pw.connor_n(psi, mde)
    power = simulated_mcnemar_power(n, psi, -mde, trials=4000, seed=n)
    assert 0.78 <= power <= 0.82, (n, power)
    # and one fewer example is really not enough (exactly computed)
    assert pw.mcnemar_power(n - 1, psi, -mde) < 0.8 <= pw.mcnemar_power(n, psi, -mde)


def test_exact_power_equals_simulation_at_any_n():
    for n, psi, delta in [(40, 0.3, -0.15), (150, 0.2, 0.04), (500, 0.05, -0.02)]:
        exact = pw.mcnemar_power(n, psi, delta)
        sim = simulated_mcnemar_power(n, psi, delta, trials=3000, seed=n)
        assert abs(exact - sim) < 4 * np.sqrt(exact * (1 - exact) / 3000) + 1e-3, (n, exact, sim)


def test_no_difference_gives_about_alpha():
    for n in (30, 100, 333):  # the asymptotic test is near, not exactly at, its level
        assert pw.mcnemar_power(n, 0.2, 0.0) <= 0.055


def test_detectable_effect_is_the_inverse_of_the_sample_size():
    mde = pw.mcnemar_mde(300, 0.15)
    assert mde is not None and 0 < mde < 0.15
    assert pw.mcnemar_power(300, 0.15, -mde) >= 0.8 > pw.mcnemar_power(300, 0.15, -(mde - 0.002))
    assert pw.mcnemar_mde(5, 0.01) is None  # 5 examples at 1% disagreement can see nothing


def test_wilcoxon_plan_reaches_the_power_by_independent_simulation():
    from scipy.stats import wilcoxon
    from statsmodels.stats.power import TTestPower

    r = cli("plan", "--mde", "0.1", "--sd", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    n = plan["n"]
    assert plan["test"] == "wilcoxon"
    t_n = TTestPower().solve_power(effect_size=0.2, alpha=0.05, power=0.8, alternative="two-sided")
    assert plan["reference_n"] == pytest.approx(t_n, rel=0.02)
    # Wilcoxon's efficiency on normal data is 3/pi of the t-test's: its n is ~5% larger
    assert 1.0 <= n / t_n <= 1.15
    rng = np.random.default_rng(12345)
    hits = sum(wilcoxon(rng.normal(-0.1, 0.5, n), zero_method="pratt").pvalue < 0.05 for _ in range(3000))
    assert 0.77 <= hits / 3000 <= 0.83, (n, hits / 3000)


def _pilot(tmp_path: Path, base: list[int], tuned: list[int]) -> Path:
    """A finished run folder with paired 0/1 accuracy of two replayed models (run through the CLI)."""
    n = len(base)
    rows = [{"id": f"e{i}", "text": f"question {i}", "label": "pos"} for i in range(n)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, right in (("base", base), ("tuned", tuned)):
        rec = [{"id": f"e{i}", "output": "pos" if ok else "neg"} for i, ok in enumerate(right)]
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rec))
    (tmp_path / "cfg.yaml").write_text(
        "name: pilot\nbaseline: base\n"
        "models:\n  base: {provider: replay, path: base.jsonl}\n  tuned: {provider: replay, path: tuned.jsonl}\n"
        "tasks:\n  - name: qa\n    data: {path: data.jsonl, id: id}\n    prompt: {user: '{{ text }}'}\n"
        "    target: label\n    labels: [pos, neg]\n    metrics: [accuracy, {f1: {average: macro}}]\n"
        "output: out\n"
    )
    r = cli("run", str(tmp_path / "cfg.yaml"), "-q")
    assert r.returncode in (0, 1), r.stderr
    return tmp_path / "out"


def test_plan_from_a_pilot_run(tmp_path):
    rng = np.random.default_rng(3)
    base = list(rng.integers(0, 2, 200))
    tuned = [b if rng.random() > 0.25 else 1 - b for b in base]
    disagree = sum(b != t for b, t in zip(base, tuned)) / 200
    run = _pilot(tmp_path, base, tuned)
    r = cli("plan", "--run", str(run), "--metric", "qa/accuracy", "--mde", "0.05", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["test"] == "mcnemar"
    assert plan["n"] == pw.mcnemar_n(disagree, 0.05)
    assert plan["at_n"] == 200 and plan["detectable_at_n"] == pytest.approx(pw.mcnemar_mde(200, disagree))
    text = cli("plan", "--run", str(run), "--metric", "qa/accuracy", "--mde", "0.05")
    assert f"{plan['n']:,} examples" in text.stdout and "200 examples can see drops of" in text.stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--mde", "0"], "--mde must be above 0"),
        (["--mde", "0.05", "--discordance", "1.5"], "--discordance must lie in (0, 1]"),
        (["--mde", "0.3", "--discordance", "0.1"], "at most the discordance rate"),
        (["--mde", "0.05"], "give a pilot run"),
        (["--mde", "0.02", "--discordance", "0.1", "--n", "99999999999"], "at most 2,000,000"),
        (["--mde", "0.02", "--sd", "1e-300"], "--sd must be"),
        (["--mde", "0.02", "--sd", "nan"], "--sd must be"),
        (["--mde", "nan", "--sd", "1"], "--mde must be"),
        (["--mde", "inf", "--sd", "1"], "--mde must be"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, needle):
    r = cli("plan", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr


def test_corpus_metric_and_unknown_task_from_a_pilot_are_exit_2(tmp_path):
    run = _pilot(tmp_path, [1, 0, 1, 1, 0, 1], [1, 1, 1, 0, 0, 1])
    r = cli("plan", "--run", str(run), "--metric", "qa/f1_macro", "--mde", "0.05")
    assert r.returncode == 2 and "corpus-only" in r.stderr
    r = cli("plan", "--run", str(run), "--metric", "nope/accuracy", "--mde", "0.05")
    assert r.returncode == 2 and "no task 'nope'" in r.stderr


def test_a_tiny_effect_is_answered_from_the_t_test_not_simulated_for_hours():
    from statsmodels.stats.power import TTestPower

    r = cli("plan", "--mde", "0.003", "--sd", "1", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    want = TTestPower().solve_power(effect_size=0.003, alpha=0.05, power=0.8, alternative="two-sided")
    assert (
        plan["n"] is None
        and plan["reference_n"] == pytest.approx(want, rel=0.02)
        and "not simulated" in plan["assumption"]
    )
    text = cli("plan", "--mde", "0.003", "--sd", "1")
    assert "not simulated that far" in text.stdout

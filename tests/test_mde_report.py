"""report.md says, per gated comparison, the smallest drop the gate could see at 80% power (issue 22).

The 0/1 figure is checked by simulating the gate's own McNemar test with statsmodels (asymptotic, no
continuity correction) at the reported drop and below it; the continuous figure against statsmodels'
normal power solver on the SE the run's CI implies.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from _helpers import run_cli as _cli


def _run(tmp: Path) -> tuple[Path, str]:
    n = 200
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 2, n)
    base_ok = np.ones(n, bool)
    base_ok[:40] = False  # base wrong on 0..39
    ft_ok = np.ones(n, bool)
    ft_ok[20:60] = False  # ft wrong on 20..59: 20 + 20 discordant pairs of 200 -> discordance 0.2
    labels = ["pos", "neg"]
    data = [{"id": f"e{i}", "text": f"q{i}", "label": labels[g], "ref": "a b c d"} for i, g in enumerate(gold)]
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    for name, ok in (("base", base_ok), ("ft", ft_ok)):
        rows = [{"id": f"e{i}", "output": labels[g] if ok[i] else labels[1 - g]} for i, g in enumerate(gold)]
        (tmp / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        texts = [{"id": f"e{i}", "output": " ".join(rng.choice(list("abcdef"), 4))} for i in range(n)]
        (tmp / f"{name}_t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in texts))
    (tmp / "cfg.yaml").write_text(
        "name: mde\nbaseline: base\nmodels:\n"
        "  base: {provider: replay, path: base.jsonl}\n  ft: {provider: replay, path: ft.jsonl}\n"
        "tasks:\n  - name: intent\n    data: {path: data.jsonl, id: id}\n    prompt: {user: '{{ text }}'}\n"
        "    target: label\n    labels: [pos, neg]\n    metrics: [accuracy]\n"
        "gate:\n  rules:\n    - {metric: intent/accuracy, max_regression: 0.0}\noutput: out\n"
    )
    r = _cli("run", str(tmp / "cfg.yaml"), "-q")
    assert r.returncode == 0, r.stderr
    return tmp / "out", (tmp / "out" / "report.md").read_text()


def _power_by_simulation(n: int, psi: float, drop: float, trials: int = 4000) -> float:
    from statsmodels.stats.contingency_tables import mcnemar

    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(trials):
        u = rng.random(n)
        b = int(np.sum(u < (psi - drop) / 2))  # model right, baseline wrong
        c = int(np.sum((u >= (psi - drop) / 2) & (u < psi)))  # model wrong, baseline right
        if b + c == 0:
            continue
        p = mcnemar([[0, b], [c, 0]], exact=False, correction=False).pvalue
        hits += p < 0.05
    return hits / trials


def test_mcnemar_mde_line_has_80_percent_power_by_simulation(tmp_path):
    out, md = _run(tmp_path)
    m = re.search(r"intent/accuracy \(ft\): with n=200, this gate can detect a drop of ≥ ([0-9.]+) points", md)
    assert m, md
    mde = float(m.group(1)) / 100
    assert "discordance 0.2" in md
    assert 0.76 <= _power_by_simulation(200, 0.2, mde) <= 0.84
    assert _power_by_simulation(200, 0.2, mde * 0.75) < 0.7  # a smaller drop is not seen as often
    html = (out / "report.html").read_text()
    assert "this gate can detect a drop of ≥" in html


def test_continuous_mde_equals_statsmodels_normal_solver(tmp_path):
    from statsmodels.stats.power import NormalIndPower

    from evalstack.api import load

    _, _ = _run(tmp_path)
    cfg = (tmp_path / "cfg.yaml").read_text()
    cfg = cfg.replace("base.jsonl", "base_t.jsonl").replace("ft.jsonl", "ft_t.jsonl")
    cfg = cfg.replace(
        "target: label\n    labels: [pos, neg]\n    metrics: [accuracy]", "reference: ref\n    metrics: [rouge]"
    )
    cfg = cfg.replace("intent/accuracy", "intent/rouge1").replace("output: out", "output: out2")
    (tmp_path / "cfg.yaml").write_text(cfg)
    r = _cli("run", str(tmp_path / "cfg.yaml"), "-q")
    assert r.returncode in (0, 1), r.stderr
    md = (tmp_path / "out2" / "report.md").read_text()
    m = re.search(r"intent/rouge1 \(ft\): with n=200, this gate can detect a drop of ≥ ([0-9.e-]+) at 80% power", md)
    assert m, md
    d = load(tmp_path / "out2").run.tasks["intent"].deltas["ft"]["rouge1"]
    se = (d.ci_high - d.ci_low) / (2 * 1.959963984540054)
    effect = NormalIndPower().solve_power(nobs1=1, ratio=0, alpha=0.05, power=0.8)
    assert float(m.group(1)) == float(f"{effect * se:.3g}")
    assert "normal approximation from the CI width" in md

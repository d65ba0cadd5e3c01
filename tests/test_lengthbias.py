"""Length bias and the length-controlled win rate: a two-point fit worked by hand, statsmodels' GLM, and
`evalstack judge bias` on a run whose (loopback) judge prefers the longer answer."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from evalstack.cli import main
from evalstack.stats._lengthbias import length_bias


def test_saturated_two_point_fit_by_hand():
    # 10 pairs where the model is 5 words longer (8 wins), 10 where it is 5 words shorter (3 wins).
    # With two distinct x = +-a the fit is exact: sigmoid(theta +- beta a) = 0.8 / 0.3, so
    # theta = (logit 0.8 + logit 0.3) / 2 = (1.3862944 - 0.8472979) / 2 = 0.2694982, LC = sigmoid(theta) = 0.5669705;
    # sd(d) = 5 sqrt(20/19), a = tanh(5 / sd), beta = (logit 0.8 - logit 0.3) / (2a).
    y = [1] * 8 + [0] * 2 + [1] * 3 + [0] * 7
    d = [5] * 10 + [-5] * 10
    lb = length_bias(y, d)
    a = math.tanh(5 / (5 * math.sqrt(20 / 19)))
    assert lb.lc_win_rate == pytest.approx(0.5669705, abs=1e-6)
    assert lb.slope == pytest.approx((1.3862944 + 0.8472979) / (2 * a), abs=1e-6)
    assert lb.win_rate == pytest.approx(0.55)


def test_equals_statsmodels_binomial_glm_with_ties():
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(30, 400))
        d = rng.normal(rng.normal(0, 20), 30, n).round()
        x = np.tanh(d / np.std(d, ddof=1))
        p = 1 / (1 + np.exp(-(rng.normal(0, 0.5) + rng.normal(0.8, 0.5) * x)))
        y = np.where(rng.random(n) < 0.2, 0.5, (rng.random(n) < p).astype(float))
        lb = length_bias(y, d)
        fit = sm.GLM(y, sm.add_constant(x), family=sm.families.Binomial()).fit(cov_type="HC0")
        assert lb.slope == pytest.approx(fit.params[1], abs=1e-7)
        assert lb.lc_win_rate == pytest.approx(1 / (1 + math.exp(-fit.params[0])), abs=1e-7)
        lo, hi = fit.conf_int(alpha=0.05)[1]
        assert lb.slope_ci == pytest.approx((lo, hi), abs=1e-6)


def _fences(req: dict) -> dict[str, str]:
    return dict(
        re.findall(r'<data-[0-9a-f]{16} name="([a-z_]+)">\n(.*?)\n</data-', req["messages"][1]["content"], re.S)
    )


def test_cli_on_a_run_whose_judge_prefers_longer_answers(tmp_path, monkeypatch, srv, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LB_JUDGE_KEY", "sk-lb-judge")
    n = 40
    Path("d.jsonl").write_text(
        "".join(json.dumps({"id": f"e{i}", "question": f"q{i}", "answer": "a"}) + "\n" for i in range(n))
    )
    rng = np.random.default_rng(0)
    for name in ("base", "ft"):
        outs = {f"e{i}": " ".join(["word"] * int(rng.integers(3, 30))) for i in range(n)}
        Path(f"{name}.jsonl").write_text("".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in outs.items()))

    def judge(req: dict) -> str:  # the longer answer wins, equal length ties
        f = _fences(req)
        a, b = len(f["output_a"].split()), len(f["output_b"].split())
        return json.dumps({"reason": "r", "verdict": "A" if a > b else "B" if b > a else "tie"})

    srv.reply_with(judge)
    Path("cfg.yaml").write_text(f"""\
name: lb
baseline: base
models:
  base: {{provider: replay, path: base.jsonl}}
  ft: {{provider: replay, path: ft.jsonl}}
judge: {{provider: openai, model: judge-model, base_url: "{srv.base_url}", api_key_env: LB_JUDGE_KEY}}
tasks:
  - name: qa
    data: {{path: d.jsonl, id: id}}
    prompt: {{user: "{{{{ question }}}}"}}
    reference: answer
    metrics: [exact_match]
    pairwise: [preference]
output: out
""")
    assert main(["run", "cfg.yaml", "-q"]) in (0, 1)
    capsys.readouterr()
    assert main(["judge", "bias", "out", "--json"]) == 0
    text = capsys.readouterr().out
    assert "NaN" not in text and "Infinity" not in text
    (row,) = json.loads(text)
    ex = [json.loads(line) for line in Path("out/examples.jsonl").read_text().splitlines()]
    out = {(r["model"], r["id"]): r for r in ex}
    y = [out[("ft", f"e{i}")]["scores"]["pairwise_preference"] for i in range(n)]
    d = [len(out[("ft", f"e{i}")]["output"].split()) - len(out[("base", f"e{i}")]["output"].split()) for i in range(n)]
    assert all(v == (1.0 if dd > 0 else 0.0 if dd < 0 else 0.5) for v, dd in zip(y, d))
    # the longer answer always wins: length decides every verdict, said so, no made-up CI
    assert row["n"] == n and row["win_rate"] == pytest.approx(np.mean(y)) and row["separated"] is True
    assert row["position_bias"] is not None
    assert main(["judge", "bias", "out"]) == 0
    assert "length decides every verdict" in capsys.readouterr().out

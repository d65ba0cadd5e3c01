"""A judge earns its gate (issue 19 items 2, 3) through the CLI: judge scores corrected by human labels in
the run (values equal ppi-python's), gate rules with corrected: true, and require_validation failing a rule
as "not validated" until `judge validate --save` records a good enough kappa for the same rubric and judge."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _helpers import run_cli as _cli

IDS = [f"s{i:03d}" for i in range(60)]


def _setup(tmp: Path, rules: str) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], list[str]]:
    rng = np.random.default_rng(7)
    data = [{"id": i, "document": f"conversation {i}", "summary": f"summary {i}"} for i in IDS]
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    judge_rows, judge = [], {}
    for m in ("base", "ft"):
        (tmp / f"{m}.jsonl").write_text("".join(json.dumps({"id": i, "output": f"{m} says {i}"}) + "\n" for i in IDS))
        judge[m] = {i: float(rng.integers(3, 6)) for i in IDS}
        judge_rows += [
            {"task": f"sums/{m}", "id": i, "output": json.dumps({"reason": "ok", "score": s})}
            for i, s in judge[m].items()
        ]
    (tmp / "judge.jsonl").write_text("".join(json.dumps(r) + "\n" for r in judge_rows))
    labelled = sorted(str(x) for x in rng.choice(IDS, 25, replace=False))
    # people score ft's outputs a point lower than the judge does, base's as the judge does
    human = {m: {i: max(1.0, judge[m][i] - (1.0 if m == "ft" else 0.0)) for i in labelled} for m in judge}
    rows = [{"id": i, "model": m, "human_score": human[m][i]} for m in human for i in labelled]
    (tmp / "human.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp / "cfg.yaml").write_text(
        "name: trust\nbaseline: base\n"
        "models:\n  base: {provider: replay, path: base.jsonl}\n  ft: {provider: replay, path: ft.jsonl}\n"
        "tasks:\n  - name: sums\n    data: {path: data.jsonl, id: id}\n"
        "    prompt: {user: 'Summarize: {{ document }}'}\n    reference: summary\n    context: document\n"
        "    judges: [{rubric: faithfulness, human_labels: human.jsonl}]\n"
        "judge: {provider: replay, path: judge.jsonl, task_column: task}\n" + rules + "output: out\n"
    )
    return judge, human, labelled


def _ppi(y, yh, yu):
    import ppi_py

    est = float(np.ravel(ppi_py.ppi_mean_pointestimate(np.array(y), np.array(yh), np.array(yu)))[0])
    lo, hi = (float(np.ravel(v)[0]) for v in ppi_py.ppi_mean_ci(np.array(y), np.array(yh), np.array(yu), alpha=0.05))
    return est, lo, hi


def test_corrected_estimates_in_the_run_and_gate_rules_read_them(tmp_path):
    judge, human, labelled = _setup(tmp_path, "")
    naive_ft = float(np.mean(list(judge["ft"].values())))
    bound = naive_ft - 0.45  # the naive mean clears it; the corrected one (a point lower on ft) does not
    rules = (
        "gate:\n  inconclusive: fail\n  rules:\n"
        f"    - {{metric: sums/judge_faithfulness, model: ft, min: {bound:.4f}}}\n"
        f"    - {{metric: sums/judge_faithfulness, model: ft, min: {bound:.4f}, corrected: true}}\n"
        "    - {metric: sums/judge_faithfulness, max_regression: 0.0, corrected: true}\n"
    )
    cfg = (tmp_path / "cfg.yaml").read_text().replace("output: out\n", rules + "output: out\n")
    (tmp_path / "cfg.yaml").write_text(cfg)
    r = _cli("run", str(tmp_path / "cfg.yaml"), "-q")
    assert r.returncode == 1, r.stderr
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    rest = [i for i in IDS if i not in labelled]
    for m in ("base", "ft"):
        d = run["tasks"]["sums"]["models"][m]["metrics"]["judge_faithfulness"]["details"]
        est, lo, hi = _ppi(
            [human[m][i] for i in labelled], [judge[m][i] for i in labelled], [judge[m][i] for i in rest]
        )
        assert d["corrected"]["estimate"] == pytest.approx(est, abs=1e-9)
        assert d["corrected"]["ci"] == pytest.approx([lo, hi], abs=1e-9)
        assert d["corrected"]["naive"] == pytest.approx(np.mean(list(judge[m].values())))
        assert (d["corrected"]["n_labelled"], d["corrected"]["n_unlabelled"]) == (25, 35)
    diff = {i: judge["ft"][i] - judge["base"][i] for i in IDS}
    hdiff = {i: human["ft"][i] - human["base"][i] for i in labelled}
    dest, dlo, dhi = _ppi([hdiff[i] for i in labelled], [diff[i] for i in labelled], [diff[i] for i in rest])
    dd = run["tasks"]["sums"]["models"]["ft"]["metrics"]["judge_faithfulness"]["details"]["corrected_delta"]
    assert (dd["estimate"], *dd["ci"]) == pytest.approx((dest, dlo, dhi), abs=1e-9)
    naive_rule, corrected_rule, delta_rule = run["gate"]["rules"]
    assert naive_rule["passed"] and naive_rule["value"] == pytest.approx(naive_ft)
    ft_est = run["tasks"]["sums"]["models"]["ft"]["metrics"]["judge_faithfulness"]["details"]["corrected"]["estimate"]
    assert not corrected_rule["passed"] and corrected_rule["value"] == pytest.approx(ft_est)
    assert delta_rule["value"] == pytest.approx(dest) and (
        delta_rule["ci_low"],
        delta_rule["ci_high"],
    ) == pytest.approx((dlo, dhi), abs=1e-6)
    assert delta_rule["passed"] == (dhi >= 0)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Judge scores corrected by human labels" in md and "PPI++" in md


def test_corrected_without_human_labels_is_exit_2_before_any_request(tmp_path):
    _setup(tmp_path, "gate:\n  rules:\n    - {metric: sums/judge_faithfulness, min: 3, corrected: true}\n")
    cfg = (tmp_path / "cfg.yaml").read_text().replace(", human_labels: human.jsonl", "")
    (tmp_path / "cfg.yaml").write_text(cfg)
    r = _cli("run", str(tmp_path / "cfg.yaml"), "-q")
    assert r.returncode == 2 and "corrected: true needs human labels" in r.stderr
    assert not (tmp_path / "out").exists()


def _validation_files(tmp: Path, judge: dict[str, dict[str, float]], agree: bool) -> tuple[Path, Path]:
    rng = np.random.default_rng(3)
    lab, ver = [], []
    for i in IDS[:40]:
        s = int(judge["base"][i])
        lab.append(
            {
                "id": i,
                "input": "q",
                "output": "a",
                "context": "c",
                "human_score": s if agree else int(rng.integers(1, 6)),
            }
        )
        ver.append({"id": i, "output": json.dumps({"reason": "r", "score": s})})
    (tmp / "vlabels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lab))
    (tmp / "verdicts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ver))
    return tmp / "vlabels.jsonl", tmp / "verdicts.jsonl"


def _save_validation(tmp: Path, judge: dict[str, dict[str, float]], *extra: str, agree: bool):
    """`evalstack judge validate --save` of the faithfulness rubric on labels that agree with the verdicts
    (kappa 1) or not, into tmp/validations."""
    labels, verdicts = _validation_files(tmp, judge, agree)
    return _cli(
        "judge",
        "validate",
        "--rubric",
        "faithfulness",
        "--labels",
        str(labels),
        "--judge-path",
        str(verdicts),
        "--save",
        str(tmp / "validations"),
        *extra,
    )


def test_require_validation_fails_until_a_good_validation_is_saved(tmp_path):
    judge, _, _ = _setup(
        tmp_path,
        "gate:\n  rules:\n    - {metric: sums/judge_faithfulness, min: 1, require_validation: {min_kappa: 0.6}}\n",
    )
    r = _cli("run", str(tmp_path / "cfg.yaml"), "-q")
    assert r.returncode == 1, r.stderr
    rule = json.loads((tmp_path / "out" / "run.json").read_text())["gate"]["rules"][0]
    assert not rule["passed"] and rule["message"].startswith("not validated: no `judge validate --save` record")
    # a weak validation (random human labels) is recorded: still not validated, and the record is named
    v = _save_validation(tmp_path, judge, "--json", agree=False)
    assert v.returncode == 0, v.stderr
    weak = json.loads(v.stdout)["kappa"]
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {metric: sums/judge_faithfulness, min: 1, require_validation: {min_kappa: 0.6}}\n")
    g = _cli("gate", str(tmp_path / "out"), "--rules", str(rules), "--json")
    assert g.returncode == 1
    assert f"kappa {weak:.3f}" in g.stdout and "below min_kappa 0.6" in g.stdout
    # a good one (labels equal the verdicts: kappa 1): the rule passes and says which validation it used
    v = _save_validation(tmp_path, judge, agree=True)
    assert v.returncode == 0, v.stderr
    g = _cli("gate", str(tmp_path / "out"), "--rules", str(rules), "--json")
    assert g.returncode == 0, g.stdout + g.stderr
    assert "validated: validation of" in g.stdout and "kappa 1.000" in g.stdout and "n=40" in g.stdout
    # another rubric's validation does not count: the digest differs
    rules.write_text(
        "rules:\n  - {metric: sums/judge_faithfulness, min: 1, require_validation: {min_kappa: 0.6, path: elsewhere}}\n"
    )
    g = _cli("gate", str(tmp_path / "out"), "--rules", str(rules), "--json")
    assert g.returncode == 1 and "not validated" in g.stdout

"""`evalstack sweep` through the CLI: the offline demo (explicit list of 4 recorded checkpoints), the honest
pick's confirmation split, the loss-vs-task flag, constraints as gate rules, bad input. Values are
recomputed here from the data and recorded outputs (statsmodels for the interval and the McNemar test)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evalstack.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "sweep-demo.yaml"


def run_main(capsys, *argv):
    code = main(["sweep", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _outputs(path: Path, task: str) -> dict[str, str]:
    return {r["id"]: r["output"] for r in _jsonl(path) if r["task"] == task}


def _norm(text: str) -> str:
    """Exact match's default normalisation: lower case, ASCII punctuation dropped, whitespace collapsed."""
    import string

    return " ".join("".join(ch for ch in text.lower() if ch not in string.punctuation).split())


def _first_label(text: str) -> str | None:
    """label_parsing mode first, by hand: the earliest allowed label (or alias) occurring as a whole word."""
    import re

    names = {
        "billing": "billing",
        "bug": "bug",
        "account": "account",
        "shipping": "shipping",
        "other": "other",
        "feature_request": "feature_request",
        "feature request": "feature_request",
    }
    hits = [
        (m.start(), -len(k), v)
        for k, v in names.items()
        for m in [re.search(rf"(?<!\w){re.escape(k)}(?!\w)", text, re.IGNORECASE)]
        if m
    ]
    return min(hits)[2] if hits else None


def _demo_copy(tmp_path: Path, **sweep_changes) -> Path:
    """The demo config in tmp_path (data named by absolute path), with sweep keys changed."""
    import yaml

    data = yaml.safe_load(DEMO.read_text())
    base = DEMO.parent

    def fix(node):
        if isinstance(node, dict):
            return {
                k: (str(base / v) if k in ("path", "curve") and isinstance(v, str) else fix(v)) for k, v in node.items()
            }
        if isinstance(node, list):
            return [fix(x) for x in node]
        return node

    data = fix(data)
    data["sweep"].update(sweep_changes)
    data["output"] = str(tmp_path / "out")
    p = tmp_path / "sweep.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def test_demo_sweep_picks_the_task_best_and_confirms_it_on_held_out_examples(tmp_path, capsys):
    out = tmp_path / "sw"
    code, stdout, err = run_main(capsys, DEMO, "--out", out, "--json")
    assert code == 0, err
    res = json.loads(stdout)
    labels = {r["id"]: r["label"] for r in _jsonl(ROOT / "configs/demo/data/intent_test.jsonl")}
    sel = [r["id"] for r in _jsonl(out / "data/select/intent.jsonl")]
    conf = [r["id"] for r in _jsonl(out / "data/confirm/intent.jsonl")]
    # the split: disjoint, complete, 30% held out to confirm
    assert not set(sel) & set(conf) and set(sel) | set(conf) == set(labels)
    assert len(conf) == round(0.3 * len(labels)) == res["split"]["intent"]["confirm"]
    acc = {}
    for step in (100, 200, 300, 400):
        outs = _outputs(ROOT / f"configs/demo/sweep/step-{step}.jsonl", "intent")
        acc[step] = sum(outs[i] == labels[i] for i in sel) / len(sel)
    by_step = {c["step"]: c for c in res["candidates"]}
    for step, value in acc.items():
        assert by_step[step]["score"]["value"] == pytest.approx(value)
        assert by_step[step]["score"]["n"] == len(sel)
    # forgetting constraint (max_drop 0.05 on general_qa exact match, point estimate): step 400 fails it
    qa = {r["id"]: r["answer"] for r in _jsonl(ROOT / "configs/demo/data/general_qa_test.jsonl")}
    qsel = [r["id"] for r in _jsonl(out / "data/select/general_qa.jsonl")]
    base_qa = _outputs(ROOT / "configs/demo/outputs/base.jsonl", "general_qa")
    base_em = sum(_norm(base_qa[i]) == _norm(qa[i]) for i in qsel) / len(qsel)
    for step in (100, 200, 300, 400):
        outs = _outputs(ROOT / f"configs/demo/sweep/step-{step}.jsonl", "general_qa")
        em = sum(_norm(outs[i]) == _norm(qa[i]) for i in qsel) / len(qsel)
        assert by_step[step]["meets_constraints"] == (base_em - em <= 0.05), step
    best = max((s for s in acc if by_step[s]["meets_constraints"]), key=lambda s: acc[s])
    assert res["pick"]["step"] == best == 200 and res["pick"]["adjusted"]
    # the pick's reported delta is on the confirmation part, with statsmodels' Wilson interval and McNemar
    from statsmodels.stats.contingency_tables import mcnemar
    from statsmodels.stats.proportion import proportion_confint

    base_out = _outputs(ROOT / "configs/demo/outputs/base.jsonl", "intent")
    pick_out = _outputs(ROOT / "configs/demo/sweep/step-200.jsonl", "intent")
    right = [pick_out[i] == labels[i] for i in conf]
    base_right = [_first_label(base_out[i]) == labels[i] for i in conf]
    c = res["pick"]["confirmation"]
    assert c["value"] == pytest.approx(sum(right) / len(conf)) and c["n"] == len(conf)
    lo, hi = proportion_confint(sum(right), len(conf), alpha=0.05, method="wilson")
    assert (c["ci_low"], c["ci_high"]) == pytest.approx((lo, hi), abs=1e-9)
    b = sum(x and not y for x, y in zip(right, base_right))
    w = sum(y and not x for x, y in zip(right, base_right))
    assert c["delta"]["p_value"] == pytest.approx(
        mcnemar([[0, b], [w, 0]], exact=False, correction=False).pvalue, rel=1e-6
    )
    assert c["delta"]["ci_low"] < c["delta"]["delta"] < c["delta"]["ci_high"]
    # lower valid loss scored worse on the real task: step 300 has the lowest valid loss (0.45 < 0.48)
    assert res["loss_best"]["step"] == 300 and acc[300] < acc[200]
    assert by_step[300]["flag"]["than"] == "step-200"
    assert any("lower valid loss scored worse on the real task: step-300" in f for f in res["flags"])
    # the report: joined table and plot
    md = (out / "sweep.md").read_text()
    assert "| step | checkpoint | why | train loss | valid loss | intent/accuracy [CI] (n)" in md
    assert "![task score and loss by step](sweep_intent_accuracy.png)" in md
    assert (out / "sweep_intent_accuracy.png").read_bytes().startswith(b"\x89PNG")
    assert "data:image/png;base64," in (out / "sweep.html").read_text()
    assert "Pick: step-200" in err and "FLAG lower valid loss" in err
    assert res["gate"]["passed"] and res["budget"]["fraction_of_full"] == 1.0
    for phase in ("select", "confirm"):
        assert (out / "runs" / phase / "run.json").is_file()


def test_no_confirmation_says_the_ci_is_not_adjusted(tmp_path, capsys):
    cfg = _demo_copy(tmp_path, confirm_fraction=0)
    code, stdout, err = run_main(capsys, cfg, "--json", "-q")
    assert code == 0, err
    res = json.loads(stdout)
    assert res["pick"]["confirmation"] is None and not res["pick"]["adjusted"]
    assert "NOT ADJUSTED" in res["pick"]["note"] and "NOT ADJUSTED" in err
    assert res["split"]["intent"] == {"select": 300, "confirm": 0}


def test_curve_selection_and_every(tmp_path, capsys):
    code, stdout, err = run_main(capsys, _demo_copy(tmp_path, select="curve"), "--json", "-q")
    assert code == 0, err
    res = json.loads(stdout)
    reasons = {c["step"]: c["reasons"] for c in res["candidates"] if c["chosen"]}
    # best valid loss (step 300 in results.csv), the final one (400), mid-training (nearest 250 not taken: 200)
    assert reasons == {200: ["mid"], 300: ["best_valid_loss"], 400: ["final"]}
    (tmp_path / "b").mkdir()
    code, stdout, _ = run_main(capsys, _demo_copy(tmp_path / "b", select={"every": 200}), "--json", "-q")
    assert sorted(c["step"] for c in json.loads(stdout)["candidates"] if c["chosen"]) == [200, 400]


def test_bad_sweep_sections_are_one_line_exit_2(tmp_path, capsys):
    import yaml

    cases = [
        ({"job": "ftjob-1"}, "exactly one source"),
        ({"objective": {"metric": "intent/acuracy"}}, "did you mean 'intent/accuracy'"),
        ({"objective": {"metric": "nope/accuracy"}}, "unknown task 'nope'"),
        ({"confirm_fraction": 1.5}, "sweep.confirm_fraction"),
        ({"selct": "all"}, "did you mean 'select'"),
    ]
    for i, (change, expect) in enumerate(cases):
        d = tmp_path / str(i)
        d.mkdir()
        cfg = _demo_copy(d, **change)
        code, _, err = run_main(capsys, cfg)
        assert code == 2 and expect in err and len(err.strip().splitlines()) == 1, (change, err)
        assert not (d / "out").exists()  # nothing written, nothing sent
    data = yaml.safe_load(_demo_copy(tmp_path).read_text())
    del data["sweep"]
    (tmp_path / "nosweep.yaml").write_text(yaml.safe_dump(data))
    code, _, err = run_main(capsys, tmp_path / "nosweep.yaml")
    assert code == 2 and "no `sweep:` section" in err


def test_evalstack_run_on_a_sweep_config_names_evalstack_sweep(capsys):
    code = main(["run", str(DEMO)])
    err = capsys.readouterr().err
    assert code == 2 and "run it with `evalstack sweep CONFIG`" in err and "sweep (line 27)" in err


def test_unit_schedule_split_and_halving():
    from evalstack.sweep import halving_sizes, split_ids, successive_halving

    assert halving_sizes(200, 8, 2) == [25, 50, 100, 200]
    assert halving_sizes(210, 5, 2) == [27, 53, 105, 210]
    assert halving_sizes(90, 9, 3) == [10, 30, 90] and halving_sizes(10, 1, 2) == [10]
    ids = [f"x{i}" for i in range(101)]
    sel, conf = split_ids(ids, 0.3, 0)
    assert len(conf) == 30 and sorted(sel + conf) == sorted(ids) and split_ids(ids, 0.3, 0) == (sel, conf)
    assert split_ids(ids, 0.3, 1) != (sel, conf)
    truth = {"a": 0.5, "b": 0.9, "c": 0.7, "d": 0.1}
    calls = []

    def evaluate(r, alive, size):
        calls.append((r, sorted(alive), size))
        return {n: truth[n] for n in alive}, ({"b"} if r == 2 else set())

    rounds = successive_halving(list(truth), [10, 20, 40], 2, evaluate, True)
    assert calls == [(0, ["a", "b", "c", "d"], 10), (1, ["b", "c"], 20), (2, ["b"], 40)]
    assert rounds[-1]["kept"] == [] and rounds[-1]["failed"] == ["b"]  # the last survivor failed a constraint
    from evalstack.sweep import rank

    # lower is better (perplexity, toxicity): smallest first; unscored last; ties in the given (step) order
    assert rank({"s3": 0.2, "s1": None, "s2": 0.1, "s4": 0.1}, False, ["s1", "s2", "s3", "s4"]) == [
        "s2",
        "s4",
        "s3",
        "s1",
    ]
    assert rank({"s3": 0.2, "s1": None, "s2": 0.1, "s4": 0.1}, True, ["s1", "s2", "s3", "s4"]) == [
        "s3",
        "s2",
        "s4",
        "s1",
    ]


def test_sweep_is_listed_in_help(capsys):
    assert main(["--help"]) == 0
    assert "sweep" in capsys.readouterr().out
    assert shutil.which("evalstack") or True


def test_a_lower_is_better_objective_picks_the_lowest(tmp_path, capsys):
    """TER (lower is better) as the objective: the pick is the candidate with the lowest TER, each value
    equal to sacrebleu's corpus_ter on the selection examples."""
    import yaml
    from sacrebleu.metrics import TER

    cfg = _demo_copy(tmp_path, objective={"metric": "general_qa/ter"}, constraints=[], select="all")
    data = yaml.safe_load(cfg.read_text())
    data["tasks"][1]["metrics"] = ["exact_match", "ter"]
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    code, stdout, err = run_main(capsys, cfg, "--json", "-q")
    assert code == 0, err
    res = json.loads(stdout)
    refs = {r["id"]: r["answer"] for r in _jsonl(ROOT / "configs/demo/data/general_qa_test.jsonl")}
    sel = [r["id"] for r in _jsonl(tmp_path / "out/data/select/general_qa.jsonl")]
    ter = {}
    for step in (100, 200, 300, 400):
        outs = _outputs(ROOT / f"configs/demo/sweep/step-{step}.jsonl", "general_qa")
        ter[step] = TER().corpus_score([outs[i] for i in sel], [[refs[i] for i in sel]]).score
    by_step = {c["step"]: c for c in res["candidates"]}
    for step, value in ter.items():
        assert by_step[step]["score"]["value"] == pytest.approx(value)
    assert res["objective"]["higher_is_better"] is False
    assert res["pick"]["step"] == min(ter, key=lambda s: (ter[s], s)) and ter[400] > ter[res["pick"]["step"]]


def test_a_sweep_killed_mid_phase_continues_when_run_again(tmp_path, capsys):
    """A phase's run folder left unfinished (the sweep was killed in it: its lock file holds the pid) does not
    stop the next `evalstack sweep` of the same config: the phase continues (answers so far from the cache)."""
    cfg = _demo_copy(tmp_path)
    code, first, err = run_main(capsys, cfg, "--json", "-q")
    assert code == 0, err
    (tmp_path / "out" / "runs" / "select" / ".evalstack.lock").write_text("pid 12345\n")  # as a killed run leaves it
    code, again, err = run_main(capsys, cfg, "--json", "-q")
    assert code == 0, err
    assert json.loads(again)["pick"] == json.loads(first)["pick"]


def test_a_hostile_candidate_name_is_inert_in_sweep_md_and_html(tmp_path, capsys):
    """A candidate named like HTML stays text: sweep.md and sweep.html hold it escaped, never as a tag."""
    import yaml

    cfg = _demo_copy(tmp_path)
    data = yaml.safe_load(cfg.read_text())
    models = data["sweep"]["models"]
    data["sweep"]["models"] = {("<script>x</script>" if k == "step-200" else k): v for k, v in models.items()}
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    code, _, err = run_main(capsys, cfg, "-q")
    assert code == 0, err
    md = (tmp_path / "out" / "sweep.md").read_text()
    html = (tmp_path / "out" / "sweep.html").read_text()
    assert "&lt;script&gt;x&lt;/script&gt;" in md and "<script>" not in md
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html

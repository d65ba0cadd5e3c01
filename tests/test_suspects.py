"""Suspect gold labels through the CLI: planted flips are found, the ranking equals cleanlab's on the same
probabilities (built here independently from the recorded answers), accuracy with suspects excluded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

LABELS = ["billing", "bug", "account"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "evalstack", *args], capture_output=True, text=True, env=dict(os.environ), timeout=300
    )


def _planted_run(tmp: Path) -> tuple[Path, list[int], dict[str, list[str]], list[int], list[str]]:
    rng = np.random.default_rng(5)
    n = 150
    true = rng.integers(0, 3, n)
    flipped = sorted(int(i) for i in rng.choice(n, 8, replace=False))
    gold = true.copy()
    for i in flipped:
        gold[i] = (true[i] + 1 + rng.integers(0, 2)) % 3
    data = [{"id": f"e{i:03d}", "text": f"ticket {i}", "label": LABELS[g]} for i, g in enumerate(gold)]
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    answers = {}
    for m in ("base", "ft", "ft2"):
        outs = []
        for i in range(n):
            a = int(true[i]) if rng.random() < 0.9 else int((true[i] + 1) % 3)
            outs.append(f"{LABELS[a].title()}." if rng.random() < 0.5 else LABELS[a])  # parsed by label_parsing
        answers[m] = outs
        (tmp / f"{m}.jsonl").write_text(
            "".join(json.dumps({"id": f"e{i:03d}", "output": o}) + "\n" for i, o in enumerate(outs))
        )
    (tmp / "cfg.yaml").write_text(
        "name: sus\nbaseline: base\nmodels:\n"
        + "".join(f"  {m}: {{provider: replay, path: {m}.jsonl}}\n" for m in answers)
        + "tasks:\n  - name: intent\n    data: {path: data.jsonl, id: id}\n    prompt: {user: '{{ text }}'}\n"
        "    target: label\n    labels: [billing, bug, account]\n    label_parsing: {mode: first}\n"
        "    metrics: [accuracy]\noutput: out\n"
    )
    r = _cli("run", str(tmp / "cfg.yaml"), "-q")
    assert r.returncode == 0, r.stderr
    return tmp / "out", flipped, answers, [int(g) for g in gold], [d["id"] for d in data]


def test_planted_flips_found_and_ranking_equals_cleanlab(tmp_path):
    from cleanlab.filter import find_label_issues

    run, flipped, answers, gold, ids = _planted_run(tmp_path)
    r = _cli("labels", "suspects", str(run), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    got = [s["id"] for s in res["suspects"]]
    # the same probabilities built independently: answer shares + 0.5 per class
    probs = np.full((len(ids), 3), 0.5)
    for _m, outs in answers.items():
        for i, o in enumerate(outs):
            probs[i, LABELS.index(o.rstrip(".").lower())] += 1
    probs /= probs.sum(axis=1, keepdims=True)
    want = find_label_issues(np.array(gold), probs, return_indices_ranked_by="self_confidence")
    assert got == [ids[i] for i in want]
    planted = {ids[i] for i in flipped}
    # most planted flips are found, and most of what is flagged was planted (the bench measures the rates)
    assert len(planted & set(got)) >= 5 and len(planted & set(got)) / len(got) >= 0.6
    top = res["suspects"][0]
    assert top["p_gold"] < 0.3 and set(top["answers"]) == {"base", "ft", "ft2"}
    # accuracy over all examples and with suspects excluded, side by side (hand-computed from the scores)
    rows = [json.loads(line) for line in (run / "examples.jsonl").read_text().splitlines()]
    ft = {x["id"]: x["scores"]["accuracy"] for x in rows if x["model"] == "ft"}
    assert res["accuracy"]["ft"]["all"] == pytest.approx(np.mean(list(ft.values())))
    assert res["accuracy"]["ft"]["without_suspects"] == pytest.approx(
        np.mean([v for k, v in ft.items() if k not in set(got)])
    )
    text = _cli("labels", "suspects", str(run), "--top", "3")
    assert text.returncode == 0 and "with suspects excluded" in text.stdout and got[0] in text.stdout


def test_suspects_need_a_classification_task_and_several_answers(tmp_path):
    run, *_ = _planted_run(tmp_path)
    r = _cli("labels", "suspects", str(run), "--task", "nope")
    assert r.returncode == 2 and "not a classification task" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_label_logprobs_are_stored_and_used_for_suspects(tmp_path, monkeypatch):
    """A classification model with logprobs: examples.jsonl keeps each label's first-token probability, and
    the suspects come from those probabilities (one model suffices), ranked as cleanlab ranks them."""
    from cleanlab.filter import find_label_issues

    from evalstack.testing.loopback import LoopbackServer

    monkeypatch.setenv("SU_KEY", "sk-su-0123456789")
    rng = np.random.default_rng(11)
    n = 120
    true = rng.integers(0, 3, n)
    flipped = sorted(int(i) for i in rng.choice(n, 6, replace=False))
    gold = true.copy()
    for i in flipped:
        gold[i] = (true[i] + 1) % 3
    data = [{"id": f"e{i:03d}", "text": f"ticket {i}", "label": LABELS[g]} for i, g in enumerate(gold)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    # per example: a confident answer on the true label, the rest spread; " b" begins two labels (billing, bug)
    # and tells them apart no better than chance, so it is left out
    tops = {}
    for i in range(n):
        p = rng.dirichlet([1, 1, 1]) * 0.3
        p[true[i]] += 0.7
        tops[f"ticket {i}"] = {" " + LABELS[j]: float(np.log(p[j])) for j in range(3)} | {" b": -6.0}

    def reply(req):
        text = req["messages"][-1]["content"]
        top = tops[text]
        best = max(top, key=top.get)
        return {"content": best, "top_logprobs": [top], "tokens": [best]}

    with LoopbackServer() as srv:
        srv.reply_with(reply)
        (tmp_path / "cfg.yaml").write_text(
            "name: lp\nbaseline: base\nmodels:\n"
            f"  base: {{provider: openai, model: m, base_url: '{srv.base_url}', api_key_env: SU_KEY, "
            "params: {logprobs: true, top_logprobs: 5}}\n"
            "tasks:\n  - name: intent\n    data: {path: data.jsonl, id: id}\n    prompt: {user: '{{ text }}'}\n"
            "    target: label\n    labels: [billing, bug, account]\n    metrics: [accuracy]\noutput: out\n"
        )
        r = _cli("run", str(tmp_path / "cfg.yaml"), "-q")
        assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in (tmp_path / "out" / "examples.jsonl").read_text().splitlines()]
    for row in rows[:5]:
        i = int(row["id"][1:])
        want = {lab: float(np.exp(tops[f"ticket {i}"][" " + lab])) for lab in LABELS}
        assert row["label_probs"] == pytest.approx(want)
    r = _cli("labels", "suspects", str(tmp_path / "out"), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["source"] == "logprobs"
    probs = np.array([[np.exp(tops[f"ticket {i}"][" " + lab]) for lab in LABELS] for i in range(n)])
    probs = np.maximum(probs, 1e-4)
    probs /= probs.sum(axis=1, keepdims=True)
    want = find_label_issues(gold, probs, return_indices_ranked_by="self_confidence")
    assert [s["id"] for s in res["suspects"]] == [f"e{i:03d}" for i in want]
    assert len({f"e{i:03d}" for i in flipped} & {s["id"] for s in res["suspects"]}) >= 5  # of 6 planted
    assert all(s["view"].endswith(f"/intent/{s['id']}") for s in res["suspects"])

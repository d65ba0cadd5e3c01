"""README's main job: `evalstack run configs/demo.yaml`, offline, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_offline_and_reports_every_family(tmp_path: Path, repo_root: Path) -> None:
    out = tmp_path / "demo"
    r = subprocess.run(
        [sys.executable, "-m", "evalstack", "run", str(repo_root / "configs" / "demo.yaml"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "Loading" not in r.stderr and "Traceback" not in r.stderr
    run = json.loads((out / "run.json").read_text())
    keys = {k for t in run["tasks"].values() for k in t["models"]["finetuned"]["metrics"]}
    for k in (
        "accuracy",
        "f1_macro",
        "balanced_accuracy",
        "mcc",
        "rouge1",
        "rougeL",
        "bleu",
        "bertscore_f1",
        "toxicity_rate",
        "judge_faithfulness",
        "exact_match",
        "token_f1",
        "perplexity",
    ):
        assert k in keys, k
    intent = run["tasks"]["intent"]
    assert intent["n_examples"] == 300 and run["tasks"]["summaries"]["n_examples"] == 100
    assert intent["models"]["base"]["metrics"]["accuracy"]["details"]["invalid"] > 0
    assert {s["value"] for s in intent["slices"]} == {"chat", "email", "web_form"}
    assert run["gate"]["passed"] is True and len(run["gate"]["rules"]) == 6
    # honest about n: 0/100 toxic cannot show a rate < 1%, and 80 questions cannot rule out a 2-point drop
    outcomes = {r["metric"]: r["outcome"] for r in run["gate"]["rules"]}
    assert run["gate"]["status"] == "warned" and [m for m, o in outcomes.items() if o == "inconclusive"] == [
        "summaries/toxicity_rate",
        "general_qa/exact_match",
    ]
    assert run["curves"][0]["best_step"] == 200 and run["checkpoints"][0]["checkpoint_step"] == 300
    md = (out / "report.md").read_text()
    assert md.index("Gate PASSED with 2 inconclusive rules") < md.index("Loss curve") < md.index("## Task")
    assert "evaluate step 200 too before shipping" in md
    # what got worse, right under the gate: the fine-tuned router answers "billing" to general questions
    worse = md[md.index("## What got worse vs `base`") : md.index("## Task")]
    assert md.index("Gate PASSED") < md.index("## What got worse") < md.index("## Task")
    first = worse[worse.index("### New failure modes") :].split("\n\n")[1]
    assert first.startswith(
        "1. ❌ **`general_qa`: `finetuned` answers `billing` on 8 examples** (8 with another "
        "reference; `base`: 0): a label of task intent"
    ), first
    assert worse.index(
        "| q0010 | What is the capital of France? (variant 1) | Paris | billing | Paris |"
    ) < worse.index("### Significantly worse metrics")
    assert 'NEW FAILURE MODE general_qa: finetuned answers "billing" on 8 examples' in r.stderr
    assert r.stderr.index("what got worse:") < r.stderr.index("Gate PASSED")
    html = (out / "report.html").read_text()
    assert (
        html.index("Gate PASSED") < html.index("evaluate step 200 too before shipping") < html.index("Task general_qa")
    )
    assert (
        html.index('id="worse"')
        < html.index("finetuned answers “billing” on 8 examples")
        < html.index("Task intent</h2>")
    )
    for f in (
        "report.html",
        "junit.xml",
        "review/lowest.csv",
        "review/regressions.csv",
        "curves/analysis.json",
        "curves/sft_loss.png",
        "plots/forest.png",
    ):
        assert (out / f).stat().st_size > 0, f
    rows = (out / "examples.jsonl").read_text().splitlines()
    assert len(rows) == 2 * (300 + 100 + 80)
    # report polish (issue 14 item 9): every unparseable recorded verdict was asked again once, and counted
    replies = [
        json.loads(x)["output"]
        for x in (repo_root / "configs" / "demo" / "outputs" / "judge_faithfulness.jsonl").read_text().splitlines()
    ]
    unparseable = sum(1 for x in replies if not x.lstrip().startswith("{"))
    usage = next(x for x in md.splitlines() if x.startswith("| faithfulness |"))
    assert [c.strip() for c in usage.split("|")[2:4]] == [str(len(replies) + unparseable), str(unparseable)]
    # loss columns name the smoothing window of the analysis and the hidden-token correction it applied
    window = run["curves"][0]["smoothing_window"]
    assert (
        f"| train loss (smoothed over {window} steps, hidden-token corrected) | valid loss (hidden-token "
        "corrected) |" in md
    )
    # checkpoint scores: a column per metric, the 10 metrics of summaries split over two tables
    assert "Task `summaries` (continued):" in md
    # perplexity's histogram draws per-example means, and says the table's value is not their mean
    ppl = run["tasks"]["general_qa"]["models"]["base"]["metrics"]["perplexity"]["value"]
    assert (
        "Score distribution: general_qa/perplexity: means drawn base " in html
        and f"the table&#39;s base {ppl:.4f}" in html
    )

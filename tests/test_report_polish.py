"""Report polish found by reading the report (issue 14 item 9), through the CLI on recorded outputs: tasks in
config order everywhere (also when a saved run is read back by gate, review, compare and the API), one `n` in
the per-slice table, and the review "input" is the example's input fields, not the rendered prompt with its
instructions and label list."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from evalstack.cli import main

TICKETS = [
    ("t1", "I was charged twice", "refund", "web"),
    ("t2", "App crashes on start", "bug", "app"),
    ("t3", "Refund my order please", "refund", "web"),
    ("t4", "Button is broken", "bug", "app"),
    ("t5", "Money back please", "refund", "app"),
    ("t6", "Screen stays blank", "bug", "web"),
]
QA = [
    ("q1", "Capital of France?", "Europe", "Paris"),
    ("q2", "2 + 2?", "arithmetic", "4"),
    ("q3", "Largest ocean?", "Earth", "Pacific"),
]
OUTPUTS = {
    "base": {
        "t1": "refund",
        "t2": "refund",
        "t3": "refund",
        "t4": "bug",
        "t5": "refund",
        "t6": "bug",
        "q1": "Paris",
        "q2": "5",
        "q3": "Atlantic",
    },
    "ft": {
        "t1": "bug",
        "t2": "bug",
        "t3": "refund",
        "t4": "bug",
        "t5": "bug",
        "t6": "bug",
        "q1": "Paris",
        "q2": "4",
        "q3": "Indian",
    },
}
ORDER = ["zeta_tickets", "alpha_qa"]  # config order: the reverse of sorted order


def _project(tmp: Path) -> Path:
    (tmp / "tickets.jsonl").write_text(
        "".join(json.dumps({"id": i, "text": t, "label": y, "channel": c}) + "\n" for i, t, y, c in TICKETS)
    )
    (tmp / "qa.jsonl").write_text(
        "".join(json.dumps({"id": i, "question": q, "topic": c, "answer": a}) + "\n" for i, q, c, a in QA)
    )
    for name, o in OUTPUTS.items():
        (tmp / f"{name}.jsonl").write_text(
            "".join(
                json.dumps({"task": ORDER[0] if k[0] == "t" else ORDER[1], "id": k, "output": v}) + "\n"
                for k, v in o.items()
            )
        )
    cfg = tmp / "eval.yaml"
    cfg.write_text("""
name: polish
baseline: base
models:
  base: {provider: replay, path: base.jsonl, task_column: task}
  ft: {provider: replay, path: ft.jsonl, task_column: task}
tasks:
  - name: zeta_tickets
    data: {path: tickets.jsonl, id: id}
    prompt: {system: "Route tickets.", user: "Labels: refund, bug\\nTicket: {{ text }}\\nLabel:"}
    target: label
    labels: [refund, bug]
    slice_by: [channel]
    metrics: [accuracy]
  - name: alpha_qa
    data: {path: qa.jsonl, id: id}
    prompt: {user: "Topic {{ topic }}. Answer briefly: {{ question }}"}
    reference: answer
    metrics: [exact_match]
gate:
  rules:
    - {metric: alpha_qa/exact_match, min: 0.1, inconclusive: pass}
    - {metric: zeta_tickets/accuracy, min: 0.1, inconclusive: pass}
output: out
""")
    return cfg


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("polish")
    cfg = _project(tmp)
    r = subprocess.run(
        [sys.executable, "-m", "evalstack", "run", str(cfg)], capture_output=True, text=True, timeout=300, cwd=tmp
    )
    assert r.returncode == 0, r.stderr
    (tmp / "stderr.txt").write_text(r.stderr, encoding="utf-8")
    return tmp / "out"


def _in_order(text: str, *marks: str) -> bool:
    at = [text.index(m) for m in marks]
    return at == sorted(at)


def _md_order(md: str) -> bool:
    return _in_order(md, "## Task `zeta_tickets`", "## Task `alpha_qa`")


def test_fresh_run_keeps_config_order_everywhere(run_dir: Path) -> None:
    md = (run_dir / "report.md").read_text(encoding="utf-8")
    assert _md_order(md)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert _in_order(html, "Task zeta_tickets</h2>", "Task alpha_qa</h2>")
    err = (run_dir.parent / "stderr.txt").read_text(encoding="utf-8")
    assert _in_order(err, "zeta_tickets/accuracy", "alpha_qa/exact_match")
    junit = [c.get("classname") for c in ET.parse(run_dir / "junit.xml").getroot().iter("testcase")]
    run_cases = [c.rsplit(".", 1)[1] for c in junit if c.startswith("evalstack.run.")]
    assert run_cases == sorted(run_cases, key=ORDER.index) and set(run_cases) == set(ORDER)
    lowest = list(csv.DictReader((run_dir / "review" / "lowest.csv").open(encoding="utf-8")))
    tasks = [row["task"] for row in lowest]
    assert tasks == sorted(tasks, key=ORDER.index) and set(tasks) == set(ORDER)


def test_saved_run_read_back_keeps_config_order(run_dir: Path, tmp_path: Path, capsys) -> None:
    """run.json is written with sorted keys; every reader puts the tasks back in the config's order."""
    from evalstack.api import load

    assert list(load(run_dir).run.tasks) == ORDER
    rules = tmp_path / "gate.yaml"
    rules.write_text("rules:\n  - {metric: alpha_qa/exact_match, min: 0.1, inconclusive: pass}\n")
    assert main(["gate", str(run_dir), "--rules", str(rules), "--out", str(tmp_path / "regated")]) == 0
    assert _md_order((tmp_path / "regated" / "report.md").read_text(encoding="utf-8"))
    capsys.readouterr()
    assert main(["review", str(run_dir), "--format", "jsonl"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    tasks = [r["task"] for r in rows]
    assert tasks == sorted(tasks, key=ORDER.index) and set(tasks) == set(ORDER)
    assert main(["compare", str(run_dir), "--out", str(tmp_path / "cmp")]) == 0
    capsys.readouterr()
    assert _md_order((tmp_path / "cmp" / "report.md").read_text(encoding="utf-8"))
    assert list(load(tmp_path / "cmp").run.tasks) == ORDER


def test_per_slice_table_has_one_n(run_dir: Path) -> None:
    md = (run_dir / "report.md").read_text(encoding="utf-8")
    section = md[md.index("### Per-slice deltas") :].split("\n\n")[1]
    lines = [x for x in section.splitlines() if x.startswith("|")]
    assert len(lines) == 4
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header.count("n") == 1, header
    for line in lines[2:]:
        cells = dict(zip(header, [c.strip() for c in line.strip("|").split("|")]))
        channel = cells["slice"].split("=", 1)[1]
        assert cells["n"] == str(sum(1 for t in TICKETS if t[3] == channel))  # both models scored every one


def test_review_input_is_the_example_fields(run_dir: Path) -> None:
    """The ticket text alone (not "Labels: refund, bug\\nTicket: ..."); two fields as `column: value` lines
    in the order the prompt shows them."""
    rows = [json.loads(x) for x in (run_dir / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    by = {(x["task"], x["model"], x["id"]): x for x in rows}
    assert by[("zeta_tickets", "ft", "t1")]["input"] == "I was charged twice"
    assert by[("alpha_qa", "ft", "q3")]["input"] == "topic: Earth\nquestion: Largest ocean?"
    md = (run_dir / "report.md").read_text(encoding="utf-8")
    for text in (
        md,
        (run_dir / "review" / "regressions.csv").read_text(encoding="utf-8"),
        (run_dir / "review" / "lowest.csv").read_text(encoding="utf-8"),
    ):
        assert "Labels:" not in text and "Answer briefly" not in text
    regressions = list(csv.DictReader((run_dir / "review" / "regressions.csv").open(encoding="utf-8")))
    t1 = next(r for r in regressions if r["id"] == "t1")
    assert t1["input"] == "I was charged twice"


def _tied_project(tmp: Path) -> Path:
    """40 questions: base answers every one exactly (exact_match and token_f1 constant 1); ft gets one right
    and pads the other 39 with 1-5 extra words (exact_match 39 of 40 at its worst value 0; token_f1 spread)."""
    n = 40
    (tmp / "qa.jsonl").write_text(
        "".join(json.dumps({"id": f"q{i:02d}", "q": f"question {i}", "a": f"r{i}"}) + "\n" for i in range(n))
    )
    (tmp / "base.jsonl").write_text(
        "".join(json.dumps({"id": f"q{i:02d}", "output": f"r{i}"}) + "\n" for i in range(n))
    )
    (tmp / "ft.jsonl").write_text(
        "".join(
            json.dumps({"id": f"q{i:02d}", "output": f"r{i}" if i == 0 else f"r{i} " + " ".join(["x"] * (i % 5 + 1))})
            + "\n"
            for i in range(n)
        )
    )
    cfg = tmp / "eval.yaml"
    cfg.write_text("""
name: tied
baseline: base
models:
  base: {provider: replay, path: base.jsonl}
  ft: {provider: replay, path: ft.jsonl}
tasks:
  - name: qa
    data: {path: qa.jsonl, id: id}
    prompt: {user: "{{ q }}"}
    reference: a
    metrics: [exact_match, token_f1]
output: out
""")
    return cfg


def test_lowest_lists_skip_constant_and_almost_all_tied_metrics(tmp_path: Path) -> None:
    """Issue 14 item 9: report.html listed 20 "lowest" examples of a metric every example scores the same
    (an arbitrary pick among ties). Lists of constant or almost all tied (>= 95% at the worst value) metrics
    are left out and the report says why; a list never shows rows at the best value seen; review/lowest.csv
    keeps every list."""
    import html as html_lib
    import re

    cfg = _tied_project(tmp_path)
    r = subprocess.run(
        [sys.executable, "-m", "evalstack", "-q", "run", str(cfg)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    page = html_lib.unescape((out / "report.html").read_text(encoding="utf-8"))
    lowest = page[page.index('<h2 id="lowest">') :]
    titles = re.findall(r"<summary>(.*?)</summary>", lowest)
    assert titles == ["qa/token_f1: ft (20 lowest)"], titles
    # token_f1 of ft by hand: precision 1/(k+1) with k = i % 5 + 1 padding words, recall 1 -> F1 = 2/(k+2)
    listed = [float(x) for x in re.findall(r'<td class="num ">(\d\.\d{4})</td>', lowest)]
    want = sorted(2 / (i % 5 + 3) for i in range(1, 40))[:20]
    assert listed == pytest.approx(want, abs=5e-5)
    note = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", lowest.split("<details>")[0]))
    assert "qa/exact_match: base (every one of the 40 examples scores 1)" in note
    assert "qa/token_f1: base (every one of the 40 examples scores 1)" in note
    assert "qa/exact_match: ft (39 of 40 examples tie at the worst value 0)" in note
    # the review file keeps every list (a data file: the reader filters)
    rows = list(csv.DictReader((out / "review" / "lowest.csv").open(encoding="utf-8")))
    assert {(x["metric"], x["model"]) for x in rows} == {
        (k, m) for k in ("exact_match", "token_f1") for m in ("base", "ft")
    }


def _curve_project(tmp: Path, curve: str, repo_root: Path) -> Path:
    cfg = _project(tmp)
    text = cfg.read_text().replace(
        "  ft: {provider: replay, path: ft.jsonl, task_column: task}",
        "  ft: {provider: replay, path: ft.jsonl, task_column: task, checkpoint_step: 300}",
    )
    results = (repo_root / "configs" / "demo" / "curves" / "results.csv").as_posix()
    cfg.write_text(text.replace("output: out", f"curves:\n  - {{path: '{results}', {curve}label: sft}}\noutput: out"))
    return cfg


@pytest.mark.parametrize(
    "curve, train, valid",
    [
        (
            "hidden_tokens: 2, visible_tokens: 24, ",
            "train loss (smoothed over {w} steps, hidden-token corrected)",
            "valid loss (hidden-token corrected)",
        ),
        ("", "train loss (smoothed over {w} steps)", "valid loss"),
    ],
)
def test_curve_tables_say_smoothed_and_hidden_token_corrected(
    tmp_path: Path, repo_root: Path, curve: str, train: str, valid: str
) -> None:
    """Issue 14 item 9: the loss columns of the curve tables (report.md's loss-curve table and the checkpoint
    join, report.html's too) name what was done to the values: the train loss is a moving average over the
    analysis' window, and both are corrected for hidden tokens when that was applied (only then)."""
    import html as html_lib

    cfg = _curve_project(tmp_path, curve, repo_root)
    r = subprocess.run(
        [sys.executable, "-m", "evalstack", "-q", "run", str(cfg)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    analysis = json.loads((out / "curves" / "analysis.json").read_text())
    c = analysis["curves"][0] if "curves" in analysis else analysis
    w = c["smoothing_window"]
    assert (w > 1) == ("smoothed" in train) and bool((c.get("hidden_tokens") or {}).get("applied")) == (
        "corrected" in valid
    )
    train, valid = train.format(w=w), valid
    md = (out / "report.md").read_text(encoding="utf-8")
    curve_table = next(x for x in md.splitlines() if x.startswith("| step | epoch |"))
    assert f"| {train} | {valid} |" in curve_table, curve_table
    join = md[md.index("### Checkpoints and the loss curve") :].split("\n\n")[1].splitlines()[0]
    assert f"| {valid} |" in join and f"| {train} |" in join, join
    page = html_lib.unescape((out / "report.html").read_text(encoding="utf-8"))
    assert f'<th class="num">{valid}</th>' in page and f'<th class="num">{train}</th>' in page


def test_histogram_captions_give_the_means_drawn_and_say_when_they_are_not_the_table_values(tmp_path: Path) -> None:
    """Issue 14 item 9: a histogram marks each model's mean of the per-example scores; for perplexity (exp of
    the token-weighted mean log-probability over the whole set) that is not the table's value. The caption
    gives the means drawn, and says why they differ where they do."""
    import html as html_lib
    import math
    import re

    lps = {
        "base": {"q1": [-0.1], "q2": [-2.0, -1.0, -0.5, -0.3], "q3": [-0.2, -0.4]},
        "ft": {"q1": [-0.05, -0.1, -0.2], "q2": [-1.5], "q3": [-0.3, -0.3, -0.6, -0.9, -1.2]},
    }
    (tmp_path / "qa.jsonl").write_text(
        "".join(json.dumps({"id": i, "question": q, "answer": a}) + "\n" for i, q, _, a in QA)
    )
    for m, by in lps.items():
        (tmp_path / f"{m}.jsonl").write_text(
            "".join(json.dumps({"id": i, "output": OUTPUTS[m][i], "logprobs": lp}) + "\n" for i, lp in by.items())
        )
    (tmp_path / "eval.yaml").write_text("""
name: hist
baseline: base
models:
  base: {provider: replay, path: base.jsonl, logprobs_column: logprobs}
  ft: {provider: replay, path: ft.jsonl, logprobs_column: logprobs}
tasks:
  - name: qa
    data: {path: qa.jsonl, id: id}
    prompt: {user: "{{ question }}"}
    reference: answer
    metrics: [exact_match, perplexity]
output: out
""")
    r = subprocess.run(
        [sys.executable, "-m", "evalstack", "-q", "run", "eval.yaml"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    page = html_lib.unescape((tmp_path / "out" / "report.html").read_text(encoding="utf-8"))
    caps = {
        c.split(":")[1].strip().split(" ")[0]: c
        for c in re.findall(r"<figcaption>(Score distribution: .*?)</figcaption>", page)
    }
    # exact match: per-example 0/1, the table's accuracy is their mean
    em = {m: sum(OUTPUTS[m][i] == a for i, _, _, a in QA) / 3 for m in lps}
    assert caps["qa/exact_match"] == (
        f"Score distribution: qa/exact_match (means drawn, as in the table: base {em['base']:.4f}, ft {em['ft']:.4f})"
    )
    # perplexity by hand: per example exp(-mean lp); the table's: exp(-sum of all lp / all tokens)
    drawn = {m: sum(math.exp(-sum(lp) / len(lp)) for lp in by.values()) / 3 for m, by in lps.items()}
    table = {
        m: math.exp(-sum(sum(lp) for lp in by.values()) / sum(len(lp) for lp in by.values())) for m, by in lps.items()
    }
    cap = caps["qa/perplexity"]
    assert f"means drawn base {drawn['base']:.4f}, ft {drawn['ft']:.4f}" in cap, cap
    assert f"the table's base {table['base']:.4f}, ft {table['ft']:.4f}" in cap, cap
    assert "computed over the whole set" in cap

"""What got worse (issue 14 item 4): new failure modes and the biggest losses, right under the gate, in
report.md, report.html and the terminal summary. Everything runs through the real CLI on recorded outputs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

QA = [  # id, question, reference
    ("q1", "What is the capital of France?", "Paris"),
    ("q2", "How many legs has a spider?", "8"),
    ("q3", "Who painted the Mona Lisa?", "Leonardo da Vinci"),
    ("q4", "What is 2 + 2?", "4"),
    ("q5", "Which planet is red?", "Mars"),
    ("q6", "What is frozen water called?", "ice"),
    ("q7", "Capital of Italy?", "Rome"),
    ("q8", "Capital of Spain?", "Madrid"),
    ("q9", "Largest ocean?", "Pacific"),
    ("q10", "Capital of France, again?", "Paris"),
    ("q11", "France's capital city?", "Paris"),
    ("q12", "Chemical symbol of iron?", "Fe"),
]
TICKETS = [
    ("t1", "I was charged twice", "refund"),
    ("t2", "App crashes on start", "bug"),
    ("t3", "Refund my order please", "refund"),
    ("t4", "Button is broken", "bug"),
]

BASE = {
    "q1": "Paris",
    "q2": "8",
    "q3": "Leonardo da Vinci",
    "q4": "4",
    "q5": "Mars",
    "q6": "ice",
    "q7": "I don't know",
    "q8": "I don't know",
    "q9": "I don't know",
    "q10": "Paris",
    "q11": "Paris",
    "q12": "I don't know.",
    "t1": "refund",
    "t2": "bug",
    "t3": "refund",
    "t4": "bug",
}
# the candidate: a canned apology for 4 unrelated questions (new: the baseline never says it), a label of
# the other task as an answer (new), "I don't know" as often as the baseline (not new), and "Paris" three
# times for three questions whose reference is Paris (right, not a failure mode)
CAND = {
    "q1": "Paris",
    "q2": "Sorry, I can't help with that.",
    "q3": "sorry, I can't help with that",
    "q4": "Sorry, I can't help with that!",
    "q5": "Sorry, I can't help with that.",
    "q6": "Refund.",
    "q7": "I don't know",
    "q8": "I DON'T KNOW",
    "q9": "I don't know",
    "q10": "Paris",
    "q11": "Paris",
    "q12": "i don't know",
    "t1": "refund",
    "t2": "bug",
    "t3": "refund",
    "t4": "refund",
}


def _project(tmp: Path, cand: dict[str, str], base: dict[str, str] = BASE) -> Path:
    (tmp / "qa.jsonl").write_text("".join(json.dumps({"id": i, "question": q, "answer": a}) + "\n" for i, q, a in QA))
    (tmp / "tickets.jsonl").write_text(
        "".join(json.dumps({"id": i, "text": t, "label": y}) + "\n" for i, t, y in TICKETS)
    )
    for name, outs in (("base", base), ("cand", cand)):
        rows = [{"task": "qa" if k.startswith("q") else "tickets", "id": k, "output": v} for k, v in outs.items()]
        (tmp / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp / "eval.yaml"
    cfg.write_text("""
name: worse
baseline: base
models:
  base: {provider: replay, path: base.jsonl, task_column: task}
  cand: {provider: replay, path: cand.jsonl, task_column: task}
tasks:
  - name: tickets
    data: {path: tickets.jsonl, id: id}
    prompt: {user: "Ticket: {{ text }}"}
    target: label
    labels: [refund, bug]
    metrics: [accuracy]
  - name: qa
    data: {path: qa.jsonl, id: id}
    prompt: {user: "Q: {{ question }}"}
    reference: answer
    metrics: [exact_match]
output: out
""")
    return cfg


def _run(cfg: Path) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "evalstack", "run", str(cfg)], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    return r


def _modes(md: str) -> list[str]:
    sec = md[md.index("### New failure modes") : md.index("### Significantly worse")]
    return re.findall(r"^\d+\. ❌ \*\*(.*?)\*\*", sec, flags=re.M)


def test_new_failure_modes_by_hand(tmp_path: Path) -> None:
    r = _run(_project(tmp_path, CAND))
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    # counted by hand: 4 apologies (4 different references, base 0); "Refund." once, a label of `tickets`
    assert _modes(md) == [
        "`qa`: `cand` answers `Sorry, I can't help with that.` on 4 examples",
        "`qa`: `cand` answers `Refund.` on 1 example",
    ]
    assert "(4 with another reference; `base`: 0): the same answer to inputs with different references." in md
    assert "(1 with another reference; `base`: 0): a label of task tickets, on a task without labels." in md
    table = md[md.index("| id |") : md.index("2. ❌")]  # the first mode's examples
    assert [line.split(" | ")[0].strip("| ") for line in table.splitlines()[2:] if line.startswith("|")] == [
        "q2",
        "q3",
        "q4",
    ]
    assert "| q2 | How many legs has a spider? | 8 | Sorry, I can't help with that. | 8 |" in table
    # right under the gate: before the run line and the first task
    assert md.index("## What got worse vs `base`") < md.index("Run ") < md.index("## Task `tickets`")
    # the terminal names them
    assert (
        'NEW FAILURE MODE qa: cand answers "Sorry, I can\'t help with that." on 4 examples '
        "(4 with another reference; base: 0)"
    ) in r.stderr
    assert 'NEW FAILURE MODE qa: cand answers "Refund." on 1 examples' in r.stderr
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert html.index('id="worse"') < html.index("Task tickets</h2>")
    assert "cand answers “Sorry, I can&#39;t help with that.” on 4 examples" in html


def test_a_baseline_that_does_the_same_is_not_flagged(tmp_path: Path) -> None:
    # the baseline has the same apologies and the same label answer (worded differently): nothing is new
    base = dict(CAND) | {"q3": "Sorry, I can't help with that", "q6": "refund", "q1": "I don't know"}
    r = _run(_project(tmp_path, CAND, base))
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert _modes(md) == []
    assert "None: no model repeats an output across unrelated inputs" in md
    assert "NEW FAILURE MODE" not in r.stderr and "no new failure mode" in r.stderr


def test_repeating_the_right_answer_or_a_label_on_the_label_task_is_not_a_failure_mode(tmp_path: Path) -> None:
    cand = dict(BASE) | {"q2": "Sorry, I can't help with that.", "t1": "bug", "t2": "bug", "t3": "bug", "t4": "bug"}
    r = _run(_project(tmp_path, cand))
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    # one apology is not a repeat; "bug" 4 times is the label task's own answer; "Paris" x3 is right
    assert _modes(md) == [] and "NEW FAILURE MODE" not in r.stderr

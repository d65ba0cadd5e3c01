"""The next run on a cleaned held-out set says how many rows the cleaning changed, and which (issue 18):
labels marked gold_wrong in the workbench -> `labels export --as cleaned-data` -> a run on that file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from evalstack.view import append_label


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "evalstack", *args], capture_output=True, text=True, env=dict(os.environ), timeout=300
    )


def test_run_on_a_cleaned_set_counts_and_lists_the_changed_rows(tmp_path: Path) -> None:
    labels = ["billing", "bug", "account"]
    data = [{"id": f"e{i}", "text": f"ticket {i}", "label": labels[i % 3]} for i in range(30)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    for m in ("base", "ft"):
        (tmp_path / f"{m}.jsonl").write_text(
            "".join(json.dumps({"id": r["id"], "output": r["label"]}) + "\n" for r in data)
        )
    cfg = (
        "name: clean\nbaseline: base\nmodels:\n  base: {provider: replay, path: base.jsonl}\n"
        "  ft: {provider: replay, path: ft.jsonl}\ntasks:\n  - name: intent\n    data: {path: DATA, id: id}\n"
        "    prompt: {user: '{{ text }}'}\n    target: label\n    labels: [billing, bug, account]\n"
        "    metrics: [accuracy]\noutput: OUT\n"
    )
    (tmp_path / "cfg.yaml").write_text(cfg.replace("DATA", "data.jsonl").replace("OUT", "out"))
    assert _cli("run", str(tmp_path / "cfg.yaml"), "-q").returncode == 0
    run = tmp_path / "out"
    append_label(run, task="intent", model="ft", ex_id="e4", label="gold_wrong", corrected="billing", who="ann")
    append_label(run, task="intent", model="ft", ex_id="e7", label="gold_wrong", who="ann")
    append_label(run, task="intent", model="ft", ex_id="e9", label="ok", who="ann")
    r = _cli("labels", "export", str(run), "--as", "cleaned-data", "--out", str(tmp_path / "cleaned.jsonl"))
    assert r.returncode == 0, r.stderr
    (tmp_path / "cfg2.yaml").write_text(cfg.replace("DATA", "cleaned.jsonl").replace("OUT", "out2"))
    r = _cli("run", str(tmp_path / "cfg2.yaml"), "-q")
    assert r.returncode == 0, r.stderr
    rec = json.loads((tmp_path / "out2" / "run.json").read_text())["settings"]["cleaned_data"]["intent"]
    # counted independently from the two data files
    old = {json.loads(x)["id"]: json.loads(x) for x in (tmp_path / "data.jsonl").read_text().splitlines()}
    new = {json.loads(x)["id"]: json.loads(x) for x in (tmp_path / "cleaned.jsonl").read_text().splitlines()}
    dropped = sorted(set(old) - set(new))
    changed = sorted(i for i in new if new[i] != old[i])
    assert (rec["dropped"], rec["corrected"]) == (len(dropped), len(changed)) == (1, 1)
    assert {c["id"] for c in rec["changes"]} == set(dropped) | set(changed)
    md = (tmp_path / "out2" / "report.md").read_text()
    assert "1 row(s) corrected, 1 dropped against the original" in md
    was = old["e4"]["label"]
    assert f"e4: gold {was} -&gt; billing" in md and "e7: dropped" in md  # '>' as an entity in Markdown
    assert f"e4: gold {was} -&gt; billing" in (tmp_path / "out2" / "report.html").read_text()
    # a run on the original data says nothing of the kind (and run.json has no such key)
    assert "cleaned_data" not in json.loads((run / "run.json").read_text())["settings"]

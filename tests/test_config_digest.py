"""`config_digest` identifies the evaluation, not the folder it sits in: the same config and data in two
checkouts give one digest; one changed data byte gives another (issue 13 item 17)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evalstack.cli import main

CFG = """\
name: dg
baseline: base
models:
  base: {provider: replay, path: outputs/base.jsonl}
  ft: {provider: replay, path: outputs/ft.jsonl}
tasks:
  - name: intent
    data: {path: data/data.jsonl, id: id}
    prompt: {user: "Ticket: {{ text }}"}
    target: label
    labels: [a, b]
    metrics: [accuracy]
output: out
cache: cache.sqlite
"""


def make(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "outputs").mkdir()
    rows = [{"id": f"e{i}", "text": f"ticket {i}", "label": "a" if i % 2 else "b"} for i in range(8)]
    (root / "data" / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("base", "ft"):
        (root / "outputs" / f"{name}.jsonl").write_text(
            "".join(
                json.dumps({"id": r["id"], "output": r["label"] if name == "ft" or r["id"] != "e0" else "a"}) + "\n"
                for r in rows
            )
        )
    (root / "eval.yaml").write_text(CFG)
    return root / "eval.yaml"


def digest(cfg: Path) -> str:
    shutil.rmtree(cfg.parent / "out", ignore_errors=True)
    assert main(["run", str(cfg), "-q"]) == 0
    return json.loads((cfg.parent / "out" / "run.json").read_text())["config_digest"]


def test_same_evaluation_in_two_checkouts_has_one_digest(tmp_path: Path) -> None:
    a = make(tmp_path / "checkout-one")
    b = make(tmp_path / "elsewhere" / "checkout-two")
    da, db = digest(a), digest(b)
    assert len(da) == 64 and da == db


@pytest.mark.parametrize("what", ["data byte", "replay output byte", "moved data file"])
def test_a_changed_input_changes_the_digest(tmp_path: Path, what: str) -> None:
    a = make(tmp_path / "one")
    b = make(tmp_path / "two")
    if what == "data byte":
        p = b.parent / "data" / "data.jsonl"
        p.write_text(p.read_text().replace("ticket 3", "ticket 4", 1))
    elif what == "replay output byte":
        p = b.parent / "outputs" / "ft.jsonl"
        p.write_bytes(p.read_bytes().replace(b'"e1", "output": "a"', b'"e1", "output": "b"', 1))
    else:
        (b.parent / "data" / "data.jsonl").rename(b.parent / "data" / "d2.jsonl")
        b.write_text(CFG.replace("data/data.jsonl", "data/d2.jsonl"))
    assert digest(a) != digest(b)

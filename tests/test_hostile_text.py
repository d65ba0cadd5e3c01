"""Hostile model text through the real CLI (issue 13, items 10-12): spreadsheet formulas in CSV files,
terminal escapes on the terminal and in the reports, and one huge reply."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from fixtures.hostile import answer_by_model, cli, write_run

FORMULA = '=HYPERLINK("http://x","y")'


def _csv(path_or_text: Path | str) -> list[dict[str, str]]:
    text = path_or_text.read_bytes().decode("utf-8") if isinstance(path_or_text, Path) else path_or_text
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_cells_that_start_a_formula_are_escaped_jsonl_keeps_them(tmp_path: Path, srv) -> None:
    # inputs from the data that a spreadsheet would also run: + - @ tab CR
    rows = [{"id": "e0", "q": "+1+2", "answer": "a0"}, {"id": "e1", "q": "-3+4", "answer": "a1"},
            {"id": "e2", "q": "@SUM(A1)", "answer": "a2"}, {"id": "e3", "q": "\tcmd", "answer": "a3"},
            {"id": "e4", "q": "\r=1", "answer": "a4"}]
    answers = {r["q"]: r["answer"] for r in rows}
    srv.reply_with(answer_by_model(lambda body: FORMULA, answers))
    cfg = write_run(tmp_path, srv.base_url, rows=rows)
    r = cli("run", str(cfg))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    lowest = [x for x in _csv(out / "review" / "lowest.csv") if x["model"] == "ft"]
    assert len(lowest) == 5
    assert {x["output"] for x in lowest} == {"'" + FORMULA}
    assert sorted(x["input"] for x in lowest) == sorted("'" + r["q"] for r in rows)
    regressions = _csv(out / "review" / "regressions.csv")
    assert len(regressions) == 5 and {x["model_output"] for x in regressions} == {"'" + FORMULA}
    assert all(x["delta"] == "-1.0" for x in regressions)  # our own numbers stay numbers
    # JSONL keeps the raw text
    jl = [json.loads(line) for line in (out / "review" / "lowest.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {x["output"] for x in jl if x["model"] == "ft"} == {FORMULA}
    # the review command's CSV (file and stdout) escapes the same way
    r = cli("review", str(out), "--format", "csv", "--out", str(tmp_path / "r.csv"))
    assert r.returncode == 0, r.stderr
    assert {x["output"] for x in _csv(tmp_path / "r.csv") if x["model"] == "ft"} == {"'" + FORMULA}
    r = cli("review", str(out), "--regressions", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert {x["model_output"] for x in _csv(r.stdout)} == {"'" + FORMULA}
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r"))
                   for x in _csv(out / "review" / "lowest.csv") for k, cell in x.items() if k != "score")

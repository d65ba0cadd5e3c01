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
    rows = [
        {"id": "e0", "q": "+1+2", "answer": "a0"},
        {"id": "e1", "q": "-3+4", "answer": "a1"},
        {"id": "e2", "q": "@SUM(A1)", "answer": "a2"},
        {"id": "e3", "q": "\tcmd", "answer": "a3"},
        {"id": "e4", "q": "\r=1", "answer": "a4"},
    ]
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
    assert not any(
        cell.startswith(("=", "+", "-", "@", "\t", "\r"))
        for x in _csv(out / "review" / "lowest.csv")
        for k, cell in x.items()
        if k != "score"
    )


# OSC 52 (clipboard write), OSC 8 (hyperlink), CSI (clear screen, colour), C1 CSI, bell, bidi override and
# isolate, and a bare URL
HOSTILE = (
    "see http://evil.example/x \x1b]52;c;cm0gLXJmIH4=\x07 \u202eevil\u202c \x1b]8;;http://evil.example/a\x1b\\"
    "click\x1b]8;;\x1b\\ \x1b[2J\x1b[31mred \x9b31m \u2066iso\u2069 end"
)
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u202c", "\u2066", "\u2069")


def _assert_no_raw(text: str, where: str) -> None:
    for c in RAW:
        assert c not in text, (where, repr(c))


def test_terminal_escapes_are_shown_never_sent(tmp_path: Path, srv) -> None:
    srv.reply_with(answer_by_model(lambda body: HOSTILE))
    cfg = write_run(tmp_path, srv.base_url)
    r = cli("run", str(cfg))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    for args in (
        [],
        ["--regressions"],
        ["--format", "csv"],
        ["--format", "jsonl"],
        ["--regressions", "--format", "csv"],
    ):
        r = cli("review", str(out), *args)
        assert r.returncode == 0, r.stderr
        _assert_no_raw(r.stdout + r.stderr, f"review {args}")
        assert "http://evil.example" in r.stdout
    r = cli("review", str(out), "--format", "jsonl")  # escaped, and still JSON that decodes to the exact text
    assert {x["output"] for x in map(json.loads, r.stdout.splitlines()) if x["model"] == "ft"} == {HOSTILE}
    r = cli("review", str(out))
    assert "\\x1b]52;c;cm0gLXJmIH4=\\x07" in r.stdout and "\\u202eevil" in r.stdout  # made visible, not dropped
    # the reports show the escapes as text; the bare URL is code, not a link, in report.md
    md = (out / "report.md").read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    _assert_no_raw(md, "report.md")
    _assert_no_raw(html, "report.html")
    assert "\\u202eevil" in html and "\\x1b]52" in html
    assert md.count("evil.example/x") >= 1
    for m in re.finditer(r"evil\.example/x", md):
        line = md[md.rfind("\n", 0, m.start()) + 1 : md.find("\n", m.end())]
        before = line[: m.start() - md.rfind("\n", 0, m.start()) - 1]
        assert before.count("`") % 2 == 1, line  # inside a code span
    # the raw files for machines keep the model's text exactly
    rows = [json.loads(x) for x in (out / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {x["output"] for x in rows if x["model"] == "ft"} == {HOSTILE}


def test_error_messages_show_escapes_from_the_data(tmp_path: Path, srv) -> None:
    bad_id = "\x1b]52;c;eA==\x07\u202e"
    rows = [{"id": bad_id, "q": "a", "answer": "b"}, {"id": bad_id, "q": "c", "answer": "d"}]
    cfg = write_run(tmp_path, srv.base_url, rows=rows)
    r = cli("run", str(cfg))
    assert r.returncode == 2, r.stderr
    assert "duplicate id" in r.stderr and "\\x1b]52;c;eA==\\x07\\u202e" in r.stderr
    _assert_no_raw(r.stdout + r.stderr, "error")
    assert srv.count("/chat/completions") == 0


def test_a_20_mb_reply_gives_bounded_reports_and_a_capped_stored_output(tmp_path: Path, srv) -> None:
    huge = ("lorem ipsum " * 2_000_000)[:20_000_000]  # 20 MB

    srv.reply_with(answer_by_model(lambda body: huge if "question 0" in body["messages"][-1]["content"] else "no"))
    cfg = write_run(tmp_path, srv.base_url)
    r = cli("run", str(cfg))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["settings"]["max_output_chars"] == 1_000_000 and run["settings"]["outputs_truncated"] == 1
    rows = [json.loads(x) for x in (out / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    big = [x for x in rows if x["model"] == "ft" and x["id"] == "e0"][0]
    assert big["output"] == huge[:1_000_000] and big["output_truncated"] == 19_000_000
    assert all(x.get("output_truncated") is None for x in rows if x is not big)
    sizes = {f.relative_to(out).as_posix(): f.stat().st_size for f in out.rglob("*") if f.is_file()}
    assert sizes["examples.jsonl"] < 1_100_000, sizes
    for name in (
        "report.html",
        "report.md",
        "review/lowest.csv",
        "review/lowest.jsonl",
        "review/regressions.csv",
        "run.json",
        "junit.xml",
    ):
        assert sizes[name] < 200_000, (name, sizes[name])
    lowest = [x for x in _csv(out / "review" / "lowest.csv") if x["id"] == "e0" and x["model"] == "ft"]
    assert lowest[0]["output"] == huge[:20_000] + "... (980,000 more)"
    r = cli("review", str(out), "--format", "jsonl")
    assert r.returncode == 0 and len(r.stdout) < 200_000
    # a smaller cap in the config: the stored and scored output is the first max_output_chars characters
    (tmp_path / "cfg.yaml").write_text(cfg.read_text().replace("output: out", "output: out2\nmax_output_chars: 1000"))
    r = cli("run", str(cfg))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in (tmp_path / "out2" / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [x["output"] for x in rows if x["model"] == "ft" and x["id"] == "e0"] == [huge[:1000]]
    assert json.loads((tmp_path / "out2" / "run.json").read_text())["settings"]["max_output_chars"] == 1000
    assert srv.count("/chat/completions") == 8  # the second run came from the cache, cut afresh

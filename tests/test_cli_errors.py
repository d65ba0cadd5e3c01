"""Bad input through the real CLI: one clear line on stderr, exit 2 (3 for a failing provider), no
traceback, nothing half-written, and no API key anywhere."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from _helpers import run_cli
from evalstack.testing.loopback import LoopbackServer

FAKE_KEY = "sk-FAKE-evalstack-7d1c9a2b4e6f8a0c"

GOOD = """\
name: t
baseline: base
models:
  base: {provider: replay, path: base.jsonl}
  ft: {provider: replay, path: ft.jsonl}
tasks:
  - name: intent
    data: {path: data.jsonl, id: id}
    prompt: {user: "Ticket: {{ text }}"}
    target: label
    labels: [a, b]
    metrics: [accuracy, {f1: {average: macro}}]
output: out
"""


def setup(tmp: Path, cfg: str = GOOD) -> Path:
    rows = [{"id": f"e{i}", "text": f"ticket {i}", "label": "a" if i % 2 else "b"} for i in range(20)]
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("base", "ft"):
        (tmp / f"{name}.jsonl").write_text(
            "".join(json.dumps({"id": r["id"], "output": r["label"]}) + "\n" for r in rows)
        )
    p = tmp / "cfg.yaml"
    p.write_text(cfg)
    return p


def cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, env={"OPENAI_API_KEY": FAKE_KEY, **(env or {})}, cwd=cwd, timeout=120)


def assert_clean_error(r: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: "), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert FAKE_KEY not in r.stderr + r.stdout


CASES = [
    # (name, config edit (old, new) or None, file edits {name: content}, expected substrings)
    ("unknown key", ("    target:", "    targett:"), {}, ["tasks[0].targett", "did you mean 'target'"]),
    ("wrong type", ("labels: [a, b]", "labels: 3"), {}, ["tasks[0].labels", "line 11"]),
    ("missing data file", ("data.jsonl", "nope.jsonl"), {}, ["nope.jsonl", "file not found"]),
    ("empty dataset", None, {"data.jsonl": ""}, ["data.jsonl", "empty"]),
    ("missing column", ("{{ text }}", "{{ txt }}"), {}, ["missing column 'txt'"]),
    (
        "duplicate ids",
        None,
        {"data.jsonl": '{"id": "1", "text": "x", "label": "a"}\n{"id": "1", "text": "y", "label": "b"}\n'},
        ["data.jsonl:2", "duplicate id '1'"],
    ),
    ("non-utf8", None, {"data.jsonl": b'{"id": "1", "text": "caf\xe9", "label": "a"}\n'}, ["not UTF-8"]),
    (
        "malformed jsonl",
        None,
        {"data.jsonl": '{"id": "1", "text": "x", "label": "a"}\n{"id": "2", "text": \n'},
        ["data.jsonl:2", "malformed JSON"],
    ),
    ("bad template", ("{{ text }}", "{{ text "), {}, ["tasks[0].prompt.user", "bad template"]),
    (
        "unknown provider",
        ("provider: replay, path: ft", "provider: replai, path: ft"),
        {},
        ["unknown provider 'replai'", "did you mean 'replay'"],
    ),
    ("unknown metric", ("accuracy,", "acuracy,"), {}, ["unknown metric 'acuracy'", "did you mean 'accuracy'"]),
    ("bad metric option", ("average: macro", "average: macroo"), {}, ["tasks[0].metrics[1]", "macroo"]),
    ("baseline not a model", ("baseline: base", "baseline: basse"), {}, ["baseline", "'basse' is not among models"]),
    (
        "replay missing ids",
        None,
        {"ft.jsonl": '{"id": "e0", "output": "a"}\n'},
        ["ft.jsonl", "no recorded output for 19 of 20", "first: e1"],
    ),
    ("gold label not in labels", ("labels: [a, b]", "labels: [a, c]"), {}, ["gold label 'b' is not in `labels`"]),
    ("invalid yaml", ("labels: [a, b]", "labels: [a, b"), {}, ["invalid YAML"]),
    ("duplicate key", ("output: out", "output: out\noutput: o2"), {}, ["duplicate key 'output'"]),
    (
        "missing api key env",
        (
            "base: {provider: replay, path: base.jsonl}",
            "base: {provider: openai, model: m, api_key_env: NOT_SET_KEY_XYZ}",
        ),
        {},
        ["NOT_SET_KEY_XYZ is not set"],
    ),
    (
        "bad base_url",
        (
            "base: {provider: replay, path: base.jsonl}",
            "base: {provider: openai, model: m, base_url: 'localhost:8000'}",
        ),
        {},
        ["not an http(s) URL"],
    ),
    (
        "label alias to unknown label",
        ("labels: [a, b]", "labels: [a, b]\n    label_parsing: {aliases: {x: zzz}}"),
        {},
        ["zzz"],
    ),
    (
        "gate on unknown task",
        ("output: out", "output: out\ngate: {rules: [{metric: nope/accuracy, min: 0.5}]}"),
        {},
        ["unknown task 'nope'"],
    ),
    ("replay without output column", None, {"base.jsonl": '{"id": "e0", "out": "a"}\n'}, ["missing column 'output'"]),
    # checks that need the metrics, rubrics and curves: still before any request
    (
        "gate metric typo",
        ("output: out", "output: out\ngate: {rules: [{metric: intent/accuracyy, min: 0.5}]}"),
        {},
        ["gate.rules[0].metric", "did you mean 'intent/accuracy'"],
    ),
    ("missing curves file", ("output: out", "output: out\ncurves: [nope.csv]"), {}, ["nope.csv"]),
    (
        "null prompt cell",
        None,
        {"data.jsonl": '{"id": "e0", "text": null, "label": "a"}\n'},
        ["data.jsonl:1", "column 'text' is empty"],
    ),
    (
        "judge needs context",
        (
            "metrics: [accuracy, {f1: {average: macro}}]",
            "metrics: [accuracy]\n    judges: [faithfulness]\njudge: {provider: replay, path: base.jsonl}",
        ),
        {},
        ["tasks[0].judges[0]", "reads `context`"],
    ),
    (
        "pairwise rubric as pointwise",
        (
            "metrics: [accuracy, {f1: {average: macro}}]",
            "metrics: [accuracy]\n    judges: [preference]\njudge: {provider: replay, path: base.jsonl}",
        ),
        {},
        ["tasks[0].judges[0]", "is pairwise"],
    ),
    (
        "perplexity without logprobs",
        ("accuracy, {f1: {average: macro}}", "accuracy, perplexity"),
        {},
        ["tasks[0].metrics[1]", "needs token logprobs", "logprobs_column"],
    ),
    (
        "knowledge_f1 without context",
        ("accuracy, {f1: {average: macro}}", "accuracy, knowledge_f1"),
        {},
        ["tasks[0].metrics[1]"],
    ),
]


@pytest.mark.parametrize("name,edit,files,needles", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path: Path, name: str, edit, files: dict, needles: list[str]) -> None:
    cfg_text = GOOD if edit is None else GOOD.replace(edit[0], edit[1], 1)
    assert edit is None or edit[0] in GOOD
    cfg = setup(tmp_path, cfg_text)
    for fname, content in files.items():
        (tmp_path / fname).write_bytes(content if isinstance(content, bytes) else content.encode())
    r = cli("run", str(cfg))
    assert_clean_error(r, 2, *needles)
    out = tmp_path / "out"
    assert not (out / "run.json").exists() and not (out / "report.md").exists()


def test_missing_config_and_bad_args(tmp_path: Path) -> None:
    assert_clean_error(cli("run", str(tmp_path / "none.yaml")), 2, "config file not found")
    r = cli("run")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "Missing argument" in r.stderr
    cfg = setup(tmp_path)
    assert_clean_error(cli("run", str(cfg), "--models", "nope"), 2, "unknown model 'nope'")
    assert_clean_error(cli("run", str(cfg), "--resume", "--no-cache"), 2, "--resume needs the cache")


def test_output_folder_not_writable(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocker = tmp_path / "out"
        blocker.write_text("a file where the folder should be")
    else:  # pragma: no cover
        blocker = tmp_path / "ro"
        blocker.mkdir(mode=0o500)
    cfg = setup(tmp_path, GOOD.replace("output: out", f"output: {blocker / 'sub'}"))
    assert_clean_error(cli("run", str(cfg)), 2, "output folder is not writable")


def test_unreachable_endpoint_exits_3_and_saves_what_finished(tmp_path: Path) -> None:
    cfg = setup(
        tmp_path,
        GOOD.replace(
            "base: {provider: replay, path: base.jsonl}",
            "base: {provider: openai, model: m, base_url: 'http://127.0.0.1:9/v1', max_tries: 2, timeout: 2}",
        ),
    )
    r = cli("run", str(cfg), "-q")
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr and FAKE_KEY not in r.stderr + r.stdout
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["tasks"]["intent"]["models"]["base"]["failed"] == 20
    rows = [json.loads(l) for l in (tmp_path / "out" / "examples.jsonl").read_text().splitlines()]
    errs = [r["error"] for r in rows if r["model"] == "base"]
    assert len(errs) == 20 and all(e["kind"] == "connection" and e["tries"] == 2 for e in errs)


def test_api_key_appears_in_no_file_written(tmp_path: Path) -> None:
    with LoopbackServer() as srv:
        srv.reply_with(lambda body: "a")
        cfg = setup(
            tmp_path,
            GOOD.replace(
                "ft: {provider: replay, path: ft.jsonl}",
                f"ft: {{provider: openai, model: m, base_url: '{srv.base_url}'}}",
            ).replace("output: out", "output: out\ncache: cache.sqlite"),
        )
        srv.fail_next(3, status=500, message=f"upstream said key {FAKE_KEY} is bad")
        srv.fail_next(2, status=429, message=f"Authorization: Bearer {FAKE_KEY}")
        r = cli("-vv", "run", str(cfg), env={"EVALSTACK_DEBUG": ""})
        assert r.returncode in (0, 1), r.stderr
        assert srv.requests[-1].headers["authorization"].endswith(FAKE_KEY)
    written = [f for f in tmp_path.rglob("*") if f.is_file()]
    assert any(f.name == "report.html" for f in written)
    for f in written:
        assert FAKE_KEY.encode() not in f.read_bytes(), f
    assert FAKE_KEY not in r.stdout + r.stderr
    assert "chat/completions" in r.stderr  # -vv logged the requests (and nothing secret)

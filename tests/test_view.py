"""The review workbench (`evalstack view`) at the HTTP level: token, host, CSP, every filter against an
independent computation over examples.jsonl, hostile text, label writes (two writers at once), exports,
and `judge validate` on exported labels."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("duckdb")

from starlette.testclient import TestClient

from evalstack.view import append_label, read_labels
from evalstack.view._app import make_app
from evalstack.view._store import Store

TOKEN = "tok3n"
HOSTILE = ["<script>alert(1)</script>", '=HYPERLINK("http://evil.example","x")', "abc\u202edcba", "\x1b]52;c;Zm9v\x07"]


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "evalstack", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=cwd,
        timeout=300,
    )


def make_run(tmp: Path, n: int = 120) -> Path:
    """A finished two-task run through the CLI: intent (labels, slices) and sums (a replayed judge)."""
    labels = ["billing", "bug", "account"]
    data = [
        {"id": f"t{i:03d}", "text": f"ticket {i}", "label": labels[i % 3], "channel": ["web", "mail"][i % 2]}
        for i in range(n)
    ]
    (tmp / "intent.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    base = [labels[i % 3] if i % 4 else labels[(i + 1) % 3] for i in range(n)]
    ft = [labels[i % 3] if i % 5 else labels[(i + 2) % 3] for i in range(n)]
    for i, h in enumerate(HOSTILE):
        ft[i] = h
    sums = [{"id": f"s{i:02d}", "document": f"doc {i}", "summary": f"the summary {i}"} for i in range(20)]
    (tmp / "sums.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sums))
    judge = []
    for name, outs in (("base", base), ("ft", ft)):
        rows = [{"task": "intent", "id": d["id"], "output": o} for d, o in zip(data, outs)]
        rows += [{"task": "sums", "id": s["id"], "output": f"{name} summary {i}"} for i, s in enumerate(sums)]
        (tmp / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        judge += [
            {
                "task": f"sums/{name}",
                "id": s["id"],
                "output": json.dumps({"reason": f"reason {name} {i}", "score": 2 + (i + (name == "ft")) % 4}),
            }
            for i, s in enumerate(sums)
        ]
    (tmp / "judge.jsonl").write_text("".join(json.dumps(r) + "\n" for r in judge))
    (tmp / "cfg.yaml").write_text(
        "name: viewtest\nbaseline: base\n"
        "models:\n  base: {provider: replay, path: base.jsonl, task_column: task}\n"
        "  ft: {provider: replay, path: ft.jsonl, task_column: task}\n"
        "tasks:\n  - name: intent\n    data: {path: intent.jsonl, id: id}\n    prompt: {user: 'Ticket: {{ text }}'}\n"
        "    target: label\n    labels: [billing, bug, account]\n    metrics: [accuracy]\n    slice_by: channel\n"
        "  - name: sums\n    data: {path: sums.jsonl, id: id}\n    prompt: {user: 'Summarize: {{ document }}'}\n"
        "    reference: summary\n    context: document\n    metrics: [token_f1]\n    judges: [faithfulness]\n"
        "judge: {provider: replay, path: judge.jsonl, task_column: task}\noutput: out\n"
    )
    r = _cli("run", str(tmp / "cfg.yaml"), "-q")
    assert r.returncode in (0, 1), r.stderr
    return tmp / "out"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("viewrun"))


@pytest.fixture
def client(run_dir) -> TestClient:
    for p in run_dir.glob("labels*.jsonl"):
        p.unlink()
    return TestClient(make_app(Store([run_dir]), token=TOKEN, reviewer="tester"), follow_redirects=False)


def examples(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "examples.jsonl").read_text().splitlines()]


def api(client: TestClient, task: str, **params) -> dict:
    r = client.get(f"/{TOKEN}/api/examples/out/{task}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_token_host_and_security_headers(client, run_dir):
    for path in ("/", "/nope/", f"/{TOKEN}x/", f"/{TOKEN[:-1]}/"):
        r = client.get(path)
        assert r.status_code == 403
    r = client.get(f"/{TOKEN}/")
    assert r.status_code == 200 and "No gate rules" in r.text and "intent" in r.text
    for resp in (r, client.get("/"), client.get(f"/{TOKEN}/t/out/nope")):
        assert "script-src 'self'" in resp.headers["content-security-policy"]
        assert resp.headers["x-frame-options"] == "DENY"
    assert client.get(f"/{TOKEN}/t/out/nope").status_code == 404
    assert "<script" not in re.sub(r'<script src="/tok3n/static/app.js" defer></script>', "", r.text)
    strict = TestClient(
        make_app(Store([run_dir]), token=TOKEN, port_hosts=("127.0.0.1:9",)), base_url="http://evil.example"
    )
    assert strict.get(f"/{TOKEN}/").status_code == 403  # DNS rebinding: a foreign Host header


def test_filters_equal_an_independent_computation(client, run_dir):
    rows = examples(run_dir)
    ft = {r["id"]: r for r in rows if r["task"] == "intent" and r["model"] == "ft"}
    base = {r["id"]: r for r in rows if r["task"] == "intent" and r["model"] == "base"}
    acc = lambda r: r["scores"].get("accuracy")  # noqa: E731
    # default model: the first non-baseline one; every example listed, id order
    got = api(client, "intent")
    assert got["total"] == len(ft) and [r["id"] for r in got["rows"]] == sorted(ft)[:50]
    # regressions on accuracy (higher is better): ft lost where base was right
    want = sorted(i for i in ft if acc(ft[i]) is not None and acc(base[i]) is not None and acc(ft[i]) < acc(base[i]))
    got = api(client, "intent", metric="accuracy", regression="1", sort="id")
    assert got["total"] == len(want) > 0 and [r["id"] for r in got["rows"]] == want[:50]
    # a metric range
    want = sorted(i for i in ft if acc(ft[i]) is not None and acc(ft[i]) >= 0.5)
    assert api(client, "intent", metric="accuracy", lo="0.5", sort="id")["total"] == len(want)
    # the baseline's own rows
    assert api(client, "intent", model="base")["total"] == len(base)
    # slices
    want = sorted(i for i in ft if ft[i]["fields"].get("channel") == "mail")
    got = api(client, "intent", slice_col="channel", slice_val="mail")
    assert got["total"] == len(want) and [r["id"] for r in got["rows"]] == want[:50]
    # free text over input, output, reference and judge reason (case-insensitive, % and _ literal)
    assert {r["id"] for r in api(client, "intent", q="HYPERLINK")["rows"]} == {"t001"}
    assert api(client, "intent", q="100%")["total"] == 0
    assert api(client, "sums", q="reason ft 3")["total"] == 1
    # unscored: outputs that are not a label are invalid, scored as wrong here, so none is unscored
    want_unscored = sum(1 for r in ft.values() if r["error"] is None and acc(r) is None)
    assert api(client, "intent", metric="accuracy", status="unscored")["total"] == want_unscored
    # sort by delta, then pages
    got = api(client, "intent", metric="accuracy", sort="delta")
    deltas = [r["delta"] for r in got["rows"]]
    assert deltas == sorted(deltas)
    page2 = api(client, "intent", page="2")
    assert [r["id"] for r in page2["rows"]] == sorted(ft)[50:100]


def test_example_page_escapes_hostile_text_and_shows_a_word_diff(client):
    r = client.get(f"/{TOKEN}/e/out/intent/t000", params={"model": "ft"})
    assert r.status_code == 200
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "<del>" in r.text and "<ins>" in r.text
    r = client.get(f"/{TOKEN}/e/out/intent/t002", params={"model": "ft"})
    assert "\u202e" not in r.text and "\\u202e" in r.text
    r = client.get(f"/{TOKEN}/e/out/intent/t003", params={"model": "ft"})
    assert "\x1b" not in r.text and "\\x1b" in r.text
    r = client.get(f"/{TOKEN}/e/out/sums/s03")
    assert "reason ft 3" in r.text and "Word diff" in r.text
    assert client.get(f"/{TOKEN}/e/out/intent/zzz").status_code == 404


def test_labels_written_validated_and_filtered(client, run_dir):
    form = {
        "run": "out",
        "task": "intent",
        "model": "ft",
        "id": "t007",
        "label": "gold_wrong",
        "corrected": "bug",
        "note": "the ticket is a bug",
        "back": f"/{TOKEN}/t/out/intent",
    }
    r = client.post(f"/{TOKEN}/label", data=form)
    assert r.status_code == 303 and r.headers["location"] == f"/{TOKEN}/t/out/intent"
    for bad, status in (({**form, "id": "t999"}, 400), ({**form, "label": "meh"}, 400), ({**form, "model": "x"}, 400)):
        assert client.post(f"/{TOKEN}/label", data=bad).status_code == status
    r = client.post(f"/{TOKEN}/label", data={**form, "back": "https://evil.example/"})
    assert r.headers["location"].startswith(f"/{TOKEN}/e/out/intent/")  # no open redirect
    labs = read_labels(run_dir)
    assert len(labs) == 2 and {lab["who"] for lab in labs} == {"tester"}
    assert all(lab["id"] == "t007" and lab["corrected"] == "bug" for lab in labs)
    assert [r["id"] for r in api(client, "intent", label="gold_wrong")["rows"]] == ["t007"]
    assert api(client, "intent", label="none")["total"] == api(client, "intent")["total"] - 1
    assert "gold_wrong" in client.get(f"/{TOKEN}/e/out/intent/t007").text


def _writer(args: tuple[str, str, int]) -> None:
    run_dir, who, n = args
    for i in range(n):
        append_label(
            Path(run_dir), task="intent", model="ft", ex_id=f"t{i % 100:03d}", label="ok", note="x" * 300, who=who
        )


def test_two_reviewers_writing_at_once_lose_nothing(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_writer, [(str(tmp_path), "ann", 300), (str(tmp_path), "bob", 300)])
    lines = (tmp_path / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 600 and all(json.loads(line)["label"] == "ok" for line in lines)
    (tmp_path / "labels-carol.jsonl").write_text(lines[0] + "\n" + '{"torn": ')  # another reviewer's file, torn
    assert len(read_labels(tmp_path)) == 601


def test_symlinked_label_file_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "labels.jsonl").symlink_to(victim)
    with pytest.raises(Exception, match="cannot write labels"):
        append_label(tmp_path / "run", task="t", model="m", ex_id="1", label="ok")
    assert victim.read_text() == "keep me"


def test_export_judge_validation_then_judge_validate(tmp_path, run_dir):
    for p in run_dir.glob("labels*.jsonl"):
        p.unlink()
    rows = {(r["model"], r["id"]): r for r in examples(run_dir) if r["task"] == "sums"}
    ok = [("ft", f"s{i:02d}") for i in range(8)]
    for m, i in ok:
        append_label(run_dir, task="sums", model=m, ex_id=i, label="ok")
    wrong = ("base", "s01")
    judged = rows[wrong]["judge"]["faithfulness"]["score"]
    append_label(
        run_dir, task="sums", model=wrong[0], ex_id=wrong[1], label="judge_wrong", corrected=1 if judged != 1 else 5
    )
    append_label(run_dir, task="sums", model="base", ex_id="s02", label="model_wrong")  # not a judge label
    out = tmp_path / "validation.jsonl"
    r = _cli("labels", "export", str(run_dir), "--as", "judge-validation", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "wrote 9 label row(s)" in r.stdout and "1 label(s) skipped" in r.stdout
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert {e["id"] for e in exported} == {f"{m}/{i}" for m, i in [*ok, wrong]}
    # the judge's recorded verdicts, keyed by the exported ids: validate must agree on the 8 `ok` rows only
    verdicts = tmp_path / "verdicts.jsonl"
    judge_rows = [json.loads(line) for line in (run_dir.parent / "judge.jsonl").read_text().splitlines()]
    by_key = {(j["task"].split("/")[1], j["id"]): j["output"] for j in judge_rows}
    verdicts.write_text(
        "".join(json.dumps({"id": e["id"], "output": by_key[tuple(e["id"].split("/"))]}) + "\n" for e in exported)
    )
    r = _cli(
        "judge",
        "validate",
        "--rubric",
        "faithfulness",
        "--labels",
        str(out),
        "--judge-provider",
        "replay",
        "--judge-path",
        str(verdicts),
        "--json",
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["n_labels"] == 9 and report["unscored"] == 0 and report["exact_agreement"] == pytest.approx(8 / 9)


def test_export_cleaned_data_never_touches_the_source(tmp_path, run_dir):
    for p in run_dir.glob("labels*.jsonl"):
        p.unlink()
    src = run_dir.parent / "intent.jsonl"
    before = src.read_bytes()
    append_label(run_dir, task="intent", model="ft", ex_id="t005", label="gold_wrong", corrected="account")
    append_label(run_dir, task="intent", model="base", ex_id="t006", label="gold_wrong")
    append_label(run_dir, task="intent", model="ft", ex_id="t008", label="model_wrong")
    out = tmp_path / "clean.jsonl"
    r = _cli("labels", "export", str(run_dir), "--as", "cleaned-data", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "1 row(s) dropped, 1 corrected" in r.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 119 and "t006" not in {x["id"] for x in rows}
    assert next(x for x in rows if x["id"] == "t005")["label"] == "account"
    log = [json.loads(line) for line in Path(str(out) + ".changelog.jsonl").read_text().splitlines()]
    assert log[0]["dropped"] == 1 and {e["id"]: e["change"] for e in log[1:]} == {
        "t005": "corrected",
        "t006": "dropped",
    }
    assert src.read_bytes() == before
    r = _cli("labels", "export", str(run_dir), "--as", "cleaned-data", "--out", str(src))
    assert r.returncode == 2 and "never overwrites" in r.stderr and src.read_bytes() == before


def test_view_bad_input_is_one_line_exit_2(tmp_path):
    r = _cli("view", str(tmp_path), "--no-browser")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "not a finished run folder" in r.stderr


def test_lone_surrogates_and_a_20_mb_output_are_shown_safely(tmp_path):
    """examples.jsonl written by an older run (or by hand) with a lone surrogate escape and a 20 MB output:
    DuckDB's reader refuses the first, so Python's json reads the file; pages stay small."""
    run = tmp_path / "r"
    run.mkdir()
    (run / "run.json").write_text((Path(__file__).parent / "fixtures" / "view_min_run.json").read_text())
    rows = [
        {
            "task": "t",
            "model": m,
            "id": i,
            "input": "q",
            "output": out,
            "reference": "ref",
            "scores": {"accuracy": s},
            "judge": {},
            "fields": {},
            "error": None,
        }
        for m in ("base", "ft")
        for i, out, s in (("a", "x\ud800y", 1.0), ("b", "y" * (20 * 1024 * 1024), 0.0))
    ]
    (run / "examples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    c = TestClient(make_app(Store([run], allow_unfinished=True), token=TOKEN))  # a hand-made folder
    got = c.get(f"/{TOKEN}/api/examples/r/t", params={"model": "ft"}).json()
    assert got["total"] == 2 and got["rows"][0]["output"] == "x\ufffdy" and len(got["rows"][1]["output"]) == 300
    page = c.get(f"/{TOKEN}/e/r/t/b", params={"model": "ft"})
    assert page.status_code == 200 and len(page.content) < 200_000 and "... (20,951,520 more)" in page.text


def test_labels_for_examples_not_in_the_run_are_skipped_not_a_crash(tmp_path, run_dir):
    """A reviewer's file copied in from another run names examples this run does not hold."""
    for p in run_dir.glob("labels*.jsonl"):
        p.unlink()
    append_label(run_dir, task="sums", model="ft", ex_id="s00", label="ok")
    (run_dir / "labels-bob.jsonl").write_text(
        json.dumps(
            {
                "task": "sums",
                "model": "ft",
                "id": "zz9",
                "label": "judge_wrong",
                "corrected": 3,
                "who": "bob",
                "at": "2026-01-01T00:00:00",
            }
        )
        + "\n"
        + json.dumps(
            {
                "task": "sums",
                "model": "other",
                "id": "s01",
                "label": "judge_wrong",
                "corrected": 2,
                "who": "bob",
                "at": "2026-01-01T00:00:00",
            }
        )
        + "\n"
    )
    try:
        out = tmp_path / "v.jsonl"
        r = _cli("labels", "export", str(run_dir), "--as", "judge-validation", "--out", str(out))
        assert r.returncode == 0, r.stderr
        assert "wrote 1 label row(s)" in r.stdout and "2 label(s) skipped" in r.stdout
        assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["ft/s00"]
    finally:
        (run_dir / "labels-bob.jsonl").unlink()


def test_export_never_overwrites_the_run_itself(tmp_path, run_dir):
    for p in run_dir.glob("labels*.jsonl"):
        p.unlink()
    append_label(run_dir, task="sums", model="ft", ex_id="s00", label="ok")
    append_label(run_dir, task="intent", model="ft", ex_id="t005", label="gold_wrong")
    for kind, target in (
        ("judge-validation", "examples.jsonl"),
        ("cleaned-data", "run.json"),
        ("judge-validation", "labels.jsonl"),
    ):
        before = (run_dir / target).read_bytes()
        task = ["--task", "sums" if kind == "judge-validation" else "intent"]
        r = _cli("labels", "export", str(run_dir), "--as", kind, *task, "--out", str(run_dir / target))
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--out" in r.stderr, r.stderr
        assert (run_dir / target).read_bytes() == before


def test_labels_show_on_a_folder_that_is_not_a_run_is_exit_2(tmp_path):
    r = _cli("labels", "show", str(tmp_path / "nope"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "not a finished run folder" in r.stderr


def test_garbage_label_posts_and_huge_page_numbers_are_400_or_clamped_not_500(run_dir):
    app = make_app(Store([run_dir]), token=TOKEN, reviewer="tester")
    c = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    for body in (b"not json", b"[1, 2]", b'"run"', b"\xff\xfe"):
        r = c.post(f"/{TOKEN}/label", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, (body, r.status_code)
    r = c.get(f"/{TOKEN}/t/{run_dir.name}/intent", params={"page": "9" * 30})
    assert r.status_code == 200
    r = c.get(f"/{TOKEN}/api/examples/{run_dir.name}/intent", params={"page": "9" * 30})
    assert r.status_code == 200 and r.json()["rows"] == [] and r.json()["total"] == 120

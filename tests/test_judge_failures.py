"""Judge requests that fail after retries are failed items (exit 3, counted, resumed); unparseable replies
are unscored and counted per rubric. Through the CLI, against the loopback server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.testing.loopback import Fault, LoopbackServer

N = 20


def _fence(req: dict, name: str) -> str:
    return re.search(
        r'<data-([0-9a-f]{16}) name="' + name + r'">\n(.*?)\n</data-\1>', req["messages"][1]["content"], re.S
    ).group(2)


def _index(req: dict) -> int:
    return int(re.search(r"out-(\d+)", _fence(req, "output")).group(1))


def _broken_judge(req: dict):
    """Examples 0-4: HTTP 500 every time; 5-9: no score at all; 10-14: a score off the 1-5 scale; 15-19: 5."""
    i = _index(req)
    if i < 5:
        return Fault.of(500)
    if i < 10:
        return "I would rather not say."
    if i < 15:
        return json.dumps({"reason": "r", "score": 9})
    return json.dumps({"reason": "r", "score": 5})


def _mended_judge(req: dict):
    i = _index(req)
    return _broken_judge(req) if i >= 5 else json.dumps({"reason": "fixed", "score": 5})


def _write(tmp: Path, base_url: str) -> None:
    (tmp / "d.jsonl").write_text("".join(json.dumps({"id": f"e{i}", "q": f"question {i}"}) + "\n" for i in range(N)))
    for m in ("base", "ft"):
        (tmp / f"{m}.jsonl").write_text(
            "".join(json.dumps({"id": f"e{i}", "output": f"{m} out-{i}"}) + "\n" for i in range(N))
        )
    (tmp / "cfg.yaml").write_text(f"""\
name: judgefail
baseline: base
models:
  base: {{provider: replay, path: base.jsonl}}
  ft: {{provider: replay, path: ft.jsonl}}
judge: {{provider: openai, model: judge-model, base_url: "{base_url}", api_key_env: JF_KEY, max_tries: 2}}
tasks:
  - name: qa
    data: {{path: d.jsonl, id: id}}
    prompt: {{user: "{{{{ q }}}}"}}
    judges: [conciseness]
gate:
  rules:
    - {{metric: qa/judge_conciseness, min: 4.5, max_unscored: 10}}
output: out
cache: c.sqlite
""")


def test_failed_judge_requests_fail_the_run_until_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JF_KEY", "sk-jf-0123456789")
    with LoopbackServer() as srv:
        _write(tmp_path, srv.base_url)
        srv.reply_with(_broken_judge)
        code = main(["run", "cfg.yaml", "--quiet"])
        # per model: 5 x 2 tries (500), 10 x 2 (first reply + re-ask), 5 x 1
        assert srv.count("/chat/completions") == 2 * (10 + 20 + 5)
        assert code == 3  # was 0/1: the 500s vanished into `unscored`
        run = json.loads(Path("out/run.json").read_text())
        for m in ("base", "ft"):
            mts = run["tasks"]["qa"]["models"][m]
            assert mts["failed"] == 0  # no generation failed
            assert mts["judge_failed"] == {"conciseness": 5}
            assert mts["judge_unparseable"] == {"conciseness": 10}
            metric = mts["metrics"]["judge_conciseness"]
            assert (metric["n"], metric["unscored"]) == (5, 15)
        rows = [json.loads(x) for x in Path("out/examples.jsonl").read_text().splitlines()]
        assert len(rows) == 2 * N
        for r in rows:
            i, j = int(r["id"][1:]), r["judge"]["conciseness"]
            if i < 5:
                assert j["failed"] is True and j["score"] is None
                assert j["error_kind"] == "server_error" and j["tries"] == 2 and "server_error" in j["error"]
            elif i < 15:
                assert not j.get("failed") and j["score"] is None and j["error"].startswith("unparseable")
            else:
                assert not j.get("failed") and j["score"] == 5
        md = Path("out/report.md").read_text()
        assert "5 judge requests failed" in md and "10 unparseable" in md
        junit = Path("out/junit.xml").read_text()
        assert "qa/ft judge conciseness" in junit and "5 of 20 judge requests failed" in junit

        # --resume sends exactly the 10 failed judge requests again; the rest come from the cache
        sent = srv.count("/chat/completions")
        srv.reply_with(_mended_judge)
        code = main(["run", "cfg.yaml", "--quiet", "--resume"])
        assert srv.count("/chat/completions") - sent == 10
    assert code == 0  # min 4.5 over 10 scored, 10 unscored allowed by the rule
    run = json.loads(Path("out/run.json").read_text())
    for m in ("base", "ft"):
        mts = run["tasks"]["qa"]["models"][m]
        assert mts["judge_failed"] == {"conciseness": 0}
        assert mts["judge_unparseable"] == {"conciseness": 10}
        assert mts["metrics"]["judge_conciseness"]["n"] == 10


def test_failed_pairwise_requests_fail_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JF_KEY", "sk-jf-0123456789")

    def judge(req: dict):
        i = int(re.search(r"out-(\d+)", _fence(req, "output_a")).group(1))
        if i < 3:
            return Fault.of(503)
        return json.dumps({"reason": "r", "verdict": "tie"}) if i >= 6 else "no idea"

    with LoopbackServer() as srv:
        _write(tmp_path, srv.base_url)
        cfg = Path("cfg.yaml").read_text().replace("judges: [conciseness]", "pairwise: [preference]")
        Path("cfg.yaml").write_text(cfg.replace("qa/judge_conciseness, min: 4.5", "qa/pairwise_preference, min: 0.4"))
        srv.reply_with(judge)
        assert main(["run", "cfg.yaml", "--quiet"]) == 3
    ft = json.loads(Path("out/run.json").read_text())["tasks"]["qa"]["models"]["ft"]
    assert ft["judge_failed"] == {"pairwise_preference": 3}
    assert ft["judge_unparseable"] == {"pairwise_preference": 3}
    rows = [json.loads(x) for x in Path("out/examples.jsonl").read_text().splitlines()]
    failed = sorted(r["id"] for r in rows if r["model"] == "ft" and r["judge"]["pairwise_preference"].get("failed"))
    assert failed == ["e0", "e1", "e2"]

"""Secrets never written (issue 13, item 9): the key named by api_key_env, a password expanded into base_url,
a header value expanded from the environment, and a reply that echoes them all appear in no file evalstack
writes (cache bytes included) and in nothing it prints; a secret expanded into a prompt is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.hostile import answer_by_model, cli, write_run

KEY = "sk-evalstack-secret-9f8e7d6c5b4a3f2e"
PASS = "pp-proxy-pass-7a6b5c4d3e2f"
HDR = "hdr-team-token-0123456789ab"
ENV = {"HOSTILE_TEST_KEY": KEY, "HOSTILE_PROXY_PASS": PASS, "HOSTILE_TEAM": HDR}


def _config(tmp: Path, srv, *, user: str = "{{ q }}", extra: str = "") -> Path:
    cfg = write_run(tmp, srv.base_url, user=user, extra=extra)
    proxied = srv.base_url.replace("http://", "http://evaluser:${HOSTILE_PROXY_PASS}@")
    text = cfg.read_text().replace(
        f"model: ft, base_url: '{srv.base_url}'",
        f"model: ft, base_url: '{proxied}', headers: {{X-Team: '${{HOSTILE_TEAM}}'}}",
    )
    assert proxied in text
    cfg.write_text(text)
    return cfg


def _files(root: Path) -> list[Path]:
    return [f for f in root.rglob("*") if f.is_file()]


def test_no_secret_in_any_file_written_or_message_printed(tmp_path: Path, srv) -> None:
    srv.reply_with(answer_by_model(lambda body: f"your key is {KEY}, the proxy's {PASS}, the header {HDR}"))
    cfg = _config(tmp_path, srv)
    before = {f: f.read_bytes() for f in _files(tmp_path)}
    r = cli("-v", "run", str(cfg), env=ENV)
    assert r.returncode == 0, r.stderr
    ft = [q for q in srv.requests if q.path.endswith("/chat/completions") and (q.json or {}).get("model") == "ft"]
    assert ft and all(q.headers["authorization"].startswith("Basic ") for q in ft)  # the URL's user:password
    assert all(q.headers.get("x-team") == HDR for q in ft)
    out = tmp_path / "out"
    outputs = [r.stdout + r.stderr]
    for args in ([], ["--regressions"], ["--format", "jsonl"], ["--format", "csv", "--out", str(tmp_path / "rev.csv")]):
        rr = cli("review", str(out), *args, env=ENV)
        assert rr.returncode == 0, rr.stderr
        outputs.append(rr.stdout + rr.stderr)
    written = [f for f in _files(tmp_path) if f not in before]
    names = {f.name for f in written}
    assert {
        "run.json",
        "examples.jsonl",
        "report.md",
        "report.html",
        "junit.xml",
        "lowest.csv",
        "lowest.jsonl",
        "regressions.csv",
        "cache.sqlite",
        "rev.csv",
    } <= names, names
    for f in written:
        data = f.read_bytes()
        for secret in (KEY, PASS, HDR):
            assert secret.encode() not in data, (f, secret)
    for text in outputs:
        for secret in (KEY, PASS, HDR):
            assert secret not in text
    rows = [json.loads(x) for x in (out / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {x["output"] for x in rows if x["model"] == "ft"} == {"your key is ***, the proxy's ***, the header ***"}
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    url = run["config"]["models"]["ft"]["base_url"]
    assert "evaluser" not in url and url.startswith("http://***@127.0.0.1:"), url
    # a second run answered from the cache scores the same redacted text
    r2 = cli("run", str(cfg), "--out", str(tmp_path / "again"), env=ENV)
    assert r2.returncode == 0, r2.stderr
    rows2 = [json.loads(x) for x in (tmp_path / "again" / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(x["cached"] for x in rows2) and [x["scores"] for x in rows2] == [x["scores"] for x in rows]


@pytest.mark.parametrize(
    "var", ["HOSTILE_TEST_KEY", "HOSTILE_PROXY_PASS", "HOSTILE_TEAM", "SOME_API_TOKEN", "DB_PASSWORD", "MY_SECRET"]
)
def test_a_secret_expanded_into_a_prompt_is_refused(tmp_path: Path, srv, var: str) -> None:
    cfg = _config(tmp_path, srv, user="{{ q }} ${" + var + "}")
    env = {**ENV, var: ENV.get(var, "s3cr3t-value-123456")}
    r = cli("run", str(cfg), env=env)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "tasks[0].prompt.user" in lines[0] and var in lines[0], r.stderr
    assert "allow_secret_in_prompt" in lines[0]
    assert env[var] not in r.stderr
    assert srv.count("/chat/completions") == 0


def test_allow_secret_in_prompt_sends_it_and_still_writes_it_nowhere(tmp_path: Path, srv) -> None:
    cfg = _config(tmp_path, srv, user="{{ q }} ${HOSTILE_TEST_KEY}", extra="allow_secret_in_prompt: true\n")
    r = cli("run", str(cfg), env=ENV)
    assert r.returncode == 0, r.stderr
    sent = [q.json["messages"][-1]["content"] for q in srv.requests if q.path.endswith("/chat/completions")]
    assert sent and all(s.endswith(KEY) for s in sent)
    for f in _files(tmp_path):
        assert KEY.encode() not in f.read_bytes(), f
    rows = [json.loads(x) for x in (tmp_path / "out" / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    # reviews show the example's input field (the secret is part of the template, not of the example)
    assert sorted(x["input"] for x in rows) == sorted(f"question {i}" for i in range(4) for _ in ("base", "ft"))

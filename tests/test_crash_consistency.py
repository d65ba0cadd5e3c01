"""SIGKILL at every phase of a run (after prepare, generation, judging, scoring, in the middle of each report
file's atomic write), then --resume: the final run.json equals an uninterrupted run's, no file is ever
half-written under its real name, and the cache passes PRAGMA integrity_check."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from evalstack.testing.loopback import LoopbackServer

pytestmark = pytest.mark.slow

POINTS = [
    "prepared",
    "generated",
    "judged",
    "scored",
    "write:examples.jsonl",
    "write:run.json",
    "write:report.md",
    "write:report.html",
    "write:junit.xml",
    "write:lowest.csv",
    "write:regressions.csv",
    "reports_written",
]


def setup(tmp: Path, url: str) -> Path:
    rows = [
        {"id": f"e{i}", "text": f"ticket {i}", "label": ["x", "y", "z"][i % 3], "ref": f"answer {i % 7}"}
        for i in range(40)
    ]
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    p = tmp / "cfg.yaml"
    p.write_text(f"""
name: crash
baseline: base
models:
  base: {{provider: openai, model: m1, base_url: "{url}", api_key_env: CR_KEY}}
  ft:   {{provider: openai, model: m2, base_url: "{url}", api_key_env: CR_KEY}}
tasks:
  - name: cls
    data: {{path: data.jsonl, id: id}}
    prompt: {{user: "{{{{ text }}}}"}}
    target: label
    labels: [x, y, z]
    label_parsing: {{mode: first}}
    metrics: [accuracy, {{f1: {{average: macro}}}}]
  - name: gen
    data: {{path: data.jsonl, id: id}}
    prompt: {{user: "gen {{{{ text }}}}"}}
    reference: ref
    metrics: [exact_match, {{rouge: {{types: [rougeL]}}}}]
gate: {{rules: [{{metric: cls/accuracy, max_regression: 0.5}}]}}
cache: cache.sqlite
""")
    return p


def reply(body: dict) -> str:
    text = body["messages"][-1]["content"]
    i = int(text.rsplit(" ", 1)[1])
    if text.startswith("gen"):
        return f"answer {i % 7}" if (i + (body["model"] == "m2")) % 3 else f"answer {i}"
    return ["x", "y", "z"][(i + (body["model"] == "m1") * (i % 2)) % 3]


def run(cfg: Path, out: Path, *extra: str, crash: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "CR_KEY": "sk-crash-000000"}
    env.pop("EVALSTACK_CRASH_AT", None)
    if crash:
        env["EVALSTACK_CRASH_AT"] = crash
    return subprocess.run(
        [sys.executable, "-m", "evalstack", "run", str(cfg), "--out", str(out), "-q", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def normalized(out: Path) -> dict:
    run = json.loads((out / "run.json").read_text())
    # requests: sent vs cached differ by design, and so do examples.jsonl's `cached` flags (its sha256) and
    # the cost of the requests this invocation sent (report: "for the requests sent ... cache hits cost nothing")
    for k in ("created_at", "timings", "config", "requests", "examples_sha256", "cost"):
        run.pop(k)
    for t in run["tasks"].values():
        for m in t["models"].values():
            m.pop("usage")
    return run


def test_kill_at_every_phase_then_resume(tmp_path: Path) -> None:
    with LoopbackServer() as srv:
        srv.reply_with(reply)
        cfg = setup(tmp_path, srv.base_url)
        ref = run(cfg, tmp_path / "reference")
        assert ref.returncode == 0, ref.stderr
        expected = normalized(tmp_path / "reference")
        sent_reference = srv.count("/chat/completions")
        for point in POINTS:
            out = tmp_path / point.replace(":", "_")
            killed = run(cfg, out, crash=point)
            assert killed.returncode == -signal.SIGKILL, (point, killed.stderr)
            # nothing under a real name is half-written: every JSON file that exists parses
            for f in out.rglob("*.json"):
                json.loads(f.read_text())
            resumed = run(cfg, out, "--resume")
            assert resumed.returncode == 0, (point, resumed.stderr)
            assert normalized(out) == expected, point
            assert not list(out.rglob("*.tmp")), point
            assert not (out / ".evalstack.lock").exists()
        # every request came from the cache after the reference run
        assert srv.count("/chat/completions") == sent_reference
    db = sqlite3.connect(tmp_path / "cache.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

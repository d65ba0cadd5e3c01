"""Two evalstack processes at once: a shared cache stays whole; a shared output folder is refused."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalstack.testing.loopback import LoopbackServer

pytestmark = pytest.mark.slow


def cfg(tmp: Path, url: str, name: str, out: str, salt: str, n: int = 150) -> Path:
    data = tmp / f"data-{salt}.jsonl"
    data.write_text(
        "".join(json.dumps({"id": f"e{i}", "q": f"{salt} {i}", "a": f"echo: {salt} {i}"}) + "\n" for i in range(n))
    )
    p = tmp / f"{name}.yaml"
    p.write_text(f"""
name: {name}
baseline: base
models:
  base: {{provider: openai, model: m1, base_url: "{url}", api_key_env: CC_KEY, concurrency: 8}}
  ft:   {{provider: openai, model: m2, base_url: "{url}", api_key_env: CC_KEY, concurrency: 8}}
tasks:
  - name: qa
    data: {{path: {data.name}, id: id}}
    prompt: {{user: "{{{{ q }}}}"}}
    reference: a
    metrics: [exact_match]
cache: shared.sqlite
output: {out}
""")
    return p


def start(p: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evalstack", "run", str(p), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CC_KEY": "sk-cc-1234567"},
    )


def test_two_processes_share_one_cache(tmp_path: Path) -> None:
    with LoopbackServer(latency_ms=5) as srv:
        a = start(cfg(tmp_path, srv.base_url, "a", "out-a", "alpha"))
        b = start(cfg(tmp_path, srv.base_url, "b", "out-b", "beta"))
        ra, rb = a.communicate(timeout=120), b.communicate(timeout=120)
        assert a.returncode == 0, ra[1]
        assert b.returncode == 0, rb[1]
        assert srv.count("/chat/completions") == 600
    db = sqlite3.connect(tmp_path / "shared.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 600
    for out in ("out-a", "out-b"):
        run = json.loads((tmp_path / out / "run.json").read_text())
        assert run["tasks"]["qa"]["models"]["ft"]["metrics"]["exact_match"]["value"] == 1.0


def test_second_run_on_the_same_output_folder_is_refused(tmp_path: Path) -> None:
    with LoopbackServer(latency_ms=30) as srv:
        first = start(cfg(tmp_path, srv.base_url, "a", "out", "alpha", n=200))
        deadline = time.time() + 30
        while srv.count("/chat/completions") < 5 and time.time() < deadline:
            time.sleep(0.01)
        second = start(cfg(tmp_path, srv.base_url, "b", "out", "beta"))
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert "another evalstack run is writing to this output folder" in err and "Traceback" not in err
        _, err1 = first.communicate(timeout=120)
        assert first.returncode == 0, err1

"""A run killed with SIGKILL at any moment resumes from its cache and sends no finished request again.

evalstack runs in a real subprocess against the loopback server (in this process, so that every request
body is recorded); the test kills it with a real SIGKILL once the server has seen some requests.
"""

from __future__ import annotations

import collections
import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from _helpers import start_cli
from evalstack.testing.loopback import LoopbackServer

pytestmark = pytest.mark.slow

N = 120
CONC = 4


def make_config(tmp: Path, base_url: str) -> Path:
    data = tmp / "data.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": f"e{i}", "q": f"question {i}", "a": f"echo: Q: question {i}"}) + "\n" for i in range(N)
        )
    )
    cfg = tmp / "cfg.yaml"
    cfg.write_text(f"""
name: kill
baseline: base
models:
  base: {{provider: openai, model: base-m, base_url: "{base_url}", api_key_env: KILL_KEY, concurrency: {CONC}}}
  ft:   {{provider: openai, model: ft-m, base_url: "{base_url}", api_key_env: KILL_KEY, concurrency: {CONC}}}
tasks:
  - name: qa
    data: {{path: data.jsonl, id: id}}
    prompt: {{user: "Q: {{{{ q }}}}"}}
    reference: a
    metrics: [exact_match]
cache: cache.sqlite
output: out
""")
    return cfg


def evalstack(cfg: Path, *args: str) -> subprocess.Popen:
    return start_cli("run", cfg, "-q", *args, env={"KILL_KEY": "sk-kill-test-123456"})


def sent(srv: LoopbackServer) -> collections.Counter:
    return collections.Counter(
        (r.body["model"], r.body["messages"][-1]["content"])
        for r in srv.requests
        if r.path.endswith("/chat/completions")
    )


@pytest.mark.parametrize("kill_after", [5, 60, 190])
def test_sigkill_then_resume(tmp_path: Path, kill_after: int) -> None:
    with LoopbackServer(latency_ms=15) as srv:
        cfg = make_config(tmp_path, srv.base_url)
        proc = evalstack(cfg)
        deadline = time.time() + 60
        while srv.count("/chat/completions") < kill_after and time.time() < deadline and proc.poll() is None:
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        before = sent(srv)
        out = tmp_path / "out"
        assert not (out / "run.json").exists()
        # without --resume the half-finished folder is refused with a clear message
        p = evalstack(cfg)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 2 and "did not finish" in err and "--resume" in err and "Traceback" not in err
        p = evalstack(cfg, "--resume")
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        after = sent(srv)
        # every prompt answered; nothing that had finished before the kill was sent again: only the
        # requests in flight at the kill (at most the concurrency of each model) may repeat
        assert set(after) == {(m, f"Q: question {i}") for m in ("base-m", "ft-m") for i in range(N)}
        repeated = sum(n - 1 for n in after.values() if n > 1)
        assert repeated <= 2 * CONC, repeated
        assert all(after[k] - before.get(k, 0) <= 1 for k in after)
        run = json.loads((out / "run.json").read_text())
        assert run["tasks"]["qa"]["models"]["ft"]["metrics"]["exact_match"]["value"] == 1.0
        assert not [f for f in out.rglob("*") if f.name.endswith(".tmp")]
        db = sqlite3.connect(tmp_path / "cache.sqlite")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 2 * N
        # a third run is answered entirely from the cache
        n0 = srv.count("/chat/completions")
        p = evalstack(cfg)
        p.communicate(timeout=60)
        assert p.returncode == 0 and srv.count("/chat/completions") == n0


def test_ctrl_c_exits_130_with_the_resume_command_as_readme_says(tmp_path: Path, repo_root: Path) -> None:
    """Ctrl-C (SIGINT) mid-run: exit 130, the exact --resume command on stderr, and README's exit-code table
    lists 130 (issue 14 item 9)."""
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### Exit codes") :]
    assert "| 130 | interrupted (Ctrl-C)" in table[: table.index("\n## ")]
    with LoopbackServer(latency_ms=15) as srv:
        cfg = make_config(tmp_path, srv.base_url)
        proc = evalstack(cfg)
        deadline = time.time() + 60
        while srv.count("/chat/completions") < 20 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.002)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert f"evalstack run {cfg} --resume" in err and "Traceback" not in err
        p = evalstack(cfg, "--resume")
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err

"""Batch mode through the real CLI: SIGKILL while batches are in flight, then --resume polls the same ids
and submits nothing; then (in-process) a re-run sends no batch at all and the report equals an online run's."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from _helpers import start_cli
from evalstack.pipeline import run
from evalstack.testing.loopback import LoopbackServer

N = 6
KEY = "sk-batch-resume-123456"


def make_config(tmp: Path, base_url: str, *, batch: bool, name: str) -> Path:
    data = tmp / "data.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": f"e{i}", "q": f"question {i}", "a": f"echo: Q: question {i}" if i % 2 else "wrong"})
            + "\n"
            for i in range(N)
        )
    )
    cfg = tmp / f"{name}.yaml"
    model = (
        f'{{provider: openai, model: gpt-4.1-mini, base_url: "{base_url}", api_key_env: RESUME_KEY, '
        f"batch: {str(batch).lower()}, params: {{temperature: 0}}}}"
    )
    cfg.write_text(f"""
name: {name}
baseline: base
models:
  base: {model}
tasks:
  - name: qa
    data: {{path: data.jsonl, id: id}}
    prompt: {{user: "Q: {{{{ q }}}}"}}
    reference: a
    metrics: [exact_match]
cache: {name}.sqlite
output: {name}-out
""")
    return cfg


def evalstack(cfg: Path, *args: str) -> subprocess.Popen:
    return start_cli("run", cfg, "-q", *args, env={"RESUME_KEY": KEY, "EVALSTACK_BATCH_POLL_INTERVAL": "0.05"})


def batch_polls(srv: LoopbackServer) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in srv.requests:
        if r.method == "GET" and "/batches/" in r.path:
            bid = r.path.rsplit("/", 1)[1]
            out[bid] = out.get(bid, 0) + 1
    return out


def finished(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_sigkill_in_flight_then_resume_polls_same_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESUME_KEY", KEY)
    monkeypatch.setenv("EVALSTACK_BATCH_POLL_INTERVAL", "0.05")
    with LoopbackServer() as srv:
        srv.batch_plan(polls_per_stage=0, seconds_per_stage=1.0)  # validating 1 s, in progress 1 s
        cfg = make_config(tmp_path, srv.base_url, batch=True, name="b")
        proc = evalstack(cfg)
        deadline = time.time() + 30
        while sum(batch_polls(srv).values()) < 3 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        (bid,) = batch_polls(srv)
        with sqlite3.connect(tmp_path / "b.sqlite") as db:
            assert db.execute("SELECT batch_id, status FROM batches").fetchall() == [(bid, "validating")]
            assert db.execute("SELECT COUNT(*) FROM responses").fetchone() == (0,)
        uploads, creates = srv.count("/files", "POST"), srv.count("/batches", "POST")
        assert (uploads, creates) == (1, 1)
        polls_before = batch_polls(srv)[bid]

        code, err = finished(evalstack(cfg, "--resume"))
        assert code == 0, err
        # nothing submitted again: the same batch id polled until it finished
        assert (srv.count("/files", "POST"), srv.count("/batches", "POST")) == (1, 1)
        assert list(batch_polls(srv)) == [bid] and batch_polls(srv)[bid] > polls_before
        assert srv.count("/chat/completions") == 0
        with sqlite3.connect(tmp_path / "b.sqlite") as db:
            assert db.execute("SELECT status FROM batches").fetchall() == [("collected",)]
            assert db.execute("SELECT COUNT(*) FROM responses").fetchone() == (N,)
        rows = [json.loads(x) for x in (tmp_path / "b-out" / "examples.jsonl").read_text().splitlines()]
        assert [r["output"] for r in rows] == [f"echo: Q: question {i}" for i in range(N)]

        # in-process from here (the CLI is proven above): a re-run is all cache hits, no upload, no batch
        srv.reset()
        again = run(cfg)
        assert again.exit_code == 0 and srv.stats()["requests"] == 0

        # the same config online: the same examples and metrics
        online = run(make_config(tmp_path, srv.base_url, batch=False, name="o"))
        assert online.exit_code == 0 and srv.count("/chat/completions") == N

        def examples(folder: str) -> list[dict]:
            return [
                {k: v for k, v in json.loads(x).items() if k != "cached"}
                for x in (tmp_path / folder / "examples.jsonl").read_text().splitlines()
            ]

        assert examples("b-out") == examples("o-out")
        bm, om = (r.run.tasks["qa"].models["base"].metrics for r in (again, online))
        assert {k: v.model_dump() for k, v in bm.items()} == {k: v.model_dump() for k, v in om.items()}
        assert bm["exact_match"].value == 0.5

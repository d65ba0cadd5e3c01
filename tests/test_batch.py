"""Batch mode of the `openai` provider, end to end against the loopback server with the real `openai` client.

The runner is driven directly (the pipeline-level run, SIGKILL while in flight and --resume are in
test_batch_resume.py). Every test checks what went over the wire (uploaded JSONL, batch bodies, online
requests) as well as what came back.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time

import httpx2
import openai
import pytest

from evalstack.config import AzureSettings, OpenAIModel
from evalstack.errors import ConfigError, ProviderError
from evalstack.models import BatchSettings, Cache, Request, Runner, make_provider
from evalstack.models._openai_batch import request_body
from evalstack.testing.loopback import LoopbackServer

KEY = "sk-batch-test-0123456789"
PARAMS = {"temperature": 0, "seed": 3, "max_tokens": 50, "logprobs": True, "top_logprobs": 2}


@pytest.fixture
def srv(monkeypatch):
    monkeypatch.setenv("BATCH_KEY", KEY)
    with LoopbackServer() as server:
        yield server


def provider(srv, *, batch=True, name="m", **kw):
    cfg = OpenAIModel(
        provider="openai",
        model="gpt-4.1-mini",
        base_url=srv.base_url,
        api_key_env="BATCH_KEY",
        batch=batch,
        params=kw.pop("params", PARAMS),
        max_tries=2,
        **kw,
    )
    return make_provider(name, cfg)


def requests(n, prefix="question"):
    return [
        Request.make(
            "t", f"e{i}", [{"role": "system", "content": "Answer."}, {"role": "user", "content": f"{prefix} {i}"}]
        )
        for i in range(n)
    ]


def run(prov, reqs, cache, **settings):
    runner = Runner(
        cache, progress=False, batch=BatchSettings(poll_interval=settings.pop("poll_interval", 0.01), **settings)
    )

    async def go():
        try:
            return await runner.run(prov, reqs)
        finally:
            await prov.aclose()

    return asyncio.run(go()), runner.stats[prov.name]


def batch_files(srv):
    """The uploaded JSONL of each batch created, in order: a list of parsed lines per batch."""
    created = [r.json for r in srv.requests if r.method == "POST" and r.path.endswith("/batches")]
    return [[json.loads(x) for x in srv.file_content(b["input_file_id"]).decode().splitlines()] for b in created]


def rows(path):
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT key, response FROM responses")), db.execute(
            "SELECT batch_id, status, keys FROM batches"
        ).fetchall()


def online_contents(srv):
    return [r.json["messages"][-1]["content"] for r in srv.requests if r.path.endswith("/chat/completions")]


# ------------------------------------------------------------------------------------------ happy path
def test_batch_answers_equal_online_answers_and_rerun_sends_nothing(srv, tmp_path):
    reqs = requests(7)
    online, _ = run(provider(srv, batch=False), reqs, Cache(tmp_path / "online.sqlite"))
    online_bodies = {r.json["messages"][-1]["content"]: r.json for r in srv.requests}
    assert len(online_bodies) == 7
    srv.reset()
    srv.batch_plan(polls_per_stage=2)
    prov = provider(srv)
    gens, st = run(prov, reqs, Cache(tmp_path / "batch.sqlite"))

    # nothing went online; one upload (purpose batch), one batch (24h window, chat endpoint)
    assert srv.count("/chat/completions") == 0
    assert (srv.count("/files", "POST"), srv.count("/batches", "POST")) == (1, 1)
    create = next(r.json for r in srv.requests if r.path.endswith("/batches"))
    assert (create["endpoint"], create["completion_window"]) == ("/v1/chat/completions", "24h")
    client = openai.OpenAI(base_url=srv.base_url, api_key=KEY)
    assert client.files.retrieve(create["input_file_id"]).purpose == "batch"
    (lines,) = batch_files(srv)
    # custom_id is the cache key; the body is byte-for-byte what the online path sent
    assert [x["custom_id"] for x in lines] == [prov.cache_key(r) for r in reqs]
    assert all((x["method"], x["url"]) == ("POST", "/v1/chat/completions") for x in lines)
    assert [x["body"] for x in lines] == [online_bodies[f"question {i}"] for i in range(7)]
    assert [x["body"] for x in lines] == [request_body(prov, r) for r in reqs]

    # same generations and the same cache rows as online (logprobs included); the batch row is collected
    assert [g.text for g in gens] == [g.text for g in online] == [f"echo: question {i}" for i in range(7)]
    assert [g.logprobs for g in gens] == [g.logprobs for g in online] and gens[0].top_logprobs
    assert [(g.prompt_tokens, g.completion_tokens) for g in gens] == [
        (g.prompt_tokens, g.completion_tokens) for g in online
    ]
    got, batches = rows(tmp_path / "batch.sqlite")
    want, _ = rows(tmp_path / "online.sqlite")
    assert got == want and len(got) == 7
    assert [(s, json.loads(k)) for _b, s, k in batches] == [("collected", [x["custom_id"] for x in lines])]
    # 2 polls per stage: validating, in_progress; then in_progress, completed
    assert (st.requests, st.batch.created, st.batch.results, st.batch.online, st.batch.polls) == (7, 1, 7, 0, 4)

    # a re-run is answered by the cache: no upload, no batch, no online request
    srv.reset()
    again, st2 = run(provider(srv), reqs, Cache(tmp_path / "batch.sqlite"))
    assert srv.stats()["requests"] == 0
    assert all(g.cached for g in again) and [g.text for g in again] == [g.text for g in gens]
    assert st2.batch is None and st2.cached == 7


def test_duplicate_requests_are_one_line(srv, tmp_path):
    reqs = requests(3) + requests(2)  # e0, e1 again: same prompt, same key
    gens, _ = run(provider(srv), reqs, Cache(tmp_path / "c.sqlite"))
    (lines,) = batch_files(srv)
    assert len(lines) == 3 and [g.text for g in gens] == [f"echo: question {i}" for i in (0, 1, 2, 0, 1)]


# ------------------------------------------------------------------------------------------ limits
def test_split_by_request_count(srv, tmp_path):
    reqs = requests(8)
    prov = provider(srv)
    gens, st = run(prov, reqs, Cache(tmp_path / "c.sqlite"), max_requests=3)
    files = batch_files(srv)
    assert [len(f) for f in files] == [3, 3, 2]
    assert [x["custom_id"] for f in files for x in f] == [prov.cache_key(r) for r in reqs]
    assert st.batch.created == 3 and len(set(st.batch.batch_ids)) == 3
    assert [g.text for g in gens] == [f"echo: question {i}" for i in range(8)]


def test_split_by_bytes_and_oversize_line_goes_online(srv, tmp_path):
    reqs = requests(9) + [Request.make("t", "big", [{"role": "user", "content": "long " * 400}])]
    line_len = (
        len(
            json.dumps(
                {
                    "custom_id": "k" * 64,
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": request_body(provider(srv), reqs[0]),
                },
                separators=(",", ":"),
            )
        )
        + 1
    )
    max_bytes = int(line_len * 2.5)  # two short lines fit, three do not; the long one fits nowhere
    gens, st = run(provider(srv), reqs, Cache(tmp_path / "c.sqlite"), max_bytes=max_bytes)
    files = [srv.file_content(r.json["input_file_id"]) for r in srv.requests if r.path.endswith("/batches")]
    sizes = [len(f) for f in files]
    assert all(s <= max_bytes for s in sizes)
    # greedy: the next file's first line would not have fitted into the previous file
    for a, b in zip(files, files[1:]):
        assert len(a) + len(b.splitlines(keepends=True)[0]) > max_bytes
    assert sum(len(f.splitlines()) for f in files) == 9 and len(files) == 5
    assert online_contents(srv) == ["long " * 400]
    assert (st.batch.online, st.batch.results) == (1, 9) and all(g.ok for g in gens)


# ------------------------------------------------------------------------------------------ failures
def test_failed_lines_are_retried_online_and_counted(srv, tmp_path):
    reqs = requests(6)
    prov = provider(srv)
    srv.batch_plan(fail_custom_ids={prov.cache_key(reqs[2]), prov.cache_key(reqs[5])})
    srv.fail_next(1, status=400)  # the first online retry is refused for good: a failed item, not cached
    gens, st = run(prov, reqs, Cache(tmp_path / "c.sqlite"))
    assert sorted(online_contents(srv)) == ["question 2", "question 5"]
    assert (st.batch.failed_lines, st.batch.online, st.batch.results) == (2, 2, 4)
    bad = [g for g in gens if not g.ok]
    assert len(bad) == 1 and bad[0].error_kind == "bad_request" and st.failed == 1
    got, _ = rows(tmp_path / "c.sqlite")
    assert len(got) == 5  # 4 from the batch + 1 good online retry; the failed item is not stored


def test_expired_batch_resubmits_unfinished_then_goes_online(srv, tmp_path):
    reqs = requests(5)
    prov = provider(srv)
    srv.batch_plan(polls_per_stage=0, outcome="expired", expire_after=2)
    gens, st = run(prov, reqs, Cache(tmp_path / "c.sqlite"), resubmits=1)
    first, second = batch_files(srv)
    keys = [prov.cache_key(r) for r in reqs]
    assert [x["custom_id"] for x in first] == keys
    assert [x["custom_id"] for x in second] == keys[2:]  # exactly the unfinished ones
    assert online_contents(srv) == ["question 4"]  # unfinished again, resubmits used up
    assert (st.batch.created, st.batch.unfinished, st.batch.resubmitted, st.batch.online) == (2, 4, 3, 1)
    assert [g.text for g in gens] == [f"echo: question {i}" for i in range(5)]


def test_failed_batch_goes_online_when_no_resubmits(srv, tmp_path):
    srv.batch_plan(polls_per_stage=0, outcome="failed")
    gens, st = run(provider(srv), requests(4), Cache(tmp_path / "c.sqlite"), resubmits=0)
    assert sorted(online_contents(srv)) == [f"question {i}" for i in range(4)]
    assert (st.batch.created, st.batch.unfinished, st.batch.online) == (1, 4, 4) and all(g.ok for g in gens)


def test_cancelled_batch_is_resubmitted(srv, tmp_path):
    srv.batch_plan(polls_per_stage=10_000)  # the first batch would wait for ever
    client = openai.OpenAI(base_url=srv.base_url, api_key=KEY)

    def cancel_first():
        deadline = time.time() + 10
        while srv.count("/batches", "POST") == 0 and time.time() < deadline:
            time.sleep(0.005)
        bid = client.batches.list().data[0].id
        srv.batch_plan(polls_per_stage=0)  # the resubmitted batch completes
        client.batches.cancel(bid)

    t = threading.Thread(target=cancel_first)
    t.start()
    gens, st = run(provider(srv), requests(3), Cache(tmp_path / "c.sqlite"))
    t.join()
    statuses = [b.status for b in client.batches.list()]
    assert statuses == ["completed", "cancelled"]  # newest first
    assert (st.batch.created, st.batch.unfinished, st.batch.resubmitted, st.batch.online) == (2, 3, 3, 0)
    assert online_contents(srv) == [] and all(g.ok for g in gens)


def test_transient_api_errors_are_retried(srv, tmp_path):
    srv.fail_next(1, status=503, retry_after=0, path_suffix="/files")
    srv.fail_next(1, status=500, path_suffix="/batches")
    gens, st = run(provider(srv), requests(2), Cache(tmp_path / "c.sqlite"))
    assert (srv.count("/files", "POST"), srv.count("/batches", "POST")) == (2, 2)
    assert st.batch.created == 1 and all(g.ok for g in gens)


def test_auth_failure_is_one_clear_error_without_the_key(monkeypatch, tmp_path):
    monkeypatch.setenv("BATCH_KEY", KEY)
    with LoopbackServer(require_key="sk-the-right-key-999") as s:
        with pytest.raises(ProviderError) as err:
            run(provider(s), requests(2), Cache(tmp_path / "c.sqlite"))
    msg = str(err.value)
    assert "Batch API file upload failed (HTTP 401)" in msg and KEY not in msg and err.value.exit_code == 3


def test_bad_poll_interval_env(monkeypatch):
    monkeypatch.setenv("EVALSTACK_BATCH_POLL_INTERVAL", "soon")
    with pytest.raises(ConfigError, match="EVALSTACK_BATCH_POLL_INTERVAL"):
        BatchSettings.from_env()
    monkeypatch.setenv("EVALSTACK_BATCH_POLL_INTERVAL", "0.5")
    assert BatchSettings.from_env().poll_interval == 0.5


# ------------------------------------------------------------------------------------------ azure
def test_azure_batch_deployment(srv, tmp_path):
    az = AzureSettings(endpoint=srv.azure_endpoint, deployment="gpt4-batch", api_version="2024-10-21")
    prov = provider(srv, azure=az, params={"temperature": 0})
    reqs = requests(3)
    gens, st = run(prov, reqs, Cache(tmp_path / "c.sqlite"))
    assert [g.text for g in gens] == [f"echo: question {i}" for i in range(3)]
    paths = [(r.method, r.path, r.query.get("api-version")) for r in srv.requests]
    assert paths[:2] == [("POST", "/openai/files", "2024-10-21"), ("POST", "/openai/batches", "2024-10-21")]
    create = srv.requests[1].json
    assert create["endpoint"] == "/chat/completions"
    (lines,) = batch_files(srv)
    assert all(x["url"] == "/chat/completions" and x["body"]["model"] == "gpt4-batch" for x in lines)
    assert all(r.headers.get("api-key") == KEY for r in srv.requests)
    assert st.batch.results == 3 and srv.count("/chat/completions") == 0


def test_dropped_create_is_not_submitted_twice(srv, tmp_path):
    srv.fail_next(1, status="drop", path_suffix="/batches")
    gens, st = run(provider(srv), requests(3), Cache(tmp_path / "c.sqlite"))
    # the retry looked for a batch of the uploaded file (none: the dropped create never arrived), then created one
    assert srv.count("/batches", "GET") == 1 and srv.count("/batches", "POST") == 2
    client = openai.OpenAI(base_url=srv.base_url, api_key=KEY)
    assert len(client.batches.list().data) == 1 and st.batch.created == 1 and all(g.ok for g in gens)


def test_batch_unknown_to_the_api_is_resubmitted(srv, tmp_path):
    reqs = requests(3)
    prov = provider(srv)
    cache = Cache(tmp_path / "c.sqlite")
    tag = json.dumps(prov.cache_identity(), sort_keys=True)
    cache.save_batch("batch_gone", tag, "in_progress", [prov.cache_key(r) for r in reqs])
    gens, st = run(prov, reqs, cache)
    assert srv.count("/batches/batch_gone", "GET") == 1
    assert (st.batch.resumed, st.batch.created, st.batch.unfinished, st.batch.resubmitted) == (1, 1, 3, 3)
    assert all(g.ok for g in gens) and cache.open_batches(tag) == []


def test_create_whose_answer_was_lost_is_found_not_repeated(srv, tmp_path):
    prov = provider(srv)
    client = prov._get_client()
    real_create = client.batches.create
    calls = []

    async def create_then_lose_answer(**kw):
        calls.append(kw["input_file_id"])
        batch = await real_create(**kw)  # the server creates it...
        if len(calls) == 1:  # ...but the first answer never arrives
            # built the way the newest openai 3.x accepts it: with a real httpx2 request
            lost = httpx2.Request("POST", f"{srv.base_url}/batches")
            raise openai.APIConnectionError(request=lost)
        return batch

    client.batches.create = create_then_lose_answer
    gens, st = run(prov, requests(3), Cache(tmp_path / "c.sqlite"))
    assert calls == [calls[0]] and srv.count("/batches", "POST") == 1  # found by its file on retry, not re-created
    assert st.batch.created == 1 and all(g.ok for g in gens)

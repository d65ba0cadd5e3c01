"""The loopback OpenAI-compatible server, exercised with the real ``openai`` SDK."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import math
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jsonschema
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalstack.testing.loopback import Fault, LoopbackProcess, LoopbackServer
from evalstack.testing.loopback._chat import tokenize


@pytest.fixture
def client(srv):
    c = openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
    yield c
    c.close()


def ask(client, text, **kw):
    return client.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": text}], **kw)


# ---------------------------------------------------------------------------------------- chat
def test_chat_completion_echo_body_and_recording(srv, client):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello, world!"}]
    r = client.chat.completions.create(model="gpt-4.1-mini", messages=messages, temperature=0, seed=7)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-") and r.model == "gpt-4.1-mini"
    assert abs(r.created - time.time()) < 60
    choice = r.choices[0]
    assert (choice.message.role, choice.message.content, choice.finish_reason) == (
        "assistant",
        "echo: Hello, world!",
        "stop",
    )
    # "echo: Hello, world!" -> "echo" ":" " Hello" "," " world" "!" ; prompt: 4 per message + content + 3
    assert r.usage.completion_tokens == 6
    assert r.usage.prompt_tokens == (4 + 3) + (4 + 4) + 3  # "Be brief." = Be/ brief/. ; Hello/,/ world/!
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    (rec,) = srv.requests
    assert (rec.method, rec.path) == ("POST", "/v1/chat/completions")
    assert rec.headers["authorization"] == "Bearer sk-test"
    assert rec.json["messages"] == messages and rec.json["seed"] == 7 and rec.body == rec.json
    assert srv.count("/chat/completions") == 1 and srv.count("/models") == 0
    srv.reset()
    assert srv.requests == [] and srv.count() == 0


def test_scripted_replies_reply_fn_and_reply_map(srv, client):
    srv.script(["first", {"content": "second"}])
    assert srv.script_remaining == 2
    assert [ask(client, "q").choices[0].message.content for _ in range(3)] == ["first", "second", "echo: q"]
    srv.reply_with(lambda req: req["messages"][-1]["content"].upper())
    assert ask(client, "shout").choices[0].message.content == "SHOUT"
    srv.reply_map({"capital of France": "Paris", "2+2": {"content": "4"}}, default="unknown")
    assert ask(client, "What is the capital of France?").choices[0].message.content == "Paris"
    assert ask(client, "2+2=?").choices[0].message.content == "4"
    assert ask(client, "other").choices[0].message.content == "unknown"
    srv.script(["scripted wins"])  # the script goes before the reply function
    assert ask(client, "2+2").choices[0].message.content == "scripted wins"
    srv.reply_with(None)
    assert ask(client, "back").choices[0].message.content == "echo: back"


def test_bad_scripted_replies_fail_loudly(srv, client):
    with pytest.raises(ValueError, match="unknown reply key"):
        srv.script([{"contnet": "typo"}])
    with pytest.raises(TypeError):
        srv.script([42])
    srv.reply_with(lambda req: 1 / 0)
    with pytest.raises(openai.InternalServerError, match="ZeroDivisionError"):
        ask(client, "x")
    assert "ZeroDivisionError" in srv.handler_errors[0]


def test_n_choices_max_tokens_and_raw_body(srv, client):
    srv.script(["a", "b", "c"])
    r = ask(client, "q", n=3)
    assert [c.message.content for c in r.choices] == ["a", "b", "c"] and [c.index for c in r.choices] == [0, 1, 2]
    r = ask(client, "one two three four five", max_tokens=3)
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == ("echo: one", "length")
    assert r.usage.completion_tokens == 3
    srv.script(
        [
            {
                "body": {"error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}},
                "status": 400,
            }
        ]
    )
    with pytest.raises(openai.BadRequestError, match="bad"):
        ask(client, "q")


def test_logprobs_scripted_for_a_judge_and_default(srv, client):
    top = {"4": -0.2, "5": -1.9, "3": -3.0}
    srv.script([{"content": "4", "top_logprobs": top}])
    r = ask(client, "Score 1-5", logprobs=True, top_logprobs=5)
    (tok,) = r.choices[0].logprobs.content
    assert (tok.token, tok.logprob, tok.bytes) == ("4", -0.2, [52])
    assert [(t.token, t.logprob) for t in tok.top_logprobs] == [("4", -0.2), ("5", -1.9), ("3", -3.0)]
    # probability-weighted score, computed from what the SDK parsed
    weights = {int(t.token): math.exp(t.logprob) for t in tok.top_logprobs}
    assert sum(k * w for k, w in weights.items()) / sum(weights.values()) == pytest.approx(
        (4 * math.exp(-0.2) + 5 * math.exp(-1.9) + 3 * math.exp(-3.0))
        / (math.exp(-0.2) + math.exp(-1.9) + math.exp(-3.0))
    )
    srv.script([{"content": "4", "top_logprobs": top}])
    assert [
        t.token for t in ask(client, "s", logprobs=True, top_logprobs=2).choices[0].logprobs.content[0].top_logprobs
    ] == ["4", "5"]
    # default logprobs: tokens join to the content, the chosen token ranks first, k alternatives, sorted
    r = ask(client, "Hi there", logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert "".join(t.token for t in content) == r.choices[0].message.content == "echo: Hi there"
    for t in content:
        assert t.top_logprobs[0].token == t.token and len(t.top_logprobs) == 3
        assert [x.logprob for x in t.top_logprobs] == sorted((x.logprob for x in t.top_logprobs), reverse=True)
        assert bytes(t.bytes).decode() == t.token and t.logprob <= 0
    assert ask(client, "no logprobs asked").choices[0].logprobs is None


def test_response_format_json_schema_is_recorded_and_followed(srv, client):
    schema = {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": ["pos", "neg"]},
            "score": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["label", "score", "tags"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema, "strict": True}}
    r = ask(client, "classify", response_format=fmt)
    jsonschema.validate(json.loads(r.choices[0].message.content), schema)
    assert srv.requests[-1].json["response_format"] == fmt


def test_streaming(srv, client):
    stream = ask(client, "stream me", stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream me"
    assert chunks[-1].usage.completion_tokens == 4


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_tokens_join_back_to_the_text(text):
    tokens = tokenize(text)
    assert "".join(tokens) == text and all(tokens)


# -------------------------------------------------------------------------------------- faults
def test_429_retry_after_is_honoured_by_the_sdk_retry(srv):
    srv.fail_next(1, status=429, retry_after=0.8)  # longer than the SDK's own first backoff (<= 0.5 s)
    c = openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=1)
    t0 = time.perf_counter()
    assert ask(c, "q").choices[0].message.content == "echo: q"
    assert time.perf_counter() - t0 >= 0.8
    first, second = srv.requests
    assert second.at - first.at >= 0.8
    assert srv.count("/chat/completions") == 2 and srv.faults == {"429": 1}


def test_429_without_retries_raises_rate_limit_error(srv, client):
    srv.fail_next(2, status=429, retry_after=0.05)
    with pytest.raises(openai.RateLimitError) as info:
        ask(client, "q")
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "0.05"
    assert info.value.body["code"] == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError):
        ask(client, "q")
    assert ask(client, "q").choices[0].message.content == "echo: q"
    assert srv.faults == {"429": 2}


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(srv, client, status):
    srv.fail_next(1, status=status)
    with pytest.raises(openai.InternalServerError) as info:
        ask(client, "q")
    assert info.value.status_code == status and info.value.body["type"] == "server_error"


def test_dropped_connection(srv, client):
    srv.fail_next(1, "drop")
    with pytest.raises(openai.APIConnectionError):
        ask(client, "q")
    assert ask(client, "q").choices[0].message.content == "echo: q"  # the client recovers
    assert srv.faults == {"drop": 1}


def test_timeout_hang(srv):
    srv.fail_next(1, "timeout", hang_s=10)
    c = openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0, timeout=0.3)
    t0 = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        ask(c, "q")
    assert time.perf_counter() - t0 < 3
    assert srv.faults == {"timeout": 1}  # stopping the server must not wait for the hang


def test_malformed_body(srv, client):
    srv.fail_next(1, "malformed")
    with pytest.raises(json.JSONDecodeError):  # what the SDK raises on a 200 whose JSON is cut
        ask(client, "q")


def test_scripted_fault_and_path_filter(srv, client):
    srv.script([Fault.of(503, retry_after=0.01), "after the fault"])
    with pytest.raises(openai.InternalServerError):
        ask(client, "q")
    assert ask(client, "q").choices[0].message.content == "after the fault"
    srv.fail_next(1, 500, path_suffix="/models")
    assert ask(client, "q").choices[0].message.content == "echo: q"  # not a /models request
    with pytest.raises(openai.InternalServerError):
        client.models.list()
    with pytest.raises(ValueError, match="not an HTTP error status"):
        srv.fail_next(1, 200)


def test_fault_rate_is_seeded_and_counted():
    rates = {"429": 0.2, "500": 0.1, "drop": 0.05}
    with LoopbackServer(fault_rate=rates, seed=123) as srv:
        c = openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
        seen = []
        for i in range(120):
            try:
                ask(c, str(i))
                seen.append("ok")
            except openai.RateLimitError:
                seen.append("429")
            except openai.InternalServerError:
                seen.append("500")
            except openai.APIConnectionError:
                seen.append("drop")
    rng, expected = random.Random(123), []
    for _ in range(120):  # the same draws, done here independently
        u = rng.random()
        expected.append("429" if u < 0.2 else "500" if u < 0.3 else "drop" if u < 0.35 else "ok")
    assert seen == expected
    assert srv.faults == {k: expected.count(k) for k in ("429", "500", "drop") if expected.count(k)}
    with pytest.raises(ValueError, match="add up"):
        LoopbackServer(fault_rate={"429": 0.7, "500": 0.7})


# --------------------------------------------------------------------------- auth, routes, azure
def test_require_key_and_unknown_route():
    with LoopbackServer(require_key="sk-test-right") as srv:
        bad = openai.OpenAI(base_url=srv.base_url, api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            ask(bad, "q")
        assert "sk-wrong" not in str(info.value)
        good = openai.OpenAI(base_url=srv.base_url, api_key="sk-test-right", max_retries=0)
        assert ask(good, "q").choices[0].message.content == "echo: q"
        assert [r.headers["authorization"] for r in srv.requests] == ["Bearer sk-wrong", "Bearer sk-test-right"]
        req = urllib.request.Request(srv.base_url + "/no/such/thing", headers={"Authorization": "Bearer sk-test-right"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 404
        body = json.loads(err.value.read())
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert body["error"]["message"] == "Invalid URL (GET /v1/no/such/thing)"


def test_models(srv, client):
    assert [m.id for m in client.models.list()] == srv.models
    assert client.models.retrieve("gpt-4.1").id == "gpt-4.1"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_azure_client(srv):
    az = openai.AzureOpenAI(
        azure_endpoint=srv.azure_endpoint, api_key="az-key", api_version="2024-10-21", max_retries=0
    )
    r = az.chat.completions.create(model="my-deployment", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "echo: hi"
    rec = srv.requests[-1]
    assert rec.path == "/openai/deployments/my-deployment/chat/completions"
    assert rec.query == {"api-version": "2024-10-21"} and rec.headers["api-key"] == "az-key"


def test_raw_http_pipelining_chunked_and_bad_request(srv):
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "chunky"}]}).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7]) for i in range(0, len(body), 7))
    req1 = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n"
    )
    req2 = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(req1 + req2)  # two pipelined requests, answered in order
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    first, second = data.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert b"echo: chunky" in first and b'"object":"list"' in second
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"NONSENSE\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 400 ")


# ------------------------------------------------------------------------------ files, batches
def test_files_upload_retrieve_content_list_delete(srv, client):
    payload = b'{"a": 1}\r\n--not-a-boundary\r\n' + bytes(range(256))
    f = client.files.create(file=("data.jsonl", payload, "application/jsonl"), purpose="batch")
    assert (f.object, f.filename, f.purpose, f.bytes, f.status) == (
        "file",
        "data.jsonl",
        "batch",
        len(payload),
        "processed",
    )
    assert client.files.retrieve(f.id).id == f.id
    assert client.files.content(f.id).content == payload
    assert [x.id for x in client.files.list()] == [f.id]
    assert client.files.delete(f.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(f.id)
    big = random.Random(5).randbytes(3_000_000)
    f = client.files.create(file=("big.bin", big), purpose="batch")
    assert f.bytes == len(big) and srv.file_content(f.id) == big


def _batch_lines(prompts):
    return "".join(
        json.dumps(
            {
                "custom_id": cid,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": p}]},
            }
        )
        + "\n"
        for cid, p in prompts.items()
    )


def test_batch_lifecycle_end_to_end(srv, client):
    prompts = {f"req-{i}": f"question {i}" for i in range(6)}
    srv.batch_plan(polls_per_stage=2, fail_custom_ids={"req-4"})
    up = client.files.create(file=("in.jsonl", _batch_lines(prompts).encode(), "application/jsonl"), purpose="batch")
    batch = client.batches.create(
        input_file_id=up.id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"run": "t1"}
    )
    statuses = [batch.status]
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        batch = client.batches.retrieve(batch.id)
        statuses.append(batch.status)
    assert statuses == ["validating", "validating", "in_progress", "in_progress", "completed"]
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (6, 5, 1)
    assert batch.metadata == {"run": "t1"} and batch.completed_at is not None
    out = [json.loads(x) for x in client.files.content(batch.output_file_id).text.splitlines()]
    assert {o["custom_id"]: o["response"]["body"]["choices"][0]["message"]["content"] for o in out} == {
        cid: f"echo: {p}" for cid, p in prompts.items() if cid != "req-4"
    }
    assert all(o["response"]["status_code"] == 200 and o["error"] is None for o in out)
    assert batch.usage.total_tokens == sum(o["response"]["body"]["usage"]["total_tokens"] for o in out)
    (err,) = [json.loads(x) for x in client.files.content(batch.error_file_id).text.splitlines()]
    assert err["custom_id"] == "req-4" and err["response"]["status_code"] == 500
    assert [b.id for b in client.batches.list()] == [batch.id]


def test_batch_expired_failed_and_cancelled(srv, client):
    def submit(text):
        up = client.files.create(file=("in.jsonl", text.encode(), "application/jsonl"), purpose="batch")
        return client.batches.create(input_file_id=up.id, endpoint="/v1/chat/completions", completion_window="24h")

    def settle(batch):
        for _ in range(10):
            batch = client.batches.retrieve(batch.id)
        return batch

    srv.batch_plan(polls_per_stage=0, outcome="expired", expire_after=1)
    b = settle(submit(_batch_lines({"a": "x", "b": "y", "c": "z"})))
    assert b.status == "expired" and (b.request_counts.completed, b.request_counts.failed) == (1, 2)
    errs = [json.loads(x) for x in client.files.content(b.error_file_id).text.splitlines()]
    assert [(e["custom_id"], e["error"]["code"]) for e in errs] == [("b", "batch_expired"), ("c", "batch_expired")]
    srv.batch_plan(polls_per_stage=0)
    b = settle(submit('{"custom_id": "a"\nnot json\n'))
    assert b.status == "failed" and [e.line for e in b.errors.data] == [1, 2]
    srv.batch_plan(polls_per_stage=5)
    b = submit(_batch_lines({"a": "x"}))
    assert client.batches.cancel(b.id).status == "cancelling"
    assert client.batches.retrieve(b.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.batches.create(input_file_id="file-missing", endpoint="/v1/chat/completions", completion_window="24h")


def test_batch_stages_by_time(srv, client):
    srv.batch_plan(polls_per_stage=0, seconds_per_stage=0.3)
    up = srv.add_file(_batch_lines({"a": "x"}))
    b = client.batches.create(input_file_id=up, endpoint="/v1/chat/completions", completion_window="24h")
    assert client.batches.retrieve(b.id).status == "validating"
    time.sleep(0.35)
    assert client.batches.retrieve(b.id).status == "in_progress"
    assert client.batches.retrieve(b.id).status == "in_progress"
    time.sleep(0.35)
    done = client.batches.retrieve(b.id)
    assert done.status == "completed" and done.request_counts.completed == 1


# -------------------------------------------------------------------------------- fine-tuning
RESULTS_CSV = "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n" + "".join(
    f"{s},{2.0 / s:.4f},{0.5 + s / 100:.3f},{(2.2 / s if s % 3 == 0 else '')},"
    f"{(0.45 + s / 100 if s % 3 == 0 else '')}\n"
    for s in range(1, 25)
)


def test_fine_tuning_job_checkpoints_events_and_result_file(srv, client):
    steps = [3, 6, 9, 12, 15, 18, 21]
    srv.add_fine_tuning_job(
        "ftjob-abc123", RESULTS_CSV, [{"step_number": s} for s in steps], n_epochs=3, trained_tokens=12345
    )
    job = client.fine_tuning.jobs.retrieve("ftjob-abc123")
    assert (job.status, job.hyperparameters.n_epochs, job.trained_tokens) == ("succeeded", 3, 12345)
    assert job.fine_tuned_model.startswith("ft:gpt-4.1-mini")
    raw = client.files.content(job.result_files[0]).content
    assert base64.b64decode(raw).decode() == RESULTS_CSV
    srv.reset()
    ckpts = list(client.fine_tuning.jobs.checkpoints.list("ftjob-abc123", limit=3))  # auto-pagination
    assert [c.step_number for c in ckpts] == sorted(steps, reverse=True)
    assert srv.count("/checkpoints") == 3  # pages of 3, 3, 1
    rows = {int(r["step"]): r for r in csv.DictReader(io.StringIO(RESULTS_CSV))}
    for c in ckpts:
        row = rows[c.step_number]
        assert c.metrics.train_loss == float(row["train_loss"])
        assert c.metrics.train_mean_token_accuracy == float(row["train_accuracy"])
        assert c.metrics.valid_loss == float(row["valid_loss"])
        assert c.fine_tuned_model_checkpoint.endswith(f":ckpt-step-{c.step_number}")
        assert c.fine_tuning_job_id == "ftjob-abc123"
    events = list(client.fine_tuning.jobs.list_events("ftjob-abc123", limit=5))
    metrics = [e for e in events if e.type == "metrics"]
    assert [e.data["step"] for e in metrics] == list(range(24, 0, -1))
    assert "valid_loss" not in metrics[-1].data and metrics[-3].data["valid_loss"] == float(rows[3]["valid_loss"])
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-missing")
    srv.add_fine_tuning_job("ftjob-raw", RESULTS_CSV, [], base64_content=False)
    job = client.fine_tuning.jobs.retrieve("ftjob-raw")
    assert client.files.content(job.result_files[0]).text == RESULTS_CSV


def test_latency_is_concurrent_and_record_off():
    with LoopbackServer(latency_ms=200, jitter_ms=50, record=False) as srv:

        async def run():
            c = openai.AsyncOpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
            t0 = time.perf_counter()
            await asyncio.gather(
                *(c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}]) for _ in range(16))
            )
            await c.close()
            return time.perf_counter() - t0

        wall = asyncio.run(run())
        assert 0.2 <= wall < 16 * 0.2 / 2  # each waited >= 200 ms, and they waited together
        assert srv.count("/chat/completions") == 16 and srv.requests == []


# ---------------------------------------------------------------------------- process, speed
def test_subprocess_mode():
    with LoopbackProcess(latency_ms=5, fault_rate={"429": 0.5}, seed=1) as proc:
        assert proc.base_url.startswith("http://127.0.0.1:") and proc.base_url.endswith("/v1")
        c = openai.OpenAI(base_url=proc.base_url, api_key="sk-test", max_retries=0)
        outcomes = []
        for i in range(20):
            try:
                outcomes.append(ask(c, f"p{i}").choices[0].message.content == f"echo: p{i}")
            except openai.RateLimitError:
                outcomes.append("429")
        stats = proc.stats()
        assert stats["requests"] == 20 and stats["by_route"] == {"POST /v1/chat/completions": 20}
        assert stats["faults"] == {"429": outcomes.count("429")} and 0 < outcomes.count("429") < 20
        assert outcomes.count(True) == 20 - outcomes.count("429")
        proc.reset()
        assert proc.stats()["requests"] == 0
        err = proc.stop()
    assert "served 0 requests" in err
    bad = subprocess.run(
        [sys.executable, "-m", "evalstack.testing.loopback", "--fault-rate", "999=0.5"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "999" in bad.stderr


def test_throughput_printed(srv, capsys):
    async def run():
        c = openai.AsyncOpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
        sem = asyncio.Semaphore(32)

        async def one(i):
            async with sem:
                r = await c.chat.completions.create(model="m", messages=[{"role": "user", "content": f"q{i}"}])
                return r.choices[0].message.content == f"echo: q{i}"

        t0 = time.perf_counter()
        ok = await asyncio.gather(*(one(i) for i in range(2000)))
        await c.close()
        return time.perf_counter() - t0, ok

    async def raw():  # a bare keep-alive HTTP client: what the server itself sustains
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
        req = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        ) + body
        replies = []

        async def conn(n):
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            for _ in range(n):
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                replies.append(json.loads(await reader.readexactly(length)))
            writer.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(conn(2000 // 32 + (i < 2000 % 32)) for i in range(32)))
        return time.perf_counter() - t0, replies

    dt, ok = asyncio.run(run())
    assert all(ok) and srv.count("/chat/completions") == 2000
    dt_raw, replies = asyncio.run(raw())
    assert len(replies) == 2000 and all(r["choices"][0]["message"]["content"] == "echo: hi" for r in replies)
    assert srv.count("/chat/completions") == 4000
    with capsys.disabled():
        print(
            f"\nloopback, 2000 requests at concurrency 32, 0 ms, server in a thread of this process: "
            f"AsyncOpenAI {dt:.2f} s ({2000 / dt:.0f} req/s); bare HTTP client {dt_raw:.2f} s "
            f"({2000 / dt_raw:.0f} req/s)"
        )

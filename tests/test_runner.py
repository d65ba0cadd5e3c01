"""The runner over real HTTP: the real openai SDK through our provider against the loopback server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evalstack.config import OpenAIModel
from evalstack.errors import ProviderError
from evalstack.models import Cache, Request, Runner, make_provider
from evalstack.testing.loopback import LoopbackServer

KEY = "sk-test-SECRETKEY-abcdef123456"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPBACK_KEY", KEY)


def provider(srv: LoopbackServer, **kw):
    cfg = OpenAIModel(
        provider="openai",
        model="m",
        base_url=srv.base_url,
        api_key_env="LOOPBACK_KEY",
        **{"max_tries": 4, "concurrency": 8, **kw},
    )
    return make_provider("ft", cfg)


def reqs(n: int, **kw) -> list[Request]:
    return [Request.make("t", f"e{i}", [{"role": "user", "content": f"q{i}"}], kw or None) for i in range(n)]


def run(runner: Runner, prov, rs):
    async def go():
        try:
            return await runner.run(prov, rs)
        finally:
            await prov.aclose()

    return asyncio.run(go())


def test_generations_in_order_then_all_from_cache(srv: LoopbackServer, tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c.sqlite")
    gens = run(Runner(cache, progress=False), provider(srv), reqs(40))
    assert [g.text for g in gens] == [f"echo: q{i}" for i in range(40)]
    assert all(g.ok and not g.cached and g.completion_tokens > 0 for g in gens)
    assert srv.count("/chat/completions") == 40
    gens2 = run(Runner(cache, progress=False), provider(srv), reqs(40))
    assert srv.count("/chat/completions") == 40  # zero new requests
    assert all(g.cached for g in gens2) and [g.text for g in gens2] == [g.text for g in gens]
    # the key went over the wire (auth) but is nowhere in the cache file
    assert srv.requests[0].headers["authorization"] == f"Bearer {KEY}"
    cache.close()
    for f in tmp_path.iterdir():
        assert KEY.encode() not in f.read_bytes()


def test_identical_requests_are_sent_once(srv: LoopbackServer, tmp_path: Path) -> None:
    same = [Request.make("t", f"e{i}", [{"role": "user", "content": "same"}]) for i in range(5)]
    gens = run(Runner(Cache(tmp_path / "c.sqlite"), progress=False), provider(srv), same)
    assert len(gens) == 5 and srv.count("/chat/completions") == 1


def test_cache_key_covers_what_changes_the_output(srv: LoopbackServer) -> None:
    p = provider(srv)
    base = Request.make("t", "e", [{"role": "user", "content": "x"}], {"temperature": 0})
    assert p.cache_key(base) == p.cache_key(
        Request.make("other-task", "other-id", [{"role": "user", "content": "x"}], {"temperature": 0})
    )
    assert p.cache_key(base) != p.cache_key(
        Request.make("t", "e", [{"role": "user", "content": "x"}], {"temperature": 1})
    )
    assert p.cache_key(base) != p.cache_key(
        Request.make("t", "e", [{"role": "user", "content": "x"}], {"temperature": 0}, repeat=1)
    )
    assert p.cache_key(base) == provider(srv, concurrency=2, timeout=5).cache_key(base)


def test_retries_on_429_and_500_honour_retry_after(srv: LoopbackServer, tmp_path: Path) -> None:
    srv.fail_next(2, status=429, retry_after=0.2)
    srv.fail_next(1, status=500)
    runner = Runner(Cache(tmp_path / "c.sqlite"), progress=False, backoff_initial=0.01)
    loop_t = []

    async def go():
        prov = provider(srv)
        t0 = asyncio.get_running_loop().time()
        gens = await runner.run(prov, reqs(1))
        loop_t.append(asyncio.get_running_loop().time() - t0)
        await prov.aclose()
        return gens

    (g,) = asyncio.run(go())
    assert g.ok and g.tries == 4
    assert runner.stats["ft"].retries == 3 and runner.stats["ft"].faults == {"rate_limit": 2, "server_error": 1}
    assert loop_t[0] >= 0.4  # two retry-after waits of 0.2 s


def test_exhausted_items_fail_are_not_cached_and_resume_sends_only_them(srv: LoopbackServer, tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c.sqlite")
    srv.reply_with(
        lambda body: (
            {"status": 500, "body": {"error": {"message": "boom"}}}
            if body["messages"][-1]["content"] in ("q3", "q7")
            else f"ok {body['messages'][-1]['content']}"
        )
    )
    gens = run(Runner(cache, progress=False, backoff_initial=0.001), provider(srv, max_tries=3), reqs(10))
    failed = [i for i, g in enumerate(gens) if not g.ok]
    assert failed == [3, 7]
    assert gens[3].error_kind == "server_error" and gens[3].tries == 3 and gens[3].text is None
    assert srv.count("/chat/completions") == 8 + 2 * 3
    srv.reset()
    srv.reply_with(None)
    gens2 = run(Runner(cache, progress=False), provider(srv), reqs(10))
    assert srv.count("/chat/completions") == 2
    assert all(g.ok for g in gens2)


def test_dropped_connections_timeouts_and_malformed_bodies_are_retried(srv: LoopbackServer, tmp_path: Path) -> None:
    srv.fail_next(1, status="drop")
    srv.fail_next(1, status="malformed")
    srv.fail_next(1, status="timeout", hang_s=2)
    runner = Runner(Cache(tmp_path / "c.sqlite"), progress=False, backoff_initial=0.001)
    (g,) = run(runner, provider(srv, timeout=0.5), reqs(1))
    assert g.ok and g.tries == 4
    assert set(runner.stats["ft"].faults) == {"connection", "bad_response", "timeout"}


def test_bad_key_stops_the_provider(tmp_path: Path) -> None:
    with LoopbackServer(require_key="sk-the-right-one") as s:
        with pytest.raises(ProviderError) as ei:
            run(Runner(Cache(tmp_path / "c.sqlite"), progress=False), provider(s), reqs(20))
        assert "authentication failed" in str(ei.value) and KEY not in str(ei.value)
        assert s.count("/chat/completions") < 20


def test_logprobs_and_usage(srv: LoopbackServer, tmp_path: Path) -> None:
    srv.script([{"content": "4", "top_logprobs": {"4": -0.2, "5": -1.9, "3": -3.0}}])
    (g,) = run(Runner(Cache(None), progress=False), provider(srv), reqs(1, logprobs=True, top_logprobs=3))
    assert g.text == "4" and g.tokens == ["4"]
    assert g.top_logprobs == [{"4": -0.2, "5": -1.9, "3": -3.0}]
    assert g.logprobs == [-0.2]
    body = srv.requests[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 3


def test_missing_key_env_is_a_config_error(monkeypatch: pytest.MonkeyPatch, srv: LoopbackServer) -> None:
    from evalstack.errors import ConfigError

    monkeypatch.delenv("LOOPBACK_KEY")
    with pytest.raises(ConfigError, match="environment variable LOOPBACK_KEY is not set"):
        provider(srv).check_ready()


def test_identical_requests_of_two_models_in_flight_are_sent_once(tmp_path: Path) -> None:
    with LoopbackServer(latency_ms=30) as s:
        runner = Runner(Cache(tmp_path / "c.sqlite"), progress=False)
        a, b = provider(s), provider(s)  # e.g. baseline and candidate pointing at the same model id

        async def go():
            ra, rb = await asyncio.gather(runner.run(a, reqs(10)), runner.run(b, reqs(10)))
            await a.aclose()
            await b.aclose()
            return ra, rb

        ra, rb = asyncio.run(go())
        assert [g.text for g in ra] == [g.text for g in rb] == [f"echo: q{i}" for i in range(10)]
        assert s.count("/chat/completions") == 10

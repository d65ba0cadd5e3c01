"""Fault soak at full size: 5,000 requests through evalstack's runner against the loopback server (child
process), once clean and once with 20% injected faults (429 + retry-after, 500, timeouts, dropped
connections, malformed bodies). Prints throughput both ways, the retries, failures and fault counts, and
checks that the counts add up.

    python bench/bench_faults.py [--n 5000] [--concurrency 64] [--latency-ms 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from evalstack.config import OpenAIModel
from evalstack.models import Cache, Request, Runner, make_provider
from evalstack.testing.loopback import LoopbackProcess

FAULTS = {"429": 0.08, "500": 0.05, "timeout": 0.02, "drop": 0.03, "malformed": 0.02}


async def soak(url: str, n: int, conc: int, cache: Cache, salt: str, timeout: float) -> tuple[float, Runner, list]:
    prov = make_provider("soak", OpenAIModel(provider="openai", model="m", base_url=url, api_key_env="SOAK_KEY",
                                             concurrency=conc, max_tries=4, timeout=timeout))
    runner = Runner(cache, progress=False, backoff_initial=0.05)
    reqs = [Request.make("soak", str(i), [{"role": "user", "content": f"{salt} {i}"}]) for i in range(n)]
    t = time.perf_counter()
    gens = await runner.run(prov, reqs)
    dt = time.perf_counter() - t
    await prov.aclose()
    return dt, runner, gens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency-ms", type=float, default=10)
    a = ap.parse_args()
    os.environ["SOAK_KEY"] = "sk-soak"
    with tempfile.TemporaryDirectory() as tmp:
        cache = Cache(Path(tmp) / "c.sqlite")
        with LoopbackProcess(latency_ms=a.latency_ms) as srv:
            clean, _, _ = asyncio.run(soak(srv.base_url, a.n, a.concurrency, cache, "clean", 10.0))
        with LoopbackProcess(latency_ms=a.latency_ms, fault_rate=FAULTS, retry_after=0.05, hang_s=2.0, seed=3) as srv:
            faulty, runner, gens = asyncio.run(soak(srv.base_url, a.n, a.concurrency, cache, "faulty", 1.0))
            server = srv.stats()
        st = runner.stats["soak"]
        ok = sum(1 for g in gens if g.ok)
        failed = [g for g in gens if not g.ok]
        print(f"{a.n} requests, concurrency {a.concurrency}, {a.latency_ms:.0f} ms latency")
        print(f"clean:  {clean:.2f} s, {a.n / clean:.0f} req/s")
        print(f"faulty: {faulty:.2f} s, {a.n / faulty:.0f} req/s ({faulty / clean:.2f}x the clean time)")
        print(f"  ok {ok}, failed {len(failed)} (kinds {sorted({g.error_kind for g in failed})}), retries {st.retries}")
        print(f"  client-side faults {dict(sorted(st.faults.items()))}")
        print(f"  server-side faults {server.get('faults')}")
        assert ok + len(failed) == a.n, "counts do not add up"
        assert cache.count() == a.n - len(failed) + a.n, "cache rows != finished requests"
        print("counts add up: every request scored or failed with its reason; cache rows == finished requests")


if __name__ == "__main__":
    main()

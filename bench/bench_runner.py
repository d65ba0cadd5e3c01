"""evalstack's runner vs a plain `openai.AsyncOpenAI` + semaphore loop, side by side in one process.

The loopback OpenAI-compatible server runs in a child process (so it does not share our GIL) with a fixed
latency. Both sides send the same number of distinct chat requests at the same concurrency; the plain loop
is the floor (what the SDK itself costs). Then evalstack re-runs the same requests from its cache: zero
requests, and the overhead of the cached path is printed.

    python bench/bench_runner.py [--n 2000] [--latency-ms 50] [--concurrency 32] [--rounds 2]

Goal (issue 3): evalstack's wall time within 1.15x of the plain loop's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import openai

from evalstack.config import OpenAIModel
from evalstack.models import Cache, Request, Runner, make_provider
from evalstack.testing.loopback import LoopbackProcess


def messages(i: int, salt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{salt} question {i}: what is {i} + {i}?"}]


async def plain_loop(base_url: str, n: int, conc: int, salt: str) -> float:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    sem = asyncio.Semaphore(conc)

    async def one(i: int) -> str:
        async with sem:
            r = await client.chat.completions.create(model="m", messages=messages(i, salt), temperature=0)
            return r.choices[0].message.content

    t = time.perf_counter()
    out = await asyncio.gather(*(one(i) for i in range(n)))
    dt = time.perf_counter() - t
    await client.close()
    assert len(out) == n
    return dt


async def evalstack_run(base_url: str, n: int, conc: int, salt: str, cache: Cache) -> tuple[float, int]:
    cfg = OpenAIModel(provider="openai", model="m", base_url=base_url, api_key_env="BENCH_KEY", concurrency=conc,
                      params={"temperature": 0})
    prov = make_provider("bench", cfg)
    runner = Runner(cache, progress=False)
    reqs = [Request.make("bench", str(i), messages(i, salt)) for i in range(n)]
    t = time.perf_counter()
    gens = await runner.run(prov, reqs)
    dt = time.perf_counter() - t
    await prov.aclose()
    assert len(gens) == n and all(g.ok for g in gens)
    return dt, runner.stats["bench"].requests


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    os.environ["BENCH_KEY"] = "sk-bench"
    ideal = a.n * a.latency_ms / 1000 / a.concurrency
    print(f"{a.n} requests, {a.latency_ms:.0f} ms latency, concurrency {a.concurrency}: ideal {ideal:.2f} s")
    with tempfile.TemporaryDirectory() as tmp, LoopbackProcess(latency_ms=a.latency_ms) as srv:
        cache = Cache(Path(tmp) / "bench.sqlite")
        ratios = []
        for r in range(a.rounds):
            plain = asyncio.run(plain_loop(srv.base_url, a.n, a.concurrency, f"p{r}"))
            ours, sent = asyncio.run(evalstack_run(srv.base_url, a.n, a.concurrency, f"e{r}", cache))
            ratios.append(ours / plain)
            print(f"round {r + 1}: plain SDK loop {plain:.2f} s ({plain / ideal:.2f}x ideal) | "
                  f"evalstack {ours:.2f} s ({sent} requests) | ratio evalstack/plain = {ours / plain:.3f}")
        cached, sent = asyncio.run(evalstack_run(srv.base_url, a.n, a.concurrency, f"e{a.rounds - 1}", cache))
        print(f"cached re-run: {cached:.3f} s, {sent} requests sent, {cached / a.n * 1e6:.0f} us per item")
        print(f"RESULT ratio evalstack/plain: best {min(ratios):.3f}, mean {sum(ratios) / len(ratios):.3f} "
              f"over {a.rounds} rounds (goal <= 1.15)")
    sys.exit(0)


if __name__ == "__main__":
    main()

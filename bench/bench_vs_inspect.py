"""Speed race: the same 2,000-sample generation + exact-match task through evalstack, Inspect AI and a plain
`openai.AsyncOpenAI` + semaphore loop (the floor), against one loopback server in a child process.

- The server: evalstack's loopback OpenAI-compatible server (``LoopbackServer``) in a child process (this
  script with ``--serve``), fixed latency (default 50 ms). It answers chat requests with the echo reply
  ("echo: <last user message>"), and requests that carry a ``response_format`` (judge calls) with a JSON
  verdict ``{"reason": ..., "score": 5}``. ``LoopbackProcess`` cannot take a reply function, hence the child.
- evalstack: in-process, ``evalstack.pipeline.run(config_dict, no_cache=True)``: the whole run (data load,
  prompts, requests, scoring, bootstrap CIs, run.json + reports written). Its generation step alone is
  printed too (``run.timings``).
- Inspect AI: in-process, ``inspect_ai.eval(Task(dataset, generate(), exact()), model="openai-api/loopback/m",
  max_connections=N, display="none")`` (its OpenAI-compatible provider; the log is written as usual).
- plain loop: ``AsyncOpenAI`` + ``asyncio.Semaphore(N)``, the same request bodies, exact match by ``==``.

Part 2 (``--judge``): each sample is also judged by a rubric judge (``factual_correctness``, points 1-5,
JSON schema + top-20 logprobs, as evalstack sends it) through evalstack; the floor is two plain loops
(generation, then the same judge request bodies built with evalstack's prompt builder).

    pip install inspect-ai   # for this bench only; not a dependency of evalstack
    python bench/bench_vs_inspect.py [--n 2000] [--latency-ms 50] [--concurrency 32] [--rounds 2] [--no-judge]

Goals (issue 8): evalstack >= 4x faster than Inspect AI, within 1.15x of the plain loop (and, with the
judge on, within 1.15x of two plain loops).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "gpt-4.1-mini"
KEY = "sk-bench-vs-inspect"


# ------------------------------------------------------------------------------------------- server
def serve(latency_ms: float) -> None:
    """The child: a loopback server with echo replies and JSON verdicts for judge calls, until stdin closes."""
    from evalstack.testing.loopback import LoopbackServer

    verdict = {"content": json.dumps({"reason": "The response matches the reference.", "score": 5})}

    def reply(request: dict) -> Any:
        if request.get("response_format"):
            return verdict
        from evalstack.testing.loopback._chat import default_reply

        return default_reply(request)

    with LoopbackServer(latency_ms=latency_ms, record=False) as srv:
        srv.reply_with(reply)
        print(f"READY {srv.base_url}", flush=True)
        sys.stdin.read()


class Server:
    def __init__(self, latency_ms: float):
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", "--latency-ms", str(latency_ms)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line.startswith("READY "):
            self.proc.kill()
            raise SystemExit(f"loopback child did not start: {line!r}")
        self.base_url = line.split(" ", 1)[1]

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


# ------------------------------------------------------------------------------------------- the task
def samples(n: int) -> list[dict[str, str]]:
    """Questions; the reference is the echo reply for even ids and something else for odd ones (50% right)."""
    out = []
    for i in range(n):
        q = f"Question {i}: what is {i} + {i}?"
        out.append({"id": f"q{i}", "question": q, "answer": f"echo: {q}" if i % 2 == 0 else str(2 * i)})
    return out


def write_data(folder: Path, rows: list[dict[str, str]]) -> Path:
    path = folder / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ------------------------------------------------------------------------------------------- evalstack
def evalstack_run(base_url: str, data: Path, out: Path, conc: int, judge: bool) -> tuple[float, dict, float | None]:
    from evalstack.pipeline import run

    model = {"provider": "openai", "model": MODEL, "base_url": base_url, "api_key_env": "BENCH_KEY",
             "concurrency": conc, "params": {"temperature": 0}}
    task: dict[str, Any] = {"name": "qa", "data": {"path": str(data), "id": "id"}, "prompt": {"user": "{{ question }}"},
                            "reference": "answer", "metrics": ["exact_match"]}
    cfg: dict[str, Any] = {"name": "race", "baseline": "m", "models": {"m": model}, "tasks": [task]}
    if judge:
        task["judges"] = ["factual_correctness"]
        cfg["judge"] = {**model, "params": {}}
    t = time.perf_counter()
    outcome = run(cfg, out_dir=out, no_cache=True, progress=False)
    wall = time.perf_counter() - t
    metrics = outcome.run.tasks["qa"].models["m"].metrics
    em = metrics["exact_match"].value
    assert abs(em - 0.5) < 1e-9, em
    jscore = metrics["judge_factual_correctness"].value if judge else None
    return wall, outcome.run.timings, jscore


# ------------------------------------------------------------------------------------------- inspect
def inspect_run(base_url: str, rows: list[dict[str, str]], conc: int, log_dir: str) -> float:
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import GenerateConfig
    from inspect_ai.scorer import exact
    from inspect_ai.solver import generate

    os.environ["LOOPBACK_BASE_URL"] = base_url
    os.environ["LOOPBACK_API_KEY"] = KEY
    task = Task(dataset=[Sample(input=r["question"], target=r["answer"], id=r["id"]) for r in rows],
                solver=generate(), scorer=exact(), config=GenerateConfig(temperature=0))
    t = time.perf_counter()
    (log,) = eval(task, model=f"openai-api/loopback/{MODEL}", max_connections=conc, display="none",
                  log_dir=log_dir, log_level="warning")
    wall = time.perf_counter() - t
    assert log.status == "success", log.status
    acc = log.results.scores[0].metrics["mean"].value
    assert abs(acc - 0.5) < 1e-9, acc
    return wall


# ------------------------------------------------------------------------------------------- plain loops
def judge_bodies(rows: list[dict[str, str]], outputs: list[str]) -> list[dict[str, Any]]:
    """The judge request bodies evalstack sends (its prompt builder and judge params), built up front."""
    from evalstack.config import OpenAIModel
    from evalstack.judges import load_rubric
    from evalstack.judges._call import JudgeSettings
    from evalstack.judges._pointwise import item_values
    from evalstack.judges._prompt import JudgeItem, build_messages
    from evalstack.models import make_provider

    rubric = load_rubric("factual_correctness")
    prov = make_provider("judge", OpenAIModel(provider="openai", model=MODEL, api_key_env=None))
    params = JudgeSettings.from_options(rubric, {}, prov, pairwise=False, where="bench").params
    out = []
    for r, o in zip(rows, outputs):
        values, _ = item_values(rubric, JudgeItem(example_id=r["id"], input=r["question"], output=o, reference=r["answer"]))
        out.append({"model": MODEL, "messages": build_messages(rubric, values), **params})
    return out


async def plain_loop(base_url: str, rows: list[dict[str, str]], conc: int, judge: bool) -> float:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    sem = asyncio.Semaphore(conc)

    async def ask(body: dict[str, Any]) -> str:
        async with sem:
            r = await client.chat.completions.create(**body)
            return r.choices[0].message.content or ""

    t = time.perf_counter()
    outs = await asyncio.gather(*(ask({"model": MODEL, "messages": [{"role": "user", "content": r["question"]}],
                                       "temperature": 0}) for r in rows))
    em = sum(o.strip() == r["answer"] for o, r in zip(outs, rows)) / len(rows)
    assert abs(em - 0.5) < 1e-9, em
    if judge:
        bodies = judge_bodies(rows, outs)
        verdicts = await asyncio.gather(*(ask(b) for b in bodies))
        scores = [json.loads(v)["score"] for v in verdicts]
        assert len(scores) == len(rows)
    wall = time.perf_counter() - t
    await client.close()
    return wall


# ------------------------------------------------------------------------------------------- main
def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    """(result, CPU seconds of this process) of ``fn(*args)``: on a shared machine, wall time also counts
    other processes; CPU time is what each tool itself spends (all its threads)."""
    t = time.process_time()
    out = fn(*args)
    return out, time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-judge", action="store_true")
    ap.add_argument("--no-inspect", action="store_true")
    a = ap.parse_args()
    if a.serve:
        serve(a.latency_ms)
        return
    os.environ["BENCH_KEY"] = KEY
    rows = samples(a.n)
    ideal = a.n * a.latency_ms / 1000 / a.concurrency
    print(f"{a.n} samples, {a.latency_ms:.0f} ms latency, concurrency {a.concurrency}: ideal {ideal:.2f} s per pass")
    srv = Server(a.latency_ms)
    best: dict[str, float] = {}

    def note(name: str, value: float) -> None:
        best[name] = min(best.get(name, float("inf")), value)

    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = write_data(Path(tmp), rows)
            # warm-up: imports and first-call set-up of each tool are not timed
            warm = Path(tmp) / "warm"
            warm.mkdir()
            warm_data = write_data(warm, rows[:64])
            asyncio.run(plain_loop(srv.base_url, rows[:64], a.concurrency, not a.no_judge))
            evalstack_run(srv.base_url, warm_data, warm / "out", a.concurrency, not a.no_judge)
            if not a.no_inspect:
                inspect_run(srv.base_url, rows[:64], a.concurrency, str(warm / "inspect"))
            for r in range(a.rounds):
                plain, plain_cpu = timed(asyncio.run, plain_loop(srv.base_url, rows, a.concurrency, False))
                (ours, timings, _), ours_cpu = timed(evalstack_run, srv.base_url, data, Path(tmp) / f"out{r}",
                                                     a.concurrency, False)
                for k, v in (("plain", plain), ("evalstack", ours), ("evalstack_generate", timings["generate"]),
                             ("plain_cpu", plain_cpu), ("evalstack_cpu", ours_cpu)):
                    note(k, v)
                line = (f"round {r + 1}: plain loop {plain:.2f} s ({plain_cpu:.1f} CPU-s) | evalstack {ours:.2f} s "
                        f"({ours_cpu:.1f} CPU-s; generate {timings['generate']:.2f} s, prepare {timings['prepare']:.2f} s, "
                        f"score+reports {ours - timings['generate'] - timings['prepare']:.2f} s)")
                if not a.no_inspect:
                    theirs, theirs_cpu = timed(inspect_run, srv.base_url, rows, a.concurrency, str(Path(tmp) / f"inspect{r}"))
                    note("inspect", theirs)
                    note("inspect_cpu", theirs_cpu)
                    line += f" | Inspect AI {theirs:.2f} s ({theirs_cpu:.1f} CPU-s)"
                print(line, flush=True)
            print(f"RESULT generation + exact match, best of {a.rounds}: plain {best['plain']:.2f} s "
                  f"({best['plain_cpu']:.1f} CPU-s), evalstack {best['evalstack']:.2f} s ({best['evalstack_cpu']:.1f} CPU-s) "
                  f"= {best['evalstack'] / best['plain']:.3f}x plain (generate step {best['evalstack_generate']:.2f} s = "
                  f"{best['evalstack_generate'] / best['plain']:.3f}x; CPU {best['evalstack_cpu'] / best['plain_cpu']:.2f}x)"
                  + (f", Inspect AI {best['inspect']:.2f} s ({best['inspect_cpu']:.1f} CPU-s): Inspect/evalstack = "
                     f"{best['inspect'] / best['evalstack']:.2f}x wall, {best['inspect_cpu'] / best['evalstack_cpu']:.2f}x CPU"
                     if "inspect" in best else ""))
            if not a.no_judge:
                for r in range(a.rounds):
                    plain2, plain2_cpu = timed(asyncio.run, plain_loop(srv.base_url, rows, a.concurrency, True))
                    (ours2, t2, jscore), ours2_cpu = timed(evalstack_run, srv.base_url, data, Path(tmp) / f"judge{r}",
                                                           a.concurrency, True)
                    assert jscore is not None and abs(jscore - 5) < 1e-6, jscore
                    for k, v in (("plain2", plain2), ("evalstack2", ours2), ("gen_judge", t2["generate"] + t2["judge"]),
                                 ("plain2_cpu", plain2_cpu), ("evalstack2_cpu", ours2_cpu)):
                        note(k, v)
                    print(f"judge round {r + 1}: 2 plain loops {plain2:.2f} s ({plain2_cpu:.1f} CPU-s) | evalstack "
                          f"{ours2:.2f} s ({ours2_cpu:.1f} CPU-s; generate {t2['generate']:.2f} s + judge {t2['judge']:.2f} s)",
                          flush=True)
                print(f"RESULT with a judge call per sample, best of {a.rounds}: 2 plain loops {best['plain2']:.2f} s "
                      f"({best['plain2_cpu']:.1f} CPU-s), evalstack {best['evalstack2']:.2f} s ({best['evalstack2_cpu']:.1f} "
                      f"CPU-s) = {best['evalstack2'] / best['plain2']:.3f}x (generate+judge steps {best['gen_judge']:.2f} s = "
                      f"{best['gen_judge'] / best['plain2']:.3f}x; CPU {best['evalstack2_cpu'] / best['plain2_cpu']:.2f}x)")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()

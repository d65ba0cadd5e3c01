"""BERTScore (packaged MiniLM) on N pairs: one process vs Ray Data stages on a local Ray cluster (issue 21 item 3).

Both sides score the same pairs through the metric (``evalstack.metrics.compute("bertscore", ...)``); the Ray
side runs it under ``use_engine(RayEngine(workers=W))`` on ``ray.init(num_cpus=W)``, so the pairs go as
blocks to W actors (Ray Data ``map_batches``), each loading the model once per call. The cluster start (and
a warm-up call) is timed apart; the Ray time includes building the actors and loading the model in each,
as a run pays it once per metric, model and task. Prints pairs/s of each, the speed-up, and the largest
difference of a per-example F1 (float32 rounding).

    python bench/bench_ray_bertscore.py [--n 1000] [--workers 2]

On a 2-core machine expect little: one process already uses both cores through torch's threads, and the
Ray workers use one thread each.
"""

from __future__ import annotations

import argparse
import random
import time

WORDS = (
    "the model answered every question about billing refunds and login errors with a short clear summary "
    "of what the customer asked and what the support team should do next before the ticket closes"
).split()


def pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    refs = [" ".join(rng.choices(WORDS, k=rng.randint(8, 30))) for _ in range(n)]
    cands = [" ".join(w if rng.random() < 0.6 else rng.choice(WORDS) for w in r.split()) for r in refs]
    return cands, refs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    from evalstack.metrics import RayEngine, compute, use_engine

    cands, refs = pairs(a.n)
    compute("bertscore", cands[:8], refs[:8])  # model loaded in this process
    t = time.perf_counter()
    local = compute("bertscore", cands, refs)
    t_local = time.perf_counter() - t

    import ray

    t = time.perf_counter()
    ray.init(num_cpus=a.workers, include_dashboard=False, log_to_driver=False)
    engine = RayEngine(workers=a.workers)
    with use_engine(engine):
        compute("bertscore", cands[: 4 * a.workers], refs[: 4 * a.workers])  # cluster up, workers' imports warm
        t_start = time.perf_counter() - t
        t = time.perf_counter()
        on_ray = compute("bertscore", cands, refs)
        t_ray = time.perf_counter() - t
    ray.shutdown()
    diff = max(abs(x - y) for x, y in zip(local.per_example, on_ray.per_example))  # type: ignore[operator]
    print(f"1 process: {a.n} pairs in {t_local:.1f} s ({a.n / t_local:.0f} pairs/s)")
    print(
        f"Ray, {a.workers} workers: {a.n} pairs in {t_ray:.1f} s ({a.n / t_ray:.0f} pairs/s; "
        f"+{t_start:.1f} s to start the cluster and a warm-up)"
    )
    print(
        f"RESULT speed-up {t_local / t_ray:.2f}x with {a.workers} Ray workers (scoring only), "
        f"{t_local / (t_ray + t_start):.2f}x counting the start; largest per-example F1 difference {diff:.1e}"
    )


if __name__ == "__main__":
    main()

"""Timings that used to sit in tests (issue 13 item 21: no wall-clock assertions in tests).

    python bench/bench_review_bootstrap.py               # both parts
    python bench/bench_review_bootstrap.py --only review # review | bootstrap

- review: `review_rows` + `regression_rows` over a 20k rows x 3 models examples.jsonl (the streaming scan).
- bootstrap: `metric_summary` with 2,000 resamples over 10k examples: a continuous mean, a binary mean
  and macro F1 over 4 labels.
Wall-clock and CPU seconds; on a busy machine trust the CPU column.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _timed(label: str, fn) -> None:  # noqa: ANN001
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    print(f"{label:<58} wall {time.perf_counter() - wall:7.3f} s   cpu {time.process_time() - cpu:7.3f} s")


def bench_review(n: int = 20_000) -> None:
    from fixtures.report.crafted import build_run

    from evalstack.report import regression_rows, review_rows, write_run_json
    from evalstack.results import ExampleRow

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        with (d / "examples.jsonl").open("w", encoding="utf-8") as f:
            for m_i, m in enumerate(("base", "ckpt-100", "ckpt-200")):
                for i in range(n):
                    s = ((i * 7919 + m_i * 104729) % 1000) / 1000
                    f.write(ExampleRow(task="summaries", model=m, id=f"x{i}", input="x" * 200, output="y" * 200,
                                       reference="z", scores={"rougeL": s, "rouge1": s}).model_dump_json() + "\n")
        write_run_json(d, build_run(gate=False, curves=False))
        _timed(f"review: regression_rows, {n} rows x 3 models", lambda: regression_rows(d, worst=5, metric="summaries/rougeL"))
        _timed(f"review: review_rows, {n} rows x 3 models", lambda: review_rows(d, worst=5, metric="summaries/rougeL"))


def bench_bootstrap(n: int = 10_000, resamples: int = 2000) -> None:
    import numpy as np
    from test_stats_support import classifier, macro_f1_result

    from evalstack.metrics import mean_result
    from evalstack.stats import metric_summary

    rng = np.random.default_rng(0)
    cont = mean_result("x", list(rng.random(n)))
    binary = mean_result("x", list((rng.random(n) < 0.7) * 1.0))
    y_true, y_pred = classifier(rng, n, 0.7)
    f1 = macro_f1_result(y_true, y_pred, 4)
    metric_summary(cont, n_resamples=100)  # warm up
    for name, r in [("continuous mean", cont), ("binary mean", binary), ("macro F1 (4 labels)", f1)]:
        _timed(f"bootstrap: {n} examples x {resamples} resamples, {name}", lambda r=r: metric_summary(r, n_resamples=resamples))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["review", "bootstrap"])
    args = ap.parse_args()
    if args.only in (None, "review"):
        bench_review()
    if args.only in (None, "bootstrap"):
        bench_bootstrap()


if __name__ == "__main__":
    main()

"""Query speed of the run store: 10,000 indexed runs (3 tasks x 2 models x 4 metrics each), then the
queries `evalstack history` makes (one series; one task; everything since a date), timed in-process.

Goal (issue 16): a query over 10,000 indexed runs answers in < 1 s.

Run: ``python bench/bench_history.py [--runs 10000]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from evalstack.history import RunStore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rs = RunStore(Path(tmp) / "store")
        t0 = time.perf_counter()
        for i in range(a.runs):
            d = Path(tmp) / "r"
            d.mkdir(exist_ok=True)
            m = {"value": 0.8, "ci_low": 0.78, "ci_high": 0.82, "n": 1000, "unscored": 0, "higher_is_better": True}
            tasks = {t: {"models": {mod: {"metrics": {k: m for k in ("accuracy", "f1_macro", "rougeL", "judge")}}
                                    for mod in ("base", "ft")}} for t in ("intent", "summaries", "qa")}
            (d / "run.json").write_text(json.dumps({"name": f"run{i}", "created_at": f"2026-{1 + i % 12:02d}-01T00:00:{i % 60:02d}",
                                                    "baseline": "base", "config_digest": "x", "tasks": tasks,
                                                    "models": {}, "n": i}))
            rs.add(d)
        print(f"indexed {a.runs:,} runs in {time.perf_counter() - t0:.1f} s ({rs.count_runs():,} in the store)")
        for name, kw in (("one series", {"task": "intent", "metric": "accuracy", "model": "ft"}),
                         ("one task", {"task": "summaries"}), ("since a date", {"since": "2026-11-01"})):
            t = time.perf_counter()
            n = sum(1 for _ in rs.points(**kw))
            print(f"{name:<14} {n:>8,} rows in {1000 * (time.perf_counter() - t):7.1f} ms (goal < 1,000 ms)")
        rs.close()


if __name__ == "__main__":
    main()

"""Speed and memory of the review workbench (`evalstack view`) on a big run.

Builds (or takes with --run) the run of ``bench_scale.py`` at 100k examples x 2 models (base, fine-tuned:
200k example rows), starts ``evalstack view RUN --no-browser`` as a child process, and measures:

- the time from the command's start to the first page (the run overview) and to the first example list;
- the wall time of each filter / sort / search / page / example request over loopback HTTP (median of 5;
  this includes the HTTP round trip, so it is an upper bound on the server time);
- the server's peak RSS (VmHWM from /proc).

Goals (issue 18): first page < 2 s after start, every filter or sort < 200 ms, server memory < 500 MB.

    python bench/bench_view.py [--n 100000] [--run DIR]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def fetch(url: str) -> tuple[int, float]:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as resp:
        resp.read()
        code = resp.status
    return code, time.perf_counter() - t


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--run", type=Path, help="an existing run folder (default: build bench_scale's run)")
    a = ap.parse_args()
    tmp = None
    run = a.run
    if run is None:
        from bench_scale import write_dataset

        tmp = tempfile.TemporaryDirectory()
        cfg = write_dataset(Path(tmp.name), a.n)
        print(f"building the run: {a.n:,} examples x 2 models ...", flush=True)
        subprocess.run([sys.executable, "-m", "evalstack", "run", str(cfg), "-q", "--out", str(cfg.parent / "out")],
                       check=False, stdout=subprocess.DEVNULL)
        run = cfg.parent / "out"
    rows = sum(1 for _ in open(run / "examples.jsonl", encoding="utf-8"))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "evalstack", "view", str(run), "--no-browser"],
                            stdout=subprocess.PIPE, text=True)
    try:
        m = re.search(r"(http://127\.0\.0\.1:\d+/[\w-]+/)", proc.stdout.readline())
        assert m, "the server did not print its URL"
        base = m.group(1)
        while True:
            try:
                code, _ = fetch(base)
                break
            except OSError:
                time.sleep(0.02)
        first = time.perf_counter() - start
        fetch(base + "t/out/intent")
        first_list = time.perf_counter() - start
        queries = {
            "list, id order": "t/out/intent",
            "model filter": "t/out/intent?model=base",
            "sort by score": "t/out/summaries?metric=rougeL&sort=score",
            "sort by delta": "t/out/summaries?metric=rougeL&sort=delta",
            "regressions": "t/out/intent?metric=accuracy&regression=1",
            "score range": "t/out/summaries?metric=rougeL&lo=0.2&hi=0.4",
            "failed": "t/out/intent?status=failed",
            "label filter": "t/out/intent?label=none",
            "free-text search": "t/out/summaries?q=refund%20card",
            "page 500": "t/out/intent?page=500",
            "example page": "e/out/summaries/s123?metric=rougeL&sort=delta",
            "JSON api": "api/examples/out/intent?metric=accuracy&regression=1",
        }
        print(f"{rows:,} example rows; first page {first:.2f} s after start (goal < 2 s), "
              f"first list {first_list:.2f} s")
        print(f"{'request':<20} {'median ms':>10} {'max ms':>8}")
        worst = 0.0
        for name, path in queries.items():
            times = []
            for _ in range(5):
                code, dt = fetch(base + path)
                assert code == 200, (name, code)
                times.append(dt * 1000)
            worst = max(worst, statistics.median(times))
            print(f"{name:<20} {statistics.median(times):>10.1f} {max(times):>8.1f}")
        print(f"slowest median {worst:.0f} ms (goal < 200 ms); server peak RSS {peak_rss_mb(proc.pid):.0f} MB "
              "(goal < 500 MB)")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()

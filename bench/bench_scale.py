"""Peak memory and throughput of `evalstack run` on large held-out sets (replay outputs, no network).

For each size N it writes, in a temporary folder, a synthetic held-out set of N examples split over two
tasks (N/2 support tickets with 4 labels: accuracy + macro F1; N/2 documents with reference summaries:
ROUGE-1/2/L), replay files of two models (base, fine-tuned) answering every example, and a config; then
runs `evalstack run` in a child process and reads the child's peak RSS from the kernel (``os.wait4``'s
rusage, i.e. ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of that one child). A 200-example run is measured
first: its peak is the fixed cost (interpreter, datasets, sklearn, numpy...), and "beyond start" is the
peak minus that.

    python bench/bench_scale.py [--sizes 10000,100000] [--keep DIR]

Goal (issue 8): 100k examples in under 1 GB RSS beyond the fixed cost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LABELS = ["billing", "bug", "account", "other"]
WORDS = ("invoice charge refund card payment app crash error login password account email update screen "
         "slow bill plan upgrade cancel order delivery report team access admin setting profile data export "
         "sync mobile browser version release feature request support ticket customer problem issue fix "
         "quickly again today yesterday always never please help urgent broken missing wrong twice").split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def write_dataset(folder: Path, n: int, seed: int = 0) -> Path:
    """Data, replay files and config for n examples (n/2 per task); returns the config path."""
    rng = random.Random(seed)
    half = n // 2
    with open(folder / "intent.jsonl", "w") as d, open(folder / "summaries.jsonl", "w") as s, \
            open(folder / "base.jsonl", "w") as b, open(folder / "ft.jsonl", "w") as f:
        for i in range(half):
            label = LABELS[i % 4]
            d.write(json.dumps({"id": f"t{i}", "text": sentence(rng, 25), "label": label}) + "\n")
            for fh, acc in ((b, 0.7), (f, 0.8)):
                pred = label if rng.random() < acc else rng.choice(LABELS)
                fh.write(json.dumps({"task": "intent", "id": f"t{i}", "output": pred}) + "\n")
        for i in range(n - half):
            doc = " ".join(sentence(rng, 15) for _ in range(6))
            ref = sentence(rng, 20)
            s.write(json.dumps({"id": f"s{i}", "document": doc, "summary": ref}) + "\n")
            for fh, keep in ((b, 0.4), (f, 0.6)):
                words = [w if rng.random() < keep else rng.choice(WORDS) for w in ref.split()]
                fh.write(json.dumps({"task": "summaries", "id": f"s{i}", "output": " ".join(words)}) + "\n")
    cfg = folder / "scale.yaml"
    cfg.write_text("""
name: scale
baseline: base
models:
  base: {provider: replay, path: base.jsonl, task_column: task}
  ft: {provider: replay, path: ft.jsonl, task_column: task}
tasks:
  - name: intent
    data: {path: intent.jsonl, id: id}
    prompt: {system: "You route support tickets.", user: "Ticket: {{ text }}\\nLabel:"}
    target: label
    labels: [billing, bug, account, other]
    metrics: [accuracy, {f1: {average: macro}}]
  - name: summaries
    data: {path: summaries.jsonl, id: id}
    prompt: {user: "Summarize:\\n{{ document }}"}
    reference: summary
    metrics: [{rouge: {types: [rouge1, rouge2, rougeL]}}]
stats: {n_resamples: 1000}
output: out
cache: cache.sqlite
""")
    return cfg


def measure(cfg: Path) -> tuple[float, float, float, dict]:
    """(wall seconds, CPU seconds, peak RSS in MB, run.json timings) of one `evalstack run` child."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "evalstack", "run", str(cfg), "-q", "--out", str(cfg.parent / "out")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"evalstack run exited {code}: {err[-2000:]}")
    run = json.loads((cfg.parent / "out" / "run.json").read_text())
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, run.get("timings", {})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--keep", default=None, help="write the data here instead of a temporary folder")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    root = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="evalstack-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    results = []
    for n in [200, *sizes]:
        folder = root / f"n{n}"
        folder.mkdir(exist_ok=True)
        cfg = write_dataset(folder, n)
        wall, cpu, rss, timings = measure(cfg)
        results.append((n, wall, cpu, rss, timings))
    base_rss = results[0][3]
    print(f"fixed cost (200-example run): {base_rss:.0f} MB peak RSS, {results[0][1]:.1f} s wall, {results[0][2]:.1f} s CPU")
    for n, wall, cpu, rss, timings in results[1:]:
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in timings.items() if v >= 0.05)
        print(f"{n:>7} examples x 2 models: {wall:6.1f} s wall ({n / wall:5.0f} examples/s), {cpu:6.1f} s CPU "
              f"({n / cpu:5.0f} examples/CPU-s), peak RSS {rss:5.0f} MB ({rss - base_rss:4.0f} MB beyond start)  [{steps}]")
    n, wall, cpu, rss, _ = results[-1]
    print(f"RESULT {n} examples: {rss - base_rss:.0f} MB beyond start (goal < 1024 MB), {n / wall:.0f} examples/s "
          f"wall, {n / cpu:.0f} examples/CPU-s")
    if not a.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

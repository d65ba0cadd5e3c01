"""Peak memory and throughput of `evalstack run` on a large held-out set (replay outputs, no network).

Writes, in a temporary folder, a synthetic held-out set of N examples split over two tasks (N/2 support
tickets with 4 labels: accuracy + macro F1; N/2 documents with reference summaries: ROUGE-L), replay files
of two models (base, fine-tuned) answering every example, and a config; then runs `evalstack run` in a
child process and reads the child's peak RSS from the kernel (``os.wait4``'s rusage of that one child,
what ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` gives for it).

    python bench/bench_scale.py              # 1,000,000 examples x 2 models (the issue 21 target)
    python bench/bench_scale.py --n 20000    # a quick check
    python bench/bench_scale.py --n 1000000 --keep /tmp/scale   # keep the data and the run folder

Target (issue 21, 2 cores): 1,000,000 examples x 2 models with peak RSS < 1.5 GB and >= 5,000 examples/s
(examples of the data set per second of wall time, both models included).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LABELS = ["billing", "bug", "account", "other"]
WORDS = (
    "invoice charge refund card payment app crash error login password account email update screen "
    "slow bill plan upgrade cancel order delivery report team access admin setting profile data export "
    "sync mobile browser version release feature request support ticket customer problem issue fix "
    "quickly again today yesterday always never please help urgent broken missing wrong twice"
).split()

CONFIG = """
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
    metrics: [{rouge: {types: [rougeL]}}]
stats: {n_resamples: 1000}
output: out
cache: cache.sqlite
"""


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(WORDS, k=n)).capitalize() + "."


def write_dataset(folder: Path, n: int, seed: int = 0) -> Path:
    """Data, replay files and config for n examples (n/2 per task); returns the config path."""
    rng = random.Random(seed)
    half = n // 2
    dumps = json.dumps
    with (
        open(folder / "intent.jsonl", "w") as d,
        open(folder / "summaries.jsonl", "w") as s,
        open(folder / "base.jsonl", "w") as b,
        open(folder / "ft.jsonl", "w") as f,
    ):
        for i in range(half):
            label = LABELS[i % 4]
            d.write(dumps({"id": f"t{i}", "text": sentence(rng, 25), "label": label}) + "\n")
            for fh, acc in ((b, 0.7), (f, 0.8)):
                pred = label if rng.random() < acc else rng.choice(LABELS)
                fh.write(dumps({"task": "intent", "id": f"t{i}", "output": pred}) + "\n")
        for i in range(n - half):
            doc = " ".join(sentence(rng, 15) for _ in range(6))
            ref = sentence(rng, 20)
            s.write(dumps({"id": f"s{i}", "document": doc, "summary": ref}) + "\n")
            for fh, keep in ((b, 0.4), (f, 0.6)):
                words = [w if rng.random() < keep else rng.choice(WORDS) for w in ref.split()]
                fh.write(dumps({"task": "summaries", "id": f"s{i}", "output": " ".join(words)}) + "\n")
    cfg = folder / "scale.yaml"
    cfg.write_text(CONFIG)
    return cfg


def measure(cfg: Path, extra: list[str]) -> tuple[float, float, float, dict[str, float]]:
    """(wall seconds, CPU seconds, peak RSS in MB, run.json timings) of one `evalstack run` child."""
    out = cfg.parent / "out"
    shutil.rmtree(out, ignore_errors=True)
    (cfg.parent / "cache.sqlite").unlink(missing_ok=True)
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalstack", "run", str(cfg), "-q", "--out", str(out), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"evalstack run exited {code}: {err[-2000:]}")
    run = json.loads((out / "run.json").read_text())
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, run.get("timings", {})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="examples in the data set (default 1,000,000)")
    ap.add_argument("--keep", default=None, help="write the data and the run here instead of a temporary folder")
    ap.add_argument("--reuse", action="store_true", help="with --keep: reuse data already written there")
    ap.add_argument("args", nargs="*", help="extra `evalstack run` arguments (after --)")
    a = ap.parse_args()
    root = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="evalstack-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        cfg = root / "scale.yaml"
        if not (a.reuse and cfg.exists()):
            cfg = write_dataset(root, a.n)
        made = time.perf_counter() - t
        wall, cpu, rss, timings = measure(cfg, a.args)
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in timings.items() if v >= 0.05)
        print(
            f"data written in {made:.1f} s ({(root / 'intent.jsonl').stat().st_size >> 20} MB + "
            f"{(root / 'summaries.jsonl').stat().st_size >> 20} MB of data, 2 replay files)"
        )
        print(f"evalstack run: {steps}")
        print(
            f"RESULT {a.n} examples x 2 models: {wall:.1f} s wall, {a.n / wall:,.0f} examples/s "
            f"({2 * a.n / wall:,.0f} scored outputs/s), {cpu:.1f} s CPU, peak RSS {rss:,.0f} MB "
            f"(target: < 1,536 MB and >= 5,000 examples/s)"
        )
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""How fast bad input is reported with a heavy metric configured (issue 14 item 6).

    python bench/bench_bad_input.py

Each case is a config with `bertscore` and one mistake (a missing replay file, a template typo...), run as
`python -m evalstack run` in a fresh process: prints exit code, wall seconds and peak RSS. Every case must
exit 2 in under 2 s: no model or metric backend is loaded before the cheap checks have passed. The
last line is a valid config, for comparison (it loads BERTScore and runs).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOOD = """\
name: t
baseline: base
models:
  base: {provider: replay, path: base.jsonl}
  ft: {provider: replay, path: ft.jsonl}
tasks:
  - name: intent
    data: {path: data.jsonl, id: id}
    prompt: {user: "Ticket: {{ text }}"}
    target: label
    reference: label
    labels: [a, b]
    slice_by: [region]
    metrics: [accuracy, bertscore]
output: out
"""

CASES = [
    ("missing replay file", [("path: ft.jsonl", "path: nope.jsonl")]),
    ("missing data file", [("path: data.jsonl", "path: nodata.jsonl")]),
    ("template typo", [("{{ text }}", "{{ txt }}")]),
    ("slice_by typo", [("slice_by: [region]", "slice_by: [regoin]")]),
    ("gold label outside labels", [("labels: [a, b]", "labels: [a, z]")]),
    ("gate metric typo", [("output: out", "output: out\ngate: {rules: [{metric: intent/bertscore_f11, min: 0.5}]}")]),
    ("missing curves file", [("output: out", "output: out\ncurves: [nope.csv]")]),
    ("valid config (loads BERTScore)", []),
]


def write(tmp: Path, cfg: str) -> Path:
    rows = [{"id": f"e{i}", "text": f"ticket {i}", "label": "a" if i % 2 else "b", "region": "eu"} for i in range(20)]
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("base", "ft"):
        (tmp / f"{name}.jsonl").write_text("".join(json.dumps({"id": r["id"], "output": r["label"]}) + "\n" for r in rows))
    (tmp / "cfg.yaml").write_text(cfg)
    return tmp / "cfg.yaml"


def main() -> None:
    print(f"{'case':<34} {'exit':>4} {'wall s':>7} {'cpu s':>6} {'peak MB':>8}")
    for name, edits in CASES:
        text = GOOD
        for old, new in edits:
            text = text.replace(old, new, 1)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = write(Path(tmp), text)
            t = time.perf_counter()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            # the child's peak RSS via a tiny wrapper (ru_maxrss of the children of this process is cumulative)
            probe = ("import resource, runpy, sys; sys.argv = ['evalstack', 'run', sys.argv[1], '--quiet']\n"
                     "try:\n    runpy.run_module('evalstack', run_name='__main__')\n"
                     "except SystemExit as e:\n    code = e.code\n"
                     "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)")
            r = subprocess.run([sys.executable, "-c", probe, str(cfg)], capture_output=True, text=True,
                               env={**os.environ, "OPENAI_API_KEY": "sk-bench-0000000000"})
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            peak = int(r.stderr.strip().splitlines()[-1]) / 1024
            print(f"{name:<34} {r.returncode:>4} {wall:>7.2f} {cpu:>6.2f} {peak:>8.0f}")


if __name__ == "__main__":
    main()

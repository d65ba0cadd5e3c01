"""Judge reply parser: time per adversarial reply as the reply grows (issue 13 item 14).

    python bench/bench_judge_parse.py                      # this checkout's parser, sizes 15k..480k
    python bench/bench_judge_parse.py --old a3ae7d2        # also the parser of a git revision, side by side
    python bench/bench_judge_parse.py --sizes 5000,20000   # other sizes

The parser refuses replies over ``MAX_REPLY_CHARS`` (64 KiB) without reading them; to show how its cost
grows, this bench lifts that cap, so every size is really parsed. Linear means: time / size stays flat
down a column. The old parser (``--old``) is quadratic or worse on some of these (a reply of blank lines
took 40 s at 20,000 characters), so its sizes stop once one reply takes longer than ``--old-budget``
seconds. Timings are wall-clock on whatever else the machine is doing: compare columns, not runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

CASES = {
    "blank lines then x": lambda n: "\n" * n + "x",
    "space-newline pairs": lambda n: " \n" * (n // 2) + "x",
    "'{\"' repeated": lambda n: '{"' * (n // 2),
    "'{\"a\": 1' repeated": lambda n: '{"a": 1' * (n // 7),
    "nested '{\"a\":'": lambda n: '{"a":' * (n // 5),
    "fences": lambda n: "```" * (n // 3),
    "'score ' repeated": lambda n: "score " * (n // 6),
    "'score' + spaces": lambda n: "score" + " " * n + "x",
    "'1 ' repeated": lambda n: "1 " * (n // 2),
    "prose then JSON": lambda n: ("The answer is thorough. " * (n // 24)) + '{"reason": "ok", "score": 4}',
}


def _load_old(rev: str):
    """The judges package's _parse.py at git revision ``rev``, loaded as a module next to today's _rubric."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:src/evalstack/judges/_parse.py"],
                         capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "_old_parse.py"
    path.write_text(src.replace("from ._rubric import", "from evalstack.judges._rubric import"))
    spec = importlib.util.spec_from_file_location("_old_parse", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_old_parse"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _time(parse, text: str, scale, pairwise: bool) -> tuple[float, str]:
    t = time.perf_counter()
    try:
        err = parse(text, scale, pairwise=pairwise).error or "parsed"
    except RecursionError:
        err = "RecursionError (crash)"
    return time.perf_counter() - t, err


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="15000,30000,60000,120000,480000")
    ap.add_argument("--old", default=None, help="git revision whose parser to time beside this one")
    ap.add_argument("--old-budget", type=float, default=5.0, help="stop the old parser's sizes past this many seconds")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]

    from evalstack.judges import _parse, load_rubric

    _parse.MAX_REPLY_CHARS = 10**12  # lift the cap: parse every size for real
    old = _load_old(args.old) if args.old else None
    scales = [("points", load_rubric("conciseness").scale, False), ("pairwise", load_rubric("preference").scale, True)]
    print(f"{'case':24s} {'scale':9s} {'chars':>9s} {'new s':>8s} {'new us/char':>12s}"
          + (f" {'old s':>9s}" if old else "") + "  new result")
    worst = 0.0
    for name, make in CASES.items():
        for label, scale, pairwise in scales:
            old_over = False
            for n in sizes:
                text = make(n)
                dt, res = _time(_parse.parse_reply, text, scale, pairwise)
                worst = max(worst, dt / len(text) * 1e6)
                line = f"{name:24s} {label:9s} {len(text):9,d} {dt:8.3f} {dt / len(text) * 1e6:12.3f}"
                if old:
                    if old_over:
                        line += f" {'skipped':>9s}"
                    else:
                        odt, ores = _time(old.parse_reply, text, scale, pairwise)
                        line += f" {odt:9.3f}" + ("" if not ores.startswith("RecursionError") else " (crash)")
                        old_over = odt > args.old_budget
                print(line + f"  {res[:50]}", flush=True)
    _parse.MAX_REPLY_CHARS = 65_536
    big = CASES["blank lines then x"](480_000)
    dt, res = _time(_parse.parse_reply, big, load_rubric("conciseness").scale, False)
    print(f"\nwith the cap ({_parse.MAX_REPLY_CHARS:,} chars), a 480,000-char reply: {dt * 1e3:.3f} ms -> {res}")
    print(f"worst time per character above: {worst:.3f} us")


if __name__ == "__main__":
    main()

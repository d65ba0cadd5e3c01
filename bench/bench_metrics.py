"""Metric speed, side by side with the reference libraries (issue 4).

    python bench/bench_metrics.py                  # every part, each in its own process (clean peak RSS)
    python bench/bench_metrics.py --only rouge     # one part: rouge | bleu | bertscore | toxicity
    python bench/bench_metrics.py --pairs 2000     # fewer pairs for a quick look

Parts:
- rouge: ours vs ``rouge_score.rouge_scorer`` (rouge1, rouge2, rougeL, rougeLsum, stemmer on) on the same
  random pairs; prints both times, the ratio and the number of pairs whose scores differ (must be 0).
- bleu: sacrebleu's ``corpus_bleu`` / ``corpus_chrf`` vs our metrics (which also keep per-sentence stats and
  sentence scores).
- bertscore: pairs/s and peak RSS of our metric with the packaged MiniLM on 1k pairs (model load timed
  apart), next to ``bert_score.score`` called directly.
- toxicity: sentences/s of the default classifier (alt-profanity-check) through our metric.
Times are wall-clock and CPU (process) seconds; on a busy machine trust the CPU column.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "metrics"))

TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


class Timer:
    """Wall and CPU seconds of a block."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pairs(n: int, seed: int = 0):
    import textgen

    return textgen.pairs(n, seed=seed)


def bench_rouge(n: int) -> dict:
    from rouge_score import rouge_scorer

    from evalstack.metrics import RougeScorer, compute

    pairs = _pairs(n)
    refs = [r if isinstance(r, list) else [r] for _, r in pairs]
    preds = [p for p, _ in pairs]
    reference = rouge_scorer.RougeScorer(TYPES, use_stemmer=True)
    with Timer() as t_ref:
        want = [reference.score_multi(r, p) for p, r in zip(preds, refs)]
    with Timer() as t_ours:  # through the metric: includes building the MetricResults
        res = compute("rouge", preds, refs, types=TYPES, stemmer=True, measure=["fmeasure", "precision", "recall"])
    got = res.details["all"]
    differ = sum(any((getattr(w[t], m) != got[t + s].per_example[i])
                     for t in TYPES for m, s in (("fmeasure", ""), ("precision", "_precision"), ("recall", "_recall")))
                 for i, w in enumerate(want))
    scorer = RougeScorer(TYPES, use_stemmer=True)
    with Timer() as t_raw:
        [scorer.score_multi(r, p) for p, r in zip(preds, refs)]
    return {"part": "rouge", "pairs": n, "rouge_score_s": [t_ref.wall, t_ref.cpu], "ours_s": [t_ours.wall, t_ours.cpu],
            "ours_warm_scorer_s": [t_raw.wall, t_raw.cpu], "ratio_cpu": t_ref.cpu / t_ours.cpu,
            "ratio_wall": t_ref.wall / t_ours.wall, "pairs_differing": differ}


def bench_bleu(n: int) -> dict:
    import sacrebleu

    from evalstack.metrics import compute

    pairs = _pairs(n)
    preds = [p for p, _ in pairs]
    refs = [r if isinstance(r, list) else [r] for _, r in pairs]
    width = max(map(len, refs))
    streams = [[r[k] if k < len(r) else None for r in refs] for k in range(width)]
    out = {"part": "bleu", "pairs": n}
    for name, fn in (("bleu", sacrebleu.corpus_bleu), ("chrf", sacrebleu.corpus_chrf)):
        with Timer() as t_ref:
            want = fn(preds, streams).score
        with Timer() as t_ours:
            got = compute(name, preds, refs).value
        out[name] = {"sacrebleu_s": [t_ref.wall, t_ref.cpu], "ours_s": [t_ours.wall, t_ours.cpu],
                     "equal": abs(want - got) < 1e-9, "value": got}
    return out


def bench_bertscore(n: int) -> dict:
    import bert_score

    from evalstack.metrics import compute
    from evalstack.metrics._bertscore import default_model_path

    pairs = _pairs(n, seed=1)
    preds = [p[:2000] for p, _ in pairs]
    refs = [(r if isinstance(r, list) else [r]) for _, r in pairs]
    refs = [[x[:2000] for x in r] for r in refs]
    rss0 = peak_rss_mb()
    with Timer() as t_load:
        compute("bertscore", ["warm up"], ["warm up"])
    with Timer() as t_ours:
        res = compute("bertscore", preds, refs, batch_size=64)
    rss_ours = peak_rss_mb()
    keep = [i for i, (p, r) in enumerate(zip(preds, refs)) if p.strip() and all(x.strip() for x in r)]
    with Timer() as t_ref:  # bert_score.score reloads the model on each call; it crashes on empty strings here
        _, _, F = bert_score.score([preds[i] for i in keep], [refs[i] for i in keep], model_type=default_model_path(),
                                   num_layers=6, batch_size=64)
    equal = max(abs(res.per_example[i] - f) for i, f in zip(keep, F.tolist()))
    return {"part": "bertscore", "pairs": n, "load_s": [t_load.wall, t_load.cpu], "ours_s": [t_ours.wall, t_ours.cpu],
            "pairs_per_s_wall": n / t_ours.wall, "peak_rss_mb_before": rss0, "peak_rss_mb": rss_ours,
            "bert_score_direct_s": [t_ref.wall, t_ref.cpu], "max_abs_diff_vs_direct": equal}


def bench_toxicity(n: int) -> dict:
    import random

    import textgen

    from evalstack.metrics import compute

    rng = random.Random(0)
    texts = [textgen.text(rng, 3, 25) for _ in range(n)]
    compute("toxicity", ["warm up"])
    with Timer() as t:
        res = compute("toxicity", texts)
    return {"part": "toxicity", "sentences": n, "s": [t.wall, t.cpu], "sentences_per_s_wall": n / t.wall,
            "sentences_per_s_cpu": n / t.cpu, "toxicity_rate": res.value}


PARTS = {"rouge": bench_rouge, "bleu": bench_bleu, "bertscore": bench_bertscore, "toxicity": bench_toxicity}


def _print(result: dict) -> None:
    part = result["part"]
    f = lambda pair: f"{pair[0]:.2f}s wall / {pair[1]:.2f}s cpu"  # noqa: E731
    if part == "rouge":
        print(f"ROUGE ({result['pairs']} pairs, 4 types, stemmer): rouge-score {f(result['rouge_score_s'])}; "
              f"ours {f(result['ours_s'])}; ratio {result['ratio_cpu']:.1f}x cpu ({result['ratio_wall']:.1f}x wall); "
              f"pairs differing: {result['pairs_differing']}")
    elif part == "bleu":
        for name in ("bleu", "chrf"):
            r = result[name]
            print(f"{name} ({result['pairs']} pairs): sacrebleu {f(r['sacrebleu_s'])}; ours {f(r['ours_s'])}; "
                  f"equal: {r['equal']}")
    elif part == "bertscore":
        print(f"BERTScore MiniLM ({result['pairs']} pairs): load {f(result['load_s'])}; score {f(result['ours_s'])} "
              f"= {result['pairs_per_s_wall']:.0f} pairs/s; peak RSS {result['peak_rss_mb']:.0f} MB; "
              f"bert_score.score direct {f(result['bert_score_direct_s'])} "
              f"(max |diff| {result['max_abs_diff_vs_direct']:.1e})")
    elif part == "toxicity":
        print(f"toxicity alt-profanity-check ({result['sentences']} sentences): {f(result['s'])} = "
              f"{result['sentences_per_s_wall']:.0f}/s wall, {result['sentences_per_s_cpu']:.0f}/s cpu")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=sorted(PARTS))
    ap.add_argument("--pairs", type=int, default=10_000, help="pairs for rouge/bleu (default 10000)")
    ap.add_argument("--bertscore-pairs", type=int, default=1000)
    ap.add_argument("--sentences", type=int, default=70_000, help="sentences for toxicity")
    ap.add_argument("--json", action="store_true", help="print the raw JSON result(s)")
    args = ap.parse_args()
    sizes = {"rouge": args.pairs, "bleu": args.pairs, "bertscore": args.bertscore_pairs, "toxicity": args.sentences}
    if args.only:
        result = PARTS[args.only](sizes[args.only])
        print(json.dumps(result) if args.json else "", end="\n" if args.json else "")
        if not args.json:
            _print(result)
        return 0
    failed = 0
    for part in PARTS:  # each part in a fresh process, so peak RSS is the part's own
        cmd = [sys.executable, __file__, "--only", part, "--json", "--pairs", str(args.pairs),
               "--bertscore-pairs", str(args.bertscore_pairs), "--sentences", str(args.sentences)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))
        if proc.returncode != 0:
            print(f"{part}: failed\n{proc.stderr[-2000:]}")
            failed += 1
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(result)) if args.json else _print(result)
        if part == "rouge" and result["pairs_differing"]:
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

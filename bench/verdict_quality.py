"""Verdict quality of the stats + gate: A/A false alarms, power against a planted regression, CI coverage.

Simulates (numpy, no models) a 4-class intent task with imbalanced classes and n examples, evaluated
twice. Each example has a latent difficulty p_i ~ Beta(0.8 k, 0.2 k) (mean accuracy 0.8) and a "typical
wrong label"; a run answers correctly with probability p_i, else (mostly) that typical wrong label. Two
runs of the same model therefore agree on most examples, as repeated sampling of one model does (the
agreement is printed). Every simulated run goes through the real code: the classification metrics
(``evalstack.metrics.compute``), ``evalstack.stats.task_summaries`` and ``evalstack.gate.evaluate_gate``.

Prints:
1. the A/A false-alarm rate of ``max_regression`` (goal <= 5%), per rule and for the gate as a whole;
2. the power against a planted regression (accuracy 0.80 -> 0.75, i.e. -5 points);
3. the coverage of the 95% CIs (goal 93-97%) against the population values of the simulation: accuracy
   (Wilson), macro F1 (percentile bootstrap), the paired deltas (accuracy: Tango's score interval; macro
   F1: paired bootstrap);
4. the exact coverage of the Wilson interval of a 0/1 rate at small n (summed over the binomial
   distribution, no simulation), beside the interval used before (percentile bootstrap, Wilson at 0/n).

Run: ``python bench/verdict_quality.py`` (~30 s of CPU per core on 2 cores; ``--runs`` to change the count;
``--coverage`` prints section 4 only, in a second).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from evalstack.config import GateConfig, GateRule, StatsSettings
from evalstack.gate import evaluate_gate
from evalstack.metrics import compute
from evalstack.results import ModelInfo, ModelTaskSummary, RunResult, TaskSummary
from evalstack.stats import task_summaries

LABELS = ["billing", "bug", "account", "other"]
PREVALENCE = np.array([0.5, 0.25, 0.15, 0.1])
ACCURACY = 0.80
PLANTED = 0.75


def population_macro_f1(accuracy: float) -> float:
    """Macro F1 of the population confusion matrix: P(c, c) = pi_c a, P(c, c') = pi_c (1 - a) / 3."""
    L = len(LABELS)
    joint = PREVALENCE[:, None] * np.where(np.eye(L, dtype=bool), accuracy, (1 - accuracy) / (L - 1))
    tp = np.diag(joint)
    return float(np.mean(2 * tp / (joint.sum(0) + joint.sum(1))))


class Task:
    """One simulated held-out set: gold labels, per-example difficulty and typical wrong label."""

    def __init__(self, rng: np.random.Generator, n: int, concentration: float):
        self.rng = rng
        self.y = rng.choice(len(LABELS), size=n, p=PREVALENCE)
        self.p = rng.beta(ACCURACY * concentration, (1 - ACCURACY) * concentration, size=n)
        self.wrong = (self.y + rng.integers(1, len(LABELS), size=n)) % len(LABELS)

    def answer(self, scale: float = 1.0) -> np.ndarray:
        """One run of the model: right with probability scale * p_i, else the typical wrong label (80%)."""
        n = len(self.y)
        right = self.rng.random(n) < self.p * scale
        other = (self.y + self.rng.integers(1, len(LABELS), size=n)) % len(LABELS)
        wrong = np.where(self.rng.random(n) < 0.8, self.wrong, other)
        return np.where(right, self.y, wrong)


def results(task: Task, pred: np.ndarray) -> dict:
    """The real classification metrics of one run (texts in, MetricResults out)."""
    refs = [LABELS[i] for i in task.y]
    preds = [LABELS[i] for i in pred]
    return {"accuracy": compute("accuracy", preds, refs, labels=LABELS),
            "f1_macro": compute("f1", preds, refs, labels=LABELS, average="macro")}


def make_run(by_model: dict, settings: StatsSettings) -> tuple[RunResult, dict, dict]:
    metrics, deltas = task_summaries(by_model, "base", settings)
    n = by_model["base"]["accuracy"].scored.size
    task = TaskSummary(name="intent", n_examples=n, deltas=deltas,
                       models={m: ModelTaskSummary(n_examples=n, metrics=metrics[m]) for m in metrics})
    run = RunResult(name="sim", created_at="2025-01-01T00:00:00Z", evalstack_version="bench", config_digest="-",
                    baseline="base", models={m: ModelInfo(name=m, provider="mock") for m in by_model},
                    tasks={"intent": task}, settings={"confidence": settings.confidence})
    return run, metrics, deltas


def gate(margin: float, holm: bool = False) -> GateConfig:
    return GateConfig(confidence=0.95, holm=holm, rules=[GateRule(metric=f"intent/{k}", max_regression=margin)
                                                         for k in ("accuracy", "f1_macro")])


def rate(x: list[bool]) -> str:
    p = float(np.mean(x))
    return f"{100 * p:5.1f}% (+/- {100 * np.sqrt(p * (1 - p) / len(x)):.1f})"


MARGINS = (0.0, 0.01)


def simulate(job: tuple[str, int, argparse.Namespace]) -> dict:
    """One simulated evaluation (``aa``: the same model twice; ``planted``: a -5 point regression)."""
    kind, rep, args = job
    rng = np.random.default_rng([args.seed, kind == "aa", rep])
    task = Task(rng, args.n, args.concentration)
    a = task.answer()
    b = task.answer() if kind == "aa" else task.answer(scale=PLANTED / ACCURACY)
    run, metrics, deltas = make_run({"base": results(task, a), "ft": results(task, b)},
                                    StatsSettings(n_resamples=args.resamples, seed=rep))
    out: dict = {"agree": float(np.mean((a == task.y) == (b == task.y)))}
    for margin in MARGINS:
        decision = evaluate_gate(run, gate(margin))
        for rule in decision.rules:
            out[("fails", rule.metric.split("/")[1], margin)] = not rule.passed
        out[("gate fails", margin)] = not decision.passed
    out["gate fails holm"] = not evaluate_gate(run, gate(0.0, holm=True)).passed
    truth = {"accuracy": ACCURACY, "f1_macro": population_macro_f1(ACCURACY)}
    if kind == "aa":
        for key, value in truth.items():
            out[("covered", key)] = [metrics[m][key].ci_low <= value <= metrics[m][key].ci_high for m in metrics]
            d = deltas["ft"][key]
            out[("covered", f"delta {key} (A/A)")] = [d.ci_low <= 0 <= d.ci_high]
    return out


def exact_coverage(n: int, p: float, interval) -> float:
    """P(p in interval(k, n)) for k ~ Binomial(n, p), summed exactly."""
    from scipy.stats import binom

    return float(sum(binom.pmf(k, n, p) for k in range(n + 1) if interval(k, n)[0] <= p <= interval(k, n)[1]))


def before(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The interval evalstack gave a rate k/n before (2,000-resample percentile bootstrap through the real
    resampling engine, Wilson at 0/n and n/n where the bootstrap collapses to a point)."""
    from evalstack.stats import percentile_interval, resampled_sums
    from evalstack.stats._binary import wilson_interval

    if k in (0, n):
        return wilson_interval(k, n, confidence)
    stats = np.array([[1.0, 1.0]] * k + [[0.0, 1.0]] * (n - k))
    (sums,) = resampled_sums([stats], n_resamples=2000, seed=0)
    return percentile_interval(sums[:, 0] / sums[:, 1], confidence)


def coverage_table() -> None:
    from evalstack.stats._binary import wilson_interval

    def wilson(k: int, n: int) -> tuple[float, float]:
        return wilson_interval(k, n, 0.95)

    print("\n4. exact coverage of 95% intervals of a 0/1 rate (Wilson: what evalstack uses; before: bootstrap)")
    print(f"   {'n':>4} {'p':>5}  {'Wilson':>7}  {'before':>9}")
    for n, p in [(20, 0.5), (20, 0.9), (50, 0.8), (50, 0.95), (100, 0.9), (100, 0.99), (300, 0.8), (300, 0.95)]:
        print(f"   {n:>4} {p:>5}  {100 * exact_coverage(n, p, wilson):6.1f}%  {100 * exact_coverage(n, p, before):8.1f}%")
    for n in (20, 50, 100, 300):
        grid = np.linspace(0.05, 0.95, 91)
        cov = [exact_coverage(n, p, wilson) for p in grid]
        print(f"   n={n:<4} Wilson over p in [0.05, 0.95]: mean {100 * np.mean(cov):.1f}%, min {100 * min(cov):.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=800, help="simulated A/A runs")
    ap.add_argument("--planted-runs", type=int, default=400, help="simulated runs with a planted regression")
    ap.add_argument("--n", type=int, default=300, help="examples per task")
    ap.add_argument("--concentration", type=float, default=1.0, help="Beta concentration of per-example difficulty "
                    "(lower: runs of one model agree more)")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    ap.add_argument("--coverage", action="store_true", help="only the exact Wilson coverage table (section 4)")
    args = ap.parse_args()
    if args.coverage:
        coverage_table()
        return
    start = time.perf_counter()
    jobs = [("aa", r, args) for r in range(args.runs)] + [("planted", r, args) for r in range(args.planted_runs)]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            outs = list(pool.map(simulate, jobs, chunksize=25))
    else:
        outs = [simulate(j) for j in jobs]
    aa, planted = outs[:args.runs], outs[args.runs:]
    elapsed = time.perf_counter() - start

    print(f"simulated intent task: n={args.n}, 4 classes {PREVALENCE.tolist()}, accuracy {ACCURACY}; "
          f"{args.runs} A/A runs, {args.planted_runs} with a planted regression; {args.resamples} resamples; "
          f"gate confidence 0.95")
    print(f"per-example agreement (right/wrong) of two runs of the same model: "
          f"{100 * np.mean([o['agree'] for o in aa]):.1f}%")
    print("\n1. A/A false-alarm rate of max_regression (goal <= 5%):")
    for key in ("accuracy", "f1_macro"):
        for margin in MARGINS:
            print(f"   {key:<9} max_regression {margin:<4}: {rate([o[('fails', key, margin)] for o in aa])}")
    print(f"   gate with both rules, m=0: {rate([o[('gate fails', 0.0)] for o in aa])}; with holm: true: "
          f"{rate([o['gate fails holm'] for o in aa])}")
    print(f"\n2. power against a planted regression (accuracy {ACCURACY} -> {PLANTED}, macro F1 "
          f"{population_macro_f1(ACCURACY):.3f} -> {population_macro_f1(PLANTED):.3f}), n={args.n}:")
    for key in ("accuracy", "f1_macro"):
        for margin in MARGINS:
            print(f"   {key:<9} max_regression {margin:<4}: detected in {rate([o[('fails', key, margin)] for o in planted])}")
    print(f"   gate with both rules, m=0: {rate([o[('gate fails', 0.0)] for o in planted])}")
    print("\n3. coverage of the 95% CIs (goal 93-97%):")
    for name, how in (("accuracy", "Wilson"), ("f1_macro", "percentile bootstrap"), ("delta accuracy (A/A)", "Tango"),
                      ("delta f1_macro (A/A)", "paired bootstrap")):
        print(f"   {name:<22}: {rate([c for o in aa for c in o[('covered', name)]])}  ({how})")
    coverage_table()
    print(f"\n({elapsed:.0f} s with {args.jobs} worker processes)")


if __name__ == "__main__":
    main()

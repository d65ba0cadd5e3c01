"""The sequential gate on simulated paired 0/1 scores: false alarms, power and the share of examples used.

Per trial, n paired examples: the model and the baseline disagree on a share psi of them (0.25), and
among those the model wins with probability (psi + delta) / (2 psi). The rule is ``max_regression:
margin`` (fail when significantly worse than -margin). Each trial runs the real
``evalstack.stats._sequential.sequential_gate`` (looks after every 10%) and, for reference, the fixed-n
decision on the whole set (normal CI). Also checks that the confidence sequence covers the true delta at
every look at once.

Prints per scenario: how often the rule failed (for delta = 0 with margin 0 that is the false-alarm rate,
goal <= 5%), the mean share of examples used (goal: >= 30% fewer than the full set when the answer is
clear), and the fixed-n failure rate.

Run: ``python bench/bench_sequential.py [--trials 2000]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from evalstack.stats._sequential import asymptotic_cs, sequential_gate


def paired(rng: np.random.Generator, n: int, psi: float, delta: float) -> np.ndarray:
    u = rng.random(n)
    win, loss = (psi + delta) / 2, (psi - delta) / 2
    return np.where(u < win, 1.0, np.where(u < win + loss, -1.0, 0.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--psi", type=float, default=0.25)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    print(f"{a.trials} trials per row; discordance {a.psi}; looks after every 10%; alpha 0.05")
    print(f"{'n':>6} {'true delta':>10} {'margin':>6} {'fails (seq)':>11} {'used':>6} {'fails (fixed n)':>15} {'CS covers all looks':>20}")
    for n in (2000, 10000):
        for delta, margin in ((0.0, 0.0), (0.0, 0.02), (-0.05, 0.0), (-0.05, 0.02)):
            fails = fixed = covered = 0
            used = []
            for trial in range(a.trials):
                d = paired(rng, n, a.psi, delta)
                dec = sequential_gate(d, margin=margin, order_seed=trial)
                fails += dec.outcome == "fail"
                used.append(dec.stopped_at / n)
                half = 1.959963984540054 * d.std(ddof=1) / np.sqrt(n)
                fixed += (d.mean() + half) < -margin
                if trial < 300:  # time-uniform coverage of the sequence, every 10%
                    covered += all(lo <= delta <= hi for lo, hi in
                                   (asymptotic_cs(d, t, t_star=n) for t in range(n // 10, n + 1, n // 10)))
            print(f"{n:>6} {delta:>10.2f} {margin:>6.2f} {fails / a.trials:>11.1%} {np.mean(used):>6.0%} "
                  f"{fixed / a.trials:>15.1%} {covered / min(300, a.trials):>20.1%}")


if __name__ == "__main__":
    main()

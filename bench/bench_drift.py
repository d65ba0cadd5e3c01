"""Drift alarms on simulated histories: a 10-run history losing 0.5 point of accuracy per run, and a flat one.

Each run's accuracy estimate is drawn around its true value with the binomial SE of n examples
(true accuracy 0.80, minus 0.005 per run in the declining history), and its 95% CI is the Wald interval,
as a run's bootstrap CI would be. The real ``evalstack.history.trend`` is applied to the first 6 runs
("flagged by run 6") and to all 10. Prints the share of trials flagged (goal, issue 16: >= 90% for the
decline by run 6, <= 5% for the flat history), for several n per run, and Mann-Kendall's share beside it.

Run: ``python bench/bench_drift.py [--trials 2000]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from evalstack.history import trend


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    print(f"{a.trials} trials per row; accuracy 0.80; decline 0.5 point per run; one-sided alpha 0.05")
    print(f"{'n per run':>9} {'history':<9} {'flagged by run 6':>17} {'by run 10':>10} {'Mann-Kendall run 6':>19}")
    for n in (1000, 5000, 10000):
        for name, step in (("decline", -0.005), ("flat", 0.0)):
            hit6 = hit10 = mk6 = 0
            for _ in range(a.trials):
                true = 0.80 + step * np.arange(10)
                se = np.sqrt(true * (1 - true) / n)
                est = rng.normal(true, se)
                lo, hi = est - 1.96 * se, est + 1.96 * se
                t6 = trend(est[:6], lo[:6], hi[:6])
                t10 = trend(est, lo, hi)
                hit6 += t6.flagged
                hit10 += t10.flagged
                mk6 += (t6.p_mann_kendall or 1) < 0.05
            print(f"{n:>9} {name:<9} {hit6 / a.trials:>17.1%} {hit10 / a.trials:>10.1%} {mk6 / a.trials:>19.1%}")


if __name__ == "__main__":
    main()

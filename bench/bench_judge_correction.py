"""Coverage of judge scores corrected by human labels (PPI++ and Rogan-Gladen) against the naive judge CI.

Simulates (numpy only) a pass/fail judge with sensitivity 0.85 and specificity 0.90 on a task whose true
pass rate is 0.70: 2,000 judged examples, 200 of them (a random subset) also labelled by a person. Per
trial it computes, with the real code in ``evalstack.stats._correct``:

- the naive 95% CI of the judge's pass rate (Wilson, over the 2,000 judged examples);
- the PPI++ 95% CI (human labels rectify the judge's mean);
- the Rogan-Gladen 95% CI (sensitivity and specificity measured on the 200 labels);
- the human-only 95% CI (Wilson over the 200 labels), for width.

Prints the coverage of the true rate 0.70 (goal for the corrected ones: 93-97%) and the mean widths.

Run: ``python bench/bench_judge_correction.py [--trials 2000] [--seed 0]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from evalstack.stats._correct import ppi_mean, rogan_gladen


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-judged", type=int, default=2000)
    ap.add_argument("--n-labelled", type=int, default=200)
    ap.add_argument("--rate", type=float, default=0.70)
    ap.add_argument("--sensitivity", type=float, default=0.85)
    ap.add_argument("--specificity", type=float, default=0.90)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    hits = {"naive judge": 0, "PPI++": 0, "Rogan-Gladen": 0, "humans only": 0}
    widths: dict[str, list[float]] = {k: [] for k in hits}
    for _ in range(a.trials):
        truth = rng.random(a.n_judged) < a.rate
        judged = np.where(truth, rng.random(a.n_judged) < a.sensitivity, rng.random(a.n_judged) >= a.specificity)
        lab = rng.choice(a.n_judged, a.n_labelled, replace=False)
        mask = np.zeros(a.n_judged, bool)
        mask[lab] = True
        y, yh, yu = truth[mask].astype(float), judged[mask].astype(float), judged[~mask].astype(float)
        cis = {"naive judge": wilson(int(judged.sum()), a.n_judged),
               "humans only": wilson(int(y.sum()), a.n_labelled)}
        _, lo, hi, _ = ppi_mean(y, yh, yu)
        cis["PPI++"] = (lo, hi)
        pos, neg = y == 1, y == 0
        se, sp = float(yh[pos].mean()), float(1 - yh[neg].mean())
        _, lo, hi = rogan_gladen(float(judged.mean()), a.n_judged, se, int(pos.sum()), sp, int(neg.sum()))
        cis["Rogan-Gladen"] = (lo, hi)
        for k, (lo, hi) in cis.items():
            hits[k] += int(lo <= a.rate <= hi)
            widths[k].append(hi - lo)
    print(f"true rate {a.rate}, judge sensitivity {a.sensitivity} specificity {a.specificity}, "
          f"{a.n_judged} judged, {a.n_labelled} labelled, {a.trials} trials")
    print(f"{'estimator':<14} {'coverage of 95% CI':>20} {'mean width':>11}")
    for k in hits:
        print(f"{k:<14} {hits[k] / a.trials:>20.1%} {np.mean(widths[k]):>11.3f}")


if __name__ == "__main__":
    main()

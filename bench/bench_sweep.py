"""Checkpoint sweeps on simulated checkpoints with planted qualities: is the planted best picked, at what share
of a full sweep's requests, and does the confirmed CI cover the pick's true delta?

Per trial, n held-out examples; each checkpoint m (and the baseline) answers example i correctly with
probability p_m, correlated across models through a shared example difficulty (with probability rho the
example's own uniform draw decides for every model, else the model's own). The sweep's own code makes every
decision: ``split_ids`` (selection / confirmation parts), ``halving_sizes`` + ``successive_halving`` (or one
round on the whole selection part for ``full``), the ranking, and the confirmed interval is Tango's score
interval of the paired difference (``stats._binary.tango_interval``, what a run reports for a 0/1 metric).

Requests are counted as ``evalstack sweep`` spends them with the cache: each (model, example) once, the
baseline on the whole selection part; a full sweep is every candidate and the baseline on it.
Coverage: the confirmed CI (on the confirmation part) against the true delta p_pick - p_baseline, and for
contrast the naive CI of the same pick on the selection examples it was chosen on (winner's curse).

Goals (issue 17): planted best picked in >= 90% of trials at <= 50% of a full sweep's requests; confirmed
CI covers the true delta in 93-97% of trials.

Run: ``python bench/bench_sweep.py [--trials 1000]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from evalstack.stats._binary import tango_interval
from evalstack.sweep import halving_sizes, split_ids, successive_halving

SCENARIOS = {
    # name: (baseline accuracy, checkpoint accuracies; the planted best is the highest)
    "8 checkpoints, best +0.06": (0.60, [0.58, 0.62, 0.65, 0.68, 0.70, 0.72, 0.74, 0.80]),
    "5 checkpoints, best +0.08": (0.55, [0.60, 0.70, 0.78, 0.66, 0.64]),
    "8 near-equal checkpoints": (0.60, [0.66, 0.67, 0.67, 0.68, 0.68, 0.69, 0.69, 0.70]),
}


def outcomes(rng: np.random.Generator, n: int, probs: list[float], rho: float) -> np.ndarray:
    """(models x n) 0/1 matrix with the given marginal accuracies, correlated through shared difficulty."""
    shared = rng.random(n)
    own = rng.random((len(probs), n))
    use_shared = rng.random((len(probs), n)) < rho
    draw = np.where(use_shared, shared[None, :], own)
    return (draw < np.asarray(probs)[:, None]).astype(np.int8)


def trial(
    rng: np.random.Generator,
    base_p: float,
    probs: list[float],
    *,
    n: int,
    confirm: float,
    strategy: str,
    eta: int,
    rho: float,
    seed: int,
) -> dict:
    k = len(probs)
    scores = outcomes(rng, n, [*probs, base_p], rho)  # rows 0..k-1 checkpoints, row k the baseline
    ids = [f"e{i}" for i in range(n)]
    sel, conf = split_ids(ids, confirm, seed)
    pos = {x: i for i, x in enumerate(ids)}
    sel_i, conf_i = np.array([pos[x] for x in sel]), np.array([pos[x] for x in conf])
    names = [f"c{j}" for j in range(k)]
    sizes = halving_sizes(len(sel), k, eta) if strategy == "successive_halving" else [len(sel)]
    reached: dict[str, int] = {}

    def evaluate(r: int, alive: list[str], size: int):
        for name in alive:
            reached[name] = size
        return {name: float(scores[int(name[1:]), sel_i[:size]].mean()) for name in alive}, set()

    rounds = successive_halving(names, sizes, eta, evaluate, True)
    pick = int(rounds[-1]["kept"][0][1:])
    spent = sum(reached.values()) + len(sel)
    full = (k + 1) * len(sel)
    truth = probs[pick] - base_p

    def covered(idx: np.ndarray) -> bool:
        m, b = scores[pick, idx], scores[k, idx]
        lo, hi = tango_interval(int(((m == 1) & (b == 0)).sum()), int(((m == 0) & (b == 1)).sum()), len(idx), 0.95)
        return lo <= truth <= hi

    return {
        "picked_best": pick == int(np.argmax(probs)),
        "share": spent / full,
        "confirmed_covers": covered(conf_i),
        "naive_covers": covered(sel_i),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--n", type=int, default=1000, help="held-out examples per trial")
    ap.add_argument("--confirm", type=float, default=0.3)
    ap.add_argument("--rho", type=float, default=0.5, help="share of examples whose difficulty all models share")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"{args.trials} trials per row, n={args.n} examples, confirm_fraction={args.confirm}, rho={args.rho}")
    print(
        "| scenario | strategy | planted best picked | requests vs full sweep | confirmed CI covers | naive CI covers |"
    )
    print("|---|---|---|---|---|---|")
    for name, (base_p, probs) in SCENARIOS.items():
        for strategy in ("successive_halving", "full"):
            rng = np.random.default_rng(args.seed)
            rows = [
                trial(
                    rng,
                    base_p,
                    probs,
                    n=args.n,
                    confirm=args.confirm,
                    strategy=strategy,
                    eta=2,
                    rho=args.rho,
                    seed=args.seed + t,
                )
                for t in range(args.trials)
            ]
            mean = {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]}
            print(
                f"| {name} | {strategy} | {mean['picked_best']:.1%} | {mean['share']:.1%} | "
                f"{mean['confirmed_covers']:.1%} | {mean['naive_covers']:.1%} |"
            )


if __name__ == "__main__":
    main()

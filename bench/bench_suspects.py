"""How well suspect gold labels are found: 1,000 examples, 6 classes, 5% of the gold labels flipped on purpose.

Two sources of per-class probabilities, both simulated (numpy), both through the real code
(``evalstack.stats._suspects``, i.e. cleanlab's ``find_label_issues``):

- "logprobs": one model whose label-token probabilities are a softmax of noisy class scores (about 85%
  accurate on the true labels), as a provider's top logprobs give;
- "3 models agree": the answers of three models (each ~85% accurate, errors spread over the other
  classes), turned into probabilities by agreement.

Prints precision@k (k = the number flipped), precision and recall of the flagged set, per source, as the
mean over trials. Goal (issue 19): precision@k >= 0.6 and recall >= 0.7.

Run: ``python bench/bench_suspects.py [--trials 20] [--seed 0]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from evalstack.stats._suspects import agreement_probs, find_suspects


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--classes", type=int, default=6)
    ap.add_argument("--flip", type=float, default=0.05)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    res: dict[str, list[tuple[float, float, float]]] = {"logprobs": [], "3 models agree": []}
    for _ in range(a.trials):
        true = rng.choice(a.classes, a.n, p=np.linspace(2, 1, a.classes) / np.linspace(2, 1, a.classes).sum())
        k = int(round(a.flip * a.n))
        flipped = rng.choice(a.n, k, replace=False)
        gold = true.copy()
        gold[flipped] = (true[flipped] + rng.integers(1, a.classes, k)) % a.classes
        logits = rng.normal(0, 1, (a.n, a.classes))
        logits[np.arange(a.n), true] += 3.0
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        votes = []
        for i in range(a.n):
            answers = []
            for _m in range(3):
                answers.append(int(true[i]) if rng.random() < 0.85 else int((true[i] + rng.integers(1, a.classes)) % a.classes))
            votes.append(answers)
        sources = {"logprobs": probs, "3 models agree": agreement_probs(votes, a.classes)}
        planted = set(int(i) for i in flipped)
        for name, p in sources.items():
            ranked = [int(i) for i in find_suspects(gold, p)]
            hits_k = len(planted & set(ranked[:k])) / k
            prec = len(planted & set(ranked)) / max(1, len(ranked))
            rec = len(planted & set(ranked)) / k
            res[name].append((hits_k, prec, rec))
    print(f"{a.n} examples, {a.classes} classes, {a.flip:.0%} flipped ({int(round(a.flip * a.n))}), {a.trials} trials")
    print(f"{'source':<16} {'precision@k':>12} {'precision':>10} {'recall':>8}")
    for name, rows in res.items():
        m = np.mean(rows, axis=0)
        print(f"{name:<16} {m[0]:>12.2f} {m[1]:>10.2f} {m[2]:>8.2f}")


if __name__ == "__main__":
    main()

"""MetricResults built by hand for the stats and gate tests (and the checks that they are right).

``macro_f1_result`` is a corpus-only metric the way the classification metrics build theirs: one-hot
confusion cells as sufficient statistics and a vectorised ``from_stats`` over summed confusion matrices.
``macro_f1_of_labels`` is an independent vectorised macro F1 straight from label arrays, used as the
statistic given to ``scipy.stats.bootstrap``.
"""

from __future__ import annotations

import numpy as np
import pytest

from evalstack.metrics import MetricResult, mean_result


def macro_f1_result(y_true, y_pred, n_labels: int, *, scored=None, key: str = "f1_macro") -> MetricResult:
    """Macro F1 over labels 0..n_labels-1 (sklearn's ``labels=range(L)``, zero_division=0)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n, L = len(y_true), n_labels
    scored = np.ones(n, dtype=bool) if scored is None else np.asarray(scored, dtype=bool)
    stats = np.zeros((n, L * L))
    rows = np.flatnonzero(scored)
    stats[rows, y_true[rows] * L + y_pred[rows]] = 1.0

    def from_stats(s):
        cm = np.asarray(s, dtype=float).reshape(np.shape(s)[:-1] + (L, L))
        tp = np.diagonal(cm, axis1=-2, axis2=-1)
        den = cm.sum(-1) + cm.sum(-2)
        f1 = np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0)
        return f1.mean(-1)

    value = float(from_stats(stats.sum(0))) if scored.any() else None
    per_example = [float(t == p) if s else None for t, p, s in zip(y_true, y_pred, scored)]
    return MetricResult(
        key=key,
        value=value,
        higher_is_better=True,
        per_example=per_example,
        scored=scored,
        suff_stats=stats,
        from_stats=from_stats,
        corpus_only=True,
    )


def macro_f1_of_labels(y_true, y_pred, n_labels: int, axis: int = -1):
    """Macro F1 of label arrays along ``axis`` (vectorised over the other axes), zero_division=0."""
    y_true, y_pred = np.moveaxis(np.asarray(y_true), axis, -1), np.moveaxis(np.asarray(y_pred), axis, -1)
    f1 = []
    for c in range(n_labels):
        t, p = y_true == c, y_pred == c
        tp = (t & p).sum(-1)
        den = t.sum(-1) + p.sum(-1)
        f1.append(np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0))
    return np.mean(f1, axis=0)


def classifier(rng, n: int, accuracy: float, n_labels: int = 4, prevalence=(0.5, 0.25, 0.15, 0.1), y_true=None):
    """Gold labels (imbalanced) and predictions right with probability ``accuracy``, else a random other label."""
    y_true = rng.choice(n_labels, size=n, p=prevalence) if y_true is None else y_true
    right = rng.random(n) < accuracy
    other = (y_true + rng.integers(1, n_labels, size=n)) % n_labels
    return y_true, np.where(right, y_true, other)


def test_macro_f1_result_matches_sklearn_on_data_and_resamples():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    y_true, y_pred = classifier(rng, 200, 0.7)
    r = macro_f1_result(y_true, y_pred, 4)
    assert r.value == pytest.approx(f1_score(y_true, y_pred, labels=range(4), average="macro", zero_division=0))
    for _ in range(5):  # a resample through the stats equals sklearn on the resampled examples
        idx = rng.integers(0, 200, 200)
        counts = np.bincount(idx, minlength=200).astype(float)
        expect = f1_score(y_true[idx], y_pred[idx], labels=range(4), average="macro", zero_division=0)
        assert float(r.from_stats(counts @ r.suff_stats)) == pytest.approx(expect)
        assert float(macro_f1_of_labels(y_true[idx], y_pred[idx], 4)) == pytest.approx(expect)


def test_mean_result_stats_are_sum_and_count():
    r = mean_result("x", [0.5, None, 1.0])
    assert r.n == 2 and r.unscored == 1
    assert float(r.from_stats(r.suff_stats.sum(0))) == pytest.approx(0.75)

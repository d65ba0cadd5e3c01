"""holm, task_summaries and slice_summaries."""

from __future__ import annotations

import numpy as np
import pytest

from evalstack.config import StatsSettings
from evalstack.metrics import mean_result
from evalstack.stats import holm, metric_summary, paired_delta, restrict, slice_summaries, task_summaries
from test_stats_support import classifier, macro_f1_result


def test_holm_hand_worked():
    # sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> monotone 0.06)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([None, 0.02, float("nan"), 0.04]) == [None, pytest.approx(0.04), None, pytest.approx(0.04)]
    assert holm([]) == []
    assert holm([0.2]) == [0.2]


def _results(seed=0, n=200):
    rng = np.random.default_rng(seed)
    y_true, y_base = classifier(rng, n, 0.6)
    _, y_ft = classifier(rng, n, 0.7, y_true=y_true)
    rouge_base = rng.random(n)
    return {
        "base": {"f1_macro": macro_f1_result(y_true, y_base, 4), "rougeL": mean_result("rougeL", list(rouge_base))},
        "ft": {
            "f1_macro": macro_f1_result(y_true, y_ft, 4),
            "rougeL": mean_result("rougeL", list(np.clip(rouge_base + 0.05, 0, 1))),
            "extra": mean_result("extra", [1.0] * n),
        },
    }


def test_task_summaries_equal_the_single_calls():
    res = _results()
    settings = StatsSettings(confidence=0.9, n_resamples=500, seed=4)
    metrics, deltas = task_summaries(res, "base", settings)
    assert set(metrics) == {"base", "ft"} and set(metrics["ft"]) == {"f1_macro", "rougeL", "extra"}
    assert set(deltas) == {"ft"} and set(deltas["ft"]) == {"f1_macro", "rougeL"}  # no baseline 'extra'
    opts = dict(confidence=0.9, n_resamples=500, seed=4)
    assert metrics["ft"]["rougeL"] == metric_summary(res["ft"]["rougeL"], **opts)
    assert deltas["ft"]["f1_macro"] == paired_delta(res["ft"]["f1_macro"], res["base"]["f1_macro"], **opts)
    assert deltas["ft"]["rougeL"].quantiles is not None
    with pytest.raises(ValueError):
        task_summaries(res, "nope", settings)


def test_task_summaries_default_settings():
    metrics, _ = task_summaries({"base": {"x": mean_result("x", [0.0, 1.0, 1.0])}}, "base")
    assert metrics["base"]["x"].ci_low is not None


def test_slice_summaries_per_value():
    res = _results(n=150)
    rng = np.random.default_rng(3)
    values = list(rng.choice(["en", "de", "fr"], size=150))
    values[:5] = [None] * 5
    settings = StatsSettings(n_resamples=300)
    slices = slice_summaries(res, "base", values, "language", settings)
    assert [s.value for s in slices] == ["de", "en", "fr"]
    arr = np.array(values, dtype=object)
    for s in slices:
        mask = arr == s.value
        assert s.column == "language" and s.n == mask.sum()
        sub = restrict(res["ft"]["f1_macro"], mask)
        assert s.metrics["ft"]["f1_macro"].value == pytest.approx(sub.value)
        assert s.metrics["ft"]["f1_macro"].n == mask.sum()
        assert s.deltas["ft"]["rougeL"].n == mask.sum()
        assert s.deltas["ft"]["rougeL"].quantiles is None
    assert sum(s.n for s in slices) == 145
    with pytest.raises(ValueError):
        slice_summaries(res, "base", values[:-1], "language", settings)


def test_slice_with_numbers_and_unscored():
    res = {"base": {"x": mean_result("x", [1.0, None, 0.0, 1.0])}, "ft": {"x": mean_result("x", [1.0, 1.0, None, 0.0])}}
    slices = slice_summaries(res, "base", [1, 1, 2, 2], "bucket", StatsSettings(n_resamples=200))
    one, two = slices
    assert (one.value, one.n) == ("1", 2)
    assert one.metrics["base"]["x"].unscored == 1 and one.deltas["ft"]["x"].n == 1
    assert two.deltas["ft"]["x"].n == 1 and two.deltas["ft"]["x"].delta == pytest.approx(-1.0)

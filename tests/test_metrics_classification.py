"""Classification metrics: label extraction, and equality with scikit-learn on seeded random data."""

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from evalstack.errors import ConfigError, DataError
from evalstack.metrics import compute, extract_labels, get_metric

LABELS = ["billing", "bug", "account", "other"]
INVALID = "__invalid__"  # how an invalid prediction is handed to sklearn: a label outside `labels`


# ------------------------------------------------------------------------------------------ extraction


def test_normalized_mode_is_default_and_strips_case_punctuation_whitespace():
    outs = ["Billing.", " **BUG** ", "account\n", "`other`", "bill", "billing issue", None]
    assert extract_labels(outs, LABELS) == ["billing", "bug", "account", "other", None, None, None]


def test_exact_mode_is_whole_string_case_folded_unless_case_sensitive():
    assert extract_labels(["Bug", "bug.", "bug"], LABELS, mode="exact") == ["bug", None, "bug"]
    assert extract_labels(["Bug", "bug"], LABELS, mode="exact", case_sensitive=True) == [None, "bug"]


def test_first_mode_takes_earliest_whole_word_and_longest_at_same_position():
    labels = ["bug", "bug report", "account"]
    outs = ["I think it's a Bug report, not account", "account or bug?", "debugging", "no idea"]
    assert extract_labels(outs, labels, mode="first") == ["bug report", "account", None, None]


def test_first_mode_keeps_labels_with_symbols():
    assert extract_labels(["I'd say C++ here", "c#"], ["C", "C++", "C#"], mode="first") == ["C++", "C#"]


def test_regex_mode_uses_first_group_then_normalizes():
    outs = ["Reasoning... Label: Billing.", "Label: nothing", "no label line"]
    got = extract_labels(outs, LABELS, regex=r"Label:\s*(\S+)")
    assert got == ["billing", None, None]
    assert extract_labels(["answer=bug"], LABELS, mode="regex", regex=r"bug") == ["bug"]


def test_aliases_map_to_labels_in_every_mode():
    aliases = {"payment": "billing", "Defect": "bug"}
    assert extract_labels(["Payment!", "defect"], LABELS, aliases=aliases) == ["billing", "bug"]
    assert extract_labels(["a payment problem"], LABELS, aliases=aliases, mode="first") == ["billing"]


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"aliases": {"payment": "refund"}}, "unknown label 'refund'"),
        ({"mode": "fuzzy"}, "mode 'fuzzy' is unknown"),
        ({"mode": "regex"}, "needs label_parsing.regex"),
        ({"regex": "("}, "not a valid regular expression"),
    ],
)
def test_bad_label_parsing_is_one_config_error(kwargs, fragment):
    with pytest.raises(ConfigError) as exc:
        extract_labels(["x"], LABELS, **kwargs)
    assert fragment in str(exc.value) and "\n" not in str(exc.value)


def test_labels_that_collide_after_normalization_are_rejected():
    with pytest.raises(ConfigError, match="same after normalisation"):
        extract_labels(["x"], ["Bug", "bug."])


# ---------------------------------------------------------------------------------- sklearn equality


def _random_case(rng, n_labels=None):
    labels = LABELS[: n_labels or rng.integers(2, 5)]
    n = int(rng.integers(1, 40))
    # some classes absent from the references, some from the predictions, some invalid outputs
    true_pool = labels[: rng.integers(1, len(labels) + 1)]
    pred_pool = list(labels[rng.integers(0, len(labels)) :]) + ["gibberish", "BUG!"]
    y_true = [str(x) for x in rng.choice(true_pool, n)]
    outputs = [str(x) for x in rng.choice(pred_pool, n)]
    return labels, y_true, outputs


def _sk_pred(outputs, labels):
    return [INVALID if e is None else e for e in extract_labels(outputs, labels)]


@pytest.mark.parametrize("seed", range(6))
def test_all_classification_metrics_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    warnings.simplefilter("ignore")
    for _ in range(12):
        labels, y_true, outputs = _random_case(rng)
        y_pred = _sk_pred(outputs, labels)
        ctx = {"labels": labels}
        assert compute("accuracy", outputs, y_true, context=ctx).value == pytest.approx(
            skm.accuracy_score(y_true, y_pred), abs=1e-12
        )
        assert compute("balanced_accuracy", outputs, y_true, context=ctx).value == pytest.approx(
            skm.balanced_accuracy_score(y_true, y_pred), abs=1e-12
        )
        assert compute("balanced_accuracy", outputs, y_true, adjusted=True, context=ctx).value == pytest.approx(
            skm.balanced_accuracy_score(y_true, y_pred, adjusted=True), abs=1e-12, nan_ok=True
        )
        assert compute("mcc", outputs, y_true, context=ctx).value == pytest.approx(
            skm.matthews_corrcoef(y_true, y_pred), abs=1e-12
        )
        assert compute("cohen_kappa", outputs, y_true, context=ctx).value == pytest.approx(
            skm.cohen_kappa_score(y_true, y_pred, replace_undefined_by=0.0), abs=1e-12
        )
        for zd in ("warn", 0, 1, "nan"):
            sk_zd = np.nan if zd == "nan" else zd
            for avg in ("micro", "macro", "weighted"):
                p, r, f, _ = skm.precision_recall_fscore_support(
                    y_true, y_pred, labels=labels, average=avg, zero_division=sk_zd
                )
                for name, want in (("precision", p), ("recall", r), ("f1", f)):
                    got = compute(name, outputs, y_true, average=avg, zero_division=zd, context=ctx)
                    assert got.key == f"{name}_{avg}"
                    assert got.value == pytest.approx(want, abs=1e-12, nan_ok=True), (name, avg, zd)
                mcm = skm.multilabel_confusion_matrix(y_true, y_pred, labels=labels)
                tn, fp = mcm[:, 0, 0].astype(float), mcm[:, 0, 1].astype(float)
                with np.errstate(invalid="ignore", divide="ignore"):
                    per = np.where(tn + fp == 0, np.nan if zd == "nan" else float(zd == 1), tn / (tn + fp))
                support = mcm[:, 1, 1] + mcm[:, 1, 0]
                ok = ~np.isnan(per)
                if not ok.any():
                    want = np.nan
                elif avg == "micro":
                    want = tn.sum() / (tn + fp).sum()
                elif avg == "macro" or support[ok].sum() == 0:
                    want = per[ok].mean()
                else:
                    want = np.average(per[ok], weights=support[ok])
                got = compute("specificity", outputs, y_true, average=avg, zero_division=zd, context=ctx).value
                assert got == pytest.approx(want, abs=1e-12, nan_ok=True), ("specificity", avg, zd)


def test_per_class_scores_and_confusion_matrix_in_details():
    warnings.simplefilter("ignore")
    y_true = ["bug", "bug", "billing", "account", "account"]
    outputs = ["bug", "billing", "billing", "who knows", "account"]
    r = compute("f1", outputs, y_true, average=["macro", "micro"], context={"labels": LABELS})
    y_pred = _sk_pred(outputs, LABELS)
    per_class = skm.f1_score(y_true, y_pred, labels=LABELS, average=None)
    assert r.details["per_class"] == pytest.approx(dict(zip(LABELS, per_class)))
    assert r.details["invalid"] == 1
    assert r.details["columns"] == LABELS + ["invalid"]
    cm = np.array(r.details["confusion_matrix"])
    assert cm.shape == (4, 5) and cm[2, 4] == 1 and cm.sum() == 5
    assert (cm[:, :4] == skm.confusion_matrix(y_true, y_pred, labels=LABELS)).all()
    assert [x.key for x in r.details["all"].values()] == ["f1_macro", "f1_micro"]
    assert r.corpus_only and r.per_example == [1.0, 0.0, 1.0, 0.0, 1.0]


def test_resampled_confusion_stats_equal_sklearn_on_the_resample():
    """Bootstrap through count matrices: from_stats(C @ suff_stats) == sklearn on repeated examples."""
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(7)
    labels, y_true, outputs = _random_case(rng, n_labels=4)
    outputs[0] = None  # a failed generation: unscored, never resampled into the metric
    y_true, outputs = y_true * 3, outputs * 3
    n = len(outputs)
    results = {
        name: compute(name, outputs, y_true, context={"labels": labels}, **opts)
        for name, opts in [
            ("accuracy", {}),
            ("f1", {"average": "macro"}),
            ("mcc", {}),
            ("cohen_kappa", {}),
            ("balanced_accuracy", {}),
            ("precision", {"average": "weighted"}),
        ]
    }
    counts = rng.multinomial(n, np.ones(n) / n, size=25)
    for name, res in results.items():
        assert res.unscored == 3 and res.n == n - 3
        resampled = res.from_stats(counts @ res.suff_stats)
        for row, got in zip(counts, resampled):
            keep = np.repeat(np.arange(n), row)
            keep = [i for i in keep if outputs[i] is not None]
            yt = [y_true[i] for i in keep]
            yp = _sk_pred([outputs[i] for i in keep], labels)
            want = {
                "accuracy": lambda: skm.accuracy_score(yt, yp),  # noqa: B023
                "f1": lambda: skm.f1_score(yt, yp, labels=labels, average="macro", zero_division=0),  # noqa: B023
                "mcc": lambda: skm.matthews_corrcoef(yt, yp),  # noqa: B023
                "cohen_kappa": lambda: skm.cohen_kappa_score(yt, yp, replace_undefined_by=0.0),  # noqa: B023
                "balanced_accuracy": lambda: skm.balanced_accuracy_score(yt, yp),  # noqa: B023
                "precision": lambda: skm.precision_score(yt, yp, labels=labels, average="weighted", zero_division=0),  # noqa: B023
            }[name]()
            assert got == pytest.approx(want, abs=1e-12), name


def test_invalid_outputs_count_as_wrong_and_failed_generations_as_unscored():
    r = compute("accuracy", ["bug", "???", None], ["bug", "bug", "bug"], context={"labels": LABELS})
    assert r.value == 0.5 and r.n == 2 and r.unscored == 1
    assert r.per_example == [1.0, 0.0, None] and r.details["invalid"] == 1


def test_label_parsing_from_context_and_option_override():
    outs = ["Answer: Billing", "Answer: bug"]
    ctx = {"labels": LABELS, "label_parsing": {"regex": r"Answer:\s*(\w+)"}}
    assert compute("accuracy", outs, ["billing", "bug"], context=ctx).value == 1.0
    r = compute("accuracy", outs, ["billing", "bug"], label_parsing={"mode": "exact"}, context=ctx)
    assert r.value == 0.0 and r.details["invalid"] == 2


def test_labels_default_to_the_reference_values():
    r = compute("accuracy", ["yes", "No."], ["yes", "no"])
    assert r.value == 1.0 and r.details["labels"] == ["no", "yes"]


@pytest.mark.parametrize(
    "name, opts, fragment",
    [
        ("f1", {"average": "samples"}, "option 'average'"),
        ("f1", {"zero_division": 2}, "option 'zero_division'"),
        ("f1", {"avg": "macro"}, "did you mean 'average'"),
        ("accuracy", {"labels": ["a"], "label_parsing": {"aliases": {"x": "b"}}}, "unknown label 'b'"),
        ("accuracy", {"label_parsing": {"modes": "first"}}, "unknown key 'modes'"),
        ("cohen_kappa", {"replace_undefined_by": 3}, "option 'replace_undefined_by'"),
    ],
)
def test_bad_options_are_config_errors(name, opts, fragment):
    with pytest.raises(ConfigError) as exc:
        get_metric(name)(**opts)
    assert fragment in str(exc.value) and name in str(exc.value)


def test_reference_outside_the_labels_is_a_data_error():
    with pytest.raises(DataError, match="reference label 'refund' of example 1"):
        compute("accuracy", ["bug", "bug"], ["bug", "refund"], context={"labels": LABELS})


def test_classification_metric_gives_every_key_equal_to_the_single_metrics():
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(3)
    labels, y_true, outputs = _random_case(rng, n_labels=4)
    ctx = {"labels": labels}
    allr = get_metric("classification")(average=["macro", "micro"]).compute(outputs, y_true, **ctx)
    keys = [r.key for r in allr]
    assert keys[0] == "accuracy" and len(keys) == len(set(keys)) == 12
    singles = {
        "accuracy": ("accuracy", {}),
        "balanced_accuracy": ("balanced_accuracy", {}),
        "mcc": ("mcc", {}),
        "cohen_kappa": ("cohen_kappa", {}),
    }
    for name in ("f1", "precision", "recall", "specificity"):
        for avg in ("macro", "micro"):
            singles[f"{name}_{avg}"] = (name, {"average": avg})
    for r in allr:
        name, opts = singles[r.key]
        assert r.value == pytest.approx(compute(name, outputs, y_true, context=ctx, **opts).value, abs=1e-15)

"""Invariants every registered metric must keep (in the style of scikit-learn's metrics test_common).

One table describes a small input for each metric; the tests run the same checks over all of them:
failed generations (None) are unscored and change nothing else, the sufficient statistics reproduce the
value, directions and forms are declared, options are validated, details are JSON-able, and the public
API and `evalstack metrics` list exactly what is registered.
"""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import evalstack.metrics as metrics
from evalstack.errors import ConfigError
from evalstack.metrics import MetricInfo, compute, get_metric, list_metrics
from evalstack.metrics._cli import metrics_cmd

LABELS = ["billing", "bug", "account"]
CLS_PRED = ["billing", "Bug.", "who knows", "account", "bug", "billing", "account"]
CLS_REF = ["billing", "bug", "bug", "account", "billing", "account", "account"]
TEXT_PRED = [
    "the cat sat on the mat",
    "a quick brown fox",
    "hello there world",
    "",
    "cats are nice animals",
    "you are an idiot",
    "it rains today",
]
TEXT_REF = [
    "a cat sat on a mat",
    ["the fast brown fox", "quick fox"],
    "hello world",
    "something",
    "cats are nice",
    "be kind",
    "today it rains",
]
CLS_CTX = {"labels": LABELS}
LOGPROBS = [[-0.1, -2.0], [-1.0], [-0.3, -0.2, -0.9], [-5.0], [-0.5, -0.5], [-2.2], [-0.01, -0.7]]
KNOWLEDGE = ["cats sit on mats", ["foxes are quick", "brown"], "greetings", "", "cats", "kindness", "rain"]
slow = pytest.mark.slow

_CALL = {"id": "c", "type": "function", "function": {"name": "refund", "arguments": '{"order_id": "A1"}'}}
_BAD = {"id": "c", "type": "function", "function": {"name": "refund", "arguments": "{"}}
TOOL_CTX = {
    "tool_calls": [[_CALL], [], [_BAD], [_CALL, _CALL], [], [_CALL], []],
    "expected_calls": [[{"name": "refund", "arguments": {"order_id": "A1"}}], [], [], [], [{"name": "refund"}], [], []],
    "tool_schemas": {"refund": {"type": "object", "properties": {"order_id": {"type": "string"}}}},
}
TOOL_PRED = [""] * 7

# name -> (options, predictions, references, context)
CASES = {
    **{m: ({}, TOOL_PRED, None, TOOL_CTX) for m in ("tool_name_accuracy", "tool_args_exact", "tool_args_f1")},
    **{m: ({}, TOOL_PRED, None, TOOL_CTX) for m in ("tool_call_valid", "no_call_accuracy")},
    "accuracy": ({}, CLS_PRED, CLS_REF, CLS_CTX),
    "precision": ({"average": ["macro", "micro", "weighted"]}, CLS_PRED, CLS_REF, CLS_CTX),
    "recall": ({"average": "weighted"}, CLS_PRED, CLS_REF, CLS_CTX),
    "f1": ({"average": "macro"}, CLS_PRED, CLS_REF, CLS_CTX),
    "specificity": ({}, CLS_PRED, CLS_REF, CLS_CTX),
    "balanced_accuracy": ({}, CLS_PRED, CLS_REF, CLS_CTX),
    "mcc": ({}, CLS_PRED, CLS_REF, CLS_CTX),
    "cohen_kappa": ({}, CLS_PRED, CLS_REF, CLS_CTX),
    "classification": ({"average": ["macro", "weighted"]}, CLS_PRED, CLS_REF, CLS_CTX),
    "exact_match": ({}, TEXT_PRED, TEXT_REF, {}),
    "token_f1": ({}, TEXT_PRED, TEXT_REF, {}),
    "knowledge_f1": ({}, TEXT_PRED, None, {"knowledge": KNOWLEDGE}),
    "rouge": ({"stemmer": True}, TEXT_PRED, TEXT_REF, {}),
    "bleu": ({}, TEXT_PRED, TEXT_REF, {}),
    "chrf": ({"word_order": 2}, TEXT_PRED, TEXT_REF, {}),
    "ter": ({}, TEXT_PRED, TEXT_REF, {}),
    "self_bleu": ({}, TEXT_PRED, None, {}),
    "toxicity": ({}, TEXT_PRED, None, {}),
    "perplexity": ({}, TEXT_PRED, None, {"logprobs": LOGPROBS}),
    "mean_logprob": ({}, TEXT_PRED, None, {"logprobs": LOGPROBS}),
    "bertscore": ({}, TEXT_PRED, TEXT_REF, {}),
    "evaluate": (
        {"path": str(Path(__file__).parent / "fixtures" / "metrics" / "word_overlap")},
        TEXT_PRED,
        [r if isinstance(r, str) else r[0] for r in TEXT_REF],
        {},
    ),
}
SLOW = {"bertscore", "evaluate"}  # model loading / a 7 s import
NAMES = [pytest.param(n, marks=slow) if n in SLOW else n for n in sorted(CASES)]


def _run(name, drop=None, none_at=None):
    opts, preds, refs, ctx = CASES[name]
    preds, refs = list(preds), None if refs is None else list(refs)
    ctx = {k: (list(v) if isinstance(v, list) else v) for k, v in ctx.items()}
    if none_at is not None:
        preds[none_at] = None
    if drop is not None:
        del preds[drop]
        if refs is not None:
            del refs[drop]
        for k in ("logprobs", "knowledge", "tool_calls", "expected_calls"):
            if k in ctx:
                del ctx[k][drop]
    return get_metric(name)(**opts).compute(preds, refs, **ctx)


def test_the_table_covers_every_registered_metric():
    assert sorted(CASES) == sorted(i.name for i in list_metrics())


@pytest.mark.parametrize("name", NAMES)
def test_results_are_consistent_and_resamplable(name):
    results = _run(name)
    info = get_metric(name).info
    assert results and isinstance(info, MetricInfo)
    n = len(CASES[name][1])
    for r in results:
        assert r.higher_is_better is info.higher_is_better
        assert r.scored.shape == (n,) and r.suff_stats.shape[0] == n
        assert np.all(r.suff_stats[~r.scored] == 0)
        assert r.value is not None and np.isfinite(r.value)
        assert float(r.from_stats(r.suff_stats[r.scored].sum(0))) == pytest.approx(r.value, abs=1e-12)
        assert r.recompute() == pytest.approx(r.value, abs=1e-12)
        # vectorised over resamples: a (B, k) batch of summed stats gives B values
        counts = np.random.default_rng(0).multinomial(n, np.ones(n) / n, size=4)
        batch = r.from_stats(counts @ r.suff_stats)
        assert batch.shape == (4,)
        assert batch[0] == pytest.approx(float(r.from_stats(counts[0] @ r.suff_stats)), nan_ok=True)
        if r.per_example is not None:
            assert len(r.per_example) == n
        json.dumps(r.details)
    assert results[0].corpus_only is (not info.per_example)


@pytest.mark.parametrize("name", NAMES)
def test_a_failed_generation_is_unscored_and_changes_nothing_else(name):
    full = {r.key: r for r in _run(name, none_at=2)}
    without = {r.key: r for r in _run(name, drop=2)}
    assert list(full) == list(without)
    for key, r in full.items():
        assert r.unscored >= 1 and not r.scored[2]
        if r.per_example is not None:
            assert r.per_example[2] is None
        assert r.value == pytest.approx(without[key].value, abs=1e-9, nan_ok=True)


@pytest.mark.parametrize("name", NAMES)
def test_all_outputs_failed_gives_no_value_and_no_crash(name):
    opts, preds, refs, ctx = CASES[name]
    results = get_metric(name)(**opts).compute([None] * len(preds), refs, **ctx)
    for r in results:
        assert r.value is None and r.n == 0 and r.unscored == len(preds)


@pytest.mark.parametrize("name", sorted(CASES))
def test_options_are_validated(name):
    cls = get_metric(name)
    with pytest.raises(ConfigError) as exc:
        cls(definitely_not_an_option=1)
    assert f"metric '{name}'" in str(exc.value) and "unknown option" in str(exc.value)
    for option in cls.OPTIONS:
        with pytest.raises(ConfigError) as exc:
            cls(**{option: object()})
        assert f"option '{option}'" in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_info_declares_direction_form_and_options(name):
    info = get_metric(name).info
    assert info.name == name and isinstance(info.higher_is_better, bool) and isinstance(info.per_example, bool)
    assert info.keys and info.description
    for option in get_metric(name).OPTIONS:
        assert f"{option}=" in info.options


def test_lower_is_better_metrics():
    lower = sorted(i.name for i in list_metrics() if not i.higher_is_better)
    assert lower == ["perplexity", "self_bleu", "ter", "toxicity"]


def test_planning_flags_for_the_pipeline():
    uses_labels = sorted(i.name for i in list_metrics() if get_metric(i.name).uses_labels)
    assert uses_labels == [
        "accuracy",
        "balanced_accuracy",
        "classification",
        "cohen_kappa",
        "f1",
        "mcc",
        "precision",
        "recall",
        "specificity",
    ]
    reference_free = sorted(i.name for i in list_metrics() if not get_metric(i.name).needs_reference)
    assert reference_free == [
        "knowledge_f1",
        "mean_logprob",
        "no_call_accuracy",
        "perplexity",
        "self_bleu",
        "tool_args_exact",
        "tool_args_f1",
        "tool_call_valid",
        "tool_name_accuracy",
        "toxicity",
    ]


# more options per metric whose keys depend on them (the table's options are checked too)
KEY_OPTIONS = {
    "precision": [{}, {"average": "micro"}],
    "f1": [{"average": ["weighted", "micro"]}],
    "specificity": [{"average": ["micro", "macro"]}],
    "classification": [{}, {"average": "weighted"}],
    "rouge": [{}, {"types": ["rougeL", "rouge1"], "measure": ["precision", "fmeasure", "recall"]}],
}


@pytest.mark.parametrize("name", NAMES)
def test_declared_keys_are_the_keys_compute_returns(name):
    """Issue 15 item 3: the pipeline checks gate rules against ``keys(options)`` before any metric runs,
    so they must be exactly what compute returns, in its order, with outputs scored or all failed."""
    base, preds, refs, ctx = CASES[name]
    cls = get_metric(name)
    for opts in [base, *KEY_OPTIONS.get(name, [])]:
        computed = tuple(r.key for r in cls(**opts).compute(list(preds), refs, **ctx))
        if name == "evaluate" and "keys" not in opts:  # the module's own keys: only computing tells
            assert cls.keys(opts) == () and computed
            opts = {**opts, "keys": list(reversed(computed))}
            computed = tuple(r.key for r in cls(**opts).compute(list(preds), refs, **ctx))
        assert cls.keys(opts) == computed, opts
        assert tuple(r.key for r in cls(**opts).compute([None] * len(preds), refs, **ctx)) == computed, opts


def test_declared_needs():
    needs_context = sorted(i.name for i in list_metrics() if get_metric(i.name).needs_context)
    assert needs_context == ["knowledge_f1"]
    needs_logprobs = sorted(i.name for i in list_metrics() if get_metric(i.name).needs_logprobs)
    assert needs_logprobs == ["mean_logprob", "perplexity"]
    assert get_metric("perplexity")().needs_logprobs and not get_metric("rouge")().needs_logprobs


def test_keys_validate_options_as_the_constructor_does():
    with pytest.raises(ConfigError, match="metric 'f1': option 'average'"):
        get_metric("f1").keys({"average": "mean"})
    with pytest.raises(ConfigError, match="did you mean 'types'"):
        get_metric("rouge").keys({"type": ["rougeL"]})


def test_unknown_metric_has_a_did_you_mean():
    with pytest.raises(ConfigError, match="did you mean 'rouge'"):
        get_metric("rogue")


def test_compute_returns_the_first_result_with_all_keys():
    r = compute("rouge", ["a b c"], ["a b d"], types=["rouge1", "rougeL"])
    assert r.key == "rouge1" and list(r.details["all"]) == ["rouge1", "rougeL"]
    assert r.value == pytest.approx(2 / 3) and r.per_example == [pytest.approx(2 / 3)] and r.higher_is_better


def test_public_api_is_pinned():
    assert sorted(metrics.__all__) == sorted(
        [
            "BaseMetric",
            "LABEL_MODES",
            "Metric",
            "MetricContext",
            "MetricInfo",
            "MetricResult",
            "Option",
            "RayEngine",
            "Reference",
            "RougeScorer",
            "compute",
            "connect_ray",
            "extract_labels",
            "get_metric",
            "list_metrics",
            "mean_result",
            "register_metric",
            "use_engine",
            "valid_call",
        ]
    )
    for name in metrics.__all__:
        assert getattr(metrics, name) is not None


def test_cli_lists_every_metric_as_table_and_json():
    runner = CliRunner()
    out = runner.invoke(metrics_cmd, ["--json"])
    assert out.exit_code == 0
    listed = json.loads(out.output)
    assert listed == [dataclasses.asdict(i) for i in list_metrics()]
    table = runner.invoke(metrics_cmd, [])
    assert table.exit_code == 0
    assert "toxicity  [lower is better, per-example]" in table.output
    assert "f1  [higher is better, corpus-only]" in table.output
    assert "option:  average='macro'" in table.output


def test_evalstack_metrics_command_is_wired():
    from evalstack.cli import main

    assert main(["metrics", "--json"]) == 0


def test_importing_the_registry_loads_no_heavy_library():
    import subprocess
    import sys

    code = (
        "import sys, evalstack.metrics as m; m.list_metrics(); "
        "heavy = [x for x in ('torch', 'transformers', 'sklearn', 'sacrebleu', 'bert_score', 'evaluate', "
        "'rouge_score', 'profanity_check', 'nltk', 'datasets') if x in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_metrics_command_describes_chrf_default_truthfully(capsys):
    """Issue 14 item 9: `evalstack metrics` said "chrF++ with word_order: 2" while the default is 0 (plain
    chrF, as sacrebleu's CHRF())."""
    import re

    from sacrebleu.metrics import CHRF

    from evalstack.cli import main

    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    block = out[out.index("\nchrf ") :].split("\n\n")[0]
    default = int(re.search(r"option:\s+word_order=(\d+)", block).group(1))
    assert default == CHRF().word_order == 0
    what = next(line for line in block.splitlines() if line.strip().startswith("what:"))
    assert f"word_order: {default}" in what and "with word_order: 2)" not in what
    assert compute("chrf", ["a cat sat"], ["the cat sat"]).value == pytest.approx(
        CHRF().corpus_score(["a cat sat"], [["the cat sat"]]).score
    )

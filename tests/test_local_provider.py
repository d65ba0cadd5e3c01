"""The `local` provider on a tiny randomly initialised GPT-2 that the test builds and saves (no download)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = ["the ticket is about billing", "the app crashes on login", "refund my order please"] * 20
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<pad>", "<eos>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=fast.vocab_size,
        n_positions=128,
        n_embd=32,
        n_layer=2,
        n_head=2,
        eos_token_id=fast.eos_token_id,
        bos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    return folder


def test_local_generation_is_greedy_batched_and_deterministic(tiny_checkpoint: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalstack.config import LocalModel
    from evalstack.models import Request, make_provider

    cfg = LocalModel(provider="local", path=tiny_checkpoint, max_new_tokens=5, batch_size=2)
    prov = make_provider("sft", cfg)
    prov.check_ready()
    reqs = [
        Request.make("t", str(i), [{"role": "user", "content": text}])
        for i, text in enumerate(["the ticket is", "refund my order please now", "the app"])
    ]
    gens = asyncio.run(prov.generate_micro_batch(reqs))
    again = asyncio.run(prov.generate_micro_batch(reqs))
    assert [g.text for g in gens] == [g.text for g in again]
    # independent check: plain transformers greedy decoding of the same prompt, unbatched
    tok = AutoTokenizer.from_pretrained(tiny_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    for req, gen in zip(reqs, gens):
        enc = tok(req.messages[0][1] + "\n", return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
        new = out[0, enc["input_ids"].shape[1] :].tolist()
        if tok.eos_token_id in new:
            new = new[: new.index(tok.eos_token_id)]
        assert gen.text == tok.decode(new, skip_special_tokens=True).strip()
        assert gen.logprobs is not None and len(gen.logprobs) == gen.completion_tokens
        assert all(lp <= 0 for lp in gen.logprobs)


def test_local_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    from evalstack.config import LocalModel
    from evalstack.errors import ConfigError
    from evalstack.models import make_provider

    prov = make_provider("sft", LocalModel(provider="local", path=tmp_path / "nope"))
    with pytest.raises(ConfigError, match="checkpoint folder not found"):
        prov.check_ready()

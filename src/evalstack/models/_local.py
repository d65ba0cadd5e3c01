"""A Hugging Face transformers checkpoint folder (causal LM) on this machine.

Loaded from the folder only (``local_files_only``: nothing is downloaded), batched greedy decoding with
left padding, the tokenizer's chat template when it has one, CPU by default. Per-token logprobs of the
generated tokens are returned (for perplexity). torch and transformers are imported on first use.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..errors import ConfigError, DataError
from ._base import CacheIdentity, Generation, Provider, ProviderSettings, Request, register_provider

_LOAD_LOCK = threading.Lock()
"""One checkpoint loads at a time: transformers' from_pretrained is not thread-safe (two local models of one
run loading at once left a weight on the meta device: "Cannot copy out of meta tensor")."""


def _fingerprint(path: Path) -> str:
    """Changes when the checkpoint's files change (names, sizes, mtimes), so the cache never serves stale outputs."""
    h = hashlib.sha256()
    for f in sorted(path.glob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


class LocalSettings(ProviderSettings):
    """A Hugging Face transformers checkpoint folder (causal LM), greedy decoding on CPU by default."""

    provider: Literal["local"]
    path: Path
    device: str = "cpu"
    batch_size: int = Field(8, ge=1)
    max_new_tokens: int = Field(64, ge=1)
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    concurrency: int = Field(1, ge=1, le=1)


@register_provider("local")
class LocalProvider(Provider):
    Settings = LocalSettings
    max_concurrency = 1

    cfg: LocalSettings

    def __init__(self, name: str, cfg: LocalSettings):
        super().__init__(name, cfg)
        self.micro_batch = cfg.batch_size  # prompts decoded together (the YAML key predates the Batch API)
        self._model: Any = None
        self._tok: Any = None

    def cache_identity(self) -> CacheIdentity:
        p = Path(self.cfg.path)
        return {
            "kind": "local",
            "model": str(p),
            "fingerprint": _fingerprint(p) if p.is_dir() else "",
            "dtype": self.cfg.dtype,
            "max_new_tokens": self.cfg.max_new_tokens,
        }

    def describe(self) -> str:
        return str(self.cfg.path)

    def returns_logprobs(self) -> bool:
        return True

    def check_ready(self) -> None:
        p = Path(self.cfg.path)
        if not p.is_dir():
            raise ConfigError(
                "checkpoint folder not found",
                where=f"models.{self.name}.path: {p}",
                hint="point path at a folder with config.json and the weights",
            )
        if not (p / "config.json").exists():
            raise DataError(
                "no config.json in the checkpoint folder",
                where=str(p),
                hint="save the model with model.save_pretrained(folder)",
            )

    def _load(self) -> None:
        with _LOAD_LOCK:
            if self._model is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            path = str(self.cfg.path)
            try:
                tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
                dtype = getattr(torch, self.cfg.dtype)
                model: Any = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
            except (OSError, ValueError) as exc:
                raise DataError(f"cannot load the checkpoint: {str(exc).splitlines()[0][:200]}", where=path) from None
            model.to(self.cfg.device)
            model.eval()
            tok.padding_side = "left"
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
            self._tok, self._model = tok, model

    def _prompt(self, request: Request) -> str:
        msgs = request.message_dicts
        if getattr(self._tok, "chat_template", None):
            return str(self._tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))
        return "\n\n".join(m["content"] for m in msgs) + "\n"

    def _generate_sync(self, requests: list[Request]) -> list[Generation]:
        import torch

        self._load()
        tok, model = self._tok, self._model
        params: dict[str, Any] = self.effective_params(requests[0])
        max_new = int(params.get("max_tokens", self.cfg.max_new_tokens))
        prompts = [self._prompt(r) for r in requests]
        enc = tok(prompts, return_tensors="pt", padding=True).to(self.cfg.device)
        with torch.no_grad():
            out = model.generate(
                **enc,
                max_new_tokens=max_new,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
                return_dict_in_generate=True,
                output_scores=True,
            )
        new = out.sequences[:, enc["input_ids"].shape[1] :]
        scores = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        gens = []
        eos = tok.eos_token_id
        for i in range(len(requests)):
            ids = new[i].tolist()
            lps = scores[i].tolist()
            keep = len(ids)
            for j, t in enumerate(ids):
                if t == tok.pad_token_id and (eos is None or t == eos or j > 0):
                    keep = j
                    break
                if eos is not None and t == eos:
                    keep = j
                    break
            text = tok.decode(ids[:keep], skip_special_tokens=True)
            gens.append(
                Generation(
                    text=text.strip(),
                    logprobs=[float(x) for x in lps[:keep]],
                    tokens=[tok.decode([t]) for t in ids[:keep]],
                    prompt_tokens=int(enc["attention_mask"][i].sum()),
                    completion_tokens=keep,
                    finish_reason="stop" if keep < len(ids) else "length",
                )
            )
        return gens

    async def generate_micro_batch(self, requests: list[Request]) -> list[Generation]:
        return await asyncio.to_thread(self._generate_sync, requests)

    async def generate(self, request: Request) -> Generation:
        return (await self.generate_micro_batch([request]))[0]

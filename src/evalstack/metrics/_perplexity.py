"""Perplexity and mean token log-probability.

Token log-probabilities come from the provider (``context["logprobs"]``: per example a list of token
logprobs or None, e.g. OpenAI ``logprobs``, replay files, local models) or, with the ``model`` option, from
a local causal language model folder that scores the outputs (``text: prediction``) or the references
(``text: reference``, e.g. how surprising the held-out answers are to a checkpoint).

Sufficient statistics are ``[sum of logprobs, number of tokens]`` per example, so the corpus value is
token-weighted: perplexity = exp(-sum logprob / sum tokens) and mean_logprob = sum logprob / sum tokens.
Per example: exp(-mean logprob of that output). An example without logprobs (or with no token) is unscored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from ..errors import DataError
from ._base import MetricResult, register_metric
from ._hf import cached, check_model_folder, resolve_device
from ._inputs import check_predictions, context_column, reference_lists
from ._options import BaseMetric, Option, choice, existing_path, integer, optional, string


def _perplexity(s: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.exp(-s[..., 0] / s[..., 1])


def _mean_logprob(s: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return s[..., 0] / s[..., 1]


def _load_causal_lm(path: str, device: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).to(device).eval()  # type: ignore[arg-type]  # transformers' stubs
    return tok, model


def causal_lm_logprobs(
    texts: Sequence[str], path: str, *, device: str = "cpu", batch_size: int = 8
) -> list[list[float]]:
    """Token logprobs of each text under the local causal LM at ``path`` (BOS prepended when defined,
    so every text token is scored; otherwise the first token is context only)."""
    import torch

    tok, model = cached(("causal_lm", path, device), lambda: _load_causal_lm(path, device))
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", 1024)
    bos = tok.bos_token_id
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    out: list[list[float]] = []
    for start in range(0, len(texts), batch_size):
        seqs = []
        for t in texts[start : start + batch_size]:
            ids = tok(t, add_special_tokens=False)["input_ids"]
            ids = ([bos] if bos is not None else []) + ids
            seqs.append(ids[:limit])
        width = max((len(s) for s in seqs), default=0)
        if width < 2:
            out.extend([] for _ in seqs)
            continue
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, : len(s)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None].to(device))[..., 0]
        for i, s in enumerate(seqs):
            out.append(logp[i, : max(len(s) - 1, 0)].cpu().tolist())
    return out


class _LogprobMetric(BaseMetric):
    """Shared: where the logprobs come from, the stats, the result."""

    needs_reference = False
    needs_logprobs = True  # the provider's, unless a local `model` computes them (see _validate)

    OPTIONS = {
        "model": Option(None, optional(existing_path("dir")), "local causal LM folder (default: provider logprobs)"),
        "text": Option("prediction", choice("prediction", "reference"), "what the local model scores"),
        "batch_size": Option(8, integer(1), "local model batch size"),
        "device": Option(None, optional(string), "cpu | cuda | mps (default: cuda if available)"),
    }
    FORMULA = staticmethod(_perplexity)

    def _validate(self) -> None:
        self.needs_logprobs = self.opts["model"] is None
        if self.opts["model"] is not None:
            check_model_folder(self.name, self.opts["model"])
        elif self.opts["text"] != "prediction":
            self.fail("text", "'reference' needs the `model` option (a local causal LM to score them)")

    def loads_backend(self) -> bool:
        return self.opts["model"] is not None  # a local causal LM; provider logprobs cost nothing

    def logprobs(self, preds: list[str | None], references, context: dict[str, Any]) -> list[Any]:
        """Per example: a list of token logprobs or None."""
        n = len(preds)
        if self.opts["model"] is None:
            return context_column(self.name, context, "logprobs", n)
        if self.opts["text"] == "reference":
            refs = reference_lists(self.name, references, n)
            texts = [None if r is None or p is None else r[0] for p, r in zip(preds, refs)]
        else:
            texts = preds
        idx = [i for i, t in enumerate(texts) if t is not None]
        device = resolve_device(self.name, self.opts["device"])
        got = causal_lm_logprobs(
            cast(list[str], [texts[i] for i in idx]),
            self.opts["model"],
            device=device,
            batch_size=self.opts["batch_size"],
        )
        col: list[Any] = [None] * n
        for i, lp in zip(idx, got):
            col[i] = lp
        return col

    def compute(self, predictions, references=None, **context) -> list[MetricResult]:
        preds = check_predictions(self.name, predictions)
        col = self.logprobs(preds, references, context)
        stats = np.zeros((len(preds), 2))
        scored = np.zeros(len(preds), dtype=bool)
        for i, (p, lp) in enumerate(zip(preds, col)):
            if p is None or lp is None:
                continue
            try:
                vals = [float(x) for x in lp]
            except (TypeError, ValueError):
                raise DataError(f"metric '{self.name}': logprobs of example {i} are not a list of numbers") from None
            if not vals:
                continue
            if any(v > 0 or math.isnan(v) for v in vals):
                raise DataError(
                    f"metric '{self.name}': logprobs of example {i} contain a value > 0 or NaN",
                    hint="log-probabilities are <= 0",
                )
            stats[i] = (math.fsum(vals), len(vals))
            scored[i] = True
        per_example = [float(self.FORMULA(stats[i])) if scored[i] else None for i in range(len(preds))]
        value = float(self.FORMULA(stats[scored].sum(0))) if scored.any() else None
        return [
            MetricResult(
                key=self.name,
                value=value,
                higher_is_better=self.HIGHER_IS_BETTER,
                per_example=per_example,
                scored=scored,
                suff_stats=stats,
                from_stats=self.FORMULA,
                details={"tokens": int(stats[:, 1].sum())},
            )
        ]


@register_metric("perplexity")
class Perplexity(_LogprobMetric):
    KEYS = "perplexity"
    HIGHER_IS_BETTER = False
    DESCRIPTION = "exp(-mean token logprob), token-weighted over the corpus; lower is better."
    FORMULA = staticmethod(_perplexity)


@register_metric("mean_logprob")
class MeanLogprob(_LogprobMetric):
    KEYS = "mean_logprob"
    DESCRIPTION = "Mean token log-probability (token-weighted over the corpus); higher is better."
    FORMULA = staticmethod(_mean_logprob)

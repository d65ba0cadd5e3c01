"""Adapter for Hugging Face ``evaluate`` metric modules loaded from a local folder (offline).

YAML ``{evaluate: path/to/module}`` means ``EvaluateModule(path="path/to/module")``; more options with
``{evaluate: {path: ..., keys: [...], aggregate: corpus, kwargs: {...}}}``. The folder holds the
module script (``<folder>/<folder name>.py``, as on the hub); hub names are refused since nothing may be
downloaded. ``evaluate`` is imported only when the metric is computed (its import costs seconds).

Two ways to aggregate, because a black-box module gives no sufficient statistics:

- ``mean`` (default): the module is called once per example; the value is the mean of the per-example
  values (exact for accuracy-like modules; resampling is a plain mean).
- ``corpus``: one call over all scored examples gives the value; ``suff_stats`` are one-hot example
  indicators, and ``from_stats`` re-calls the module on the examples repeated by their resample counts
  (exact, but one module call per resample and n x n memory: for corpus metrics such as macro F1).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import ConfigError
from ._base import MetricResult, mean_result, register_metric
from ._hf import cached
from ._inputs import check_predictions, reference_lists
from ._options import BaseMetric, Option, boolean, choice, existing_path, mapping, one_line, optional, string_list


def load_module(path: str):
    """``evaluate.load(path)`` for a local module folder or script, cached per process."""

    def load():
        import evaluate

        return evaluate.load(path)

    try:
        return cached(("evaluate", path), load)
    except Exception as exc:
        raise ConfigError(
            f"metric 'evaluate': cannot load the module at '{path}': {type(exc).__name__}: {one_line(exc)}",
            hint="the folder must contain <folder name>.py defining an evaluate.Metric",
        ) from None


@register_metric("evaluate")
class EvaluateModule(BaseMetric):
    KEYS = "the module's numeric result keys (or `keys`)"
    LOADS_BACKEND = True  # `evaluate` itself takes seconds to import
    DESCRIPTION = "Any Hugging Face `evaluate` metric module from a local folder."
    OPTIONS = {
        "path": Option(None, existing_path("any"), "local module folder or .py file (required)"),
        "keys": Option(None, optional(string_list), "result keys to keep (default: every numeric one)"),
        "aggregate": Option("mean", choice("mean", "corpus"), "mean of per-example calls, or one corpus call"),
        "higher_is_better": Option(True, boolean, "direction of the module's keys"),
        "references": Option(True, boolean, "the module takes references"),
        "kwargs": Option({}, mapping, "extra keyword arguments for module.compute"),
    }

    def _validate(self) -> None:
        if self.opts["path"] is None:
            self.fail("path", "is required", hint="write {evaluate: path/to/metric_folder}")

    @classmethod
    def keys(cls, options=None) -> tuple[str, ...]:
        """The ``keys`` option; without it, only computing tells (the module's numeric result keys)."""
        return tuple(cls.option_values(options)["keys"] or ())

    def _call(self, module, preds: list[str], refs: list[Any] | None) -> dict[str, float]:
        args = dict(self.opts["kwargs"], predictions=preds)
        if refs is not None:
            args["references"] = refs
        try:
            out = module.compute(**args) or {}
        except Exception as exc:
            raise ConfigError(
                f"metric 'evaluate' ({os.path.basename(self.opts['path'])}): compute failed: "
                f"{type(exc).__name__}: {one_line(exc)}"
            ) from None
        keys = self.opts["keys"]
        numeric = {
            k: float(v) for k, v in out.items() if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
        }
        if keys is not None:
            missing = [k for k in keys if k not in numeric]
            if missing:
                raise ConfigError(
                    f"metric 'evaluate': the module returned no numeric '{missing[0]}'",
                    hint=f"it returned: {', '.join(out)}",
                )
            numeric = {k: numeric[k] for k in keys}
        return numeric

    def compute(self, predictions, references=None, **context) -> list[MetricResult]:
        preds = check_predictions(self.name, predictions)
        refs: list[Any] | None = None
        if self.opts["references"]:
            refs = [
                None if r is None else (r[0] if len(r) == 1 else r)
                for r in reference_lists(self.name, references, len(preds))
            ]
        idx = [i for i, p in enumerate(preds) if p is not None and (refs is None or refs[i] is not None)]
        module = load_module(self.opts["path"])
        if not idx:  # nothing to call the module on: each declared key unscored (else one, "evaluate")
            return [
                mean_result(key, [None] * len(preds), higher_is_better=self.opts["higher_is_better"])
                for key in (self.opts["keys"] or ["evaluate"])
            ]
        if self.opts["aggregate"] == "mean":
            return self._per_example(module, preds, refs, idx)
        return self._corpus(module, preds, refs, idx)

    def _per_example(self, module, preds, refs, idx) -> list[MetricResult]:
        rows: dict[int, dict[str, float]] = {
            i: self._call(module, [preds[i]], None if refs is None else [refs[i]]) for i in idx
        }
        keys = list(next(iter(rows.values())))
        return [
            mean_result(
                k,
                [rows[i][k] if i in rows else None for i in range(len(preds))],
                higher_is_better=self.opts["higher_is_better"],
            )
            for k in keys
        ]

    def _corpus(self, module, preds, refs, idx) -> list[MetricResult]:
        n = len(preds)
        scored = np.zeros(n, dtype=bool)
        scored[idx] = True
        stats = np.zeros((n, len(idx)))
        stats[idx, np.arange(len(idx))] = 1.0
        p_sub = [preds[i] for i in idx]
        r_sub = None if refs is None else [refs[i] for i in idx]
        value = self._call(module, p_sub, r_sub)

        def from_stats_for(key: str):
            def from_stats(summed: np.ndarray) -> np.ndarray:
                summed = np.asarray(summed)
                out = np.empty(summed.shape[:-1])
                for pos in np.ndindex(out.shape):
                    counts = np.rint(summed[pos]).astype(int)
                    rep = np.repeat(np.arange(len(idx)), counts)
                    out[pos] = self._call(
                        module, [p_sub[j] for j in rep], None if r_sub is None else [r_sub[j] for j in rep]
                    )[key]
                return out

            return from_stats

        return [
            MetricResult(
                key=k,
                value=v,
                higher_is_better=self.opts["higher_is_better"],
                per_example=None,
                scored=scored,
                suff_stats=stats,
                from_stats=from_stats_for(k),
                corpus_only=True,
            )
            for k, v in value.items()
        ]

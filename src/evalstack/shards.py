"""Shards that merge exactly: run shard I of N of a config into its own folder, merge N folders into the run.

Python API (the CLI's ``evalstack run CONFIG --shard I/N`` and ``evalstack merge DIR... --out DIR`` call
these; any scheduler, a Ray task included, can too)::

    from evalstack.shards import ShardSpec, run_shard, merge_shards
    run_shard("eval.yaml", ShardSpec(2, 4), out_dir="shards/2")   # -> RunOutcome, exit_code 0 or 3
    merge_shards(["shards/1", "shards/2", "shards/3", "shards/4"], out_dir="run")  # -> RunOutcome (0/1/3)

The merge does not average shard summaries: it puts every example's saved record back in the data file's
order and runs the single run's own statistics (`_summary.summarise_task`: same seed, same order, so the
same bootstrap CIs, paired deltas, slices and gate). Metrics that need only the outputs are recomputed
over the union (exact for corpus metrics: macro F1, BLEU); metrics that load a model or need token
logprobs, and judges, come from the per-example statistics each shard saved (shard.jsonl). No request is
sent. A shard with items that failed after retries makes the merge incomplete (exit 3, no verdict).
"""

from __future__ import annotations

__all__ = ["ShardSpec", "merge_shards", "run_shard", "shard_index"]

import importlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._merge_read import Shard, check_set, load_shard
from ._shard import MEAN, ShardSpec, shard_index
from .errors import DataError
from .results import ExampleRow, Usage

if TYPE_CHECKING:
    from .config import Config, TaskConfig
    from .metrics import MetricResult
    from .pipeline import RunOutcome
    from .results import TaskSummary

_COUNTS = frozenset(
    {"toxic", "tokens", "passed", "judged_against_threshold", "unparseable", "failed", "retried", "methods"}
    | {"wins", "ties", "losses"}
)
"""Detail entries that count examples (summed over shards); every other detail must agree across shards."""


def run_shard(
    config: str | Path | Config, shard: ShardSpec | str, *, out_dir: str | Path | None = None, **options: Any
) -> RunOutcome:
    """Run shard ``shard`` (a :class:`ShardSpec` or ``"I/N"``) of ``config`` into ``out_dir`` (default
    ``<output>/shard-I-of-N``); ``options`` are :func:`evalstack.pipeline.run_config`'s (``resume``, ``limit``...).
    Its exit code is 0 (finished) or 3 (items failed: resume it); never a gate verdict."""
    from .config import Config, load_config
    from .pipeline import run_config

    spec = shard if isinstance(shard, ShardSpec) else ShardSpec.parse(shard)
    cfg = config if isinstance(config, Config) else load_config(config)
    return run_config(cfg, out_dir=out_dir, shard=spec, **options)


def merge_shards(shard_dirs: Sequence[str | Path], *, out_dir: str | Path) -> RunOutcome:
    """Merge the N folders of one ``--shard I/N`` split into the run folder ``out_dir``; returns the run
    with its exit code (0 passed / no gate, 1 gate failed, 3 a shard has items that failed). Refuses
    (DataError, exit 2) folders that are not the N finished shards of one config, each once."""
    from ._lock import RunLock
    from ._outdir import claim

    if not shard_dirs:
        raise DataError("merge: no shard folder given", hint="evalstack merge SHARD_DIR... --out DIR")
    shards = [load_shard(Path(d)) for d in shard_dirs]
    check_set(shards)
    out = Path(out_dir)
    claim(out, where="--out", protected=[("shard's", s.path / "run.json") for s in shards])
    with RunLock(out, resume=True) as lock:
        outcome = _merge(sorted(shards, key=lambda s: s.index), out)
        lock.finish()
    return outcome


def _sum_usage(items: Sequence[Usage]) -> Usage:
    return Usage(**{k: sum(getattr(u, k) for u in items) for k in Usage.model_fields})


def _sum_counts(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in items:
        for k, v in d.items():
            if isinstance(v, dict):
                out[k] = _sum_counts([out.get(k, {}), v])
            elif isinstance(v, list):
                out[k] = [*out.get(k, []), *v]
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                out[k] = out.get(k, 0) + v
            else:
                out[k] = v
    return out


def _details(key: str, parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A result's details over the shards: counts summed, everything else the same in every shard."""
    out: dict[str, Any] = {}
    for name in dict.fromkeys(k for p in parts for k in p):
        values = [p.get(name) for p in parts]
        if name in _COUNTS:
            out[name] = _sum_counts([{name: v} for v in values])[name]
        elif all(v == values[0] for v in values):
            out[name] = values[0]
        else:
            raise DataError(
                f"metric '{key}': its detail '{name}' differs between shards ({values[0]!r}, ...)",
                hint="shards must run the same config with the same models and judges",
            )
    return out


def _from_arrays(key: str, parts: Sequence[Mapping[str, Any]], order: Sequence[tuple[int, int]]) -> MetricResult:
    """One result from the shards' saved per-example statistics, rows in ``order`` ((part, row) pairs)."""
    from .metrics import MetricResult, mean_result

    first = parts[0]
    per = None if first["per_example"] is None else [parts[p]["per_example"][i] for p, i in order]
    details = _details(key, [p["details"] for p in parts])
    if first["from_stats"] == MEAN and not first["corpus_only"] and per is not None:
        return mean_result(key, per, higher_is_better=first["higher_is_better"], details=details)
    if first["from_stats"] is None:
        raise DataError(
            f"metric '{key}' cannot be merged: its statistics function is not importable",
            hint="run this metric without --shard",
        )
    module, qual = first["from_stats"].split(":")
    fn: Any = importlib.import_module(module)
    for part in qual.split("."):
        fn = getattr(fn, part)
    k = max(1, max((len(p["suff_stats"][0]) for p in parts if p["suff_stats"]), default=1))
    stats = np.array([parts[p]["suff_stats"][i] for p, i in order], dtype=float).reshape(len(order), k)
    scored = np.array([parts[p]["scored"][i] for p, i in order], dtype=bool)
    return MetricResult(
        key=key,
        value=float(fn(stats[scored].sum(0))) if scored.any() else None,
        higher_is_better=first["higher_is_better"],
        per_example=per,
        scored=scored,
        suff_stats=stats,
        from_stats=fn,
        details=details,
        corpus_only=first["corpus_only"],
    )


def _merge(shards: list[Shard], out_dir: Path) -> RunOutcome:
    from ._examples import with_scores, write_examples
    from ._summary import ModelScores, assemble_run, summarise_task
    from .compare import _failure_groups
    from .config import GateConfig, StatsSettings, TaskConfig
    from .cost import sum_costs
    from .pipeline import RunOutcome
    from .report import write_reports

    first = shards[0].run
    config = dict(first.config)
    settings = StatsSettings.model_validate(config.get("stats", {}))
    baseline = first.baseline
    models = list(first.models)
    repeat = int(config.get("models", {}).get(baseline, {}).get("repeat", 1) or 1)
    summaries, out_rows, failures = {}, [], []
    for task in [TaskConfig.model_validate(t) for t in config.get("tasks", [])]:
        recs = [s.tasks[task.name] for s in shards]
        scores: dict[str, ModelScores] = {}
        by_model: dict[str, tuple[list[ExampleRow], list[MetricResult]]] = {}
        for model in models:
            rows, results = _task_model(task, shards, model)
            mts = [s.run.tasks[task.name].models[model] for s in shards]
            scores[model] = ModelScores(
                results=results,
                n_rows=sum(m.n_examples for m in mts),
                failed=sum(m.failed for m in mts),
                usage=_sum_usage([m.usage for m in mts]),
                empty=dict(sorted(_sum_counts([m.empty for m in mts]).items())),
                judge_usage={
                    r: _sum_usage([m.judge_usage[r] for m in mts if r in m.judge_usage]) for r in mts[0].judge_usage
                },
                judge_failed=_sum_counts([m.judge_failed for m in mts]),
                judge_unparseable=_sum_counts([m.judge_unparseable for m in mts]),
            )
            merged = list(with_scores(rows, [r for r in results]))
            by_model[model] = (merged, results)
            out_rows.extend(merged)
            failures += _failure_groups(task.name, model, {r.id: r for r in merged})
        by_pos = sorted((p, k, i) for k, rec in enumerate(recs) for i, p in enumerate(rec["positions"]))
        slices = [(col, [recs[k]["slices"][col][i] for _, k, i in by_pos]) for col in task.slice_by]
        summaries[task.name] = summarise_task(
            task.name,
            len(by_pos),
            scores,
            baseline=baseline,
            settings=settings,
            repeat=repeat,
            slices=slices,
            pairwise=_pairwise(shards[0].run.tasks[task.name].pairwise, by_model),
        )
        _annotations(summaries[task.name], [s.run.tasks[task.name] for s in shards])
    sha = write_examples(out_dir, out_rows)
    if isinstance(config.get("config_dir"), str):  # the config's folder, relative to the merged run's folder
        where = (shards[0].path / config["config_dir"]).resolve()
        config["config_dir"] = Path(os.path.relpath(where, out_dir.resolve())).as_posix()
    run = assemble_run(
        name=first.name,
        baseline=baseline,
        config_digest=first.config_digest,
        models=first.models,
        tasks=summaries,
        config=config,
        settings={k: v for k, v in first.settings.items() if k != "shard"}
        | {"outputs_truncated": sum(int(s.run.settings.get("outputs_truncated") or 0) for s in shards)},
        examples_sha256=sha,
        failures=failures,
        resume_command=" ; ".join(
            f"evalstack run CONFIG --shard {s.label} --out {s.path} --resume" for s in shards if s.run.failed_items
        )
        + ", then merge again",
        gate=GateConfig.model_validate(config["gate"]) if config.get("gate") else None,
        requests={
            name: _sum_counts([s.run.requests.get(name, {}) for s in shards])
            for name in dict.fromkeys(n for s in shards for n in s.run.requests)
        },
        sources=[str(s.path) for s in shards],
        cost=sum_costs([s.run.cost for s in shards]),
        digests=first.digests,  # every shard's digests are of the whole evaluation
    )
    write_reports(out_dir, run)
    return RunOutcome(run=run, out_dir=out_dir, failed=run.failed_items, exit_code=run.exit_code)


def _pairwise(
    first: Mapping[str, Any], by_model: Mapping[str, tuple[list[ExampleRow], list[MetricResult]]]
) -> dict[str, dict[str, Any]]:
    """Each pairwise judge's summary (rubric -> model -> summary) tallied over the merged rows, as the run
    tallies its own (`judges.pair_tally`); names and settings from a shard's summary (the same in all)."""
    from .judges import pair_tally, pairwise_summary

    out: dict[str, dict[str, Any]] = {}
    for rubric, models in first.items():
        for model, summ in models.items():
            rows, results = by_model[model]
            key = f"pairwise_{rubric}"
            out.setdefault(rubric, {})[model] = pairwise_summary(
                pair_tally(r.judge.get(key) or {} for r in rows),
                rubric=summ["rubric"],
                model=summ["model"],
                opponent=summ["opponent"],
                judge_model=summ["judge_model"],
                items=len(rows),
                score=next(r.value for r in results if r.key == key),
                confidence=summ["confidence"],
            )
    return out


def _annotations(summary: TaskSummary, parts: Sequence[TaskSummary]) -> None:
    """Details the run adds to a task's summary after the statistics (a judge metric's ``judge_identity``):
    the same in every shard, so copied; one that differs between shards cannot be merged (DataError)."""
    for model, mts in summary.models.items():
        for key, metric in mts.metrics.items():
            got = [p.models[model].metrics[key].details for p in parts if key in p.models[model].metrics]
            for name in dict.fromkeys(k for d in got for k in d):
                if name in metric.details:
                    continue
                values = [d.get(name) for d in got]
                if any(v != values[0] for v in values):
                    raise DataError(
                        f"task '{summary.name}', metric '{key}': '{name}' differs between shards",
                        hint="it is estimated over the whole set: run this task without --shard",
                    )
                metric.details[name] = values[0]


def _task_model(task: TaskConfig, shards: Sequence[Shard], model: str) -> tuple[list[ExampleRow], list[MetricResult]]:
    """One model's rows on one task over all shards, in the single run's order, and its results (metrics
    recomputed over the union, the rest from saved statistics) in the single run's key order."""
    from ._prepare import MetricPlan
    from ._score import score_outputs
    from .metrics import get_metric

    recs = [s.tasks[task.name] for s in shards]
    blocks = [s.scores[(task.name, model)] for s in shards]
    # (position in the data, repeat index) -> (shard, row): the single run's row order
    order = sorted(
        ((recs[k]["positions"][i], r, k, j) for k, b in enumerate(blocks) for j, (i, r) in enumerate(b["rows"])),
    )
    rows = [shards[k].rows[(task.name, model)][j] for _, _, k, j in order]
    pairs = [(k, j) for _, _, k, j in order]
    ex = [(k, blocks[k]["rows"][j][0]) for k, j in pairs]  # (shard, example index in the shard) per row

    def column(name: str) -> list[Any] | None:
        if recs[0][name] is None:
            return None
        return [recs[k][name][i] for k, i in ex]

    plans = []
    for j in recs[0]["recompute"]:
        spec = task.metrics[j]
        cls = get_metric(spec.name)
        plans.append(MetricPlan(spec.name, spec.options, cls(**spec.options), bool(cls.uses_labels), f"metrics[{j}]"))
    recomputed = score_outputs(
        task,
        plans,
        [r.output for r in rows],
        targets=column("target"),
        references=column("reference"),
        knowledge=column("knowledge"),
    )
    by_key = {r.key: r for r in recomputed}
    results = []
    for key in blocks[0]["keys"]:
        if key in by_key:
            results.append(by_key[key])
        else:
            parts = [b["arrays"].get(key) for b in blocks]
            if any(p is None for p in parts):
                raise DataError(
                    f"task '{task.name}', model '{model}': metric '{key}' is missing from a shard's records"
                )
            results.append(_from_arrays(key, parts, pairs))
    return rows, results

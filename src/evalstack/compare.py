"""`evalstack compare`: one delta report from several saved runs (checkpoints evaluated on different days).

Each run folder holds run.json (with its resolved config) and examples.jsonl (every output). The runs'
models are merged (a model present in several runs is taken from the first, and must have the same
outputs there), examples are matched on ids (a mismatch is an error unless ``intersect``), task metrics are
recomputed from the saved outputs with the first run's task config, and judge scores are taken from the
saved per-example scores. Statistics (slices included), gate and reports then run as in `evalstack run`.
The gate applies the rules of the **newest** run (by ``created_at``) unless ``rules`` names a rules file;
the decision says which (``GateDecision.source``). A run with items that failed after retries makes the
comparison incomplete: exit 3, and the reports say INCOMPLETE with the command that finishes that run.
Not carried over: metrics that need the provider's token logprobs (``needs_logprobs``: perplexity and
mean_logprob without a local ``model``; logprobs are not saved), pairwise judge summaries and loss curves
(run `evalstack curves analyze` beside it). Scoring, statistics and the run record go through the same
`_summary` functions as `evalstack run`.
"""

from __future__ import annotations

__all__ = ["compare_runs", "compare"]

from collections import defaultdict
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from ._examples import with_scores, write_examples
from ._lock import RunLock
from ._outdir import claim
from ._prepare import MetricPlan
from ._score import score_outputs
from ._summary import ModelScores, assemble_run, failure_groups, summarise_task
from .config import GateConfig, StatsSettings, TaskConfig
from .errors import DataError
from .models import EMPTY_KINDS
from .results import ExampleRow, FailureGroup, ModelInfo, RunResult

if TYPE_CHECKING:
    from .metrics import MetricContext, MetricResult
    from .pipeline import RunOutcome

Rows = dict[tuple[str, str], dict[str, ExampleRow]]
"""(task, model) -> example id -> saved row."""


def _empty_rows(rows: list[ExampleRow]) -> dict[str, int]:
    """Empty replies per kind, from saved rows (failed ones by their error, scored-as-empty ones by finish_reason)."""
    counts: dict[str, int] = {}
    for e in rows:
        kind = e.error.kind if e.error is not None else None
        if e.error is None and e.finish_reason is not None and (e.finish_reason == "content_filter" or not e.output):
            kind = {"content_filter": "content_filter", "length": "length_empty"}.get(e.finish_reason, "no_content")
        if kind in EMPTY_KINDS:
            counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def _load(run_dir: Path) -> tuple[RunResult, Rows]:
    from ._shard import refuse_shard_folder
    from .report import iter_examples, read_run

    run = read_run(run_dir)
    refuse_shard_folder(run.settings, str(run_dir))
    if not run.config:
        raise DataError(
            "run.json has no config (written by an older evalstack)",
            where=str(run_dir),
            hint="re-run it with this version, or compare runs written by it",
        )
    rows: dict[tuple[str, str], dict[str, ExampleRow]] = defaultdict(dict)
    for row in iter_examples(run_dir):
        rows[(row.task, row.model)][row.id] = row
    return run, rows


def compare_runs(
    run_dirs: list[Path],
    *,
    out_dir: Path,
    baseline: str | None = None,
    intersect: bool = False,
    rules: Path | None = None,
    allow_mismatch: Collection[str] = (),
) -> int:
    """Merge saved runs, recompute metrics and deltas, write a full report folder; return the exit code
    (0 passed / no gate, 1 gate failed, 3 a run is incomplete)."""
    return compare(
        run_dirs, out_dir=out_dir, baseline=baseline, intersect=intersect, rules=rules, allow_mismatch=allow_mismatch
    ).exit_code


def compare(
    run_dirs: list[Path],
    *,
    out_dir: Path,
    baseline: str | None = None,
    intersect: bool = False,
    rules: Path | None = None,
    allow_mismatch: Collection[str] = (),
    name: str | None = None,
    gate: GateConfig | None = None,
) -> RunOutcome:
    """:func:`compare_runs`, returning the merged run with its folder and exit code."""
    from .gate import load_gate_rules
    from .pipeline import quiet_offline_env

    quiet_offline_env()
    gate_file = load_gate_rules(rules) if rules is not None else gate  # a bad rules file fails before any work
    loaded = [(Path(d), *_load(Path(d))) for d in run_dirs]
    first_dir, first, _ = loaded[0]
    run_name = name or f"compare-{first.name}"
    baseline = baseline or first.baseline
    models: dict[str, ModelInfo] = {}
    rows: Rows = {}
    for d, run, r in loaded:
        for name, info in run.models.items():
            if name in models:
                for task in run.tasks:
                    mine, theirs = rows.get((task, name), {}), r.get((task, name), {})
                    common = set(mine) & set(theirs)
                    if any(mine[i].output != theirs[i].output for i in common):
                        raise DataError(
                            f"model '{name}' has different outputs in {first_dir} and {d}",
                            where=str(d),
                            hint="rename one of the models (model names must mean the same model)",
                        )
                continue
            models[name] = info
            for (task, model), ex in r.items():
                if model == name:
                    rows[(task, model)] = ex
    if baseline not in models:
        raise DataError(
            f"baseline '{baseline}' is in none of the runs (models: {', '.join(models)})", hint="pass --baseline NAME"
        )
    marks = _like_for_like(loaded, baseline, allow_mismatch)
    tasks_cfg = [TaskConfig.model_validate(t) for t in first.config.get("tasks", [])]
    config_dir = (first_dir / str(first.config.get("config_dir") or ".")).resolve()
    for t in tasks_cfg:  # a tool task's schema file / module, named relative to the config
        if t.tools is not None:
            t.tools.resolve(lambda p: p if p.is_absolute() else config_dir / p)
    task_index = {t.name: i for i, t in enumerate(tasks_cfg)}
    settings = StatsSettings.model_validate(first.config.get("stats", {}))
    out_dir = Path(out_dir)
    claim(out_dir, where="--out", protected=[("input run's", d / "run.json") for d, _, _ in loaded])
    with RunLock(out_dir, resume=True) as lock:  # a killed compare leaves the lock: readers refuse the folder
        outcome = _write(
            loaded,
            out_dir,
            models,
            rows,
            baseline,
            intersect,
            tasks_cfg,
            task_index,
            settings,
            gate_file,
            rules,
            marks,
            run_name,
        )
        lock.finish()
    return outcome


def _write(
    loaded: list[tuple[Path, RunResult, Rows]],
    out_dir: Path,
    models: dict[str, ModelInfo],
    rows: Rows,
    baseline: str,
    intersect: bool,
    tasks_cfg: list[TaskConfig],
    task_index: dict[str, int],
    settings: StatsSettings,
    gate_file: GateConfig | None,
    rules: Path | None,
    marks: list[str],
    name: str,
) -> RunOutcome:
    from .pipeline import RunOutcome
    from .report import write_reports

    _, first, _ = loaded[0]
    scored: list[tuple[TaskConfig, list[str], dict[str, ModelScores], list[ExampleRow]]] = []
    out_rows: list[ExampleRow] = []
    for task in tasks_cfg:
        present = [m for m in models if (task.name, m) in rows]
        if baseline not in present:
            continue
        id_sets = [set(rows[(task.name, m)]) for m in present]
        ids = set.intersection(*id_sets)
        if not intersect and any(s != id_sets[0] for s in id_sets):
            raise DataError(
                f"task '{task.name}': the runs evaluated different examples "
                f"({min(map(len, id_sets))}-{max(map(len, id_sets))} ids, {len(ids)} in common): "
                + _missing_ids(task.name, present, rows, baseline),
                hint="pass --intersect to compare on the common examples",
            )
        order = [i for i in rows[(task.name, baseline)] if i in ids]
        plans = _metric_plans(task, task_index[task.name])
        scores: dict[str, ModelScores] = {}
        for m in present:
            ex = [rows[(task.name, m)][i] for i in order]
            scores[m], results = _rescore(task, plans, ex, _tool_context(task, task_index[task.name], ex))
            out_rows.extend(with_scores(ex, results))
        scored.append((task, order, scores, [rows[(task.name, baseline)][i] for i in order]))
    examples_sha256 = write_examples(out_dir, out_rows)
    summaries = {
        task.name: summarise_task(
            task.name,
            len(order),
            scores,
            baseline=baseline,
            settings=settings,
            slices=[
                (col, [None if e.fields.get(col) is None else str(e.fields.get(col)) for e in base_rows])
                for col in task.slice_by
            ],
        )
        for task, order, scores, base_rows in scored
    }
    failures = [g for _, _, r in loaded for (task, model), ex in r.items() for g in _failure_groups(task, model, ex)]
    unfinished = [str(d) for d, _, r in loaded if any(_failure_groups(t, m, ex) for (t, m), ex in r.items())]
    # the newest by created_at; of runs finished in the same second, the one named last
    _, newest_dir, newest = max(
        ((i, d, r) for i, (d, r, _) in enumerate(loaded)), key=lambda x: (x[2].created_at, x[0])
    )
    gate_cfg = gate_file or (GateConfig.model_validate(newest.config["gate"]) if newest.config.get("gate") else None)
    run = assemble_run(
        name=name,
        baseline=baseline,
        config_digest=first.config_digest,
        models=models,
        tasks=summaries,
        config=first.config,
        examples_sha256=examples_sha256,
        settings={"confidence": settings.confidence, "n_resamples": settings.n_resamples, "seed": settings.seed}
        | ({"not_like_for_like": marks} if marks else {}),
        failures=failures,
        sources=[str(d) for d, _, _ in loaded],
        resume_command=" ; ".join(f"evalstack run CONFIG --out {d} --resume" for d in unfinished)
        + ", then compare again",
        gate=gate_cfg,
        digests=_merged_digests(loaded, models),
        gate_source=(
            (f"--rules {rules}" if rules is not None else None)
            if gate_file is not None
            else f"the gate rules of the newest run, {newest_dir} ({newest.created_at})"
        ),
    )
    write_reports(out_dir, run)
    return RunOutcome(run=run, out_dir=out_dir, failed=run.failed_items, exit_code=run.exit_code)


def _missing_ids(task: str, present: list[str], rows: Rows, baseline: str) -> str:
    """Which ids each model lacks that another has: ``ft lacks e3, e7; base lacks e9 (+2 more)``."""
    every = set().union(*(rows[(task, m)] for m in present))
    parts = []
    for m in [baseline, *[p for p in present if p != baseline]]:
        lacks = sorted(every - set(rows[(task, m)]))
        if lacks:
            more = f" (+{len(lacks) - 5} more)" if len(lacks) > 5 else ""
            parts.append(f"{m} lacks {', '.join(lacks[:5])}{more}")
    return "; ".join(parts)


def _like_for_like(loaded: list[tuple[Path, RunResult, Rows]], baseline: str, allow: Collection[str]) -> list[str]:
    """Every run's task digests against those of the run that holds the baseline model: refused where they
    differ (but for the models), unless ``allow`` names each kind; the allowed differences' lines."""
    from ._digests import check_like_for_like

    holder = next((run for _, run, _ in loaded if baseline in run.models), loaded[0][1])
    pairs = [
        (task, holder.digests.get(task, {}), run.digests.get(task, {}))
        for _, run, _ in loaded
        if run is not holder
        for task in holder.tasks
        if task in run.tasks
    ]
    return check_like_for_like(pairs, allow, what="the runs")


def _merged_digests(loaded: list[tuple[Path, RunResult, Rows]], models: dict[str, ModelInfo]) -> dict[str, dict]:
    """The first run's task digests, with each merged model's identity taken from the run it came from."""
    out: dict[str, dict] = {}
    for task, dg in loaded[0][1].digests.items():
        merged: dict[str, object] = {}
        for _, run, _ in loaded:
            for name, ident in (run.digests.get(task, {}).get("models") or {}).items():
                if name in models:
                    merged.setdefault(name, ident)
        out[task] = {**dg, "models": merged}
    return out


def _metric_plans(task: TaskConfig, index: int) -> list[MetricPlan]:
    """The task's metrics that saved outputs can be scored with, in the run's own order (same CIs): token
    logprobs are not saved, so a metric that needs them is left out."""
    from .metrics import get_metric

    plans = []
    from ._turns import metric_turn

    for j, spec in enumerate(task.metrics):
        where = f"tasks[{index}].metrics[{j}]"
        options, turn = metric_turn(task, spec.options, where)  # `turn:` is ours, not the metric's
        cls = get_metric(spec.name)
        metric = cls(**options)
        if not metric.needs_logprobs:
            plans.append(MetricPlan(spec.name, options, metric, bool(cls.uses_labels), where, turn))
    return plans


def _tool_context(task: TaskConfig, index: int, ex: list[ExampleRow]) -> MetricContext | None:
    """A tool task's calls (saved in the rows) and expected calls (kept in the rows' fields) for its metrics."""
    if task.tools is None:
        return None
    from .tools import expected_calls, prepare_tools, score_context

    tools, _ = prepare_tools(task, [], f"tasks[{index}]", "run.json config")
    assert tools is not None
    names = [t["function"]["name"] for t in tools.schemas]
    col = task.expected_calls.column if task.expected_calls else None
    expected = (
        None if col is None else [expected_calls(e.fields.get(col), names, f"examples.jsonl {e.id}", col) for e in ex]
    )
    ordered = bool(task.expected_calls and task.expected_calls.ordered)
    made = [None if e.error is not None else list(e.tool_calls or []) for e in ex]
    return score_context(tools, expected, made, ordered=ordered)


def _rescore(
    task: TaskConfig, plans: list[MetricPlan], ex: list[ExampleRow], extra: MetricContext | None = None
) -> tuple[ModelScores, list[MetricResult]]:
    """One model's saved rows scored again: the task's metrics on the outputs, the saved judge scores, the
    counts of failed, empty and unparseable items (usage is not carried over)."""
    from .metrics import mean_result

    refs = [
        e.reference for e in ex
    ]  # examples.jsonl keeps one reference column (the task's reference, else its target)
    knowledge = [e.fields.get(task.context) for e in ex] if task.context else None
    if task.turns:  # per turn, from each row's conversation
        from ._turns import saved_answers, score_turns

        results = score_turns(task, plans, [saved_answers(e) for e in ex], knowledge=knowledge)
    else:
        results = score_outputs(
            task, plans, [e.output for e in ex], targets=refs, references=refs, knowledge=knowledge, extra=extra
        )
    judged = results + [
        mean_result(k, [e.scores.get(k) for e in ex])
        for k in sorted({k for e in ex for k in e.scores if k.startswith("judge_")})
    ]
    rubrics = sorted({r for e in ex for r in e.judge})
    jrows = {r: [e.judge.get(r) or {} for e in ex] for r in rubrics}
    scores = ModelScores(
        results=judged,
        n_rows=len(ex),
        failed=sum(1 for e in ex if e.error is not None and e.error.kind not in EMPTY_KINDS),
        empty=_empty_rows(ex),
        judge_failed={r: sum(1 for j in js if j.get("failed")) for r, js in jrows.items()},
        judge_unparseable={
            r: sum(1 for j in js if not j.get("failed") and "unparseable" in str(j.get("error") or ""))
            for r, js in jrows.items()
        },
    )
    return scores, results


def _failure_groups(task: str, model: str, rows: dict[str, ExampleRow]) -> list[FailureGroup]:
    """Items of saved rows that failed after retries (generations, then each judge's requests)."""
    gen = [
        (e.error.kind, e.error.message)
        for e in rows.values()
        if e.error is not None and e.error.kind not in EMPTY_KINDS
    ]
    judged = {
        n: [e.judge[n] for e in rows.values() if isinstance(e.judge.get(n), dict)]
        for n in dict.fromkeys(k for e in rows.values() for k in e.judge)
    }
    return failure_groups(
        task,
        model,
        len(rows),
        gen,
        {
            n: (len(js), [(j.get("error_kind") or "error", j.get("error") or "") for j in js if j.get("failed")])
            for n, js in judged.items()
        },
    )

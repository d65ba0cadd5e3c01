"""One run, start to end. The only module that knows every step and their order.

prepare (data, prompts, scorers, providers: every check before any request) -> generate (all models at
once, cache first) -> judge -> score -> statistics (CIs, paired deltas, slices) -> curves -> gate ->
examples.jsonl + reports. Exit code: 0 passed / no gate, 1 gate failed, 3 items (generation or judge
requests) failed after retries.
"""

from __future__ import annotations

__all__ = ["run", "RunOutcome", "run_config", "quiet_offline_env"]

import asyncio
import dataclasses
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ._crash import crash_point
from ._examples import example_rows, write_examples
from ._lock import RunLock
from ._outdir import claim, protected_paths, record
from ._prepare import TaskPlan, check_gate_keys, check_logprobs, load_metric_backends, prepare_task
from ._runjson import public_config, relative_path, request_stats
from ._safetext import cut_outputs
from ._score import score_outputs
from ._shard import ShardSpec, select_examples, write_records
from ._stages import StageLog
from ._summary import ModelScores, assemble_run, failure_groups, summarise_task
from .config import Config, config_digest, load_config
from .errors import ConfigError
from .models import (
    EMPTY_KINDS,
    Cache,
    Generation,
    Provider,
    ProviderSettings,
    Request,
    Runner,
    apply_on_empty,
    attribute_shared,
    default_cache_path,
    empty_counts,
    make_provider,
    provider_class,
)
from .results import FailureGroup, ModelInfo, RunResult, TaskSummary, Usage

if TYPE_CHECKING:
    from .curves import CurveReport
    from .judges import JudgeItem, JudgeOutcome, JudgeRow, JudgeScorer, PairRow
    from .metrics import MetricResult


@dataclass
class RunOutcome:
    """What :func:`run` returns: the run record, where it was written, and the exit code it implies."""

    run: RunResult
    out_dir: Path
    failed: int
    exit_code: int
    failure_modes: list[object] | None = None
    """New failure modes found in examples.jsonl (:class:`evalstack.report._worse.FailureMode`)."""


def _expand_repeats(plan: TaskPlan, repeat: int) -> list[tuple[int, int, str]]:
    """(example index, repeat index, scoring id) per row; repeats become rows 'id#r' (paired across models)."""
    if repeat == 1:
        return [(i, 0, ex.id) for i, ex in enumerate(plan.examples)]
    return [(i, r, f"{ex.id}#{r}") for i, ex in enumerate(plan.examples) for r in range(repeat)]


Key = tuple[str, str, str]
"""(task, model, judge name) of a judge outcome (judge name: ``<rubric>`` or ``pairwise_<rubric>``)."""

Judged = dict[Key, "JudgeOutcome"]
"""What the judge step returns: every judge's outcome per task and model it scores."""


@dataclass(frozen=True)
class _Scored:
    """One model on one task after the score step: its outputs, their scores, the judge rows by name."""

    gens: list[Generation]
    scores: ModelScores
    judge_rows: dict[str, Mapping[str, JudgeRow | PairRow]]
    failures: list[FailureGroup]


class _Run:
    def __init__(
        self,
        cfg: Config,
        *,
        out_dir: Path | None,
        limit: int | None,
        resume: bool,
        no_cache: bool,
        concurrency: int | None,
        only_models: list[str] | None,
        progress: bool,
        batch: bool = False,
        resume_command: str | None = None,
        shard: ShardSpec | None = None,
    ):
        self.shard = shard  # --shard I/N: this shard's examples only, no gate (merge gives the verdict)
        self.resume_command = resume_command or _resume_command(cfg, out_dir, limit, only_models, batch, shard)
        if batch:  # --batch: every openai model and judge through the Batch API
            cfg = _with_batch(cfg)
        self.cfg = cfg
        self.out_dir = Path(out_dir) if out_dir else cfg.output_dir() / (shard.folder_name if shard else "")
        self.out_flag = out_dir is not None
        self.limit = limit
        self.resume = resume
        self.no_cache = no_cache
        self.concurrency = concurrency
        self.progress = progress
        self.log = StageLog(progress)
        names = list(cfg.models)
        if only_models:
            unknown = [m for m in only_models if m not in cfg.models]
            if unknown:
                raise ConfigError(f"--models names unknown model '{unknown[0]}' (models: {', '.join(names)})")
            names = [m for m in names if m in only_models or m == cfg.baseline]
        self.model_names = names
        self.timings: dict[str, float] = {}
        self.turn_gens: dict[tuple[str, str], list[list[Generation | None]]] = {}
        """Conversation tasks: per (model, task), per row, per turn, the generation (None: not asked)."""

    # ------------------------------------------------------------ steps
    def prepare(self) -> None:
        t = time.perf_counter()
        self.plans = [prepare_task(self.cfg, task, i, limit=self.limit) for i, task in enumerate(self.cfg.tasks)]
        if self.shard is not None:
            self.plans, self.shard_where = select_examples(self.cfg, self.plans, self.shard)
        self._task_index = {p.name: i for i, p in enumerate(self.plans)}
        check_gate_keys(self.cfg, self.plans)
        self.curve_reports = self._analyze_curves()  # a bad curves file fails now, not after the run
        self.providers: dict[str, Provider] = {}
        for name in self.model_names:
            p = make_provider(name, self.cfg.models[name])
            if self.concurrency:  # --concurrency, within what the provider can use
                p.concurrency = min(self.concurrency, p.max_concurrency)
            p.check_ready()
            check_logprobs(self.plans, name, p)
            for plan in self.plans:
                p.check_examples(plan.name, [ex.id for ex in plan.examples])
            self.providers[name] = p
        self.judge_providers: dict[str, Provider] = {}
        for plan in self.plans:
            for jp in plan.judges:
                key = jp.where if jp.spec.judge is not None else "judge"
                if key not in self.judge_providers:
                    jcfg = jp.spec.judge or self.cfg.judge
                    prov = make_provider(f"judge:{jp.rubric.name}" if jp.spec.judge else "judge", jcfg)
                    prov.check_ready()
                    self.judge_providers[key] = prov
                jp.provider = self.judge_providers[key]
        if self.cfg.trackers:  # bad tracker entries or a missing package fail now, not after the run
            from .trackers import validate_trackers

            validate_trackers(self.cfg.trackers)
        claim(
            self.out_dir,
            where="--out" if self.out_flag else f"{self.cfg.source or 'config'}: output",
            protected=protected_paths(self.cfg),
        )  # a folder evalstack may write into, marked as its own
        load_metric_backends(self.plans)  # models and slow libraries load only after every cheap check
        check_gate_keys(self.cfg, self.plans)
        cache_path = None if self.no_cache else (self.cfg.cache or default_cache_path())
        self.cache = Cache(cache_path)
        self.timings["prepare"] = time.perf_counter() - t

    def _analyze_curves(self) -> list[CurveReport]:
        if not self.cfg.curves:
            return []
        from .curves import analyze

        reports = [
            analyze(
                c.path,
                format=c.format,
                mapping=c.mapping or None,
                hidden_tokens=c.hidden_tokens,
                visible_tokens=c.visible_tokens,
                n_epochs=c.n_epochs,
                label=c.label,
            )
            for c in self.cfg.curves
        ]
        for rep in reports:  # run.json and the reports name the file relative to the config, as the config does
            rep.table = dataclasses.replace(rep.table, source=relative_path(rep.table.source, self.cfg.base_dir))
        return reports

    def _on_empty(self, model: str) -> str | None:
        return getattr(self.cfg.models[model], "on_empty", None)

    async def _generate_all(self, runner: Runner) -> dict[tuple[str, str], list[Generation]]:
        async def one(model: str, plan: TaskPlan) -> tuple[tuple[str, str], list[Generation]]:
            if plan.conversations is not None:  # turn by turn, the model's own answers in the history
                from ._turns_gen import generate_turns

                tg = await generate_turns(
                    runner,
                    self.providers[model],
                    plan,
                    self._rows(plan, model),
                    label=f"{model} · {plan.name}",
                    on_empty=self._on_empty(model),
                )
                self.turn_gens[(model, plan.name)] = tg
                return (model, plan.name), [g for row in tg for g in row if g is not None]
            reqs = [
                Request.make(plan.name, plan.examples[i].id, plan.messages[i], None, r)
                for i, r, _ in self._rows(plan, model)
            ]
            gens = await runner.run(self.providers[model], reqs, label=f"{model} · {plan.name}")
            return (model, plan.name), gens

        try:
            pairs = await asyncio.gather(*(one(m, p) for m in self.model_names for p in self.plans))
        finally:
            for prov in self.providers.values():
                await prov.aclose()
        attribute_shared([gens for _, gens in pairs])  # identical requests: charged to the first in config order
        from ._turns_gen import combine

        return dict(pairs) | {k: [combine(row) for row in tg] for k, tg in self.turn_gens.items()}

    async def _judge_all(self, runner: Runner, gens: dict[tuple[str, str], list[Generation]]) -> Judged:
        from .judges import JudgeItem

        out: Judged = {}
        jobs = []

        def items(plan: TaskPlan, model: str, judge: JudgeScorer) -> list[JudgeItem]:
            if judge.turn is not None:  # one turn of each conversation, or the whole dialogue
                from ._turns_gen import turn_items

                return turn_items(plan, self._rows(plan, model), self.turn_gens[(model, plan.name)], judge)
            ref = plan.column(plan.cfg.reference) or plan.column(plan.cfg.target)
            ctx = plan.column(plan.cfg.context)
            g = gens[(model, plan.name)]
            # the judge sees the whole prompt (system instructions matter for instruction following)
            return [
                JudgeItem(
                    example_id=sid,
                    input=plan.prompt_text(i),
                    output=g[k].text if g[k].ok else None,
                    reference=ref[i] if ref else None,
                    context=None if ctx is None or ctx[i] is None else str(ctx[i]),
                )
                for k, (i, _r, sid) in enumerate(self._rows(plan, model))
            ]

        base = self.cfg.baseline
        for plan in self.plans:
            for judge in plan.judges:  # pointwise and pairwise alike: the judge says which models it scores
                for model in self.model_names:
                    if not judge.scores(model, base):
                        continue

                    async def one(plan: TaskPlan = plan, judge: JudgeScorer = judge, model: str = model) -> None:
                        # task "<task>/<model>": a replay judge file can key verdicts per model (task_column)
                        out[(plan.name, model, judge.name)] = await judge.score(
                            model,
                            lambda m: items(plan, m, judge),
                            baseline=base,
                            runner=runner,
                            task=f"{plan.name}/{model}",
                        )

                    jobs.append(one())
        try:
            await asyncio.gather(*jobs)
        finally:
            for prov in self.judge_providers.values():
                await prov.aclose()
        # a prompt judged for several models was sent once, by whichever got there first: charge it to the
        # first in a fixed order (task order, rubric name, model config order): the same usage on every run
        from .judges import usage_of

        def order(k: Key) -> tuple[int, str, int]:  # rubric: pointwise and pairwise prompts are never shared
            return self._task_index[k[0]], k[2], self.model_names.index(k[1])

        outcomes = [out[k] for k in sorted(out, key=order)]
        attribute_shared([res.gens for res in outcomes])
        for res in outcomes:  # re-asks stay counted per model: they are known from the call results only
            res.usage = usage_of(res.gens) | {"reasks": res.usage.get("reasks", 0)}
        return out

    def _rows(self, plan: TaskPlan, model: str) -> list[tuple[int, int, str]]:
        return _expand_repeats(plan, getattr(self.cfg.models[model], "repeat", 1))

    def _score_metrics(self, plan: TaskPlan, model: str, g: list[Generation]) -> list[MetricResult]:
        """The task's metrics on one model's outputs."""
        rows = self._rows(plan, model)
        if plan.conversations is not None and plan.cfg.turns:  # per turn: keys <metric>@turn<k>, pooled
            from ._turns import score_turn_metrics

            tg = self.turn_gens[(model, plan.name)]
            return score_turn_metrics(plan, rows, tg, note=self.log, label=f"{model} · {plan.name}")

        def column(name: str | None) -> list[object] | None:  # one value per scored row (repeats included)
            col = plan.column(name)
            return None if col is None else [col[i] for i, _, _ in rows]

        return score_outputs(
            plan.cfg,
            plan.metrics,
            [x.text if x.ok else None for x in g],
            targets=column(plan.cfg.target),
            references=column(plan.cfg.reference),
            knowledge=column(plan.cfg.context),
            logprobs=[x.logprobs if x.ok else None for x in g],
            note=self.log,
            label=f"{model} · {plan.name}",
        )

    @staticmethod
    def _judge_scores(plan: TaskPlan, model: str, judged: Judged) -> dict[str, JudgeOutcome]:
        """The judges' outcomes for one model on one task, by judge name, in the task's order of judges."""
        return {j.name: judged[(plan.name, model, j.name)] for j in plan.judges if (plan.name, model, j.name) in judged}

    def _score(self, plan: TaskPlan, model: str, g: list[Generation], judged: Judged) -> _Scored:
        """Score step: metrics, then judge scores (a separate step: the judges' outcomes are scores too)."""
        results = self._score_metrics(plan, model, g)
        judges = self._judge_scores(plan, model, judged)
        results += [res.result for res in judges.values()]
        if plan.turn_pools:  # turn: all judges: their pooled keys
            from ._turns import pool_judges

            results += pool_judges(plan, judges)
        bad = [x for x in g if not x.ok and x.error_kind not in EMPTY_KINDS]
        sent = [x for row in self.turn_gens.get((model, plan.name), [[y] for y in g]) for x in row if x is not None]
        usage = Usage(
            requests=sum(1 for x in sent if not x.cached),
            cached=sum(1 for x in sent if x.cached),
            prompt_tokens=sum(x.prompt_tokens for x in sent),
            completion_tokens=sum(x.completion_tokens for x in sent),
            retries=sum(max(0, x.tries - 1) for x in sent),
        )
        scores = ModelScores(
            results=results,
            n_rows=len(g),
            failed=len(bad),
            usage=usage,
            empty=empty_counts(g, self._on_empty(model)),
            judge_usage={
                n: Usage(**{k: int(v) for k, v in r.usage.items() if k in Usage.model_fields})
                for n, r in judges.items()
            },
            judge_failed={n: r.failed for n, r in judges.items()},
            judge_unparseable={n: r.unparseable for n, r in judges.items()},
        )
        failures = failure_groups(
            plan.name,
            model,
            len(g),
            [(x.error_kind or "error", x.error_message or "") for x in bad],
            {
                n: (len(r.rows), [(j.error_kind or "error", j.error or "") for j in r.rows.values() if j.failed])
                for n, r in judges.items()
            },
        )
        return _Scored(g, scores, {n: r.rows for n, r in judges.items()}, failures)

    def _summarise(self, plan: TaskPlan, scored: Mapping[tuple[str, str], _Scored], judged: Judged) -> TaskSummary:
        pairwise: dict[str, dict[str, dict[str, object]]] = {}  # rubric -> model -> summary, of pairwise judges
        for model in self.model_names:
            for res in self._judge_scores(plan, model, judged).values():
                if res.summary is not None:
                    pairwise.setdefault(res.rubric, {})[model] = res.summary
        slices = [
            (col, [None if ex.row.get(col) is None else str(ex.row.get(col)) for ex in plan.examples])
            for col in plan.cfg.slice_by
        ]
        return summarise_task(
            plan.name,
            len(plan.examples),
            {m: scored[(plan.name, m)].scores for m in self.model_names},
            baseline=self.cfg.baseline,
            settings=self.cfg.stats,
            repeat=getattr(self.cfg.models[self.cfg.baseline], "repeat", 1),
            slices=slices,
            pairwise=pairwise,
            note=self.log,
        )

    def _write_examples(self, scored: Mapping[tuple[str, str], _Scored]) -> str:
        return write_examples(
            self.out_dir,
            (
                row
                for plan in self.plans
                for model in self.model_names
                for row in example_rows(
                    plan,
                    model,
                    self._rows(plan, model),
                    scored[(plan.name, model)].gens,
                    scored[(plan.name, model)].scores.results,
                    scored[(plan.name, model)].judge_rows,
                    self.cut.get((model, plan.name), {}),
                    self.turn_gens.get((model, plan.name)),
                )
            ),
        )

    def _write_curves(self) -> None:
        """analysis.json and the PNGs of every curve report; an earlier run's curve files (ours) removed."""
        from ._outdir import remove_stale

        written: list[Path] = []
        if self.curve_reports:
            from .curves import write_curve_outputs

            written = write_curve_outputs(self.curve_reports, self.out_dir)
            record(self.out_dir, written)
        remove_stale(self.out_dir, "curves", written, ("*.png", "analysis.json"))  # only an earlier run's, ours
        if self.curve_reports:
            self.log(f"curves: {len(self.curve_reports)} analysis(es) and plots")

    def _record(
        self, tasks: dict[str, TaskSummary], failures: list[FailureGroup], examples_sha256: str, runner: Runner
    ) -> RunResult:
        cfg = self.cfg
        models = {
            name: ModelInfo(
                name=name,
                provider=cfg.models[name].provider,
                model=self.providers[name].describe(),
                checkpoint_step=cfg.models[name].checkpoint_step,
                params=dict(getattr(cfg.models[name], "params", {}) or {}),
            )
            for name in self.model_names
        }
        return assemble_run(
            name=cfg.name,
            baseline=cfg.baseline,
            config_digest=config_digest(cfg),
            models=models,
            tasks=tasks,
            config=public_config(cfg, self.out_dir),
            examples_sha256=examples_sha256,
            settings={
                "confidence": cfg.stats.confidence,
                "n_resamples": cfg.stats.n_resamples,
                "seed": cfg.stats.seed,
                "limit": self.limit,
                "max_output_chars": cfg.max_output_chars,
                "outputs_truncated": sum(len(v) for v in self.cut.values()),
            }
            | ({"shard": self.shard.as_setting() | {"records_sha256": self.shard_sha}} if self.shard else {}),
            failures=failures,
            resume_command=self.resume_command,
            gate=None if self.shard else cfg.gate,  # a shard is not a verdict: merge the shards for it
            curve_reports=self.curve_reports,
            requests={name: request_stats(st) for name, st in sorted(runner.stats.items())},
            timings={k: round(v, 3) for k, v in self.timings.items()},
        )

    # ------------------------------------------------------------ the run
    def execute(self) -> RunOutcome:
        cfg = self.cfg
        self.prepare()
        lock = RunLock(self.out_dir, resume=self.resume)
        with lock:
            runner = Runner(self.cache, progress=self.progress, note=self.log)
            try:
                t = time.perf_counter()
                crash_point("prepared")
                gens = asyncio.run(self._generate_all(runner))
                gens = {k: apply_on_empty(g, self._on_empty(k[0])) for k, g in gens.items()}
                self.cut = cut_outputs(gens, cfg.max_output_chars)  # before judging, scoring, storing
                self.timings["generate"] = time.perf_counter() - t
                crash_point("generated")
                t = time.perf_counter()
                judged = asyncio.run(self._judge_all(runner, gens)) if any(p.judges for p in self.plans) else {}
                self.timings["judge"] = time.perf_counter() - t
                crash_point("judged")
            finally:
                runner.close()
            t = time.perf_counter()
            scored = {
                (plan.name, model): self._score(plan, model, gens[(model, plan.name)], judged)
                for plan in self.plans
                for model in self.model_names
            }
            examples_sha256 = self._write_examples(scored)
            if self.shard is not None:  # shard.jsonl: what merge rebuilds the run from
                self.shard_sha = write_records(
                    self.out_dir,
                    self.shard,
                    config_digest(cfg),
                    self.plans,
                    self.shard_where,
                    {
                        (p.name, m): (self._rows(p, m), scored[(p.name, m)].scores.results)
                        for p in self.plans
                        for m in self.model_names
                    },
                )
            tasks = {plan.name: self._summarise(plan, scored, judged) for plan in self.plans}
            self._write_curves()
            self.timings["score"] = time.perf_counter() - t
            run = self._record(tasks, [f for s in scored.values() for f in s.failures], examples_sha256, runner)
            crash_point("scored")
            from .report import write_report_files

            _, data = write_report_files(self.out_dir, run, note=self.log)
            lock.reports_complete()  # readers may read the folder; trackers come next
            if cfg.trackers:
                from .trackers import log_run

                self.log(f"trackers: logging to {len(cfg.trackers)} tracker(s)")
                log_run(cfg.trackers, run, self.out_dir)
            crash_point("reports_written")
            lock.finish()
        self.cache.close()
        return RunOutcome(
            run=run,
            out_dir=self.out_dir,
            failed=run.failed_items,
            exit_code=run.exit_code,
            failure_modes=data.failure_modes,
        )


def _resume_command(
    cfg: Config,
    out_dir: Path | None,
    limit: int | None,
    models: list[str] | None,
    batch: bool,
    shard: ShardSpec | None = None,
) -> str:
    """The command that continues this run (the CLI passes the one built from what the user typed)."""
    parts = ["evalstack", "run", str(getattr(cfg, "source", None) or "CONFIG")] + (
        ["--out", str(out_dir)] if out_dir else []
    )
    parts += ["--shard", shard.label] if shard else []
    parts += (["--limit", str(limit)] if limit else []) + (["--models", ",".join(models)] if models else [])
    return " ".join(parts + (["--batch"] if batch else []) + ["--resume"])


_M = TypeVar("_M", bound=ProviderSettings)


def _with_batch(cfg: Config) -> Config:
    """A copy of the config with ``batch: true`` on every model and judge whose provider has a batch API."""

    def on(m: _M) -> _M:
        return m.model_copy(update={"batch": True}) if provider_class(m.provider).supports_batch_api else m

    tasks = [
        t.model_copy(
            update={
                "judges": [j.model_copy(update={"judge": on(j.judge)}) if j.judge else j for j in t.judges],
                "pairwise": [j.model_copy(update={"judge": on(j.judge)}) if j.judge else j for j in t.pairwise],
            }
        )
        for t in cfg.tasks
    ]
    new = cfg.model_copy(
        update={
            "models": {k: on(v) for k, v in cfg.models.items()},
            "judge": on(cfg.judge) if cfg.judge else None,
            "tasks": tasks,
        }
    )
    new.source = cfg.source
    return new


def quiet_offline_env() -> None:
    """Offline by default (no hub download can happen at run time) and no library progress bars in our output.

    setdefault: a user who really wants the hub, or the bars, sets the variables themselves.
    """
    for name, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
        ("HF_DATASETS_OFFLINE", "1"),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("TOKENIZERS_PARALLELISM", "false"),
    ):
        os.environ.setdefault(name, value)


def run_config(
    cfg: Config,
    *,
    out_dir: str | Path | None = None,
    limit: int | None = None,
    resume: bool = False,
    no_cache: bool = False,
    concurrency: int | None = None,
    models: list[str] | None = None,
    progress: bool = False,
    batch: bool = False,
    resume_command: str | None = None,
    shard: ShardSpec | None = None,
) -> RunOutcome:
    """Run a validated :class:`Config` and write its output folder (``resume_command``: the command an
    incomplete run's reports tell the user to run; default built from the config's path and the options;
    ``shard``: only that shard's examples, into ``<output>/shard-I-of-N`` unless ``out_dir`` says where)."""
    quiet_offline_env()
    return _Run(
        cfg,
        out_dir=Path(out_dir) if out_dir else None,
        limit=limit,
        resume=resume,
        no_cache=no_cache,
        concurrency=concurrency,
        only_models=models,
        progress=progress,
        batch=batch,
        resume_command=resume_command,
        shard=shard,
    ).execute()


def run(
    config: str | Path | Mapping[str, object] | Config,
    *,
    out_dir: str | Path | None = None,
    limit: int | None = None,
    resume: bool = False,
    no_cache: bool = False,
    concurrency: int | None = None,
    models: list[str] | None = None,
    progress: bool = False,
    batch: bool = False,
    resume_command: str | None = None,
) -> RunOutcome:
    """Run a config given as a path, a dict or a :class:`Config` (the Python API); the options are those of
    :func:`run_config`."""
    if isinstance(config, Config):
        cfg = config
    elif isinstance(config, Mapping):
        from .config import config_from_data

        cfg = config_from_data(dict(config))
    else:
        cfg = load_config(config)
    return run_config(
        cfg,
        out_dir=out_dir,
        limit=limit,
        resume=resume,
        no_cache=no_cache,
        concurrency=concurrency,
        models=models,
        progress=progress,
        batch=batch,
        resume_command=resume_command,
    )

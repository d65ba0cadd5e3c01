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
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

from ._cleaned import cleaned_data
from ._crash import crash_point
from ._digests import plan_digests
from ._examples import example_rows, write_examples
from ._lock import RunLock
from ._outdir import claim, protected_paths, record
from ._prepare import TaskPlan, check_gate_keys, check_logprobs, load_metric_backends, prepare_task
from ._run_options import RunOptions, quiet_offline_env, with_batch
from ._run_options import resume_command as default_resume_command
from ._runjson import public_config, relative_path, request_stats
from ._safetext import cut_outputs
from ._shard import ShardSpec, select_examples, write_records
from ._stages import StageLog
from ._steps import Judged, Scored, TurnGens, expand_repeats, generate_all, judge_all, judge_scores, score
from ._summary import assemble_run, summarise_task
from .baseline import run_with_stored_baseline
from .config import Config, config_digest, load_config
from .cost import Budget, run_cost
from .errors import ConfigError
from .history import index_finished
from .models import (
    Cache,
    Generation,
    Provider,
    Runner,
    apply_on_empty,
    default_cache_path,
    make_provider,
)
from .results import FailureGroup, ModelInfo, RunResult, TaskSummary
from .tools import check_tool_loops

if TYPE_CHECKING:
    from .curves import CurveReport


@dataclass
class RunOutcome:
    """What :func:`run` returns: the run record, where it was written, and the exit code it implies."""

    run: RunResult
    out_dir: Path
    failed: int
    exit_code: int
    failure_modes: list[object] | None = None
    """New failure modes found in examples.jsonl (:class:`evalstack.report._worse.FailureMode`)."""


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
        max_cost: float | None = None,
    ):
        self.shard = shard  # --shard I/N: this shard's examples only, no gate (merge gives the verdict)
        self.max_cost = max_cost
        self.resume_command = resume_command or default_resume_command(cfg, out_dir, limit, only_models, batch, shard)
        if batch:  # --batch: every openai model and judge through the Batch API
            cfg = with_batch(cfg)
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
        self.turn_gens: TurnGens = {}
        """Conversation tasks: per (model, task), per row, per turn, the generation (None: not asked)."""

    # ------------------------------------------------------------ steps
    def prepare(self) -> None:
        t = time.perf_counter()
        self.plans = [prepare_task(self.cfg, task, i, limit=self.limit) for i, task in enumerate(self.cfg.tasks)]
        self.all_plans = self.plans  # run.json's digests are of the whole evaluation, in a shard too
        if self.shard is not None:
            self.plans, self.shard_where = select_examples(self.cfg, self.plans, self.shard)
        check_gate_keys(self.cfg, self.plans)
        self.curve_reports = self._analyze_curves()  # a bad curves file fails now, not after the run
        self.providers: dict[str, Provider] = {}
        for name in self.model_names:
            p = make_provider(name, self.cfg.models[name])
            if self.concurrency:  # --concurrency, within what the provider can use
                p.concurrency = min(self.concurrency, p.max_concurrency)
            p.check_ready()
            check_logprobs(self.plans, name, p)
            check_tool_loops(self.plans, name, p)  # a replay model cannot answer a tool loop's later steps
            for plan in self.plans:
                p.check_examples(plan.name, [ex.id for ex in plan.examples])
                if plan.conversations is not None and hasattr(p, "check_turns"):  # recorded answers per turn
                    p.check_turns(
                        plan.name, [(ex.id, len(c.turns)) for ex, c in zip(plan.examples, plan.conversations)]
                    )
            self.providers[name] = p
        self.judge_providers: dict[str, Provider] = {}
        for plan in self.plans:
            for jp in plan.judges:
                key = jp.where if jp.spec.judge is not None else "judge"
                if key not in self.judge_providers:
                    jcfg = jp.spec.judge or self.cfg.judge
                    assert jcfg is not None  # the config refuses a judge with neither (config._cross)
                    prov = make_provider(f"judge:{jp.rubric.name}" if jp.spec.judge else "judge", jcfg)
                    prov.check_ready()
                    self.judge_providers[key] = prov
                jp.provider = self.judge_providers[key]
        from .cost import check_max_cost
        from .judges import check_trust

        check_trust(self.cfg, self.plans)  # human_labels files read, corrected: true rules have them
        check_max_cost(self.cfg, self.plans, self.model_names, self.max_cost)  # --max-cost: nothing sent, no folder
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

    def _has_tools(self, task: str) -> bool:
        """The task offers tools: a reply of tool calls without text is an answer, not an empty reply."""
        return any(p.tools is not None for p in self.plans if p.name == task)

    def _judge_all(self, runner: Runner, gens: dict[tuple[str, str], list[Generation]]) -> Judged:
        return asyncio.run(
            judge_all(
                runner,
                gens,
                plans=self.plans,
                model_names=self.model_names,
                baseline=self.cfg.baseline,
                rows=self._rows,
                judge_providers=self.judge_providers,
                turn_gens=self.turn_gens,
            )
        )

    def _rows(self, plan: TaskPlan, model: str) -> list[tuple[int, int, str]]:
        return expand_repeats(plan, getattr(self.cfg.models[model], "repeat", 1))

    def _score(self, plan: TaskPlan, model: str, g: list[Generation], judged: Judged) -> Scored:
        rows = self._rows(plan, model)
        return score(
            plan,
            model,
            g,
            judged,
            rows=rows,
            on_empty=self._on_empty(model),
            note=self.log,
            turn_gens=self.turn_gens.get((model, plan.name)),
        )

    def _summarise(self, plan: TaskPlan, scored: Mapping[tuple[str, str], Scored], judged: Judged) -> TaskSummary:
        pairwise: dict[str, dict[str, dict[str, object]]] = {}  # rubric -> model -> summary, of pairwise judges
        for model in self.model_names:
            for res in judge_scores(plan, model, judged).values():
                if res.summary is not None:
                    pairwise.setdefault(res.rubric, {})[model] = res.summary
        slices = [
            (col, [None if ex.row.get(col) is None else str(ex.row.get(col)) for ex in plan.examples])
            for col in plan.cfg.slice_by
        ]
        summary = summarise_task(
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
        from .judges import annotate_judges  # rubric/judge digests; PPI++ estimates where human_labels are given

        rows = {m: scored[(plan.name, m)].judge_rows for m in self.model_names}
        annotate_judges(summary, plan.judges, self.cfg.judge, rows, self.cfg.baseline, self.cfg.stats.confidence)
        return summary

    def _write_examples(self, scored: Mapping[tuple[str, str], Scored]) -> str:
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
                **cleaned_data(self.plans),  # a task on a `labels export` cleaned set: what changed
            }
            | ({"shard": self.shard.as_setting() | {"records_sha256": self.shard_sha}} if self.shard else {})
            | ({"max_cost": runner.budget.setting()} if runner.budget else {}),
            failures=failures,
            resume_command=self.resume_command,
            gate=None if self.shard else cfg.gate,  # a shard is not a verdict: merge the shards for it
            store=cfg.store,  # max_trend_decline rules read the run store's history
            curve_reports=self.curve_reports,
            requests={name: request_stats(st) for name, st in sorted(runner.stats.items())},
            timings={k: round(v, 3) for k, v in self.timings.items()},
            cost=self.cost,
            digests=plan_digests(self.all_plans, self.cfg, self.model_names),
        )

    # ------------------------------------------------------------ the run
    def execute(self) -> RunOutcome:
        cfg = self.cfg
        self.prepare()
        lock = RunLock(self.out_dir, resume=self.resume)
        with lock:
            runner = Runner(self.cache, progress=self.progress, note=self.log)
            runner.budget = None if self.max_cost is None else Budget(self.max_cost)  # --max-cost while sending
            try:
                t = time.perf_counter()
                crash_point("prepared")
                gens = asyncio.run(
                    generate_all(
                        runner,
                        self.providers,
                        self.plans,
                        self.model_names,
                        self._rows,
                        on_empty=self._on_empty,
                        turn_gens=self.turn_gens,
                    )
                )
                gens = {k: apply_on_empty(g, self._on_empty(k[0]), self._has_tools(k[1])) for k, g in gens.items()}
                self.cut = cut_outputs(gens, cfg.max_output_chars)  # before judging, scoring, storing
                each_turn = {k: [g for row in tg for g in row if g is not None] for k, tg in self.turn_gens.items()}
                cut_outputs(each_turn, cfg.max_output_chars)  # conversations: every turn, as judged and stored
                self.timings["generate"] = time.perf_counter() - t
                crash_point("generated")
                t = time.perf_counter()
                judged = self._judge_all(runner, gens) if any(p.judges for p in self.plans) else {}
                for plan in self.plans:
                    plan.release_prompts()
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
            self.cost = run_cost(self.cfg, self.plans, gens, judged)  # run.json cost: what the sent requests cost
            run = self._record(tasks, [f for s in scored.values() for f in s.failures], examples_sha256, runner)
            del gens, judged, scored  # the reports read the record and stream examples.jsonl
            self.plans, self.cut = [], {}
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
    max_cost: float | None = None,
) -> RunOutcome:
    """Run a validated :class:`Config` and write its output folder (``resume_command``: the command an
    incomplete run's reports tell the user to run; default built from the config's path and the options;
    ``shard``: only that shard's examples, into ``<output>/shard-I-of-N`` unless ``out_dir`` says where)."""
    quiet_offline_env()
    if cfg.baseline_run is not None:  # baseline: {run: prod}: only the candidates run, paired with the stored one
        return run_with_stored_baseline(**locals())
    outcome = _Run(
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
        max_cost=max_cost,
    ).execute()
    index_finished(outcome.out_dir, cfg.store)  # the run store's history index (evalstack history)
    return outcome


def run(config: str | Path | Mapping[str, object] | Config, **options: Unpack[RunOptions]) -> RunOutcome:
    """Run a config given as a path, a dict or a :class:`Config` (the Python API); the options are those of
    :func:`run_config`."""
    if isinstance(config, Config):
        cfg = config
    elif isinstance(config, Mapping):
        from .config import config_from_data

        cfg = config_from_data(dict(config))
    else:
        cfg = load_config(config)
    return run_config(cfg, **options)

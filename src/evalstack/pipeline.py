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
import datetime as _dt
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from ._crash import crash_point
from ._io import AtomicWriter
from ._lock import RunLock
from ._outdir import claim, protected_paths, record, sha256_file
from ._prepare import TaskPlan, check_gate_keys, check_logprobs, load_metric_backends, prepare_task
from ._safetext import cut_outputs
from ._score import collapse_repeats, score_outputs
from ._stages import StageLog
from .config import Config, config_digest, load_config
from .errors import ConfigError
from .models import (EMPTY_KINDS, Cache, Generation, Request, Runner, apply_on_empty, attribute_shared,
                     default_cache_path, empty_counts, make_provider, provider_class)
from .results import (ErrorInfo, ExampleRow, FailureGroup, Incomplete, ModelInfo, ModelTaskSummary, RunResult,
                      TaskSummary, Usage)


@dataclass
class RunOutcome:
    """What :func:`run` returns: the run record, where it was written, and the exit code it implies."""

    run: RunResult
    out_dir: Path
    failed: int
    exit_code: int
    failure_modes: list[Any] | None = None
    """New failure modes found in examples.jsonl (:class:`evalstack.report._worse.FailureMode`)."""


def _expand_repeats(plan: TaskPlan, repeat: int) -> list[tuple[int, int, str]]:
    """(example index, repeat index, scoring id) per row; repeats become rows 'id#r' (paired across models)."""
    if repeat == 1:
        return [(i, 0, ex.id) for i, ex in enumerate(plan.examples)]
    return [(i, r, f"{ex.id}#{r}") for i, ex in enumerate(plan.examples) for r in range(repeat)]


def relative_path(path: Any, base: Path) -> Any:
    """``path`` relative to ``base`` (the config's folder) when it is an absolute path string: run folders
    and reports then name no absolute path of the machine that wrote them."""
    if not isinstance(path, str) or not os.path.isabs(path):
        return path
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive (Windows)
        return path


def public_config(cfg: Config, out_dir: Path | None = None) -> dict[str, Any]:
    """The resolved config for run.json: every HTTP header value masked (headers may carry keys), URLs'
    ``user:password@`` masked, registered secrets redacted (e.g. one allowed into a prompt), and file paths
    relative to the config's folder."""
    from ._secrets import mask_userinfo, redact_secrets

    data = cfg.model_dump(mode="json", exclude={"source"})
    base = cfg.base_dir
    if out_dir is not None:  # the config's folder relative to the run folder: relative data paths resolve
        data["config_dir"] = relative_path(str(base), Path(out_dir).resolve())
    for m in [*data.get("models", {}).values(), data.get("judge") or {}]:
        if isinstance(m, dict) and "path" in m:
            m["path"] = relative_path(m["path"], base)
    for t in data.get("tasks", []):
        t["data"]["path"] = relative_path(t["data"]["path"], base)
        for j in t.get("judges", []) + t.get("pairwise", []):
            if isinstance(j.get("judge"), dict) and "path" in j["judge"]:
                j["judge"]["path"] = relative_path(j["judge"]["path"], base)
            j["rubric"] = relative_path(j.get("rubric"), base)
    for c in data.get("curves", []):
        c["path"] = relative_path(c["path"], base)
    for k in ("output", "cache"):
        data[k] = relative_path(data.get(k), base)

    def mask(node: Any, key: Any = None) -> Any:
        if isinstance(node, dict):
            return {k: ({h: "***" for h in v} if k == "headers" and isinstance(v, dict) else mask(v, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [mask(x) for x in node]
        if isinstance(node, str):
            return redact_secrets(mask_userinfo(node) if key in ("base_url", "endpoint") else node)
        return node

    return mask(data)


def _request_stats(st: Any) -> dict[str, Any]:
    """A provider's request counters for run.json (batch-mode counts where batch mode ran)."""
    out: dict[str, Any] = {"requests": st.requests, "cached": st.cached, "retries": st.retries, "failed": st.failed,
                           "cache_repaired": st.cache_repaired, "faults": dict(sorted(st.faults.items()))}
    if st.batch is not None:
        b = st.batch
        out["batch"] = {k: getattr(b, k) for k in ("created", "resumed", "polls", "results", "failed_lines",
                                                   "unfinished", "resubmitted", "online") if hasattr(b, k)}
        out["batch"]["batch_ids"] = list(getattr(b, "batch_ids", []))
    return out


class _Run:
    def __init__(self, cfg: Config, *, out_dir: Path | None, limit: int | None, resume: bool, no_cache: bool,
                 concurrency: int | None, only_models: list[str] | None, progress: bool, batch: bool = False,
                 resume_command: str | None = None):
        self.resume_command = resume_command or _resume_command(cfg, out_dir, limit, only_models, batch)
        if batch:  # --batch: every openai model and judge through the Batch API
            cfg = _with_batch(cfg)
        self.cfg = cfg
        self.out_dir = Path(out_dir) if out_dir else cfg.output_dir()
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

    # ------------------------------------------------------------ steps
    def prepare(self) -> None:
        t = time.perf_counter()
        self.plans = [prepare_task(self.cfg, task, i, limit=self.limit) for i, task in enumerate(self.cfg.tasks)]
        self._task_index = {p.name: i for i, p in enumerate(self.plans)}
        check_gate_keys(self.cfg, self.plans)
        self.curve_reports = self._analyze_curves()  # a bad curves file fails now, not after the run
        self.providers = {}
        for name in self.model_names:
            p = make_provider(name, self.cfg.models[name])
            if self.concurrency:  # --concurrency, within what the provider can use
                p.concurrency = min(self.concurrency, p.max_concurrency)
            p.check_ready()
            check_logprobs(self.plans, name, p)
            for plan in self.plans:
                p.check_examples(plan.name, [ex.id for ex in plan.examples])
            self.providers[name] = p
        self.judge_providers: dict[str, Any] = {}
        for plan in self.plans:
            for jp in plan.judges + plan.pairwise:
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
        claim(self.out_dir, where="--out" if self.out_flag else f"{self.cfg.source or 'config'}: output",
              protected=protected_paths(self.cfg))  # a folder evalstack may write into, marked as its own
        load_metric_backends(self.plans)  # models and slow libraries load only after every cheap check
        check_gate_keys(self.cfg, self.plans)
        cache_path = None if self.no_cache else (self.cfg.cache or default_cache_path())
        self.cache = Cache(cache_path)
        self.timings["prepare"] = time.perf_counter() - t

    def _analyze_curves(self) -> list[Any]:
        if not self.cfg.curves:
            return []
        from .curves import analyze

        reports = [analyze(c.path, format=c.format, mapping=c.mapping or None, hidden_tokens=c.hidden_tokens,
                           visible_tokens=c.visible_tokens, n_epochs=c.n_epochs, label=c.label) for c in self.cfg.curves]
        for rep in reports:  # run.json and the reports name the file relative to the config, as the config does
            rep.table = dataclasses.replace(rep.table, source=relative_path(rep.table.source, self.cfg.base_dir))
        return reports

    def _on_empty(self, model: str) -> str | None:
        return getattr(self.cfg.models[model], "on_empty", None)

    async def _generate_all(self, runner: Runner) -> dict[tuple[str, str], list[Generation]]:
        async def one(model: str, plan: TaskPlan) -> tuple[tuple[str, str], list[Generation]]:
            prov = self.providers[model]
            repeat = getattr(self.cfg.models[model], "repeat", 1)
            reqs = [Request.make(plan.name, plan.examples[i].id, plan.messages[i], None, r)
                    for i, r, _ in _expand_repeats(plan, repeat)]
            gens = await runner.run(prov, reqs, label=f"{model} · {plan.name}")
            return (model, plan.name), gens

        try:
            pairs = await asyncio.gather(*(one(m, p) for m in self.model_names for p in self.plans))
        finally:
            for prov in self.providers.values():
                await prov.aclose()
        attribute_shared([gens for _, gens in pairs])  # identical requests: charged to the first in config order
        return dict(pairs)

    async def _judge_all(self, runner: Runner, gens: dict[tuple[str, str], list[Generation]]) -> dict[str, Any]:
        from .judges import JudgeItem, judge_pairwise, judge_pointwise

        out: dict[str, Any] = {"pointwise": {}, "pairwise": {}}
        jobs = []

        def items(plan: TaskPlan, model: str) -> list[Any]:
            repeat = getattr(self.cfg.models[model], "repeat", 1)
            ref = plan.column(plan.cfg.reference) or plan.column(plan.cfg.target)
            ctx = plan.column(plan.cfg.context)
            g = gens[(model, plan.name)]
            # the judge sees the whole prompt (system instructions matter for instruction following)
            return [JudgeItem(example_id=sid, input=plan.prompt_text(i), output=g[k].text if g[k].ok else None,
                              reference=ref[i] if ref else None, context=None if ctx is None else ctx[i])
                    for k, (i, _r, sid) in enumerate(_expand_repeats(plan, repeat))]

        for plan in self.plans:
            for jp in plan.judges:
                for model in self.model_names:
                    async def pw(plan=plan, jp=jp, model=model):
                        # task "<task>/<model>": a replay judge file can key verdicts per model (task_column)
                        res = await judge_pointwise(jp.rubric, items(plan, model), provider=jp.provider, runner=runner,
                                                    task=f"{plan.name}/{model}", spec=jp.spec)
                        out["pointwise"][(plan.name, model, jp.rubric.name)] = res
                    jobs.append(pw())
            for jp in plan.pairwise:
                base = self.cfg.baseline
                for model in self.model_names:
                    if model == base:
                        continue

                    async def pp(plan=plan, jp=jp, model=model):
                        res = await judge_pairwise(jp.rubric, items(plan, model), items(plan, base), provider=jp.provider,
                                                   runner=runner, task=f"{plan.name}/{model}", spec=jp.spec,
                                                   name_a=model, name_b=base)
                        out["pairwise"][(plan.name, model, jp.rubric.name)] = res
                    jobs.append(pp())
        try:
            await asyncio.gather(*jobs)
        finally:
            for prov in self.judge_providers.values():
                await prov.aclose()
        # a prompt judged for several models was sent once, by whichever got there first: charge it to the
        # first in a fixed order (task order, rubric name, model config order): the same usage on every run
        from .judges import usage_of

        order = [out[kind][k] for kind in ("pointwise", "pairwise") for k in sorted(
            out[kind], key=lambda k: (self._task_index[k[0]], k[2], self.model_names.index(k[1])))]
        attribute_shared([res.gens for res in order])
        for res in order:  # re-asks stay counted per model: they are known from the call results only
            res.usage = usage_of(res.gens) | {"reasks": res.usage.get("reasks", 0)}
        return out

    def _score(self, plan: TaskPlan, model: str, g: list[Generation]) -> list[Any]:
        rows = _expand_repeats(plan, getattr(self.cfg.models[model], "repeat", 1))

        def column(name: str | None) -> list[Any] | None:  # one value per scored row (repeats included)
            col = plan.column(name)
            return None if col is None else [col[i] for i, _, _ in rows]

        return score_outputs(plan.cfg, plan.metrics, [x.text if x.ok else None for x in g],
                             targets=column(plan.cfg.target), references=column(plan.cfg.reference),
                             knowledge=column(plan.cfg.context), logprobs=[x.logprobs if x.ok else None for x in g],
                             note=self.log, label=f"{model} · {plan.name}")

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
                judged = asyncio.run(self._judge_all(runner, gens)) if any(p.judges or p.pairwise for p in self.plans) \
                    else {"pointwise": {}, "pairwise": {}}
                self.timings["judge"] = time.perf_counter() - t
                crash_point("judged")
            finally:
                runner.close()
            t = time.perf_counter()
            run, failed = self._summarise(runner, gens, judged)
            run.requests = {name: _request_stats(st) for name, st in sorted(runner.stats.items())}
            self.timings["score"] = time.perf_counter() - t
            run.timings = {k: round(v, 3) for k, v in self.timings.items()}
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
        return RunOutcome(run=run, out_dir=self.out_dir, failed=failed, exit_code=run.exit_code,
                          failure_modes=data.failure_modes)

    def _summarise(self, runner: Runner, gens: dict[tuple[str, str], list[Generation]], judged: dict[str, Any]) -> tuple[RunResult, int]:
        from .stats import slice_summaries, task_summaries

        cfg = self.cfg
        settings = cfg.stats
        tasks: dict[str, TaskSummary] = {}
        failed_total = 0
        failures: list[FailureGroup] = []
        examples = self.out_dir / "examples.jsonl"
        record(self.out_dir, [examples])  # the manifest lists a file before it is written
        with AtomicWriter(examples, root=self.out_dir) as fh:
            for plan in self.plans:
                by_model: dict[str, dict[str, Any]] = {}
                ts = TaskSummary(name=plan.name, n_examples=len(plan.examples))
                for model in self.model_names:
                    g = gens[(model, plan.name)]
                    results = self._score(plan, model, g)
                    jrows: dict[str, dict[str, Any]] = {}
                    judge_usage: dict[str, Usage] = {}
                    judge_failed: dict[str, int] = {}
                    judge_unparseable: dict[str, int] = {}
                    for kind in ("pointwise", "pairwise"):
                        for (tname, mname, rname), res in judged[kind].items():
                            if tname == plan.name and mname == model:
                                name = rname if kind == "pointwise" else f"pairwise_{rname}"
                                results.append(res.result)
                                jrows[name] = res.rows
                                judge_usage[name] = Usage(**{k: int(v) for k, v in res.usage.items() if k in Usage.model_fields})
                                judge_failed[name], judge_unparseable[name] = res.failed, res.unparseable
                    by_model[model] = {r.key: r for r in results}
                    failed = sum(1 for x in g if not x.ok and x.error_kind not in EMPTY_KINDS)
                    failed_total += failed + sum(judge_failed.values())
                    if failed:
                        failures.append(FailureGroup.of(plan.name, model, "generation", len(g),
                                                        [(x.error_kind or "error", x.error_message or "")
                                                         for x in g if not x.ok and x.error_kind not in EMPTY_KINDS]))
                    for name, rows in jrows.items():
                        bad = [(r.error_kind or "error", r.error or "") for r in rows.values() if r.failed]
                        if bad:
                            failures.append(FailureGroup.of(plan.name, model, f"judge {name}", len(rows), bad))
                    usage = Usage(requests=sum(1 for x in g if not x.cached), cached=sum(1 for x in g if x.cached),
                                  prompt_tokens=sum(x.prompt_tokens for x in g),
                                  completion_tokens=sum(x.completion_tokens for x in g),
                                  retries=sum(max(0, x.tries - 1) for x in g))
                    ts.models[model] = ModelTaskSummary(n_examples=len(g), failed=failed, usage=usage,
                                                        judge_usage=judge_usage, judge_failed=judge_failed,
                                                        empty=empty_counts(g, self._on_empty(model)),
                                                        judge_unparseable=judge_unparseable)
                    self._write_examples(fh, plan, model, g, results, jrows)
                repeat = getattr(cfg.models[cfg.baseline], "repeat", 1)
                if repeat > 1:  # the unit of resampling and pairing is the example, not the sample
                    by_model = {m: {k: collapse_repeats(r, repeat) for k, r in res.items()} for m, res in by_model.items()}
                self.log(f"statistics {plan.name}: {len(by_model)} models, {settings.n_resamples} resamples"
                         + (f", slices by {', '.join(plan.cfg.slice_by)}" if plan.cfg.slice_by else ""))
                metrics, deltas = task_summaries(by_model, cfg.baseline, settings)
                for model, ms in metrics.items():
                    ts.models[model].metrics = ms
                ts.deltas = deltas
                for col in plan.cfg.slice_by:
                    values = [None if ex.row.get(col) is None else str(ex.row.get(col)) for ex in plan.examples]
                    ts.slices.extend(slice_summaries(by_model, cfg.baseline, values, col, settings))
                for (tname, mname, rname), res in judged["pairwise"].items():
                    if tname == plan.name:
                        ts.pairwise.setdefault(rname, {})[mname] = res.summary
                tasks[plan.name] = ts
        models = {}
        for name in self.model_names:
            mcfg = cfg.models[name]
            prov = self.providers[name]
            params = dict(getattr(mcfg, "params", {}) or {})
            models[name] = ModelInfo(name=name, provider=mcfg.provider, model=prov.describe(),
                                     checkpoint_step=mcfg.checkpoint_step, params=params)
        run = RunResult(name=cfg.name, created_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                        evalstack_version=__version__, config_digest=config_digest(cfg), baseline=cfg.baseline,
                        models=models, tasks=tasks,
                        config=public_config(cfg, self.out_dir), examples_sha256=sha256_file(examples),
                        settings={"confidence": settings.confidence, "n_resamples": settings.n_resamples,
                                  "seed": settings.seed, "limit": self.limit, "max_output_chars": cfg.max_output_chars,
                                  "outputs_truncated": sum(len(v) for v in self.cut.values())})
        if failures:
            run.incomplete = Incomplete(failed=sum(f.failed for f in failures), groups=failures,
                                        resume_command=self.resume_command)
        self._curves(run)
        if cfg.gate is not None:
            from .gate import evaluate_gate

            run.gate = evaluate_gate(run, cfg.gate)
        return run, failed_total

    def _write_examples(self, fh: Any, plan: TaskPlan, model: str, g: list[Generation], results: list[Any],
                        jrows: dict[str, dict[str, Any]]) -> None:
        repeat = getattr(self.cfg.models[model], "repeat", 1)
        ref_col = plan.cfg.reference or plan.cfg.target
        # slice columns, kept columns, and the context column (so `compare` can re-score knowledge_f1)
        keep = list(dict.fromkeys([*plan.cfg.slice_by, *plan.cfg.keep_columns,
                                   *([plan.cfg.context] if plan.cfg.context else [])]))
        # corpus-only metrics (macro F1, BLEU...) have no per-example value: their per-example proxies stay
        # out of examples.jsonl so that nobody averages a column into the wrong number
        per_ex = [(r.key, r.per_example) for r in results if r.per_example is not None and not r.corpus_only]
        for k, (i, _r, sid) in enumerate(_expand_repeats(plan, repeat)):
            ex = plan.examples[i]
            gen = g[k]
            judge = {name: rows[sid].to_dict() for name, rows in jrows.items() if sid in rows}
            row = ExampleRow(task=plan.name, model=model, id=sid, input=plan.input_text(i),
                             output=gen.text if gen.ok else None,
                             output_truncated=self.cut.get((model, plan.name), {}).get(k),
                             reference=ex.row.get(ref_col) if ref_col else None,
                             scores={key: vals[k] for key, vals in per_ex},
                             judge=judge, fields={c: ex.row.get(c) for c in keep},
                             error=None if gen.ok else ErrorInfo(kind=gen.error_kind or "error", tries=gen.tries,
                                                                 message=gen.error_message or "",
                                                                 finish_reason=gen.finish_reason),
                             finish_reason=gen.finish_reason if gen.finish_reason != "stop" else None,
                             usage={"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens},
                             cached=gen.cached, notes=list(gen.notes or []))
            fh.write(json.dumps(row.model_dump(mode="json"), ensure_ascii=False, default=str) + "\n")

    def _curves(self, run: RunResult) -> None:
        from ._outdir import remove_stale

        written: list[Path] = []
        if self.curve_reports:
            from .curves import write_curve_outputs

            written = write_curve_outputs(self.curve_reports, self.out_dir)  # analysis.json + PNGs, all reports
            record(self.out_dir, written)
        remove_stale(self.out_dir, "curves", written, ("*.png", "analysis.json"))  # only an earlier run's, ours
        if not self.curve_reports:
            return
        from .curves import join_checkpoints

        self.log(f"curves: {len(self.curve_reports)} analysis(es) and plots")
        reports = self.curve_reports
        run.curves = [r.to_dict() for r in reports]
        steps = {}
        for name, info in run.models.items():
            if info.checkpoint_step is not None:
                scores = {f"{t}/{k}": m.value for t, ts in run.tasks.items()
                          for k, m in ts.models[name].metrics.items() if m.value is not None}
                steps[name] = (info.checkpoint_step, scores)
        if steps:
            hib = {f"{t}/{k}": m.higher_is_better for t, ts in run.tasks.items()
                   for mts in ts.models.values() for k, m in mts.metrics.items()}
            run.checkpoints = join_checkpoints(reports[0], steps, higher_is_better=hib)


def _resume_command(cfg: Config, out_dir: Path | None, limit: int | None, models: list[str] | None, batch: bool) -> str:
    """The command that continues this run (the CLI passes the one built from what the user typed)."""
    parts = ["evalstack", "run", str(getattr(cfg, "source", None) or "CONFIG")] + (["--out", str(out_dir)] if out_dir else [])
    parts += (["--limit", str(limit)] if limit else []) + (["--models", ",".join(models)] if models else [])
    return " ".join(parts + (["--batch"] if batch else []) + ["--resume"])


def _with_batch(cfg: Config) -> Config:
    """A copy of the config with ``batch: true`` on every model and judge whose provider has a batch API."""
    def on(m: Any) -> Any:
        return m.model_copy(update={"batch": True}) if provider_class(m.provider).supports_batch_api else m

    tasks = [t.model_copy(update={"judges": [j.model_copy(update={"judge": on(j.judge)}) if j.judge else j for j in t.judges],
                                  "pairwise": [j.model_copy(update={"judge": on(j.judge)}) if j.judge else j for j in t.pairwise]})
             for t in cfg.tasks]
    new = cfg.model_copy(update={"models": {k: on(v) for k, v in cfg.models.items()},
                                 "judge": on(cfg.judge) if cfg.judge else None, "tasks": tasks})
    new.source = cfg.source
    return new


def quiet_offline_env() -> None:
    """Offline by default (no hub download can happen at run time) and no library progress bars in our output.

    setdefault: a user who really wants the hub, or the bars, sets the variables themselves.
    """
    for name, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"),
                        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TRANSFORMERS_VERBOSITY", "error"),
                        ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(name, value)


def run_config(cfg: Config, *, out_dir: str | Path | None = None, limit: int | None = None, resume: bool = False,
               no_cache: bool = False, concurrency: int | None = None, models: list[str] | None = None,
               progress: bool = False, batch: bool = False, resume_command: str | None = None) -> RunOutcome:
    """Run a validated :class:`Config` and write its output folder (``resume_command``: the command an
    incomplete run's reports tell the user to run; default built from the config's path and the options)."""
    quiet_offline_env()
    return _Run(cfg, out_dir=Path(out_dir) if out_dir else None, limit=limit, resume=resume, no_cache=no_cache,
                concurrency=concurrency, only_models=models, progress=progress, batch=batch,
                resume_command=resume_command).execute()


def run(config: str | Path | dict[str, Any] | Config, **kwargs: Any) -> RunOutcome:
    """Run a config given as a path, a dict or a :class:`Config` (the Python API)."""
    if isinstance(config, Config):
        cfg = config
    elif isinstance(config, dict):
        from .config import config_from_data

        cfg = config_from_data(config)
    else:
        cfg = load_config(config)
    return run_config(cfg, **kwargs)

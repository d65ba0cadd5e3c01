"""``evalstack sweep``: discover checkpoints, choose candidates, evaluate them through the normal pipeline
on the selection part of the held-out set (all at once, or by successive halving), pick the best that meets
the constraints, and confirm the pick against the baseline on the held-out confirmation part.

Every evaluation is an ordinary run (:func:`evalstack.pipeline.run_config`) in ``<out>/runs/<phase>/``: the
same cache, statistics, gate and run folder as ``evalstack run``. The per-phase data files are the task's
examples (after its limit/sample) written to ``<out>/data/<phase>/<task>.jsonl``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._config import SweepSpec
from ._select import choose_candidates, halving_sizes, loss_conflicts, split_ids, successive_halving, valid_loss_at

ID_COLUMN = "_sweep_id"
"""Column added to the phase data files when a task has no id column (the example's content id)."""


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` returns: the sweep record (sweep.json), where it was written, the exit code."""

    result: dict[str, Any]
    out_dir: Path
    exit_code: int
    runs: dict[str, Any] = field(default_factory=dict)
    """Phase name -> :class:`evalstack.pipeline.RunOutcome`."""


class _Sweep:
    def __init__(self, spec: SweepSpec, out: Path, *, progress: bool, no_cache: bool):
        self.spec, self.cfg, self.sw = spec, spec.config, spec.sweep
        self.out, self.progress, self.no_cache = out, progress, no_cache
        self.runs: dict[str, Any] = {}
        self.units: set[tuple[str, str, str]] = set()
        self.requests = {"sent": 0, "cached": 0}

    # ------------------------------------------------------------ checks and data
    def prepare(self) -> None:
        from .._prepare import prepare_task

        cfg, sw = self.cfg, self.sw
        if sw.strategy == "successive_halving" and self.no_cache:
            raise ConfigError(
                "successive_halving needs the cache (kept candidates' earlier answers come from it); drop --no-cache",
                where=f"{cfg.source or 'config'}: sweep.strategy",
            )
        self.plans = {t.name: prepare_task(cfg, t, i) for i, t in enumerate(cfg.tasks)}
        self.higher: bool | None = None
        for loc, metric in [("sweep.objective.metric", sw.objective.metric)] + [
            (f"sweep.constraints[{i}].metric", r.metric) for i, r in enumerate(sw.constraints)
        ]:
            task, key = metric.split("/", 1)
            plan = self.plans[task]
            if key not in plan.keys and not plan.keys_pending:
                from ..registry import did_you_mean

                raise ConfigError(
                    f"unknown metric '{metric}'",
                    where=f"{cfg.source or 'config'}: {loc}",
                    hint=did_you_mean(
                        key, plan.keys, f"task '{task}' reports: {', '.join(sorted(plan.keys))}", prefix=f"{task}/"
                    ),
                )
        task, key = sw.objective.metric.split("/", 1)
        self.higher = self.plans[task].keys.get(key)
        self.split: dict[str, tuple[list[str], list[str]]] = {}
        for name, plan in self.plans.items():
            sel, conf = split_ids([ex.id for ex in plan.examples], sw.confirm_fraction, sw.seed)
            if not sel:
                raise ConfigError(
                    f"task '{name}' has too few examples to split ({len(plan.examples)})",
                    where=f"{cfg.source or 'config'}: sweep.confirm_fraction",
                    hint="add examples or lower it",
                )
            self.split[name] = (sel, conf)

    def _write_data(self, phase: str, ids_by_task: dict[str, list[str]]) -> dict[str, tuple[Path, str]]:
        """Each task's examples of this phase as JSONL (path, id column), original order and columns kept."""
        from .._io import atomic_write_bytes
        from .._outdir import record

        paths = {}
        for name, ids in ids_by_task.items():
            plan = self.plans[name]
            keep = set(ids)
            id_col = plan.cfg.data.id or ID_COLUMN
            lines = []
            for ex in plan.examples:
                if ex.id in keep:
                    row = ex.row if plan.cfg.data.id else {**ex.row, ID_COLUMN: ex.id}
                    lines.append(json.dumps(row, ensure_ascii=False, default=str))
            path = self.out / "data" / phase / f"{name}.jsonl"
            record(self.out, [path])
            atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"), root=self.out)
            paths[name] = (path, id_col)
        return paths

    def _phase_config(self, phase: str, models: dict[str, Any], ids_by_task: dict[str, list[str]], gate: Any) -> Any:
        data = self._write_data(phase, ids_by_task)
        tasks = []
        for t in self.cfg.tasks:
            path, id_col = data[t.name]
            tasks.append(
                t.model_copy(
                    update={
                        "data": t.data.model_copy(
                            update={
                                "path": path,
                                "format": "jsonl",
                                "id": id_col,
                                "split": None,
                                "limit": None,
                                "sample": None,
                            }
                        )
                    }
                )
            )
        new = self.cfg.model_copy(
            update={
                "models": models,
                "tasks": tasks,
                "gate": gate,
                "curves": [],
                "output": self.out / "runs" / phase,
                "trackers": [],
            }
        )
        new.source = self.cfg.source
        return new

    def _run_phase(self, phase: str, models: dict[str, Any], ids_by_task: dict[str, list[str]], gate: Any) -> Any:
        from ..pipeline import run_config

        cfg = self._phase_config(phase, models, ids_by_task, gate)
        # resume: a phase is rebuilt the same from the config, so a folder a killed sweep left unfinished is
        # continued (finished answers from the cache), never refused; on a new folder it changes nothing
        outcome = run_config(
            cfg,
            progress=self.progress,
            no_cache=self.no_cache,
            resume=True,
            resume_command=f"evalstack sweep {self.cfg.source or 'CONFIG'}",
        )
        self.runs[phase] = outcome
        for task, ids in ids_by_task.items():
            self.units.update((m, task, i) for m in models for i in ids)
        for name, st in (outcome.run.requests or {}).items():
            if name in models:
                self.requests["sent"] += st.get("requests", 0)
                self.requests["cached"] += st.get("cached", 0)
        if outcome.failed:
            raise _Incomplete(phase, outcome)
        return outcome

    # ------------------------------------------------------------ phases
    def _selection_gate(self) -> Any:
        from ..config import GateConfig

        if not self.sw.constraints:
            return None
        base = self.cfg.gate or GateConfig()
        return base.model_copy(update={"rules": list(self.sw.constraints)})

    def _objective(self, run: Any, name: str) -> dict[str, Any]:
        task, key = self.sw.objective.metric.split("/", 1)
        ts = run.tasks[task]
        s = ts.models[name].metrics.get(key)
        if s is None:
            raise ConfigError(
                f"unknown metric '{self.sw.objective.metric}'",
                where=f"{self.cfg.source or 'config'}: sweep.objective.metric",
                hint=f"task '{task}' reports: {', '.join(sorted(ts.models[name].metrics))}",
            )
        if self.higher is None:
            self.higher = bool(s.higher_is_better)
        d = ts.deltas.get(name, {}).get(key)
        return {
            "value": s.value,
            "ci_low": s.ci_low,
            "ci_high": s.ci_high,
            "n": s.n,
            "unscored": s.unscored,
            "delta": None if d is None else d.brief(),
        }

    def select(self, chosen: list[Any]) -> list[dict[str, Any]]:
        names = [c.name for c in chosen]
        by_name = {c.name: c for c in chosen}
        base = self.cfg.baseline
        halving = self.sw.strategy == "successive_halving" and len(names) > 1
        sizes = {
            t: (halving_sizes(len(sel), len(names), self.sw.eta) if halving else [len(sel)])
            for t, (sel, _) in self.split.items()
        }
        n_rounds = len(next(iter(sizes.values())))
        self.evals: dict[str, dict[int, dict[str, Any]]] = {n: {} for n in names}
        self.constraint_results: dict[str, list[Any]] = {}
        self.round_sizes: dict[int, dict[str, int]] = {}
        gate = self._selection_gate()

        def evaluate(r: int, alive: list[str], _size: int) -> tuple[dict[str, float | None], set[str]]:
            phase = f"select-r{r}" if n_rounds > 1 else "select"
            ids = {t: self.split[t][0][: sizes[t][r]] for t in self.split}
            self.round_sizes[r] = {t: len(v) for t, v in ids.items()}
            models = {base: self.cfg.models[base], **{n: by_name[n].model for n in alive}}
            run = self._run_phase(phase, models, ids, gate).run
            failed = set()
            self.baseline_eval = {**self._objective(run, base), "phase": phase}
            for n in alive:
                self.evals[n][r] = {**self._objective(run, n), "phase": phase}
                rules = [g for g in (run.gate.rules if run.gate else []) if g.model == n]
                self.constraint_results[n] = [g.model_dump(mode="json") for g in rules]
                if any(not g.passed for g in rules):
                    failed.add(n)
            return {n: self.evals[n][r]["value"] for n in alive}, failed

        return successive_halving(
            names, sizes[next(iter(sizes))], self.sw.eta, evaluate, lambda: True if self.higher is None else self.higher
        )

    def confirm(self, pick: Any) -> dict[str, Any] | None:
        if not any(conf for _, conf in self.split.values()):
            return None
        models = {self.cfg.baseline: self.cfg.models[self.cfg.baseline], pick.name: pick.model}
        ids = {t: conf for t, (_, conf) in self.split.items()}
        gate = self.cfg.gate
        if gate is not None:
            gate = gate.model_copy(update={"rules": [r for r in gate.rules if r.model in (None, pick.name)]})
        run = self._run_phase("confirm", models, ids, gate).run
        return {
            "phase": "confirm",
            **self._objective(run, pick.name),
            "gate": None if run.gate is None else run.gate.model_dump(mode="json"),
        }


class _Incomplete(Exception):
    def __init__(self, phase: str, outcome: Any):
        super().__init__(phase)
        self.phase, self.outcome = phase, outcome


def run_sweep(
    spec: SweepSpec, *, out_dir: str | Path | None = None, progress: bool = False, no_cache: bool = False
) -> SweepOutcome:
    """Run a sweep and write ``sweep.json``, ``sweep.md``, ``sweep.html`` and the plot into the output folder.

    Exit code: 0 a pick was made (and the gate passed on it, or there is no gate); 1 no candidate met the
    constraints, or the gate failed on the pick; 3 a phase could not finish (items failed after retries)."""
    from .._outdir import claim, protected_paths
    from ..pipeline import quiet_offline_env
    from ._report import build_result, write_outputs
    from ._sources import discover

    quiet_offline_env()
    cfg = spec.config
    out = Path(out_dir) if out_dir else cfg.output_dir()
    sw = _Sweep(spec, out, progress=progress, no_cache=no_cache)
    sw.prepare()  # every check before the folder is claimed and before any request
    claim(out, where="--out" if out_dir else f"{cfg.source or 'config'}: output", protected=protected_paths(cfg))
    found = discover(spec, out / "source")
    chosen, reasons, notes = choose_candidates(found.candidates, found.curve, spec.sweep.select)
    others = [m for m in cfg.models if m != cfg.baseline]
    if others:
        notes.append(f"models other than the baseline are not part of the sweep: {', '.join(others)}")
    incomplete = None
    rounds: list[dict[str, Any]] = []
    confirmation = None
    pick = None
    try:
        rounds = sw.select(chosen)
        kept = rounds[-1]["kept"] if rounds else []
        pick = next((c for c in chosen if kept and c.name == kept[0]), None)
        if pick is not None:
            confirmation = sw.confirm(pick)
    except _Incomplete as exc:
        incomplete = {"phase": exc.phase, "failed": exc.outcome.failed, "run": str(exc.outcome.out_dir)}
    rows = [
        {
            "name": c.name,
            "step": c.step,
            "valid_loss": valid_loss_at(found.curve, c.step)[0],
            "scores": {r: e["value"] for r, e in sw.evals.get(c.name, {}).items()},
        }
        for c in chosen
    ]
    flags = loss_conflicts(rows, True if sw.higher is None else sw.higher) if hasattr(sw, "evals") else {}
    result = build_result(spec, sw, found, chosen, reasons, notes, rounds, pick, confirmation, flags, incomplete)
    write_outputs(out, result, found.curve)
    return SweepOutcome(result=result, out_dir=out, exit_code=result["exit_code"], runs=sw.runs)

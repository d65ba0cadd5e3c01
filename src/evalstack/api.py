"""The Python API: run an evaluation from a script or a notebook and get tidy results back.

:func:`run` takes a config as a path, a dict or a :class:`~evalstack.config.Config`, runs it exactly as
``evalstack run`` does (same cache, same output folder, same exit code) and returns an
:class:`Evaluation`. :func:`load` opens a saved run folder the same way. Both work inside Jupyter (where
an event loop is already running). A complete example, offline, with recorded outputs::

    >>> import json, pathlib, tempfile
    >>> import evalstack
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> tickets = [("t1", "I was charged twice", "billing"), ("t2", "App crashes on start", "bug"),
    ...            ("t3", "Reset my password", "account"), ("t4", "Refund my last order", "billing")]
    >>> _ = (folder / "test.jsonl").write_text(
    ...     "".join(json.dumps({"id": i, "text": t, "label": y}) + "\\n" for i, t, y in tickets))
    >>> def record(name, answers):
    ...     rows = [{"id": i, "output": a} for (i, _, _), a in zip(tickets, answers)]
    ...     _ = (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
    >>> record("base", ["billing", "billing", "billing", "bug"])
    >>> record("tuned", ["billing", "bug", "account", "billing"])
    >>> result = evalstack.run({
    ...     "name": "tickets", "baseline": "base",
    ...     "models": {"base": {"provider": "replay", "path": str(folder / "base.jsonl")},
    ...                "tuned": {"provider": "replay", "path": str(folder / "tuned.jsonl")}},
    ...     "tasks": [{"name": "intent", "data": {"path": str(folder / "test.jsonl"), "id": "id"},
    ...                "prompt": {"user": "Ticket: {{ text }}\\nLabel:"}, "target": "label",
    ...                "labels": ["billing", "bug", "account"], "metrics": ["accuracy"]}],
    ...     "gate": {"rules": [{"metric": "intent/accuracy", "min": 0.9}]},
    ...     "output": str(folder / "out")})
    >>> result.exit_code, result.gate.passed
    (0, True)
    >>> [(m["model"], m["metric"], m["value"]) for m in result.metrics]
    [('base', 'intent/accuracy', 0.25), ('tuned', 'intent/accuracy', 1.0)]
    >>> d = result.deltas[0]
    >>> d["model"], d["metric"], d["delta"], (d["wins"], d["losses"], d["ties"])
    ('tuned', 'intent/accuracy', 0.75, (3, 0, 1))
    >>> result.metric("intent/accuracy", model="base").value
    0.25
    >>> df = result.to_pandas()          # one row per example x model, a column per score
    >>> df.groupby("model")["accuracy"].mean().to_dict()
    {'base': 0.25, 'tuned': 1.0}
    >>> df.loc[df.model == "tuned", ["id", "output"]].values.tolist()[:2]
    [['t1', 'billing'], ['t2', 'bug']]
    >>> result.to_markdown().splitlines()[0]
    '# evalstack report: tickets'

``result.to_pandas("metrics")`` and ``to_pandas("deltas")`` give the same tidy rows as
:attr:`Evaluation.metrics` / :attr:`Evaluation.deltas` as DataFrames. pandas is imported only there.
"""

from __future__ import annotations

__all__ = ["Evaluation", "run", "load", "metric_rows", "delta_rows", "example_rows", "reference_text"]

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .pipeline import RunOutcome
from .results import ExampleRow, GateDecision, MetricSummary, RunResult

# ---------------------------------------------------------------- tidy views of a RunResult


def metric_rows(run: RunResult) -> list[dict[str, Any]]:
    """One dict per task x metric x model: ``task, metric ('<task>/<key>'), key, model, value, ci_low,
    ci_high, n, unscored, higher_is_better`` (baseline first, then the other models; keys sorted)."""
    from .report import model_order, task_metric_keys

    rows = []
    for tname, ts in run.tasks.items():
        for key in task_metric_keys(run, tname):
            for model in model_order(run):
                s = ts.models[model].metrics.get(key) if model in ts.models else None
                if s is None:
                    continue
                rows.append(
                    {
                        "task": tname,
                        "metric": f"{tname}/{key}",
                        "key": key,
                        "model": model,
                        "value": s.value,
                        "ci_low": s.ci_low,
                        "ci_high": s.ci_high,
                        "n": s.n,
                        "unscored": s.unscored,
                        "higher_is_better": s.higher_is_better,
                    }
                )
    return rows


def delta_rows(run: RunResult) -> list[dict[str, Any]]:
    """One dict per task x metric x non-baseline model: ``task, metric, key, model, baseline, delta, ci_low,
    ci_high, p_value, test, n, wins, losses, ties, verdict`` (``delta`` is model - baseline)."""
    rows = []
    for tname, ts in run.tasks.items():
        for model, by_key in ts.deltas.items():
            for key in sorted(by_key):
                d = by_key[key]
                rows.append(
                    {
                        "task": tname,
                        "metric": f"{tname}/{key}",
                        "key": key,
                        "model": model,
                        "baseline": run.baseline,
                        **d.brief(),
                        "wins": d.wins,
                        "losses": d.losses,
                        "ties": d.ties,
                        "verdict": d.verdict,
                    }
                )
    return rows


def reference_text(reference: Any) -> str | None:
    """A reference as one string: text as is, a list of references (or any other value) as JSON."""
    if reference is None or isinstance(reference, str):
        return reference
    return json.dumps(reference, ensure_ascii=False, default=str)


def example_rows(rows: Iterable[ExampleRow]) -> list[dict[str, Any]]:
    """Flat dicts of example rows: ``task, model, id, input, output, reference, error``, one column per
    score key (``accuracy``, ``rougeL``, ``judge_<rubric>``...), ``judge_<rubric>_reason`` per rubric, then
    the kept data columns (prefixed ``field_`` where a name is already taken)."""
    out = []
    for r in rows:
        flat: dict[str, Any] = {
            "task": r.task,
            "model": r.model,
            "id": r.id,
            "input": r.input,
            "output": r.output,
            "reference": reference_text(r.reference),
            "error": None if r.error is None else f"{r.error.kind}: {r.error.message}",
        }
        flat.update(r.scores)
        for rubric, verdict in r.judge.items():
            flat[f"judge_{rubric}_reason"] = verdict.get("reason") if isinstance(verdict, dict) else None
        for col, value in r.fields.items():
            flat[f"field_{col}" if col in flat else col] = value
        out.append(flat)
    return out


# ---------------------------------------------------------------- the result object


@dataclass
class Evaluation(RunOutcome):
    """A finished run: :class:`~evalstack.pipeline.RunOutcome` (``run``, ``out_dir``, ``failed``,
    ``exit_code``) plus tidy views for notebooks and tests."""

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """Tidy metric rows (see :func:`metric_rows`); ``pandas.DataFrame(result.metrics)`` works."""
        return metric_rows(self.run)

    @property
    def deltas(self) -> list[dict[str, Any]]:
        """Tidy delta rows, model - baseline with paired CIs (see :func:`delta_rows`)."""
        return delta_rows(self.run)

    @property
    def gate(self) -> GateDecision | None:
        """The gate decision, or None when the config has no gate."""
        return self.run.gate

    def metric(self, metric: str, *, model: str | None = None) -> MetricSummary:
        """The summary of ``'<task>/<key>'`` for ``model`` (default: the only non-baseline model).

        Raises ConfigError naming what exists when the task, metric or model is unknown.
        """
        return find_metric(self.run, metric, model=model)[1]

    def examples(self) -> list[ExampleRow]:
        """Every row of the run's examples.jsonl (one per example x model)."""
        from .report import iter_examples

        return list(iter_examples(self.out_dir))

    def to_pandas(self, what: str = "examples") -> Any:
        """A pandas DataFrame: ``"examples"`` (one row per example x model with its scores and judge
        reasons, see :func:`example_rows`), ``"metrics"`` or ``"deltas"`` (the tidy rows)."""
        rows = {
            "examples": lambda: example_rows(self.examples()),
            "metrics": lambda: self.metrics,
            "deltas": lambda: self.deltas,
        }.get(what)
        if rows is None:
            raise ConfigError(f"to_pandas('{what}'): expected 'examples', 'metrics' or 'deltas'")
        import pandas as pd

        return pd.DataFrame(rows())

    def to_markdown(self) -> str:
        """The run's report.md text (gate verdict, metrics, deltas, top regressions, curves)."""
        from .report import render_markdown

        return render_markdown(self.run, self.out_dir)

    def _repr_markdown_(self) -> str:  # Jupyter shows the report
        return self.to_markdown()


def find_metric(run: RunResult, metric: str, *, model: str | None = None) -> tuple[str, MetricSummary]:
    """(model name, summary) of ``'<task>/<key>'`` in ``run`` (model default: the only non-baseline model,
    else the baseline when it is alone). Unknown names raise ConfigError listing what exists."""
    task, _, key = metric.partition("/")
    if not key:
        raise ConfigError(f"metric '{metric}' must be '<task>/<metric>', e.g. intent/accuracy")
    ts = run.tasks.get(task)
    if ts is None:
        raise ConfigError(f"no task '{task}' in run '{run.name}' (tasks: {', '.join(run.tasks)})")
    if model is None:
        others = [m for m in ts.models if m != run.baseline]
        if len(others) > 1:
            raise ConfigError(f"run '{run.name}' has several models ({', '.join(others)}): pass model=...")
        model = others[0] if others else run.baseline
    mts = ts.models.get(model)
    if mts is None:
        raise ConfigError(f"no model '{model}' in task '{task}' (models: {', '.join(ts.models)})")
    s = mts.metrics.get(key)
    if s is None:
        raise ConfigError(f"no metric '{key}' for {model} in task '{task}' (metrics: {', '.join(sorted(mts.metrics))})")
    return model, s


# ---------------------------------------------------------------- entry points


def _outside_event_loop(fn: Any) -> Any:
    """Call ``fn()`` here, or in a worker thread when an event loop runs in this thread (Jupyter): the
    pipeline drives its own loop with ``asyncio.run``, which refuses to nest."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalstack-run") as pool:
        return pool.submit(fn).result()


def run(config: Any, **kwargs: Any) -> Evaluation:
    """Run a config (a YAML path, a dict or a :class:`~evalstack.config.Config`) and return an
    :class:`Evaluation`.

    Keyword options are those of ``evalstack run``: ``out_dir``, ``limit``, ``resume``, ``no_cache``,
    ``concurrency``, ``models`` (a list of names), ``progress`` (default False). Bad input raises
    :class:`~evalstack.errors.ConfigError` / ``DataError`` before any request; a failed gate does not
    raise (see ``.exit_code`` and ``.gate``, or :func:`evalstack.testing.assert_gate_passes`).
    """
    from . import pipeline

    outcome = _outside_event_loop(lambda: pipeline.run(config, **kwargs))
    return Evaluation(run=outcome.run, out_dir=outcome.out_dir, failed=outcome.failed, exit_code=outcome.exit_code)


def load(run_dir: str | Path, *, allow_unfinished: bool = False) -> Evaluation:
    """Open a saved run folder (written by ``evalstack run`` or :func:`run`) as an :class:`Evaluation`;
    the exit code is recomputed from it (3 if items failed, 1 if the gate failed, else 0).

    A folder whose run did not finish (killed while writing, or still running) raises
    :class:`~evalstack.errors.DataError` ("run --resume first"); ``allow_unfinished=True`` opens it as it is."""
    from .report import read_run, run_json_path

    path = run_json_path(run_dir)
    result = read_run(path, allow_unfinished=allow_unfinished)
    return Evaluation(run=result, out_dir=path.parent, failed=result.failed_items, exit_code=result.exit_code)

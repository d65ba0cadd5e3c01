"""Facts about a RunResult that every report needs: model order, metric keys and their direction."""

from __future__ import annotations

from ..errors import ConfigError
from ..results import MetricSummary, RunResult


def model_order(run: RunResult) -> list[str]:
    """The baseline first, then the other models by checkpoint step (where given), then by name."""
    others = [m for m in run.models if m != run.baseline]
    for task in run.tasks.values():  # models with results but no ModelInfo still get a place
        others += [m for m in task.models if m != run.baseline and m not in others]

    def key(name: str) -> tuple:
        info = run.models.get(name)
        step = info.checkpoint_step if info else None
        return (step is None, step or 0, name)

    head = (
        [run.baseline]
        if run.baseline in run.models or any(run.baseline in t.models for t in run.tasks.values())
        else []
    )
    return head + sorted(others, key=key)


def task_rank(run: RunResult) -> dict[str, int]:
    """Task name -> its place in the config (``run.tasks`` keeps the config's order, also when read back)."""
    return {t: i for i, t in enumerate(run.tasks)}


def task_metric_keys(run: RunResult, task: str) -> list[str]:
    """Metric keys reported for ``task`` (any model), sorted so every report and re-read agree."""
    keys: set[str] = set()
    for mts in run.tasks[task].models.values():
        keys.update(mts.metrics)
    return sorted(keys)


def summary_of(run: RunResult, task: str, key: str) -> MetricSummary | None:
    """The first model's summary of ``task/key`` (for direction and kind), baseline first."""
    t = run.tasks.get(task)
    if t is None:
        return None
    for model in model_order(run):
        mts = t.models.get(model)
        if mts and key in mts.metrics:
            return mts.metrics[key]
    return None


def higher_is_better(run: RunResult, task: str, key: str) -> bool:
    """Direction of ``task/key``; unknown keys count as higher-is-better."""
    s = summary_of(run, task, key)
    return True if s is None else s.higher_is_better


def is_per_example(run: RunResult, task: str, key: str) -> bool:
    """Whether per-example scores of ``task/key`` are real scores (not a proxy of a corpus-only metric)."""
    s = summary_of(run, task, key)
    return s is None or not s.corpus_only


def split_metric(metric: str | None) -> tuple[str | None, str | None]:
    """``"summaries/rougeL"`` -> ("summaries", "rougeL"); ``"rougeL"`` -> (None, "rougeL")."""
    if metric is None:
        return None, None
    if "/" in metric:
        task, key = metric.split("/", 1)
        return task, key
    return None, metric


def metric_matches(metric: str | None, task: str, key: str) -> bool:
    """Whether a ``--metric`` filter (``key`` or ``task/key``) selects ``task/key``."""
    if metric is None:
        return True
    t, k = split_metric(metric)
    return k == key and (t is None or t == task)


def check_filters(
    run: RunResult, *, metric: str | None = None, model: str | None = None, baseline: str | None = None
) -> None:
    """Raise ConfigError for a ``--metric``/``--model``/``--baseline`` that names nothing in the run."""
    names = model_order(run)
    for what, value in (("model", model), ("baseline", baseline)):
        if value is not None and value not in names:
            raise ConfigError(
                f"unknown {what} '{value}'", where=f"--{what}", hint=f"models in this run: {', '.join(names)}"
            )
    if metric is not None:
        known = [f"{t}/{k}" for t in run.tasks for k in task_metric_keys(run, t)]
        if not any(metric_matches(metric, *k.split("/", 1)) for k in known):
            raise ConfigError(
                f"unknown metric '{metric}'",
                where="--metric",
                hint=f"metrics in this run: {', '.join(known) or 'none'}",
            )


def key_of_score(task: str, key: str) -> str:
    """A score key of examples.jsonl without a ``task/`` prefix (rows may carry either form)."""
    prefix = f"{task}/"
    return key[len(prefix) :] if key.startswith(prefix) else key


def headline_key(run: RunResult, task: str, candidates: list[str]) -> str | None:
    """The metric a short summary of ``task`` leads with, among per-example ``candidates``: a metric gated
    against the baseline (max_regression, require_non_inferiority, max_drop), else a judge score, else
    any gated metric, else the first by name."""
    if not candidates:
        return None
    gated = [(r.kind, split_metric(r.metric)) for r in (run.gate.rules if run.gate else [])]
    compared = [
        k for kind, (t, k) in gated if t == task and kind in ("max_regression", "require_non_inferiority", "max_drop")
    ]
    judged = [k for k in sorted(candidates) if k.startswith("judge_")]
    absolute = [k for _, (t, k) in gated if t == task]
    for k in compared + judged + absolute + sorted(candidates):
        if k in candidates:
            return k
    return None

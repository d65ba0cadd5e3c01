"""`evalstack plan`: how many examples the gate's own paired test needs to see a given drop.

From a pilot run folder (its per-example scores of the baseline and one model on a metric) or from an
assumed discordance rate (0/1 metrics) or SD of paired differences (continuous metrics). The figures
come from :mod:`evalstack.stats._power` (McNemar power computed exactly, or the simulated Wilcoxon power).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import click
import numpy as np

from ..errors import ConfigError

SIMULATE_UP_TO = 200_000
"""Above this many examples (by the t-test) the Wilcoxon power is not simulated: 2,000 data sets per step."""


def pilot_pairs(run_dir: Path, metric: str, model: str | None) -> tuple[np.ndarray, np.ndarray, str, str]:
    """(model scores, baseline scores, model, baseline) on the examples both scored, in id order."""
    from ..api import load

    ev = load(run_dir)
    task, _, key = metric.partition("/")
    if not key:
        raise ConfigError(f"--metric {metric!r} must be TASK/METRIC, e.g. intent/accuracy")
    baseline = ev.run.baseline
    if task not in ev.run.tasks:
        raise ConfigError(f"--metric: no task {task!r} in {run_dir} (tasks: {', '.join(ev.run.tasks)})")
    models = [m for m in ev.run.tasks[task].models if m != baseline]
    if model is None:
        if not models:
            raise ConfigError(f"--model: {run_dir} holds no model besides the baseline {baseline!r}")
        model = models[0]
    elif model not in models:
        raise ConfigError(
            f"--model {model!r} is not a non-baseline model of task {task!r} (models: {', '.join(models)})"
        )
    scores: dict[str, dict[str, float]] = {model: {}, baseline: {}}
    seen_key = False
    for row in ev.examples():
        if row.task != task or row.model not in scores:
            continue
        if key in row.scores:
            seen_key = True
        value = row.scores.get(key)
        if value is not None and np.isfinite(value):
            scores[row.model][row.id] = float(value)
    if not seen_key:
        raise ConfigError(
            f"--metric {metric!r} has no per-example scores in {run_dir}/examples.jsonl (corpus-only "
            "metrics such as macro F1 or BLEU are not planned yet; plan on a per-example metric)"
        )
    ids = sorted(set(scores[model]) & set(scores[baseline]))
    if len(ids) < 2:
        raise ConfigError(f"--metric {metric!r}: fewer than 2 examples scored for both {model} and {baseline}")
    return (np.array([scores[model][i] for i in ids]), np.array([scores[baseline][i] for i in ids]), model, baseline)


def make_plan(
    *,
    mde: float,
    power: float,
    alpha: float,
    discordance: float | None = None,
    sd: float | None = None,
    model_scores: np.ndarray | None = None,
    baseline_scores: np.ndarray | None = None,
    source: str = "",
    reps: int = 2000,
    seed: int = 0,
    at_n: int | None = None,
) -> dict:
    """The plan as a dict (see :class:`~evalstack.stats._power.Plan`), plus what ``at_n`` examples can see."""
    from .. import stats as pw

    binary = discordance is not None
    if model_scores is not None and baseline_scores is not None:
        binary = bool(np.isin(model_scores, (0.0, 1.0)).all() and np.isin(baseline_scores, (0.0, 1.0)).all())
        if binary:
            discordance = float(np.mean(model_scores != baseline_scores))
            if discordance == 0:
                raise ConfigError(
                    f"the pilot {source} has no discordant pair (both models agree on every "
                    "example): give an assumed rate with --discordance"
                )
        diffs = model_scores - baseline_scores
        pilot_n = int(diffs.size)
    else:
        diffs, pilot_n = None, None
    at_n = at_n or pilot_n
    try:
        if binary:
            assert discordance is not None
            n = pw.mcnemar_n(discordance, mde, power=power, alpha=alpha)
            out = pw.Plan(
                "mcnemar",
                n,
                None if n is None else pw.mcnemar_power(n, discordance, -mde, alpha),
                mde,
                power,
                alpha,
                pw.connor_n(discordance, mde, power=power, alpha=alpha),
                f"discordance rate {discordance:.4g}" + (f" from {source} (n={pilot_n})" if source else " (assumed)"),
            )
            see = pw.mcnemar_mde(at_n, discordance, power=power, alpha=alpha) if at_n else None
        else:
            if diffs is None:
                if sd is None or sd <= 0:
                    raise ConfigError(
                        "give a pilot run (--run with --metric), --discordance (0/1 metrics) or --sd "
                        "(the SD of the paired differences, continuous metrics)"
                    )
                diffs = np.random.default_rng(seed).normal(0.0, sd, 20_000)
                what = f"normal paired differences, SD {sd:.4g} (assumed)"
            else:
                what = f"paired differences from {source} (n={pilot_n}, SD {np.std(diffs, ddof=1):.4g}), centred and symmetrised"
            null = pw.null_differences(diffs)
            spread = float(np.std(null, ddof=1))
            ref_n = pw.ttest_n(spread, mde, power=power, alpha=alpha)
            if ref_n is not None and ref_n > SIMULATE_UP_TO:  # simulating 2,000 data sets of that size costs hours
                n = None
                what += f"; not simulated: the paired t-test already needs {ref_n:,.0f} (over {SIMULATE_UP_TO:,})"
            else:
                n = pw.wilcoxon_n(null, mde, power=power, alpha=alpha, reps=reps, seed=seed)
            out = pw.Plan(
                "wilcoxon",
                n,
                None if n is None else pw.wilcoxon_power(null, n, -mde, alpha=alpha, reps=reps, seed=seed),
                mde,
                power,
                alpha,
                ref_n,
                what,
            )
            see = pw.wilcoxon_mde(null, at_n, power=power, alpha=alpha, reps=reps, seed=seed) if at_n else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    result = asdict(out)
    result.update({"at_n": at_n, "detectable_at_n": see})
    return result


def describe(plan: dict, metric: str) -> list[str]:
    """The plan in words, one line each."""
    test = {"mcnemar": "McNemar test, as the gate runs it", "wilcoxon": "Wilcoxon signed-rank test (simulated power)"}[
        plan["test"]
    ]
    ref = {"mcnemar": "Connor's normal approximation", "wilcoxon": "the paired t-test"}[plan["test"]]
    lines = []
    if plan["n"] is None and plan["test"] == "wilcoxon" and (plan["reference_n"] or 0) > SIMULATE_UP_TO:
        lines.append(
            f"{metric}: about {plan['reference_n']:,.0f} examples (paired t-test) to see a drop of "
            f"{plan['mde']:g} with {plan['power']:.0%} power; the Wilcoxon power is not simulated that far"
        )
    elif plan["n"] is None:
        lines.append(f"{metric}: no n up to 2,000,000 reaches {plan['power']:.0%} power for a drop of {plan['mde']:g}")
    else:
        lines.append(
            f"{metric}: {plan['n']:,} examples (paired, per model) see a drop of {plan['mde']:g} with "
            f"{plan['power_at_n']:.1%} power at alpha {plan['alpha']:g} ({test}; {ref} says "
            + ("no figure" if plan["reference_n"] is None else f"{plan['reference_n']:,.0f}")
            + ")"
        )
    lines.append(f"  assumes {plan['assumption']}")
    if plan["at_n"]:
        if plan["detectable_at_n"] is None:
            lines.append(
                f"  {plan['at_n']:,} examples cannot reach {plan['power']:.0%} power for any drop at this discordance"
            )
        else:
            lines.append(
                f"  {plan['at_n']:,} examples can see drops of {plan['detectable_at_n']:.4g} or more "
                f"with {plan['power']:.0%} power"
            )
    return lines


@click.command("plan")
@click.option(
    "--mde",
    type=float,
    help="The smallest drop to detect, in the metric's units (0.02 = 2 points of accuracy).",
)
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Estimate what a cold run of this config costs (tokens x prices; nothing is sent).",
)
@click.option("--limit", type=click.IntRange(min=1), help="With --config: only the first N examples of each task.")
@click.option("--power", type=float, default=0.8, show_default=True, help="Wanted probability of detecting that drop.")
@click.option(
    "--alpha", type=float, default=0.05, show_default=True, help="Two-sided level (1 - the gate's confidence)."
)
@click.option("--run", "run_dir", type=click.Path(path_type=Path), help="A pilot run folder to take the rates from.")
@click.option("--metric", help="TASK/METRIC in the pilot run, e.g. intent/accuracy.")
@click.option("--model", help="The pilot's model to pair with its baseline (default: the first one).")
@click.option(
    "--discordance",
    type=float,
    help="0/1 metrics without a pilot: assumed rate of examples the two models disagree on.",
)
@click.option("--sd", type=float, help="Continuous metrics without a pilot: assumed SD of the paired differences.")
@click.option("--n", "at_n", type=int, help="Also say what drop this many examples can see (default: the pilot's n).")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the simulated power (continuous metrics)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(
    mde: float | None,
    config: Path | None,
    limit: int | None,
    power: float,
    alpha: float,
    run_dir: Path | None,
    metric: str | None,
    model: str | None,
    discordance: float | None,
    sd: float | None,
    at_n: int | None,
    seed: int,
    as_json: bool,
) -> None:
    """How many examples the gate's paired test needs to see a drop of --mde with the given power; with
    --config, what a run of that config costs."""
    from ..stats import MAX_N

    cost: dict | None = None
    if config is not None:
        from ..cost import config_estimate, print_estimate

        if mde is None:
            print_estimate(config, limit=limit, as_json=as_json)
            return
        if as_json:  # one JSON document: the plan with the estimate under "cost", no text mixed in
            cost = config_estimate(config, limit=limit).to_dict()
        else:
            print_estimate(config, limit=limit, as_json=False)
    if mde is None:
        raise ConfigError("give --mde (a drop to detect) and/or --config (a cost estimate)")
    if not (math.isfinite(mde) and mde > 0):
        raise ConfigError(f"--mde must be above 0, got {mde:g} (0.02 is a 2-point drop of accuracy)")
    if at_n is not None and not 2 <= at_n <= MAX_N:
        raise ConfigError(f"--n must be at least 2 and at most {MAX_N:,}, got {at_n}")
    if sd is not None and not (math.isfinite(sd) and 1e-12 <= sd):
        raise ConfigError(
            f"--sd must be a finite number of at least 1e-12, got {sd:g} (the SD of the paired differences)"
        )
    if discordance is not None and not 0 < discordance <= 1:
        raise ConfigError(f"--discordance must lie in (0, 1], got {discordance:g}")
    kwargs: dict = {"mde": mde, "power": power, "alpha": alpha, "seed": seed, "at_n": at_n}
    if not 0 < power < 1 or not 0 < alpha < 1:
        raise ConfigError("--power and --alpha must lie strictly between 0 and 1")
    label = metric or "metric"
    if run_dir is not None:
        if metric is None:
            raise ConfigError("--run needs --metric TASK/METRIC (e.g. --metric intent/accuracy)")
        m, b, model, baseline = pilot_pairs(run_dir, metric, model)
        kwargs.update(model_scores=m, baseline_scores=b, source=f"{run_dir} ({model} vs {baseline})")
    elif discordance is not None:
        kwargs["discordance"] = discordance
    else:
        kwargs["sd"] = sd
    result = make_plan(**kwargs)
    if as_json:
        click.echo(json.dumps({"metric": metric, **result} | ({"cost": cost} if cost is not None else {}), indent=2))
    else:
        for line in describe(result, label):
            click.echo(line)

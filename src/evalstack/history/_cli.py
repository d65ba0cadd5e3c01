"""``evalstack history``: metrics of indexed runs over time, with drift alarms; ``history add RUN...`` indexes."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import click

from ..errors import ConfigError


def _store(store: Path | None):
    from ._store import RunStore

    return RunStore(store)


@click.group("history", invoke_without_command=True)
@click.option(
    "--store",
    type=click.Path(path_type=Path),
    help="The run store folder (default: $EVALSTACK_STORE, else store/ beside the cache).",
)
@click.option("--task", help="Only this task.")
@click.option("--metric", help="Only this metric (METRIC or TASK/METRIC).")
@click.option("--model", help="Only this model.")
@click.option("--since", help="Only runs created on or after this date (YYYY-MM-DD).")
@click.option(
    "--min-decline",
    type=float,
    default=0.0,
    show_default=True,
    help="Flag a decline only if the fitted decline per run is at least this.",
)
@click.option("--fail-on-decline", is_flag=True, help="Exit 1 when any shown series is flagged (for CI).")
@click.option("--plot", type=click.Path(path_type=Path), help="Write a PNG of the shown series with their CIs.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def history(
    ctx: click.Context,
    store: Path | None,
    task: str | None,
    metric: str | None,
    model: str | None,
    since: str | None,
    min_decline: float,
    fail_on_decline: bool,
    plot: Path | None,
    as_json: bool,
) -> int | None:
    """Metrics of indexed runs over time, with a one-sided trend test per series (drift alarm)."""
    ctx.ensure_object(dict)
    ctx.obj["store"] = store
    if ctx.invoked_subcommand is not None:
        return None
    if metric and "/" in metric:
        t, _, metric = metric.partition("/")
        if task and task != t:
            raise ConfigError(f"--task {task!r} and --metric {t}/{metric} disagree")
        task = t
    if since is not None:
        from datetime import date

        try:
            date.fromisoformat(since[:10])
        except ValueError:
            raise ConfigError(f"--since {since!r} is not a date", hint="use YYYY-MM-DD") from None
    from ._drift import trend

    rs = _store(store)
    try:
        series: dict[tuple[str, str, str], list] = defaultdict(list)
        for p in rs.points(task=task, metric=metric, model=model, since=since):
            series[(p.task, p.metric, p.model)].append(p)
        total_runs = rs.count_runs()
    finally:
        rs.close()
    if not series:
        click.echo(
            f"no indexed run matches (the store holds {total_runs} run(s); index finished runs with "
            "`evalstack history add RUN`)",
            err=True,
        )
        return 0
    out, flagged = [], 0
    for (t, m, mod), pts in sorted(series.items()):
        # like-for-like with the previous point: the task's digests (data, prompt, labels, metrics, judges,
        # scoring; the config digest for runs written before digests) and the baseline model are the same
        comparable = [
            i == 0
            or (
                (p.comparable or p.config_digest) == (pts[i - 1].comparable or pts[i - 1].config_digest)
                and p.baseline == pts[i - 1].baseline
            )
            for i, p in enumerate(pts)
        ]
        start = max((i for i, c in enumerate(comparable) if not c), default=0)  # the trend: comparable runs only
        usable = [p for p in pts[start:] if p.value is not None]
        tr = trend(
            [p.value for p in usable],
            [p.ci_low for p in usable],
            [p.ci_high for p in usable],
            higher_is_better=pts[0].higher_is_better,
            min_decline=min_decline,
        )
        flagged += tr.flagged
        out.append(
            {
                "task": t,
                "metric": m,
                "model": mod,
                "higher_is_better": pts[0].higher_is_better,
                "points": [
                    {
                        "created_at": p.created_at,
                        "run": p.name,
                        "path": p.path,
                        "value": p.value,
                        "ci": [p.ci_low, p.ci_high],
                        "n": p.n,
                        "unscored": p.unscored,
                        "checkpoint_step": p.checkpoint_step,
                        "same_config_as_previous": c,
                    }
                    for p, c in zip(pts, comparable)
                ],
                "trend": tr.__dict__,
            }
        )
    if plot is not None:
        _plot(out, plot)
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        from .._safetext import shown  # names from run.json files made elsewhere: no raw control character

        for s in out:
            click.echo(
                shown(
                    f"{s['task']}/{s['metric']} ({s['model']}, "
                    f"{'higher' if s['higher_is_better'] else 'lower'} is better)",
                    2000,
                )
            )
            for p in s["points"]:
                ci = "" if p["ci"][0] is None else f" [{p['ci'][0]:.4f}, {p['ci'][1]:.4f}]"
                val = "-" if p["value"] is None else f"{p['value']:.4f}"
                mark = (
                    ""
                    if p["same_config_as_previous"]
                    else "  * not comparable with the previous run (digests or baseline changed)"
                )
                click.echo(shown(f"  {p['created_at'][:19]}  {p['run'][:30]:<30} {val}{ci} n={p['n']}{mark}", 2000))
            tr = s["trend"]
            if tr["slope"] is None:
                click.echo(f"  trend: {tr['runs']} run(s), too few to test (3 or more)")
            else:
                pw = "-" if tr["p_weighted"] is None else f"{tr['p_weighted']:.3g}"
                pmk = "-" if tr["p_mann_kendall"] is None else f"{tr['p_mann_kendall']:.3g}"
                word = "DECLINE" if tr["flagged"] else "no significant decline"
                click.echo(
                    f"  trend over the last {tr['runs']} comparable runs: {tr['slope']:+.4f} per run (one-sided p: weighted {pw}, "
                    f"Mann-Kendall {pmk}): {word}"
                )
        if plot is not None:
            click.echo(f"wrote {plot}", err=True)
    return 1 if fail_on_decline and flagged else 0


def _plot(series: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(series), 1, figsize=(8, 2.6 * len(series)), squeeze=False)
    for ax, s in zip(axes[:, 0], series):
        pts = [p for p in s["points"] if p["value"] is not None]
        x = list(range(len(pts)))
        y = [p["value"] for p in pts]
        lo = [p["value"] - p["ci"][0] if p["ci"][0] is not None else 0 for p in pts]
        hi = [p["ci"][1] - p["value"] if p["ci"][1] is not None else 0 for p in pts]
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o-", capsize=3)
        for i, p in enumerate(pts):
            if not p["same_config_as_previous"]:
                ax.axvline(i - 0.5, color="#a4161a", linestyle=":", linewidth=1)
        ax.set_title(
            f"{s['task']}/{s['metric']} ({s['model']})" + ("  DECLINE" if s["trend"]["flagged"] else ""), fontsize=9
        )
        ax.set_xticks(x, [p["created_at"][:10] for p in pts], rotation=30, fontsize=7)
    fig.tight_layout()
    import io

    from .._io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


@history.command("add")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def add(ctx: click.Context, runs: tuple[Path, ...]) -> None:
    """Index finished run folders in the run store (adding one twice changes nothing)."""
    rs = _store(ctx.obj.get("store"))
    try:
        for r in runs:
            key, new = rs.add(r)
            click.echo(f"{'indexed' if new else 'already indexed'} {r} ({key})")
        click.echo(f"the store {rs.folder} holds {rs.count_runs()} run(s)", err=True)
    finally:
        rs.close()


@history.command("drift")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--baseline", "ref", required=True, metavar="NAME|RUN", help="A stored baseline or a run folder.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def drift(ctx: click.Context, run_dir: Path, ref: str, as_json: bool) -> int:
    """Input drift between the baseline's held-out set and RUN's: label distribution (chi-square) and input
    length (Kolmogorov-Smirnov) per task, so "the data changed" is told apart from "the model got worse"."""
    from ..baseline import resolve_baseline
    from ._inputs import input_drift

    stored = resolve_baseline(ref, store=ctx.obj.get("store"), base_dir=Path.cwd())
    found = input_drift(stored.folder, run_dir)
    if as_json:
        click.echo(json.dumps([f.__dict__ for f in found], indent=2))
    for f in [] if as_json else found:

        def p(v: float | None) -> str:
            return "-" if v is None else f"{v:.3g}"

        word = "THE DATA CHANGED" if f.changed else "no sign the data changed"
        click.echo(
            f"{f.task}: labels chi-square p {p(f.labels_p)}, input length KS p {p(f.lengths_p)} "
            f"(n {f.n_baseline} -> {f.n_newest}): {word}"
        )
    return 0

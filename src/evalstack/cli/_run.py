"""`evalstack run`, `gate`, `review`, `compare`: thin wrappers that parse options and call the pipeline/report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .._click import config_and_out
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..metrics import RayEngine


def _resume_command(
    config: Path, out_dir: Path | None, limit: int | None, models: str | None, batch: bool, shard: str | None = None
) -> str:
    """The command that continues this run (built from the parsed options, not argv)."""
    parts = ["evalstack", "run", str(config)]
    if out_dir:
        parts += ["--out", str(out_dir)]
    if shard:
        parts += ["--shard", shard]
    if limit:
        parts += ["--limit", str(limit)]
    if models:
        parts += ["--models", models]
    if batch:
        parts.append("--batch")
    return " ".join([*parts, "--resume"])


def _echo_summary(outcome) -> None:
    from ..report import incomplete_lines, verdict

    run = outcome.run
    click.echo(f"wrote {outcome.out_dir}", err=True)
    v = verdict(run)
    if v.status == "incomplete":
        click.echo(v.headline, err=True)
        for line in incomplete_lines(run):
            click.echo(f"  {line}", err=True)
    echo_deltas(run)
    from ..report import summary_lines

    for line in summary_lines(run, getattr(outcome, "failure_modes", None)):  # what got worse, before the gate
        click.echo(line, err=True)
    from ..report import cost_line

    if cost_line(run):
        click.echo(cost_line(run), err=True)
    if run.gate is not None:
        echo_gate(run.gate, v.headline if v.status != "incomplete" else "gate: NOT JUDGED (the run is incomplete)")


def echo_deltas(run) -> None:
    """One line per delta: value, CI, p and test, n, verdict."""
    from ..report import fmt_p

    for tname, ts in run.tasks.items():
        for model, d in ts.deltas.items():
            for key, delta in d.items():
                if delta.delta is None or delta.ci_low is None:
                    continue
                p = "" if delta.p_value is None else f" p {fmt_p(delta.p_value)} ({delta.test})"
                click.echo(
                    f"  {tname}/{key}  {model} - {run.baseline}: {delta.delta:+.4f} "
                    f"[{delta.ci_low:+.4f}, {delta.ci_high:+.4f}]{p} n={delta.n} "
                    f"{delta.verdict.replace('_', ' ')}",
                    err=True,
                )
    for tname, ts in run.tasks.items():  # what is unscored but not failed: said, never silent
        for model, mts in ts.models.items():
            notes = [f"{n} empty repl{'ies' if n != 1 else 'y'} ({kind})" for kind, n in mts.empty.items() if n]
            notes += [
                f"{n} judge repl{'ies' if n != 1 else 'y'} unparseable ({rubric})"
                for rubric, n in mts.judge_unparseable.items()
                if n
            ]
            if notes:
                click.echo(f"  {tname}/{model}: " + "; ".join(notes), err=True)


def echo_gate(gate, headline: str) -> None:
    """The gate headline, then every rule that did not plainly pass (failed, inconclusive, not judged)."""
    click.echo(headline, err=True)
    words = {"fail": "FAIL", "inconclusive": "INCONCLUSIVE", "not_judged": "NOT JUDGED"}
    for r in gate.rules:
        outcome = r.outcome or ("pass" if r.passed else "fail")
        if outcome != "pass":
            click.echo(f"  {words[outcome]} {r.rule}: {r.message}", err=True)


@click.command()
@config_and_out
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N examples of each task.")
@click.option(
    "--resume", is_flag=True, help="Continue a run that was interrupted (finished requests come from the cache)."
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache.")
@click.option("--concurrency", type=click.IntRange(min=1, max=1024), help="Override every API model's concurrency.")
@click.option("--models", help="Comma-separated model names to run (the baseline is always included).")
@click.option("--batch", is_flag=True, help="Send every openai model's and judge's requests through the Batch API.")
@click.option(
    "--shard",
    metavar="I/N",
    help="Only shard I of N (examples by id hash) into <output>/shard-I-of-N; `evalstack merge` the N folders.",
)
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    help="USD: refuse (exit 2, nothing sent) when the run's estimated cost is above this.",
)
@click.option("--quiet", "-q", is_flag=True, help="Only results and errors: no progress bars or stage lines.")
@click.option("--json", "as_json", is_flag=True, help="Print run.json's path and the gate decision as JSON.")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where heavy scorers (BERTScore, a local toxicity model) run: this process, or Ray (evalstack[ray]).",
)
@click.option("--address", help="With --engine ray: the cluster (auto, ray://host:10001); default a local one.")
@click.option(
    "--shards",
    type=click.IntRange(min=1),
    help="With --engine ray: run N shards as Ray tasks (into <out>.shards/), then merge them into the run folder.",
)
def run(
    config: Path,
    out_dir: Path | None,
    limit: int | None,
    resume: bool,
    no_cache: bool,
    concurrency: int | None,
    models: str | None,
    batch: bool,
    shard: str | None,
    max_cost: float | None,
    quiet: bool,
    as_json: bool,
    engine: str = "local",
    address: str | None = None,
    shards: int | None = None,
) -> int:
    """Run CONFIG: generate, score, compare with the baseline, gate, and write the report folder."""
    from .._shard import ShardSpec
    from ..config import load_config
    from ..cost import stop_sentence
    from ..pipeline import run_config

    if resume and no_cache:
        raise ConfigError("--resume needs the cache; drop --no-cache")
    spec = ShardSpec.parse(shard) if shard is not None else None
    ray_engine = _engine(engine, address)
    cfg = load_config(config)
    from ..metrics import use_engine

    if shards is not None and (ray_engine is None or spec is not None):
        raise ConfigError(
            "--shards N needs --engine ray and no --shard" if ray_engine else "--shards needs --engine ray"
        )
    try:
        if shards is not None and ray_engine is not None:
            from .._ray_shards import run_shards_on_ray

            opts = {"limit": limit, "resume": resume, "no_cache": no_cache, "concurrency": concurrency, "batch": batch}
            names = [m.strip() for m in models.split(",") if m.strip()] if models else None
            outcome = run_shards_on_ray(
                config, shards, out_dir or cfg.output_dir(), ray_engine, opts | {"models": names}
            )
        else:
            with use_engine(ray_engine):
                outcome = run_config(
                    cfg,
                    out_dir=out_dir,
                    limit=limit,
                    resume=resume,
                    no_cache=no_cache,
                    concurrency=concurrency,
                    batch=batch,
                    resume_command=_resume_command(config, out_dir, limit, models, batch, shard),
                    models=[m.strip() for m in models.split(",") if m.strip()] if models else None,
                    progress=not quiet,
                    shard=spec,
                    max_cost=max_cost,
                )
    except KeyboardInterrupt:
        again = _resume_command(config, out_dir, limit, models, batch, shard)
        click.echo(f"\ninterrupted: finished requests are saved in the cache; continue with:\n  {again}", err=True)
        return 130
    if as_json:
        click.echo(
            json.dumps(
                {
                    "out_dir": str(outcome.out_dir),
                    "failed": outcome.failed,
                    "gate": None if outcome.run.gate is None else outcome.run.gate.passed,
                    "exit_code": outcome.exit_code,
                }
            )
        )
    else:  # --quiet drops the bars and stage lines, never the results
        _echo_summary(outcome)
    stopped = stop_sentence((outcome.run.settings or {}).get("max_cost")) if as_json else None
    if stopped:  # --max-cost stopped sending: that, not failures after retries, is why the exit code is 3
        click.echo(f"INCOMPLETE: {stopped}", err=True)
    elif outcome.failed and as_json:  # said on stderr beside the JSON too: it is why the exit code is 3
        click.echo(
            f"INCOMPLETE: {outcome.failed} item(s) failed after retries (see examples.jsonl `error`, and "
            f"`failed` under `judge` for judge requests); finish them with: "
            f"{_resume_command(config, out_dir, limit, models, batch, shard)}",
            err=True,
        )
    _step_summary(outcome.out_dir)
    return outcome.exit_code


ALLOW_MISMATCH = click.option(
    "--allow-mismatch",
    multiple=True,
    metavar="KIND",
    help="Compute deltas between runs whose digests of KIND differ (data, prompt, labels, metrics, judge, rubric, "
    "scoring, or all; repeat or comma-separate); the report marks them not like-for-like.",
)


def _kinds(values: tuple[str, ...]) -> list[str]:
    return [k.strip() for v in values for k in v.split(",") if k.strip()]


def _engine(engine: str, address: str | None) -> RayEngine | None:
    """``--engine``/``--address`` -> the Ray engine (None: this process); bad combinations exit 2 up front."""
    if engine != "ray":
        if address:
            raise ConfigError("--address needs --engine ray")
        return None
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ConfigError("--engine ray needs Ray, which is not installed", hint="pip install 'evalstack[ray]'")
    from ..metrics import RayEngine as Ray

    return Ray(address)


def _step_summary(out_dir: Path) -> None:
    """Append report.md to $GITHUB_STEP_SUMMARY when running in GitHub Actions."""
    import os

    target = os.environ.get("GITHUB_STEP_SUMMARY")
    report = out_dir / "report.md"
    if target and report.exists():
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(report.read_text(encoding="utf-8") + "\n")


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--rules", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Gate rules YAML.")
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--allow-unfinished", is_flag=True, help="Judge a folder whose run did not finish (killed, or still running)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write report.md and junit.xml with this verdict into DIR (the run folder itself, or a new "
    "or empty folder).",
)
@click.option(
    "--baseline",
    "stored",
    metavar="NAME|RUN",
    help="Judge RUN's models against a stored baseline (`evalstack baseline set`) or a run folder's baseline "
    "model, paired by example id; refused (exit 2) where their digests differ.",
)
@click.option("--intersect", is_flag=True, help="With --baseline: pair the example ids both sides have.")
@ALLOW_MISMATCH
def gate(
    run_dir: Path,
    rules: Path,
    as_json: bool,
    allow_unfinished: bool,
    out_dir: Path | None,
    stored: str | None,
    intersect: bool,
    allow_mismatch: tuple[str, ...],
) -> int:
    """Re-judge a saved run against gate rules (exit 1 if the gate fails, 3 if the run is incomplete: items
    failed after retries). A folder whose run did not finish is refused (exit 2) unless --allow-unfinished."""
    from .._shard import refuse_shard_folder
    from ..gate import evaluate_gate, load_gate_rules
    from ..report import read_run

    if stored is not None:
        from ..baseline import gate_against_baseline

        paired = gate_against_baseline(
            run_dir, stored, rules=rules, out_dir=out_dir, intersect=intersect, allow_mismatch=_kinds(allow_mismatch)
        )
        if as_json:
            click.echo(paired.run.gate.model_dump_json(indent=2) if paired.run.gate else "null")
        else:
            _echo_summary(paired)
        return paired.exit_code
    run_ = read_run(run_dir, allow_unfinished=allow_unfinished)
    refuse_shard_folder(run_.settings, str(run_dir))
    decision = evaluate_gate(run_, load_gate_rules(rules))
    gated = run_.model_copy(update={"gate": decision})
    if out_dir is not None:
        named = decision.model_copy(update={"source": decision.source or f"--rules {rules}"})  # the report names them
        _write_gated(run_.model_copy(update={"gate": named}), run_dir, out_dir)
    if as_json:
        click.echo(decision.model_dump_json(indent=2))
    else:
        words = {"pass": "ok  ", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "not_judged": "NOT JUDGED"}
        click.echo(f"gate: {'PASSED' if decision.passed else 'FAILED'} (confidence {decision.confidence})")
        for r in decision.rules:
            outcome = r.outcome or ("pass" if r.passed else "fail")
            click.echo(f"  {words[outcome] if r.passed or outcome != 'inconclusive' else 'FAIL'} {r.rule}: {r.message}")
    return gated.exit_code  # the one rule: 3 incomplete, 1 gate failed, 0 passed


def _write_gated(run_, run_dir: Path, out_dir: Path) -> None:
    """report.md and junit.xml of ``run_`` (with the new gate) into ``out_dir``, claimed like a run's folder:
    the run folder itself (its marker) or a new/empty folder; never over files evalstack did not write."""
    from .._io import atomic_write_text
    from .._outdir import claim, record
    from ..report import render_junit, render_markdown

    claim(out_dir, where="--out")
    paths = [out_dir / "report.md", out_dir / "junit.xml"]
    record(out_dir, paths)
    atomic_write_text(paths[0], render_markdown(run_, run_dir), root=out_dir)
    atomic_write_text(paths[1], render_junit(run_), root=out_dir)
    click.echo("wrote " + ", ".join(str(p) for p in paths), err=True)


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--baseline", help="Model name to compare against (default: the first run's baseline).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--intersect", is_flag=True, help="Use the examples common to all runs instead of failing on a mismatch.")
@click.option(
    "--rules",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Gate rules YAML (default: the gate rules of the newest run).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the merged run.json to stdout.")
@ALLOW_MISMATCH
def compare(
    runs: tuple[Path, ...],
    baseline: str | None,
    out_dir: Path,
    intersect: bool,
    rules: Path | None,
    as_json: bool,
    allow_mismatch: tuple[str, ...],
) -> int:
    """Delta report from saved runs (checkpoints evaluated on different days), matched on example ids.
    Exit 0/1 as the gate of the newest run (or --rules) decides, 3 when a run is incomplete."""
    from ..compare import compare as compare_

    outcome = compare_(
        list(runs),
        out_dir=out_dir,
        baseline=baseline,
        intersect=intersect,
        rules=rules,
        allow_mismatch=_kinds(allow_mismatch),
    )
    if as_json:
        click.echo((out_dir / "run.json").read_text(encoding="utf-8"), nl=False)
    else:
        _echo_summary(outcome)
    _step_summary(out_dir)
    return outcome.exit_code

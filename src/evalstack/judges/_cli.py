"""``evalstack judge ...``: validate a rubric + judge model against human labels."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from ._bias import bias
from ._correct import correct


@click.group("judge")
def judge() -> None:
    """LLM judges: check a rubric and judge model against human labels before trusting them."""


def _judge_config(
    config: Path | None,
    provider: str | None,
    model: str | None,
    base_url: str | None,
    key_env: str | None,
    path: Path | None,
) -> tuple[Any, Any]:
    """(judge model config, loaded Config or None) from --config or the --judge-* flags."""
    flags = {
        "--judge-provider": provider,
        "--judge-model": model,
        "--judge-base-url": base_url,
        "--judge-api-key-env": key_env,
        "--judge-path": path,
    }
    given = [k for k, v in flags.items() if v is not None]
    if config is not None:
        from ..config import load_config

        if given:
            raise ConfigError(f"{given[0]} and --config both name the judge", hint="use one of them")
        cfg = load_config(config)
        if cfg.judge is None:
            raise ConfigError(
                "the config has no `judge:` model",
                where=str(config),
                hint="add judge: {provider: ..., model: ...} or pass --judge-model",
            )
        return cfg.judge, cfg
    if provider is None:
        provider = "replay" if path is not None and model is None else "openai" if model is not None else None
    if provider is None:
        raise ConfigError(
            "no judge model given",
            hint="pass --judge-model M [--judge-base-url URL], --judge-provider replay --judge-path FILE, "
            "or --config CONFIG",
        )
    data: dict[str, Any] = {"provider": provider}
    for key, value in (("model", model), ("base_url", base_url), ("path", path)):
        if value is not None:
            data[key] = value
    if key_env is not None:
        data["api_key_env"] = None if key_env.strip().lower() in ("", "none", "null") else key_env
    from pydantic import TypeAdapter, ValidationError

    from .._yaml import format_loc
    from ..config import ModelConfig

    try:
        return TypeAdapter(ModelConfig).validate_python(data), None
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = format_loc(tuple(p for p in e.get("loc", ()) if p != provider))
        msg = e.get("msg", "invalid").replace("Value error, ", "")
        raise ConfigError(
            f"judge {loc}: {msg}",
            where="--judge-*",
            hint="e.g. --judge-model gpt-4.1 or --judge-provider replay --judge-path verdicts.jsonl",
        ) from None


def _options(pairs: tuple[str, ...]) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for p in pairs:
        if "=" not in p:
            raise ConfigError(f"--option {p!r} is not KEY=VALUE", hint="e.g. --option logprobs=false")
        k, v = p.split("=", 1)
        out[k.strip()] = yaml.safe_load(v) if v.strip() else None
    return out


def _fmt(x: Any, signed: bool = False) -> str:
    from ..report import fmt_num

    return fmt_num(x, signed=signed)


def _text_report(rep: Any, rubric: Any) -> str:
    from ..report import fmt_p

    s = rep.stats
    scale_desc = rubric.scale.rules.describe()
    lines = [
        f"rubric {rep.rubric} ({rubric.kind}, {scale_desc}) vs {rep.n_labels} human labels in {rep.labels_file}",
        f"judge: {rep.judge_model}; scored {s['n']}, unscored {rep.unscored}"
        + (f"; methods: {', '.join(f'{k} {v}' for k, v in sorted(rep.methods.items()))}" if rep.methods else ""),
        "",
        f"exact agreement   {_fmt(s['exact_agreement'])}",
        f"Cohen's kappa     {_fmt(s['kappa'])} ({'quadratic-weighted' if s['kappa_weights'] == 'quadratic' else 'unweighted'})",
        f"Spearman rho      {_fmt(s['spearman'])} (p {fmt_p(s['spearman_p'])})",
    ]
    if s.get("mean_bias") is not None:
        lines.append(f"mean bias         {_fmt(s['mean_bias'], signed=True)} (judge - human)")
    if "within_one" in s:
        lines.append(f"within one level  {_fmt(s['within_one'])}")
    if rep.kind == "pairwise":
        lines.append(
            f"position bias     {_fmt(s.get('position_bias_rate'))} (share of pairs where the verdict followed the position)"
        )
    if s.get("categories"):
        lines.append(f"categories        {s['categories']}")
    if s["confusion"]:
        labels = [(str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)) for x in s["labels"]]
        width = max(5, *(len(x) + 1 for x in labels))
        lines += [
            "",
            "confusion matrix (rows: human, columns: judge)",
            " " * width + "".join(x.rjust(width) for x in labels),
        ]
        for lab, row in zip(labels, s["confusion"]):
            lines.append(lab.rjust(width) + "".join(str(c).rjust(width) for c in row))
    u = rep.usage
    lines += [
        "",
        f"usage: {u.get('requests', 0)} requests sent, {u.get('cached', 0)} cached, "
        f"{u.get('prompt_tokens', 0)} prompt + {u.get('completion_tokens', 0)} completion tokens",
    ]
    return "\n".join(lines)


@judge.command("validate")
@click.option("--rubric", "rubric_ref", required=True, help="Built-in rubric name or path to a rubric YAML file.")
@click.option(
    "--labels",
    "labels_path",
    required=True,
    type=click.Path(path_type=Path),
    help="JSONL/CSV: id, input, output, [reference], [context], human_score (pairwise: output_a, output_b, human).",
)
@click.option("--config", type=click.Path(path_type=Path), help="Take the judge model (and cache) from this config.")
@click.option(
    "--judge-provider", help="openai (default with --judge-model), replay (default with --judge-path), local..."
)
@click.option("--judge-model", help="Judge model id, e.g. gpt-4.1.")
@click.option("--judge-base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1.")
@click.option(
    "--judge-api-key-env", help="Env var holding the key (default OPENAI_API_KEY; 'none' for keyless servers)."
)
@click.option("--judge-path", type=click.Path(path_type=Path), help="replay: recorded verdicts (id, output).")
@click.option("--threshold", type=float, help="Per-example pass mark (fraction scales: the category cut).")
@click.option("--strict", is_flag=True, help="Binary scores (see README: strict mode).")
@click.option(
    "--option", "options", multiple=True, metavar="KEY=VALUE", help="Judge option, e.g. logprobs=false (repeatable)."
)
@click.option("--concurrency", type=click.IntRange(1, 1024), help="Requests in flight to the judge.")
@click.option("--cache", "cache_path", type=click.Path(path_type=Path), help="Response cache file.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the response cache.")
@click.option("--min-kappa", type=float, help="Exit 1 when kappa is below this (or undefined): a CI check.")
@click.option(
    "--save",
    "save_path",
    type=click.Path(path_type=Path),
    help="Write the validation record (kappa, n, date, rubric and judge digests) to this .json file or folder, "
    "for gate rules with require_validation.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (with per-row verdicts).")
def validate(
    rubric_ref: str,
    labels_path: Path,
    config: Path | None,
    judge_provider: str | None,
    judge_model: str | None,
    judge_base_url: str | None,
    judge_api_key_env: str | None,
    judge_path: Path | None,
    threshold: float | None,
    strict: bool,
    options: tuple[str, ...],
    concurrency: int | None,
    cache_path: Path | None,
    no_cache: bool,
    min_kappa: float | None,
    save_path: Path | None,
    as_json: bool,
) -> int:
    """Agreement of a judge with human labels: exact agreement, Cohen's kappa, Spearman, confusion, bias."""
    from ..config import JudgeSpec
    from ..models import Cache, Runner, default_cache_path, make_provider
    from ._pairwise import SWAPPED_SUFFIX
    from ._rubric import load_rubric
    from ._validate import read_labels, validate_rubric

    rubric = load_rubric(rubric_ref)
    labels = read_labels(labels_path, rubric)
    model_cfg, cfg = _judge_config(config, judge_provider, judge_model, judge_base_url, judge_api_key_env, judge_path)
    if concurrency is not None:
        model_cfg.concurrency = concurrency
    spec = JudgeSpec(rubric=rubric_ref, threshold=threshold, strict=strict, options=_options(options))
    provider = make_provider("judge", model_cfg)
    provider.check_ready()
    ids = [it.example_id for it in labels.items]
    provider.check_examples("validate", ids + ([i + SWAPPED_SUFFIX for i in ids] if labels.kind == "pairwise" else []))
    cache = Cache(
        None
        if no_cache
        else (cache_path or (cfg.cache if cfg is not None and cfg.cache else None) or default_cache_path())
    )
    runner = Runner(cache, progress=not as_json)

    async def go() -> Any:
        try:
            return await validate_rubric(rubric, labels, provider=provider, runner=runner, spec=spec)
        finally:
            await provider.aclose()

    try:
        report = asyncio.run(go())
    finally:
        runner.close()
        cache.close()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(_text_report(report, rubric))
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    if save_path is not None:
        from ._trust import save_validation

        click.echo(f"validation record written to {save_validation(save_path, report, rubric, model_cfg)}", err=True)
    kappa = report.stats.get("kappa")
    if min_kappa is not None and (kappa is None or kappa < min_kappa):
        click.echo(f"kappa {_fmt(kappa)} is below --min-kappa {min_kappa}", err=True)
        return 1
    return 0


judge.add_command(correct)  # `evalstack judge correct`: judge means corrected by human labels
judge.add_command(bias)  # `evalstack judge bias`: length bias and length-controlled win rate

"""What a run will cost before it sends anything, and what it cost after, per model, judge and task.

**Before** (``evalstack plan --config``, ``evalstack run --max-cost``): per task and model, the prompt
tokens of every rendered request (tiktoken where it knows the model, else approximate) and, as output,
the model's ``max_tokens`` (an upper bound; a model without one is assumed to answer 256 tokens and the
line says so). A judge request is estimated from its rubric text, the example's prompt, the model's
longest answer and the judge's ``max_tokens`` (256 when unset), twice per pair for pairwise judges
(both orders): approximate by nature, and labelled so. Requests the cache already holds are not
subtracted: the estimate is of a cold run.

**After** (run.json ``cost``): the usage of the requests actually sent (cache hits cost nothing), priced
per model; the Batch API's discount where ``batch: true``. Models that no price covers are listed as
unpriced, never costed as 0; ``replay``/``local`` models send nothing billable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._prices import PRICES_AS_OF, Price, price_for
from ._tokens import TokenCounter, counter_for

if TYPE_CHECKING:
    from .._prepare import TaskPlan
    from ..config import Config
    from ..models import Generation, ProviderSettings

__all__ = [
    "CostLine",
    "Estimate",
    "actual_cost",
    "check_max_cost",
    "estimate_cost",
    "model_price",
    "run_cost",
    "sum_costs",
]

FREE_KINDS = ("replay", "local", "mock")
"""Providers that send no billable request."""
ASSUMED_OUTPUT = 256
INSTRUCTIONS = 150
"""Tokens of a judge prompt's fixed instructions (scale, reply format) added to the rubric's own text."""


def model_price(settings: ProviderSettings) -> tuple[Price | None, str]:
    """(price, why) of one model entry: its ``price:``, the shipped table, free, or unpriced."""
    override = getattr(settings, "price", None)
    if override is not None:
        return price_for(None, override.model_dump()), "config"
    if settings.provider in FREE_KINDS:
        return Price(0.0, 0.0, 0.0, source=f"{settings.provider}: no API charge"), "free"
    model = getattr(settings, "model", None)
    p = price_for(model) if settings.provider == "openai" else None
    return p, ("table" if p else "unpriced")


def _max_tokens(settings: ProviderSettings) -> tuple[int, bool]:
    params = getattr(settings, "params", None) or {}
    for k in ("max_completion_tokens", "max_tokens"):
        if isinstance(params.get(k), int):
            return int(params[k]), False
    return ASSUMED_OUTPUT, True


@dataclass
class CostLine:
    """One (task, model or judge) line of an estimate or of the actual cost."""

    task: str
    who: str  # model name, or "judge <rubric> (<model>)"
    requests: int
    prompt_tokens: int
    completion_tokens: int
    usd: float | None  # None: unpriced
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "who": self.who,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "usd": self.usd,
            "notes": self.notes,
        }


@dataclass
class Estimate:
    """Lines, their total over priced lines, what is unpriced and how tokens were counted."""

    lines: list[CostLine]
    prices_as_of: str = PRICES_AS_OF

    @property
    def total(self) -> float:
        return sum(x.usd for x in self.lines if x.usd is not None)

    @property
    def unpriced(self) -> list[str]:
        return sorted({x.who for x in self.lines if x.usd is None})

    @property
    def approximate(self) -> bool:
        return any("approximate" in n for x in self.lines for n in x.notes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": "USD",
            "prices_as_of": self.prices_as_of,
            "total_usd": self.total,
            "unpriced": self.unpriced,
            "approximate": self.approximate,
            "lines": [x.to_dict() for x in self.lines],
        }


def _usd(price: Price | None, p: int, c: int, batch: bool) -> float | None:
    return None if price is None else price.cost(p, c, batch=batch)


def _note(counter: TokenCounter) -> str:
    return f"prompt tokens: {counter.label}"


def estimate_cost(cfg: Config, plans: Sequence[TaskPlan], model_names: Iterable[str]) -> Estimate:
    """The cost of a cold run of ``plans`` for ``model_names`` (and their judges), before anything is sent."""
    lines: list[CostLine] = []
    names = list(model_names)
    for plan in plans:
        longest: dict[str, int] = {}
        for name in names:
            s = cfg.models[name]
            counter = counter_for(getattr(s, "model", None))
            price, why = model_price(s)
            out, assumed = _max_tokens(s)
            repeat = int(getattr(s, "repeat", 1))
            prompt = sum(counter.messages(m) for m in plan.messages) * repeat
            n = len(plan.messages) * repeat
            notes = [
                _note(counter),
                f"output: max_tokens {out}" + (" (assumed: no max_tokens in params)" if assumed else ""),
            ]
            if why == "free" and price is not None:
                notes = [price.source]
            lines.append(
                CostLine(
                    plan.name,
                    name,
                    n,
                    prompt,
                    n * out,
                    _usd(price, prompt, n * out, bool(getattr(s, "batch", False))),
                    notes,
                )
            )
            longest[name] = out
        for j in plan.judges:
            js = j.spec.judge or cfg.judge
            if js is None:
                continue
            counter = counter_for(getattr(js, "model", None))
            price, why = model_price(js)
            out, assumed = _max_tokens(js)
            r = j.rubric
            rubric = INSTRUCTIONS + counter.text(f"{r.description}\n{r.criteria}\n{r.template or ''}")
            base = sum(counter.text(plan.prompt_text(i)) for i in range(len(plan.messages)))
            judged = [m for m in names if j.scores(m, cfg.baseline)]
            for m in judged:
                pairs = 2 if getattr(j, "pairwise", False) else 1
                answer = longest.get(m, ASSUMED_OUTPUT) + (
                    longest.get(cfg.baseline, ASSUMED_OUTPUT) if pairs == 2 else 0
                )
                n = len(plan.messages) * pairs
                prompt = pairs * (base + len(plan.messages) * (rubric + answer + 8))
                notes = [
                    "approximate: rubric + prompt + the model's max_tokens",
                    f"output: max_tokens {out}" + (" (assumed)" if assumed else ""),
                ]
                if why == "free" and price is not None:
                    notes = [price.source]
                batch = bool(getattr(js, "batch", False))
                lines.append(
                    CostLine(
                        plan.name,
                        f"judge {j.name} ({m})",
                        n,
                        prompt,
                        n * out,
                        _usd(price, prompt, n * out, batch),
                        notes,
                    )
                )
    return Estimate(lines)


def actual_cost(
    cfg: Config,
    gens: Mapping[tuple[str, str], Sequence[Generation]],
    judge_usage: Iterable[tuple[str, str, str, Mapping[str, int], ProviderSettings | None]],
) -> Estimate:
    """The cost of what was sent: ``gens`` by (model, task), ``judge_usage`` as (task, model, judge name,
    usage dict, judge settings) rows. Cached answers cost nothing."""
    lines: list[CostLine] = []
    for (model, task), g in gens.items():
        s = cfg.models[model]
        price, why = model_price(s)
        sent = [x for x in g if not x.cached]
        p, c = sum(x.prompt_tokens for x in sent), sum(x.completion_tokens for x in sent)
        notes = [] if price is not None else ["unpriced: set price: {input: , output: } on the model"]
        lines.append(
            CostLine(
                task,
                model,
                sum(x.tries for x in sent),
                p,
                c,
                _usd(price, p, c, bool(getattr(s, "batch", False))),
                notes,
            )
        )
    for task, model, name, u, js in judge_usage:
        if js is None:
            continue
        price, why = model_price(js)
        p, c = int(u.get("prompt_tokens", 0)), int(u.get("completion_tokens", 0))
        notes = [] if price is not None else ["unpriced: set price: {input: , output: } on the judge"]
        usd = _usd(price, p, c, bool(getattr(js, "batch", False)))
        lines.append(CostLine(task, f"judge {name} ({model})", int(u.get("requests", 0)), p, c, usd, notes))
    return Estimate(lines)


def check_max_cost(
    cfg: Config, plans: Sequence[TaskPlan], model_names: Iterable[str], max_cost: float | None
) -> Estimate | None:
    """Refuse (exit 2, nothing sent) when the cold-run estimate is above ``max_cost`` USD or cannot be
    bounded (an unpriced model); return the estimate otherwise (None without a ``max_cost``)."""
    from ..errors import ConfigError

    if max_cost is None:
        return None
    est = estimate_cost(cfg, plans, model_names)
    if est.unpriced:
        raise ConfigError(
            f"--max-cost {max_cost:g}: no price for {', '.join(est.unpriced)}, so the cost cannot be bounded",
            hint="add price: {input: USD per 1M, output: USD per 1M} to that model (or judge) in the config",
        )
    if est.total > max_cost:
        approx = " (approximate token counts)" if est.approximate else ""
        raise ConfigError(
            f"--max-cost {max_cost:g}: the estimated cost of this run is ${est.total:,.4f}{approx}, above the "
            f"limit; nothing was sent",
            hint="see `evalstack plan --config CONFIG` for the estimate per model and judge; raise --max-cost, "
            "use --limit N, or lower max_tokens",
        )
    return est


def sum_costs(costs: Sequence[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """run.json ``cost`` records of several runs over disjoint examples (shards) added up per line."""
    recs = [c for c in costs if c]
    if not recs:
        return None
    lines: dict[tuple[str, str], dict[str, Any]] = {}
    for c in recs:
        for x in c.get("lines", []):
            key = (x["task"], x["who"])
            if key not in lines:
                lines[key] = {**x, "notes": list(x.get("notes", []))}
                continue
            y = lines[key]
            for k in ("requests", "prompt_tokens", "completion_tokens"):
                y[k] += x[k]
            y["usd"] = None if y["usd"] is None or x["usd"] is None else y["usd"] + x["usd"]
    return {
        "currency": "USD",
        "prices_as_of": recs[0].get("prices_as_of"),
        "total_usd": sum(x["usd"] for x in lines.values() if x["usd"] is not None),
        "unpriced": sorted({x["who"] for x in lines.values() if x["usd"] is None}),
        "approximate": any(c.get("approximate") for c in recs),
        "lines": list(lines.values()),
    }


def run_cost(
    cfg: Config,
    plans: Sequence[TaskPlan],
    gens: Mapping[tuple[str, str], Sequence[Generation]],
    judged: Mapping[Any, Any],
) -> dict[str, Any]:
    """run.json's ``cost``: what the requests sent cost, per task and model or judge (``judged``: the
    pipeline's judge outcomes by (task, model, judge name), each with its ``usage``)."""
    specs = {(p.name, j.name): j.spec.judge or cfg.judge for p in plans for j in p.judges}
    rows = [(t, m, n, out.usage, specs.get((t, n))) for (t, m, n), out in judged.items()]
    return actual_cost(cfg, gens, rows).to_dict()

"""Sending judge prompts: request params, the runner (cache, concurrency, retries), downgrade and re-ask.

Every judge call goes through :class:`~evalstack.models.Runner`, so the cache, per-endpoint concurrency
and transport retries are those of generation. On top of that, per prompt:

1. the first request: temperature 0, seed 0, ``response_format`` = the reply's JSON schema and
   ``logprobs``/``top_logprobs`` (points and pass/fail scales), unless the options turn them off;
2. an endpoint that rejects those features (HTTP 400) gets the prompt again without them (recorded as
   ``downgraded``);
3. a reply that cannot be parsed is asked again once, as a new request (repeat index 1, so it has its own
   cache slot) that shows the judge its reply and the problem; if that fails too the item is unscored.
"""

from __future__ import annotations

__all__ = ["JudgeSettings", "Call", "CallResult", "run_calls", "usage_of", "all_gens"]

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..models import Generation, Provider, Request, Runner, empty_kind
from ..registry import did_you_mean
from ._parse import Parsed, parse_reply
from ._prompt import reply_schema, retry_messages
from ._rubric import Rubric

_OPTIONS: dict[str, str] = {
    "temperature": "number >= 0 (default 0)",
    "seed": "integer or null (default 0)",
    "max_tokens": "integer >= 16 (default 1024)",
    "response_format": "json_schema (default), json_object or none",
    "logprobs": "true (default) or false: ask for top_logprobs to weight the score",
    "top_logprobs": "integer 1-20 (default 20)",
    "retry_unparseable": "true (default) or false",
    "confidence": "number in (0.5, 1) for pairwise rate CIs (default 0.95)",
}
_FEATURES = ("response_format", "logprobs", "top_logprobs")


@dataclass(frozen=True)
class JudgeSettings:
    """Validated judge options (``JudgeSpec.options``) and the request params they give."""

    params: dict[str, Any]
    retry_unparseable: bool = True
    confidence: float = 0.95

    @classmethod
    def from_options(
        cls, rubric: Rubric, options: dict[str, Any], provider: Provider, *, pairwise: bool, where: str
    ) -> JudgeSettings:
        """Request params: defaults < the judge model's ``params`` < the rubric's judge ``options``."""
        for k in options:
            if k not in _OPTIONS:
                hint = did_you_mean(k, _OPTIONS, f"known options: {', '.join(_OPTIONS)}")
                raise ConfigError(f"unknown judge option '{k}'", where=where, hint=hint)
        o = {**options}

        def bad(key: str) -> ConfigError:
            return ConfigError(
                f"judge option {key}={o[key]!r} is invalid", where=where, hint=f"expected {_OPTIONS[key]}"
            )

        def num(key: str, lo: float, hi: float, integer: bool = False) -> Any:
            v = o[key]
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or (integer and not isinstance(v, int))
                or not lo <= v <= hi
            ):
                raise bad(key)
            return v

        params: dict[str, Any] = {"temperature": 0, "seed": 0, "max_tokens": 1024}
        params.update(provider.default_params())
        for key, lo, hi, integer in (("temperature", 0, 2, False), ("max_tokens", 16, 100_000, True)):
            if key in o:
                params[key] = num(key, lo, hi, integer)
        if "seed" in o:
            if o["seed"] is not None:
                num("seed", -(2**63), 2**63 - 1, True)
            params["seed"] = o["seed"]
        if params.get("seed") is None:
            params.pop("seed", None)
        fmt = o.get("response_format", "json_schema")
        if fmt not in ("json_schema", "json_object", "none", None, False):
            raise bad("response_format")
        if fmt == "json_schema":
            name = f"judge_{rubric.name}" + ("_pairwise" if pairwise else "")
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name[:64], "strict": True, "schema": reply_schema(rubric, pairwise=pairwise)},
            }
        elif fmt == "json_object":
            params["response_format"] = {"type": "json_object"}
        weighted_scale = bool(rubric.scale.rules_for(pairwise).values())  # answers with a score each
        want_lp = o.get("logprobs", True)
        if not isinstance(want_lp, bool):
            raise bad("logprobs")
        if want_lp and weighted_scale:
            params["logprobs"] = True
            params["top_logprobs"] = num("top_logprobs", 1, 20, True) if "top_logprobs" in o else 20
        else:
            params.pop("logprobs", None)
            params.pop("top_logprobs", None)
        retry = o.get("retry_unparseable", True)
        if not isinstance(retry, bool):
            raise bad("retry_unparseable")
        confidence = num("confidence", 0.5000001, 0.9999999) if "confidence" in o else 0.95
        return cls(params=params, retry_unparseable=retry, confidence=float(confidence))


@dataclass
class Call:
    """One prompt to judge."""

    example_id: str
    """Example id sent with the request (replay judges answer by it)."""
    messages: list[dict[str, str]]
    turn: int = 0
    """The turn judged (multi-turn tasks): sent with the request (replay judges answer per turn)."""


@dataclass
class CallResult:
    """The outcome of one prompt after downgrade and re-ask."""

    gen: Generation
    """The last generation (failed ones have ``ok == False``)."""
    parsed: Parsed | None
    """The parsed reply of ``gen`` (None when the request failed)."""
    gens: list[Generation] = field(default_factory=list)
    """Every generation made for this prompt (for usage)."""
    retried: bool = False
    """True when the first reply was unparseable and the judge was asked again."""
    downgraded: bool = False
    """True when the endpoint rejected response_format/logprobs and the prompt went without them."""
    first_error: str | None = None
    """Why the first reply could not be parsed (kept when the re-ask fixed it)."""


def job_label(task: str, what: str) -> str:
    """``model · task · what`` for a ``task/model`` job: the lines and bars of two models must differ."""
    name, sep, model = task.partition("/")
    return f"{model} · {name} · {what}" if sep else f"{task} · {what}"


async def run_calls(
    calls: Sequence[Call],
    *,
    rubric: Rubric,
    settings: JudgeSettings,
    provider: Provider,
    runner: Runner,
    task: str,
    pairwise: bool,
    label: str,
) -> list[CallResult]:
    """Judge every call; results in order (none: no request, no stage line). Never raises for a single bad item."""
    if not calls:
        return []
    purpose = f"judge:{rubric.name}"
    base = [Request.make(task, c.example_id, c.messages, settings.params, 0, purpose, turn=c.turn) for c in calls]
    gens = await runner.run(provider, base, label=label)
    results = [CallResult(gen=g, parsed=None, gens=[g]) for g in gens]

    plain = {k: v for k, v in settings.params.items() if k not in _FEATURES}
    redo = [
        i
        for i, g in enumerate(gens)
        if not g.ok and g.error_kind == "bad_request" and any(k in settings.params for k in _FEATURES)
    ]
    if redo:
        again = await runner.run(
            provider,
            [
                Request.make(task, calls[i].example_id, calls[i].messages, plain, 0, purpose, turn=calls[i].turn)
                for i in redo
            ],
            label=f"{label} (plain)",
        )
        for i, g in zip(redo, again):
            results[i].gen, results[i].downgraded = g, True
            results[i].gens.append(g)

    replies = sum(1 for r in results if r.gen.ok)
    if replies:
        runner.note(f"{label}: parsing {replies} repl{'y' if replies == 1 else 'ies'}")
    for r in results:
        if r.gen.ok:
            r.parsed = _parse(r.gen, rubric, pairwise)
    if not settings.retry_unparseable:
        return results
    ask = [i for i, r in enumerate(results) if r.parsed is not None and not r.parsed.ok]
    if ask:
        reqs = []
        for i in ask:
            r = results[i]
            params = plain if r.downgraded else settings.params
            assert r.parsed is not None  # asked again: parsed, not ok
            msgs = retry_messages(calls[i].messages, r.gen.text or "", r.parsed.error or "unreadable")
            reqs.append(Request.make(task, calls[i].example_id, msgs, params, 1, purpose, turn=calls[i].turn))
        again = await runner.run(provider, reqs, label=f"{label} (re-ask)")
        for i, g in zip(ask, again):
            r = results[i]
            r.retried, r.first_error = True, r.parsed.error if r.parsed else None
            r.gens.append(g)
            r.gen = g
            r.parsed = _parse(g, rubric, pairwise) if g.ok else None
    return results


def _parse(gen: Generation, rubric: Rubric, pairwise: bool) -> Parsed:
    """The parsed reply; a judge reply with no usable content (content filter, tool calls only, cut before any
    text) is unparseable and says which, whatever the judge model's ``on_empty``."""
    kind = empty_kind(gen)
    if kind is not None:
        return Parsed(error=f"empty reply ({kind}, finish_reason {gen.finish_reason})")
    return parse_reply(gen.text, rubric.scale, pairwise=pairwise)


def all_gens(results: Sequence[CallResult]) -> list[Generation]:
    """Every generation made for ``results``, in order."""
    return [g for r in results for g in r.gens]


def usage_of(results: Sequence[CallResult] | Sequence[Generation]) -> dict[str, int]:
    """Token usage and request counts (the keys of results.Usage) of call results or their generations;
    cached answers (and answers shared with another model's identical request) cost no tokens. ``reasks``
    (prompts asked again after an unparseable reply) is known from call results only."""
    gens = [g for r in results for g in (r.gens if isinstance(r, CallResult) else [r])]
    u = {
        "requests": 0,
        "cached": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "retries": 0,
        "reasks": sum(1 for r in results if isinstance(r, CallResult) and r.retried),
    }
    for g in gens:
        if g.cached:
            u["cached"] += 1
            continue
        u["requests"] += g.tries
        u["retries"] += max(0, g.tries - 1)
        u["prompt_tokens"] += g.prompt_tokens
        u["completion_tokens"] += g.completion_tokens
    return u

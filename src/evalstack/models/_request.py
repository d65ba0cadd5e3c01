"""One chat request (its messages, output-affecting params, repeat) and what of it goes into the cache key.

Plain messages are (role, content) pairs; a message with more keys (an assistant message's ``tool_calls``,
a ``tool`` message's ``tool_call_id``) carries them as sorted JSON, so the cache keys of plain messages
never changed.
"""

from __future__ import annotations

__all__ = ["KEY_VERSION", "NON_OUTPUT_PARAMS", "Request"]

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Request params that cannot change what the model returns: transport (timeouts, headers, query strings)
# and bookkeeping (user, metadata, store). Every other param is part of the cache key, whether it comes
# from the model's `params` or from the request (judge options, response_format, tools, logprobs...);
# concurrency, retries and keys are not params at all, so they are never in it.
NON_OUTPUT_PARAMS = frozenset(
    {
        "timeout",
        "extra_headers",
        "extra_query",
        "user",
        "stream_options",
        "metadata",
        "store",
        "service_tier",
        "prompt_cache_key",
        "safety_identifier",
    }
)
KEY_VERSION = 2
"""Bumped when what goes into the cache key changes (old rows then simply miss)."""


@dataclass(frozen=True)
class Request:
    """One chat-completion request of one example (x repeat)."""

    task: str
    """Task name (replay files may be keyed per task)."""
    example_id: str
    """Example id (replay providers look outputs up by it)."""
    messages: tuple[tuple[str, str | None] | tuple[str, str | None, str], ...]
    """(role, content) pairs; a message with more than role and content (an assistant message's
    ``tool_calls``, a ``tool`` message's ``tool_call_id``) is (role, content, its other keys as sorted JSON),
    so plain messages keep the cache keys they always had."""
    params: tuple[tuple[str, Any], ...] = ()
    """Output-affecting request params, sorted (temperature, max_tokens, seed, response_format...)."""
    repeat: int = 0
    """Sampling repeat index: repeats get distinct cache slots."""
    purpose: str = "generate"
    """'generate' or 'judge:<rubric>' (not in the cache key: the same prompt gets the same answer)."""
    turn: int = 0
    """Multi-turn tasks: the turn this request asks (1-based; 0 otherwise). Not in the cache key (the messages,
    with the model's own earlier answers, are); replay providers answer per turn by it."""

    @staticmethod
    def make(
        task: str,
        example_id: str,
        messages: Sequence[Mapping[str, Any]],
        params: dict[str, Any] | None = None,
        repeat: int = 0,
        purpose: str = "generate",
        *,
        turn: int = 0,
    ) -> Request:
        p = tuple(sorted((k, _freeze(v)) for k, v in (params or {}).items() if k not in NON_OUTPUT_PARAMS))
        msgs = tuple(_message_tuple(m) for m in messages)
        return Request(task, example_id, msgs, p, repeat, purpose, turn)

    @property
    def message_dicts(self) -> list[dict[str, Any]]:
        """The messages as the chat API takes them (tool calls and tool results with their keys)."""
        out: list[dict[str, Any]] = []
        for m in self.messages:
            d: dict[str, Any] = {"role": m[0], "content": m[1]}
            if len(m) > 2:
                d.update(json.loads(m[2]))
            out.append(d)
        return out

    @property
    def param_dict(self) -> dict[str, Any]:
        return {k: _thaw(v) for k, v in self.params}


def _message_tuple(m: Mapping[str, Any]) -> tuple[str, str | None] | tuple[str, str | None, str]:
    extra = {k: v for k, v in m.items() if k not in ("role", "content")}
    if not extra:
        return (m["role"], m["content"])
    return (m["role"], m.get("content"), json.dumps(extra, sort_keys=True, ensure_ascii=False, separators=(",", ":")))


def _freeze(v: Any) -> Any:
    """JSON-stable, hashable form of a param value."""
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v


def _thaw(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v

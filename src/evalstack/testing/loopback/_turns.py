"""Scripted multi-turn replies: the answer to turn ``k`` of a conversation, chosen by its first question."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._chat import default_reply, message_text, normalize_reply


def user_turn(request: dict, key: str | None = None) -> int:
    """Which turn a chat request asks: the number of user messages from the first one containing ``key`` (all
    user messages when ``key`` is None), so few-shot examples before the conversation do not count."""
    users = [message_text(m) for m in request.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    start = next((j for j, text in enumerate(users) if key is not None and key in text), 0)
    return len(users) - start


def turn_reply_fn(mapping: Mapping[str, Sequence[Any]], default: Any = None) -> Callable[[dict], Any]:
    """A reply function: for the first key found in a user message, reply ``mapping[key][k - 1]`` to turn
    ``k`` (a str, a reply dict or a Fault); ``default`` (or the echo reply) for anything else."""
    table = [(key, [normalize_reply(r) for r in replies]) for key, replies in mapping.items()]
    fallback = normalize_reply(default) if default is not None else None

    def fn(request: dict) -> Any:
        users = [
            message_text(m) for m in request.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"
        ]
        for key, replies in table:
            if any(key in text for text in users):
                k = user_turn(request, key)
                if k <= len(replies):
                    return replies[k - 1]
        return fallback if fallback is not None else default_reply(request)

    return fn

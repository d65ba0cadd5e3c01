"""Chat-completion bodies for the loopback server: replies, tokens, logprobs, usage, streaming chunks.

A *reply* is what a test scripts for one choice: a string (the message content), a dict (see
:data:`REPLY_KEYS`) or a :class:`Fault`. This module turns a normalised reply and the request JSON into
the body the real API returns.
"""

from __future__ import annotations

import json
import re
import zlib
from functools import lru_cache
from typing import Any

from ._faults import Fault
from ._store import ApiError

Reply = str | dict | Fault
"""What a reply function, a script or a reply map gives for one choice."""

REPLY_KEYS = {
    "content": "message content (str or None)",
    "tokens": "how the content splits into tokens (list of str whose concatenation is the content)",
    "top_logprobs": "a {token: logprob} dict for the first token, or a list of such dicts, one per token",
    "logprobs": "the raw choices[].logprobs.content list (OpenAI shape); overrides top_logprobs",
    "finish_reason": "finish_reason (default 'stop', 'length' when cut at max_tokens, 'tool_calls')",
    "tool_calls": "message.tool_calls list (OpenAI shape)",
    "refusal": "message.refusal",
    "usage": "usage dict override",
    "model": "model name in the body (default: the request's model)",
    "body": "the whole response body (dict as JSON, str/bytes as they are): overrides everything",
    "status": "HTTP status to send with 'body' (default 200)",
}
"""The keys a dict reply may have, with what each does."""

_TOKEN_RE = re.compile(r" ?[^\W\d_]+| ?\d{1,3}| ?_+| ?[^\s\w]+|\s+(?!\S)|\s+")
_ALTERNATIVES = (
    " the",
    " a",
    ".",
    ",",
    " and",
    " to",
    " of",
    "\n",
    " is",
    " in",
    " I",
    " it",
    " that",
    " for",
    " you",
    " on",
    " with",
    " be",
    " as",
    " this",
    " not",
)


def tokenize(text: str) -> list[str]:
    """Split ``text`` into GPT-like tokens whose concatenation is exactly ``text``."""
    return _TOKEN_RE.findall(text)


def message_text(message: Any) -> str:
    """The text of a chat message's ``content`` (a string or a list of content parts)."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def last_user_text(request: dict) -> str:
    """The text of the last ``user`` message of a chat request ('' when there is none)."""
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message)
    return ""


def example_from_schema(schema: Any, text: str, defs: dict | None = None) -> Any:
    """A small instance of a JSON schema, with ``text`` in string fields (for json_schema requests)."""
    if not isinstance(schema, dict):
        return text
    defs = defs if defs is not None else {**schema.get("definitions", {}), **schema.get("$defs", {})}
    if "$ref" in schema:
        return example_from_schema(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), text, defs)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example_from_schema(options[0], text, defs)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {k: example_from_schema(v, text, defs) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_from_schema(schema.get("items", {}), text, defs)] * max(1, schema.get("minItems", 1))
    return {"integer": 0, "number": 0.0, "boolean": False, "null": None}.get(kind, text)


def default_reply(request: dict) -> str:
    """``"echo: <last user message>"``; a JSON document instead when ``response_format`` asks for one."""
    text = "echo: " + last_user_text(request)
    fmt = request.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema", {})
        return json.dumps(example_from_schema(schema, text))
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return json.dumps({"echo": last_user_text(request)})
    return text


def normalize_reply(reply: Any) -> Reply:
    """Check a scripted reply; raises ``ValueError``/``TypeError`` naming what is wrong."""
    if isinstance(reply, (str, Fault)):
        return reply
    if not isinstance(reply, dict):
        raise TypeError(f"a reply must be a str, a dict or a Fault, not {type(reply).__name__}")
    unknown = set(reply) - set(REPLY_KEYS)
    if unknown:
        raise ValueError(f"unknown reply key(s) {sorted(unknown)}; known keys: {sorted(REPLY_KEYS)}")
    if "body" not in reply and "content" not in reply and "tool_calls" not in reply:
        raise ValueError("a dict reply needs 'content' (or 'tool_calls', or a raw 'body')")
    tokens = reply.get("tokens")
    if tokens is not None and "".join(tokens) != (reply.get("content") or ""):
        raise ValueError(f"reply tokens {tokens!r} do not join to its content {reply.get('content')!r}")
    return reply


def _default_logprob(token: str) -> float:
    return -round((zlib.crc32(token.encode("utf-8", "surrogatepass")) % 997) / 1e5, 6)


@lru_cache(maxsize=8192)
def _default_ranked(token: str) -> tuple[tuple[str, float], ...]:
    """Default (token, logprob) pairs for ``token``, best first: the token, then 19 alternatives."""
    chosen = _default_logprob(token)
    alts = [a for a in _ALTERNATIVES if a != token][:19]
    return (
        (token, chosen),
        *((alt, round(chosen - 2.0 - 0.75 * j + _default_logprob(alt), 6)) for j, alt in enumerate(alts)),
    )


def _entry(token: str, logprob: float) -> dict:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8", "surrogatepass"))}


def build_logprobs(tokens: list[str], reply: dict, k: int) -> list[dict]:
    """``choices[].logprobs.content`` for ``tokens``: scripted per-token ``top_logprobs`` or defaults."""
    if reply.get("logprobs") is not None:
        out = []
        for item in reply["logprobs"][: len(tokens)]:
            item = {**item}
            item.setdefault("bytes", list(item["token"].encode("utf-8", "surrogatepass")))
            item["top_logprobs"] = [
                {**t, "bytes": t.get("bytes", list(t["token"].encode("utf-8", "surrogatepass")))}
                for t in item.get("top_logprobs", [])
            ][:k]
            out.append(item)
        return out
    scripted = reply.get("top_logprobs")
    if isinstance(scripted, dict):
        scripted = [scripted]
    if scripted is not None and len(scripted) > len(tokens):
        raise ValueError(
            f"reply gives top_logprobs for {len(scripted)} tokens but its content has "
            f"{len(tokens)} token(s) {tokens!r}; give 'tokens' or fewer top_logprobs"
        )
    out = []
    for i, token in enumerate(tokens):
        if scripted is not None and i < len(scripted):
            top = scripted[i]
            if token not in top:
                raise ValueError(
                    f"top_logprobs {top!r} for token {i} do not include the chosen token "
                    f"{token!r}; give the raw 'logprobs' list for such a case"
                )
            ranked = sorted(((t, float(lp)) for t, lp in top.items()), key=lambda kv: -kv[1])
            logprob = float(top[token])
        else:
            ranked = list(_default_ranked(token))
            logprob = ranked[0][1]
        out.append({**_entry(token, logprob), "top_logprobs": [_entry(t, lp) for t, lp in ranked[:k]]})
    return out


def build_choice(reply: str | dict, request: dict, index: int) -> tuple[dict, int]:
    """One ``choices[]`` item for a (non-fault) reply, and its completion token count."""
    spec: dict = {"content": reply} if isinstance(reply, str) else reply
    content = spec.get("content")
    tokens = list(spec.get("tokens") or tokenize(content or ""))
    finish = spec.get("finish_reason") or ("tool_calls" if spec.get("tool_calls") else "stop")
    limit = request.get("max_completion_tokens") or request.get("max_tokens")
    if isinstance(limit, int) and limit > 0 and len(tokens) > limit and content is not None:
        tokens = tokens[:limit]
        content = "".join(tokens)
        finish = "length"
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": spec.get("refusal")}
    if spec.get("tool_calls"):
        message["tool_calls"] = spec["tool_calls"]
    logprobs = None
    if request.get("logprobs"):
        k = int(request.get("top_logprobs") or 0)
        logprobs = {"content": build_logprobs(tokens, spec, k), "refusal": None}
    choice = {"index": index, "message": message, "logprobs": logprobs, "finish_reason": finish}
    return choice, len(tokens)


def prompt_tokens(request: dict) -> int:
    """Prompt token count: content tokens plus OpenAI's per-message overhead."""
    messages = request.get("messages") or []
    return sum(4 + len(tokenize(message_text(m))) for m in messages) + 3


def chat_body(request: dict, replies: list[str | dict], completion_id: str, created: int) -> dict:
    """The full chat.completion body for one request and one reply per choice."""
    choices, completion = [], 0
    for i, reply in enumerate(replies):
        choice, n_tokens = build_choice(reply, request, i)
        choices.append(choice)
        completion += n_tokens
    first = replies[0] if replies and isinstance(replies[0], dict) else {}
    prompt = prompt_tokens(request)
    usage = first.get("usage") or {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": first.get("model") or request.get("model") or "loopback",
        "choices": choices,
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": "fp_loopback",
    }


def sse_body(body: dict, request: dict) -> bytes:
    """The server-sent-events stream of a finished chat.completion ``body`` (for ``stream: true``)."""
    base = {
        "id": body["id"],
        "object": "chat.completion.chunk",
        "created": body["created"],
        "model": body["model"],
        "system_fingerprint": body["system_fingerprint"],
    }
    events: list[dict] = []
    for choice in body["choices"]:
        i, message = choice["index"], choice["message"]
        events.append(
            {
                **base,
                "choices": [
                    {"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
                ],
            }
        )
        entries = (choice["logprobs"] or {}).get("content") or []
        for j, token in enumerate(tokenize(message["content"] or "")):
            lp = {"content": [entries[j]], "refusal": None} if j < len(entries) else None
            events.append(
                {**base, "choices": [{"index": i, "delta": {"content": token}, "logprobs": lp, "finish_reason": None}]}
            )
        events.append(
            {**base, "choices": [{"index": i, "delta": {}, "logprobs": None, "finish_reason": choice["finish_reason"]}]}
        )
    if (request.get("stream_options") or {}).get("include_usage"):
        events.append({**base, "choices": [], "usage": body["usage"]})
    lines = [b"data: " + json.dumps(e, separators=(",", ":")).encode("utf-8") + b"\n\n" for e in events]
    return b"".join(lines) + b"data: [DONE]\n\n"


def validate_chat(body: Any) -> None:
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    if not body.get("model"):
        raise ApiError(400, "You must provide a model parameter.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(
            400, "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )


def n_choices(body: dict) -> int:
    n = body.get("n") or 1
    if not isinstance(n, int) or not 1 <= n <= 128:
        raise ApiError(400, f"Invalid 'n': {n!r}; expected an integer from 1 to 128.", param="n")
    return n

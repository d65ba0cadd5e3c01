"""Replies with no usable content: which kind each is, ``on_empty`` applied after the runner, counts per kind.

They are the endpoint's final answers (cached, not re-sent by ``--resume``); docs/architecture.md says why.
"""

from __future__ import annotations

import dataclasses

__all__ = ["EMPTY_KINDS", "apply_on_empty", "empty_counts", "empty_kind"]

from ._base import Generation

EMPTY_KINDS = ("content_filter", "no_content", "length_empty")
"""Kinds of reply with no usable content: final answers of the endpoint (cached, not re-sent by --resume)."""


def empty_kind(gen: Generation, tools: bool = False) -> str | None:
    """content_filter (finish_reason content_filter, even with partial text), length_empty (cut at max_tokens
    before any text), no_content (content null or '': tool calls only, or nothing); None for a real answer.
    ``tools``: the request offered tools, so a reply of tool calls without text is an answer."""
    if not gen.ok or (tools and gen.tool_calls):
        return None
    if gen.finish_reason == "content_filter":
        return "content_filter"
    if gen.text:
        return None
    return "length_empty" if gen.finish_reason == "length" else "no_content"


def apply_on_empty(gens: list[Generation], on_empty: str | None, tools: bool = False) -> list[Generation]:
    """``on_empty: fail``: each empty reply becomes a failed Generation of its :func:`empty_kind` (finish_reason,
    tries and tokens kept); ``score_as_empty`` or None (providers without the setting): unchanged."""
    if on_empty != "fail":
        return gens
    out = []
    for g in gens:
        kind = empty_kind(g, tools)
        if kind is not None:
            g = dataclasses.replace(
                g,
                text=None,
                error_kind=kind,
                logprobs=None,
                top_logprobs=None,
                tokens=None,
                error_message=f"the endpoint returned no usable content (finish_reason {g.finish_reason})",
            )
        out.append(g)
    return out


def empty_counts(gens: list[Generation], on_empty: str | None, tools: bool = False) -> dict[str, int]:
    """Empty replies per kind (failed under ``fail``, scored as '' under ``score_as_empty``)."""
    counts: dict[str, int] = {}
    for g in gens:
        kind = g.error_kind if g.error_kind in EMPTY_KINDS else (empty_kind(g, tools) if on_empty else None)
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))

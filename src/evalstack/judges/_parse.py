"""Tolerant reading of judge replies: JSON, fenced JSON, JSON inside prose, and free text ("Score: 4").

:func:`parse_reply` returns the judge's answer on the rubric's scale (an integer level, pass/fail, A/B/tie,
or the item verdicts of a fraction scale), its reasoning, and the character span of the answer in the
reply (so logprob weighting can find the score token). A reply that gives no valid answer gets an
``error`` saying why: the caller retries once and then leaves the item unscored. What is a valid answer
is the scale type's (``judges.scales``); this module holds the reading those types share.

Cost is linear in the reply's length, whatever the reply holds (bench: ``bench/bench_judge_parse.py``):
a reply longer than :data:`MAX_REPLY_CHARS` is unparseable without being read; at most
:data:`_MAX_DECODE_ATTEMPTS` embedded-JSON starts are tried; fences are found by scanning, not by a
regex; and the free-text patterns are written so that no two repeats can split the same run of
characters (no catastrophic backtracking on long runs of spaces, newlines or digits).
"""

from __future__ import annotations

__all__ = [
    "Parsed",
    "parse_reply",
    "MAX_REPLY_CHARS",
    "json_candidates",
    "get_key",
    "reason_text",
    "from_json",
    "from_text",
    "REASON_KEYS",
]

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._rubric import Scale

REASON_KEYS = ("reason", "reasoning", "explanation", "rationale", "justification", "analysis", "thoughts")
_FENCE_TAG = re.compile(r"[a-zA-Z]*+[ \t]*+\r?\n?")
MAX_REPLY_CHARS = 65_536
"""A judge reply longer than this is unparseable (a verdict needs a few hundred characters; the default
``max_tokens`` of 1024 gives about 4,000)."""
_MAX_DECODE_ATTEMPTS = 256
"""How many '{' positions are tried as the start of an embedded JSON object (each try is linear): the
first and the last half of that many when a reply has more."""

Check = Callable[[Any], "tuple[Any, str | None]"]
"""A scale type's check of a raw answer: (normalised value, None) or (None, why it is not on the scale)."""


@dataclass
class Parsed:
    """What a reply says on the rubric's scale."""

    value: Any = None
    """points: int level; pass_fail: 'pass'/'fail'; preference: 'A'/'B'/'tie'; fraction: (flagged, total)."""
    reason: str | None = None
    """The judge's reasoning (fraction: the per-item verdicts joined)."""
    error: str | None = None
    """Why no valid answer was found (None when ``value`` is set)."""
    span: tuple[int, int] | None = None
    """Character span of the answer in the reply text (for logprob weighting); None if unknown."""
    items: list[dict[str, Any]] = field(default_factory=list)
    """fraction: the extracted items, each {item, reason, verdict}."""

    @property
    def ok(self) -> bool:
        return self.error is None


def json_candidates(text: str) -> list[tuple[int, int, Any]]:
    """(start, end, object) of JSON objects in ``text``: the whole reply, fenced blocks, then embedded ones."""
    out: list[tuple[int, int, Any]] = []
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            start = text.index("{")
            obj = json.loads(stripped)
            out.append((start, start + len(stripped), obj))
        except (ValueError, RecursionError):
            pass
    for start, end in _fences(text):
        try:
            obj = json.loads(text[start:end])
        except (ValueError, RecursionError):
            continue
        out.append((start, end, obj))
    decoder = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"\{", text)]
    if len(starts) > _MAX_DECODE_ATTEMPTS:  # the first and the last ones: the verdict usually ends the reply
        half = _MAX_DECODE_ATTEMPTS // 2
        starts = starts[:half] + starts[-half:]
    done = 0
    for i in starts:
        if i < done:  # inside an object already decoded
            continue
        try:
            obj, end = decoder.raw_decode(text, i)
        except (ValueError, RecursionError):  # deep nesting raises RecursionError, not ValueError
            continue
        out.append((i, end, obj))
        done = end
    return [c for c in out if isinstance(c[2], dict)]


def _fences(text: str) -> list[tuple[int, int]]:
    """(start, end) of the bodies of ```-fenced blocks, in order: one left-to-right scan."""
    out = []
    i = text.find("```")
    while i != -1:
        close = text.find("```", i + 3)
        if close == -1:
            break
        tag = _FENCE_TAG.match(text, i + 3, close)
        out.append((tag.end() if tag else i + 3, close))
        i = text.find("```", close + 3)
    return out


def get_key(obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    lower = {str(k).lower(): k for k in obj}
    for k in keys:
        if k in lower:
            return lower[k], obj[lower[k]]
    return None, None


def _value_span(text: str, start: int, end: int, key: str) -> tuple[int, int] | None:
    """Span of the value of ``"key": value`` inside text[start:end] (the last occurrence)."""
    pat = re.compile(r'"' + re.escape(key) + r'"\s*:\s*"?([^",}\s]+)')
    spans = [m.span(1) for m in pat.finditer(text, start, end)]
    return spans[-1] if spans else None


def reason_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    return json.dumps(value, ensure_ascii=False)


def from_json(text: str, keys: tuple[str, ...], check: Check) -> Parsed | None:
    """The first JSON object in ``text`` with one of ``keys`` whose value ``check`` accepts (else its first error)."""
    first_error: Parsed | None = None
    for start, end, obj in json_candidates(text):
        key, raw = get_key(obj, keys)
        if key is None:
            continue
        value, err = check(raw)
        _, reason = get_key(obj, REASON_KEYS)
        if err:
            first_error = first_error or Parsed(error=err, reason=reason_text(reason))
            continue
        return Parsed(value=value, reason=reason_text(reason), span=_value_span(text, start, end, key))
    return first_error


def from_text(text: str, patterns: list[str], check: Check) -> Parsed | None:
    """Free text: the last match of the first of ``patterns`` that matches ('Score: 4', 'Verdict: [[A]]')."""
    for pat in patterns:
        matches = list(re.finditer(pat, text, re.I | re.M))
        if not matches:
            continue
        m = matches[-1]
        value, err = check(m.group(1))
        if err:
            return Parsed(error=err)
        return Parsed(value=value, reason=_free_reason(text, m.start()), span=m.span(1))
    return None


def _free_reason(text: str, answer_at: int) -> str | None:
    m = re.search(
        r"(?:reason(?:ing)?|explanation|rationale|justification)\s*+(?:\*++\s*+)?[:=]\s*+(?:\*++\s*+)?(.+)",
        text,
        re.I | re.S,
    )
    if m:
        body = m.group(1)
        cut = re.search(r"\n[ \t]*+(?:\*++[ \t]*+)?(?:final\s++)?(?:score|rating|grade|verdict|result)\b", body, re.I)
        return (body[: cut.start()] if cut else body).strip() or None
    before = text[:answer_at].rstrip(" \t\n*#_-:").strip()
    return before or None


def parse_reply(text: str | None, scale: Scale, *, pairwise: bool = False) -> Parsed:
    """Read a judge reply on ``scale`` (``pairwise``: an A/B/tie verdict whatever the scale)."""
    if text is None or not text.strip():
        return Parsed(error="empty reply")
    if len(text) > MAX_REPLY_CHARS:
        return Parsed(error=f"reply is {len(text):,} characters, over the {MAX_REPLY_CHARS:,} the judge parser reads")
    return scale.rules_for(pairwise).parse(text)

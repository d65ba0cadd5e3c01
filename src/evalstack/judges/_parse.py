"""Tolerant reading of judge replies: JSON, fenced JSON, JSON inside prose, and free text ("Score: 4").

:func:`parse_reply` returns the judge's answer on the rubric's scale (an integer level, pass/fail, A/B/tie,
or the item verdicts of a fraction scale), its reasoning, and the character span of the answer in the
reply (so logprob weighting can find the score token). A reply that gives no valid answer gets an
``error`` saying why: the caller retries once and then leaves the item unscored.

Cost is linear in the reply's length, whatever the reply holds (bench: ``bench/bench_judge_parse.py``):
a reply longer than :data:`MAX_REPLY_CHARS` is unparseable without being read; at most
:data:`_MAX_DECODE_ATTEMPTS` embedded-JSON starts are tried; fences are found by scanning, not by a
regex; and the free-text patterns are written so that no two repeats can split the same run of
characters (no catastrophic backtracking on long runs of spaces, newlines or digits).
"""

from __future__ import annotations

__all__ = ["Parsed", "parse_reply", "MAX_REPLY_CHARS"]

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ._rubric import Scale

_SCORE_KEYS = ("score", "rating", "grade", "verdict", "winner", "preference", "label", "result", "answer", "final_score")
_REASON_KEYS = ("reason", "reasoning", "explanation", "rationale", "justification", "analysis", "thoughts")
_FENCE_TAG = re.compile(r"[a-zA-Z]*+[ \t]*+\r?\n?")
MAX_REPLY_CHARS = 65_536
"""A judge reply longer than this is unparseable (a verdict needs a few hundred characters; the default
``max_tokens`` of 1024 gives about 4,000)."""
_MAX_DECODE_ATTEMPTS = 256
"""How many '{' positions are tried as the start of an embedded JSON object (each try is linear): the
first and the last half of that many when a reply has more."""

_PASS = {"pass": "pass", "passed": "pass", "yes": "pass", "true": "pass", "1": "pass",
         "fail": "fail", "failed": "fail", "no": "fail", "false": "fail", "0": "fail"}
_PREF = {"a": "A", "b": "B", "tie": "tie", "draw": "tie", "equal": "tie", "c": "tie",
         "response a": "A", "response b": "B", "neither": "tie", "both": "tie"}


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


def _json_candidates(text: str) -> list[tuple[int, int, Any]]:
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


def _short(raw: Any) -> str:
    """repr of a judge's answer for an error message, at most ~60 characters."""
    r = repr(raw)
    return r if len(r) <= 60 else r[:50] + f"... ({len(r) - 50:,} more)"


def _get(obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
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


def _reason_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    return json.dumps(value, ensure_ascii=False)


def _check(raw: Any, scale: Scale, pairwise: bool) -> tuple[Any, str | None]:
    """Normalise a raw answer to the scale, or say why it is not on it."""
    if isinstance(raw, bool):
        raw = "true" if raw else "false"
    if pairwise:
        v = _PREF.get(str(raw).strip().strip("[]*\"'.").lower())
        return (v, None) if v else (None, f"verdict {_short(raw)} is not A, B or tie")
    if scale.type == "pass_fail":
        v = _PASS.get(str(raw).strip().strip("*\"'.").lower())
        return (v, None) if v else (None, f"score {_short(raw)} is not pass or fail")
    try:
        num = float(str(raw).strip().strip("*\"'"))
    except ValueError:
        return None, f"score {_short(raw)} is not a number"
    levels = [int(k) for k in scale.levels]
    if not num.is_integer() or int(num) not in levels:
        return None, f"score {_short(raw)} is not one of {min(levels)}..{max(levels)}"
    return int(num), None


def _from_json(text: str, scale: Scale, pairwise: bool) -> Parsed | None:
    first_error: Parsed | None = None
    for start, end, obj in _json_candidates(text):
        key, raw = _get(obj, ("verdict", "winner", "preference", "better", "choice", "answer", "score")
                        if pairwise else _SCORE_KEYS)
        if key is None:
            continue
        value, err = _check(raw, scale, pairwise)
        _, reason = _get(obj, _REASON_KEYS)
        if err:
            first_error = first_error or Parsed(error=err, reason=_reason_text(reason))
            continue
        return Parsed(value=value, reason=_reason_text(reason), span=_value_span(text, start, end, key))
    return first_error


# Every optional piece starts with a character of its own, so no two repeats compete for one run of
# spaces (no catastrophic backtracking), and line patterns use [ \t], never \s, which would run on
# across newlines from every line start (quadratic on a reply of blank lines).
_NUM = r"(\d+(?:\.\d+)?)"
_LEAD = (r"(?:final\s++)?(?:score|rating|grade|verdict|result)\s*+(?:\(\s*+\d++\s*+-\s*+\d++\s*+\)\s*+)?"
         r"(?:\*++\s*+)?(?:[:=]\s*+)?(?:\*++\s*+)?\[{0,2}")


def _from_text(text: str, scale: Scale, pairwise: bool) -> Parsed | None:
    """Free text: the last explicit 'Score: 4' / 'Verdict: [[A]]' / '4/5' / a lone answer."""
    if pairwise:
        pats = [r"\[\[\s*+(A|B|C|tie)\s*+\]\]",
                r"(?:final\s++)?(?:verdict|winner|preference|better(?:\s++response)?|choice|answer)\s*+(?:\*++\s*+)?"
                r"[:=]\s*+(?:\*++\s*+)?(?:response\s++)?\[{0,2}(A|B|tie|draw)\b",
                r"^[^\w\n]*+(?:response[ \t]++)?(A|B|tie)[^\w\n]*+$"]
    elif scale.type == "pass_fail":
        pats = [_LEAD + r"(pass|fail|passed|failed)\b", r"^[^\w\n]*+(pass|fail)[^\w\n]*+$"]
    else:
        pats = [_LEAD + _NUM, r"\b" + _NUM + r"[ \t]*+(?:/|out of)[ \t]*+" + str(int(scale.max)) + r"\b",
                r"^[ \t]*+\**+" + _NUM + r"\**+\.?[ \t]*+$"]
    for pat in pats:
        matches = list(re.finditer(pat, text, re.I | re.M))
        if not matches:
            continue
        m = matches[-1]
        value, err = _check(m.group(1), scale, pairwise)
        if err:
            return Parsed(error=err)
        return Parsed(value=value, reason=_free_reason(text, m.start()), span=m.span(1))
    return None


def _free_reason(text: str, answer_at: int) -> str | None:
    m = re.search(r"(?:reason(?:ing)?|explanation|rationale|justification)\s*+(?:\*++\s*+)?[:=]\s*+(?:\*++\s*+)?(.+)",
                  text, re.I | re.S)
    if m:
        body = m.group(1)
        cut = re.search(r"\n[ \t]*+(?:\*++[ \t]*+)?(?:final\s++)?(?:score|rating|grade|verdict|result)\b", body, re.I)
        return (body[:cut.start()] if cut else body).strip() or None
    before = text[:answer_at].rstrip(" \t\n*#_-:").strip()
    return before or None


def _squash(x: Any) -> str:
    return re.sub(r"[^a-z]", "", str(x).lower())


def _fraction(text: str, scale: Scale) -> Parsed:
    item, flag, other = scale.item or "item", str(scale.flag), str(scale.other)
    verdicts = {_squash(flag): flag, _squash(other): other, "not" + _squash(flag): other, "non" + _squash(flag): other,
                "yes": flag, "true": flag, "no": other, "false": other}
    for _start, _end, obj in _json_candidates(text):
        key, listed = _get(obj, (f"{item}s", item, "items", "verdicts"))
        if key is None:
            continue
        if not isinstance(listed, list):
            return Parsed(error=f"'{key}' is not a list")
        items = []
        for i, entry in enumerate(listed):
            if not isinstance(entry, dict):
                return Parsed(error=f"{key}[{i}] is not an object")
            _, raw = _get(entry, ("verdict", flag, "label", "score"))
            v = verdicts.get(_squash(raw))
            if v is None:
                return Parsed(error=f"{key}[{i}] verdict {_short(raw)} is not {flag} or {other}")
            _, what = _get(entry, (item, "text", "statement", "claim"))
            _, why = _get(entry, _REASON_KEYS)
            items.append({item: _reason_text(what), "reason": _reason_text(why), "verdict": v})
        flagged = sum(1 for x in items if x["verdict"] == flag)
        reason = "; ".join(f"{x[item]!r}: {x['verdict']}" + (f" ({x['reason']})" if x["reason"] else "") for x in items)
        return Parsed(value=(flagged, len(items)), reason=reason or f"no {item}s found", items=items)
    return Parsed(error=f"no JSON object with a '{item}s' list")


def parse_reply(text: str | None, scale: Scale, *, pairwise: bool = False) -> Parsed:
    """Read a judge reply on ``scale`` (``pairwise``: an A/B/tie verdict whatever the scale)."""
    if text is None or not text.strip():
        return Parsed(error="empty reply")
    if len(text) > MAX_REPLY_CHARS:
        return Parsed(error=f"reply is {len(text):,} characters, over the {MAX_REPLY_CHARS:,} the judge parser reads")
    if scale.type == "fraction" and not pairwise:
        return _fraction(text, scale)
    found = _from_json(text, scale, pairwise)
    if found is not None and found.ok:
        return found
    free = _from_text(text, scale, pairwise)
    if free is not None and free.ok:
        return free
    if found is not None:
        return found
    if free is not None:
        return free
    return Parsed(error="no score found" if not pairwise else "no verdict found")

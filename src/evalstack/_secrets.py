"""The secrets of a run, and their redaction from every file evalstack writes.

Registered as secrets (values of at least :data:`MIN_LEN` characters):

- the value of every env var named as a key: a model's or judge's ``api_key_env``, tracker keys
  (``*_env`` entries, ``WANDB_API_KEY``, ``MLFLOW_TRACKING_TOKEN``/``PASSWORD``) and the usual key variables;
- the value of every env var expanded inside ``base_url``, ``endpoint`` or ``headers``, and of every env var
  whose name says it is one (``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``) wherever it is expanded;
- the password of a URL's ``user:password@`` and header values whose name says they are credentials.

:func:`redact_secrets` replaces their literal values with ``***``; the file writers (``_io``), the cache and
:class:`~evalstack.models.Generation` (a reply that echoes a key) apply it, and error messages add their own
pattern-based redaction on top (:func:`evalstack.errors.redact`). Only literal values are replaced in files:
patterns would also change model outputs that merely look like keys.
"""

from __future__ import annotations

__all__ = [
    "register_env",
    "register_value",
    "secret_values",
    "redact_secrets",
    "is_secret_name",
    "is_registered_env",
    "mask_userinfo",
    "register_url",
    "register_headers",
    "MIN_LEN",
    "register_key_names",
    "check_expansions",
    "register_model",
]

import os
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MIN_LEN = 6
"""Shorter values are not treated as secrets (redacting 'x' everywhere would mangle every text)."""

_NAMES: set[str] = {
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "WANDB_API_KEY",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
}
_VALUES: set[str] = set()
_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD")
_SECRET_HEADER = re.compile(r"(?i)auth|key|token|secret|password|cookie|signature")


def is_secret_name(name: str) -> bool:
    """Whether an env var or header name says it holds a credential."""
    upper = name.upper()
    return any(w in upper for w in _SECRET_WORDS)


def register_env(name: str | None) -> None:
    """Treat the value of env var ``name`` as a secret (now and whenever it is read later)."""
    if name:
        _NAMES.add(name)


def register_value(value: str | None) -> None:
    """Treat ``value`` as a secret."""
    if isinstance(value, str) and len(value) >= MIN_LEN:
        _VALUES.add(value)


def is_registered_env(name: str) -> bool:
    """Whether env var ``name`` was registered as holding a secret."""
    return name in _NAMES


def register_url(url: str | None) -> None:
    """The password (or lone user token) of ``scheme://user:password@host`` is a secret."""
    if not url or "@" not in url:
        return
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        register_value(parts.password)
    elif parts.username:
        register_value(parts.username)


def register_headers(headers: dict[str, str] | None) -> None:
    """Header values whose name says they are credentials (Authorization, X-Api-Key, ...) are secrets."""
    for name, value in (headers or {}).items():
        if _SECRET_HEADER.search(str(name)):
            register_value(str(value))


def secret_values() -> list[str]:
    """Every registered secret value, longest first (so a longer secret is replaced before a part of it)."""
    values = set(_VALUES)
    for name in _NAMES:
        value = os.environ.get(name)
        if value and len(value) >= MIN_LEN:
            values.add(value)
    return sorted(values, key=len, reverse=True)


def redact_secrets(text: str) -> str:
    """``text`` with every registered secret value replaced by ``***``."""
    if not text:
        return text
    for value in secret_values():
        if value in text:
            text = text.replace(value, "***")
    return text


def mask_userinfo(url: str) -> str:
    """``http://user:password@host/v1`` -> ``http://***@host/v1`` (other URLs unchanged)."""
    if not isinstance(url, str) or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    if not parts.username and not parts.password:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


_URL_KEYS = ("base_url", "endpoint")


def register_key_names(data: Any) -> None:
    """Every env var named as a key in a (``${VAR}``-expanded) config (``api_key_env``; a tracker's ``*_env``
    entries), and the credentials written in it (URL passwords, credential-named header values)."""
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(k, str) and isinstance(v, str):
                if k == "api_key_env" or k.endswith("_env"):
                    register_env(v)
                elif k in _URL_KEYS:
                    register_url(v)
            if k == "headers" and isinstance(v, dict):
                register_headers({str(a): str(b) for a, b in v.items()})
            register_key_names(v)
    elif isinstance(data, list):
        for v in data:
            register_key_names(v)


def _in_prompt(loc: tuple[Any, ...]) -> bool:
    return len(loc) > 2 and loc[0] == "tasks" and loc[2] == "prompt"


def check_expansions(expanded: list[tuple[tuple[Any, ...], str, str]], data: Any, doc: Any) -> None:
    """Register what ``${VAR}`` expansion put into a config (see the module docstring), then refuse a secret
    expanded into a prompt unless the config says ``allow_secret_in_prompt: true``."""
    for loc, name, value in expanded:
        if is_secret_name(name) or is_registered_env(name) or any(p in _URL_KEYS or p == "headers" for p in loc):
            register_env(name)
            register_value(value)
        if any(p in _URL_KEYS for p in loc):
            register_url(value)
    allowed = isinstance(data, dict) and data.get("allow_secret_in_prompt") is True
    for loc, name, _value in expanded:
        if _in_prompt(loc) and is_registered_env(name) and not allowed:
            from ._yaml import format_loc
            from .errors import ConfigError

            line = doc.line_of(loc)
            where = f"{doc.path}: {format_loc(loc)}" + (f" (line {line})" if line else "")
            raise ConfigError(
                f"${{{name}}} holds a secret and would be sent in the prompt and shown in reports",
                where=where,
                hint="remove it from the prompt, or set allow_secret_in_prompt: true "
                "(it is still redacted from every file written)",
            )


def register_model(cfg: Any) -> None:
    """A model config built without a YAML file (the Python API): its key variable, URL password, headers."""
    register_env(getattr(cfg, "api_key_env", None))
    register_url(getattr(cfg, "base_url", None))
    azure = getattr(cfg, "azure", None)
    register_url(getattr(azure, "endpoint", None))
    register_headers(getattr(cfg, "headers", None))

"""The provider contract: its settings, its capabilities, its registration.

A provider turns a :class:`Request` (chat messages + output-affecting params) into a :class:`Generation`.
It raises :class:`TransientError` for what a retry may fix (429, 5xx, timeouts, dropped connections,
malformed bodies) and :class:`PermanentError` for what it will not (400, 401, 404). Retries, concurrency,
caching and progress are the runner's job, not the provider's.

A provider is one class (one file): ``@register_provider("<kind>")``, a pydantic ``Settings`` model (a
:class:`ProviderSettings` subclass: the keys of its ``models.<name>`` entry, validated by the config through
the registry), :meth:`Provider.cache_identity` and :meth:`Provider.generate`, plus the capabilities it
declares: :meth:`~Provider.returns_logprobs`, :attr:`~Provider.supports_batch_api` (with
:meth:`~Provider.run_batch_api`), :attr:`~Provider.max_concurrency` and :attr:`~Provider.micro_batch`.
"""

from __future__ import annotations

__all__ = [
    "Request",
    "Generation",
    "Provider",
    "ProviderSettings",
    "TransientError",
    "PermanentError",
    "register_provider",
    "make_provider",
    "provider_class",
    "provider_kinds",
]

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ..cost import PriceSpec
from ._request import KEY_VERSION, NON_OUTPUT_PARAMS, Request

if TYPE_CHECKING:
    from ._batch_api import BatchProgress, BatchSettings, BatchStats
    from ._cache import Cache

CacheIdentity = dict[str, str | int | float | bool | None]
"""What identifies a provider's outputs in the cache key (:meth:`Provider.cache_identity`): JSON scalars."""

Params = dict[str, object]
"""Request params as the YAML gives them (``temperature``, ``max_tokens``, ``response_format``...): JSON values."""


@dataclass(slots=True)
class Generation:
    """What came back for one request (or why nothing did)."""

    text: str | None
    """The output text; None if the request failed."""
    logprobs: list[float] | None = None
    """Per-token log-probabilities of the output, where the provider returned them."""
    top_logprobs: list[dict[str, float]] | None = None
    """Per output token: {candidate token: logprob}, where requested."""
    tokens: list[str] | None = None
    """The output tokens, where known."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    cached: bool = False
    tries: int = 1
    error_kind: str | None = None
    """Set when failed: rate_limit, server_error, timeout, connection, bad_response, bad_request, auth..."""
    error_message: str | None = None
    key: str | None = None
    """The cache key of the request this answers (set by the runner; not stored): identical requests of
    several models share one send, charged to one of them by :func:`~evalstack.models.attribute_shared`."""
    notes: list[str] | None = None
    """What evalstack changed in the reply and why (e.g. lone surrogates replaced); shown in examples.jsonl."""
    tool_calls: list[dict[str, Any]] | None = None
    """The reply's tool calls, OpenAI shape (``{"id", "type": "function", "function": {"name", "arguments"}}``,
    arguments as the model wrote them); None when it made none."""
    trace: Any = None
    """What a tool loop did to reach this final reply (``evalstack.tools.ToolTrace``); not cached."""

    def __post_init__(self) -> None:
        # A reply may hold text UTF-8 cannot encode (a lone surrogate from a "\\ud800" escape): it could be
        # neither cached nor reported. It is replaced with U+FFFD here, where every Generation is made, and
        # the row says so.
        n, other = 0, False
        if isinstance(self.text, str):
            self.text, n = _valid_text(self.text)
        if self.tokens and not _encodable("".join(t for t in self.tokens if isinstance(t, str))):
            self.tokens = [_valid_text(t)[0] if isinstance(t, str) else t for t in self.tokens]
            other = True
        if self.top_logprobs and not all(_encodable("".join(d)) for d in self.top_logprobs if isinstance(d, dict)):
            self.top_logprobs = [
                {_valid_text(k)[0]: v for k, v in d.items()} if isinstance(d, dict) else d for d in self.top_logprobs
            ]
            other = True
        if isinstance(self.error_message, str):
            self.error_message = _valid_text(self.error_message)[0]
        if n or other:
            note = (
                f"{n} lone surrogate(s) in the output replaced with U+FFFD"
                if n
                else "lone surrogates replaced with U+FFFD"
            ) + (" (in the logprob tokens too)" if n and other else " in the logprob tokens" if other else "")
            self.notes = [*(self.notes or []), note] if note not in (self.notes or []) else self.notes
        if self.text:  # a reply that echoes a key is never scored, cached or written with it
            from .._secrets import redact_secrets

            self.text = redact_secrets(self.text)

    @property
    def ok(self) -> bool:
        return self.text is not None and self.error_kind is None

    def to_cache(self) -> str:
        d = {
            "text": self.text,
            "logprobs": self.logprobs,
            "top_logprobs": self.top_logprobs,
            "tokens": self.tokens,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "finish_reason": self.finish_reason,
        }
        if self.notes:
            d["notes"] = self.notes
        if self.tool_calls:
            d["tool_calls"] = self.tool_calls
        return json.dumps(d, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_cache(cls, blob: str) -> Generation:
        gen = cls.from_cache_checked(blob)
        if gen is None:
            raise ValueError("not a valid cache row")
        return gen

    @classmethod
    def from_cache_checked(cls, blob: str | None) -> Generation | None:
        """The stored generation, or None for a damaged row (not JSON, an unknown key, ``text: null``, a
        value of the wrong type): the runner then treats it as a miss, re-requests it and overwrites it."""
        try:
            d = json.loads(blob) if isinstance(blob, str) else None
        except (ValueError, RecursionError):
            return None
        if not isinstance(d, dict) or not d.keys() <= _CACHE_FIELDS or not _CACHE_REQUIRED <= d.keys():
            return None
        ok = (
            isinstance(d["text"], str)
            and _list_of(d.get("logprobs"), (int, float))
            and _list_of(d.get("tokens"), str)
            and _list_of(d.get("top_logprobs"), dict)
            and all(
                isinstance(x, dict) and all(isinstance(v, (int, float)) for v in x.values())
                for x in d.get("top_logprobs") or []
            )
            and all(type(d.get(k, 0)) is int and d.get(k, 0) >= 0 for k in ("prompt_tokens", "completion_tokens"))
            and isinstance(d.get("finish_reason"), (str, type(None)))
            and _list_of(d.get("notes"), str)
            and _list_of(d.get("tool_calls"), dict)
        )
        return cls(cached=True, tries=0, **d) if ok else None


_CACHE_FIELDS = frozenset(
    {
        "text",
        "logprobs",
        "top_logprobs",
        "tokens",
        "prompt_tokens",
        "completion_tokens",
        "finish_reason",
        "notes",
        "tool_calls",
    }
)
_CACHE_REQUIRED = frozenset({"text"})


def _list_of(value: Any, kind: Any) -> bool:
    """None, or a list whose items are all ``kind`` (bool is not a number here)."""
    return value is None or (
        isinstance(value, list) and all(isinstance(x, kind) and not isinstance(x, bool) for x in value)
    )


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _valid_text(s: str) -> tuple[str, int]:
    """``s`` with surrogate pairs joined and lone surrogates replaced by U+FFFD; and how many were replaced."""
    if _encodable(s):
        return s, 0
    fixed = s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return fixed, fixed.count("\ufffd") - s.count("\ufffd")


class TransientError(Exception):
    """A failure a retry may fix."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class PermanentError(Exception):
    """A failure no retry will fix (bad request, auth, not found)."""

    def __init__(self, kind: str, message: str, fatal: bool = False):
        super().__init__(message)
        self.kind = kind
        self.fatal = fatal
        """True where every other request will fail the same way (bad key, unknown model): stop the run."""


class ProviderSettings(BaseModel):
    """One ``models.<name>`` (or ``judge``) entry of the config: the keys every provider takes. Each provider's
    ``Settings`` subclasses it with its own keys; the config validates an entry with the ``Settings`` of the
    provider it names (:func:`evalstack.config.validate_model_settings`)."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(description="The provider kind: openai, replay, local, or an installed plug-in's.")
    concurrency: int = Field(8, ge=1, le=1024, description="Requests in flight at once for this endpoint.")
    repeat: int = Field(1, ge=1, le=100, description="Samples per example (sampling repeats get distinct cache slots).")
    checkpoint_step: int | None = Field(
        None, description="Training step of this checkpoint: joins its task scores with the loss curve."
    )
    price: PriceSpec | None = Field(
        None, description="USD per 1M tokens {input, output, cached_input}: wins over the shipped table."
    )

    @classmethod
    def settings_for(cls, data: Any) -> type[ProviderSettings]:
        """The Settings class of the provider ``data`` (a model entry) names; this class when none is known."""
        from ..registry import find

        kind = data.get("provider") if isinstance(data, dict) else None
        prov = find("provider", kind) if isinstance(kind, str) else None
        return prov.Settings if prov is not None else cls


class Provider(ABC):
    """A plug-in model provider. Subclasses register with :func:`register_provider`."""

    kind: ClassVar[str]
    Settings: ClassVar[type[ProviderSettings]] = ProviderSettings
    """The pydantic model of this provider's ``models.<name>`` entry."""
    uses_cache: ClassVar[bool] = True
    """False for providers whose outputs are already recorded (replay) or free to recompute (mock)."""
    max_concurrency: ClassVar[int] = 1024
    """Most requests this provider can have in flight; ``--concurrency`` is capped at it (local models: 1)."""
    supports_batch_api: ClassVar[bool] = False
    """True when ``batch: true`` sends requests through a batch API (:meth:`run_batch_api`) first."""
    logprobs_hint: ClassVar[str] = "use a provider that returns logprobs"
    """How to make this provider return token logprobs (shown when a metric needs them and it does not)."""

    def __init__(self, name: str, cfg: ProviderSettings):
        self.name = name
        self.cfg: ProviderSettings = cfg
        self.concurrency: int = min(getattr(cfg, "concurrency", 1), self.max_concurrency)
        self.max_tries: int = getattr(cfg, "max_tries", 1)
        self.micro_batch: int = 1
        """>1: the runner hands lists of this many requests to :meth:`generate_micro_batch` (local models
        decode several prompts in one forward pass; nothing to do with a provider's batch API)."""

    @abstractmethod
    def cache_identity(self) -> CacheIdentity:
        """What identifies this model's outputs in the cache key (kind, endpoint, model; never a key).
        Changing what an existing provider returns here changes every cache key it has written."""

    def describe(self) -> str:
        """The model id/file shown in reports."""
        return str(self.cache_identity().get("model", self.kind))

    def returns_logprobs(self) -> bool:
        """True when this model's generations carry token logprobs (perplexity of outputs needs them)."""
        return False

    def batch_api_enabled(self) -> bool:
        """True when this model's requests go through the provider's batch API first (``batch: true``)."""
        return self.supports_batch_api and bool(getattr(self.cfg, "batch", False))

    async def run_batch_api(
        self,
        pending: dict[str, Request],
        *,
        cache: Cache,
        settings: BatchSettings,
        stats: BatchStats,
        progress: BatchProgress | None = None,
        label: str | None = None,
    ) -> dict[str, Generation]:
        """Send ``pending`` (cache key -> request) through the batch API; return what it answered by key
        (stored in ``cache`` as it comes); the runner sends the rest online. Only if :attr:`supports_batch_api`."""
        raise NotImplementedError(f"provider '{self.kind}' has no batch API")

    def check_ready(self) -> None:
        """Raise ConfigError/DataError now if the provider cannot work (missing key env var, missing file)."""

    def check_examples(self, task: str, example_ids: list[str]) -> None:
        """Raise DataError if this provider cannot answer some examples (replay file missing ids)."""

    def default_params(self) -> Params:
        """Params sent with every request unless the request overrides them."""
        return dict(getattr(self.cfg, "params", {}) or {})

    async def generate(self, request: Request) -> Generation:
        """One request. Raise TransientError/PermanentError on failure."""
        raise NotImplementedError

    async def generate_micro_batch(self, requests: list[Request]) -> list[Generation]:
        """Several requests at once (only called when :attr:`micro_batch` > 1)."""
        return [await self.generate(r) for r in requests]

    async def aclose(self) -> None:
        """Release clients and models."""

    def effective_params(self, request: Request) -> Params:
        """What is sent with ``request``: the model's ``params`` overridden by the request's own."""
        return {**self.default_params(), **request.param_dict}

    def cache_key(self, request: Request) -> str:
        """sha256 of everything that can change the output: the provider identity (kind, endpoint, model),
        the messages (system prompt, few-shot, rendered user prompt), every output param actually sent
        (model ``params`` merged with the request's: sampling, max_tokens, seed, stop, response_format,
        tools, logprobs...) and the repeat index. Never a key, header, timeout or concurrency."""
        params = {k: v for k, v in self.effective_params(request).items() if k not in NON_OUTPUT_PARAMS}
        blob = json.dumps(
            {
                "v": KEY_VERSION,
                "provider": self.cache_identity(),
                "messages": request.messages,
                "params": params,
                "repeat": request.repeat,
            },
            sort_keys=True,
            ensure_ascii=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


def register_provider(kind: str) -> Callable[[type[Provider]], type[Provider]]:
    """Class decorator: ``provider: <kind>`` in YAML maps to this class (a plug-in's ``provider.<kind>``
    entry point goes through it too: :mod:`evalstack.registry`)."""

    def deco(cls: type[Provider]) -> type[Provider]:
        from ..registry import register

        cls.kind = kind
        register("provider", kind, cls)
        return cls

    return deco


def provider_class(kind: str, *, where: str | None = None) -> type[Provider]:
    """The provider class registered as ``kind`` (built-in or plug-in); a ConfigError with a "did you mean"."""
    from ..registry import lookup

    cls: type[Provider] = lookup("provider", kind, where=where)
    return cls


def provider_kinds() -> list[str]:
    """Every provider kind: the built-ins and installed plug-ins."""
    from ..registry import names

    return names("provider")


def make_provider(name: str, cfg: ProviderSettings) -> Provider:
    """Build the provider for a model config (``cfg.provider`` names its kind)."""
    return provider_class(cfg.provider, where=f"models.{name}")(name, cfg)

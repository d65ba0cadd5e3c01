"""Any OpenAI-compatible chat-completions endpoint through the official SDK (AsyncOpenAI / AsyncAzureOpenAI).

One client per provider (connection pooling across requests); the SDK's own retries are off
(``max_retries=0``) so that the runner counts, paces and reports every retry itself.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .._secrets import register_model
from ..errors import ConfigError, redact
from ._base import (
    CacheIdentity,
    Generation,
    PermanentError,
    Provider,
    ProviderSettings,
    Request,
    TransientError,
    register_provider,
)
from ._batch_api import BatchProgress, BatchSettings, BatchStats
from ._cache import Cache


class AzureSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(description="https://<resource>.openai.azure.com")
    api_version: str = "2024-10-21"
    deployment: str = Field(description="The deployment name (used as the model).")


class OpenAISettings(ProviderSettings):
    """Any OpenAI-compatible chat-completions endpoint: OpenAI, Azure, vLLM, Ollama, llama.cpp."""

    provider: Literal["openai"]
    model: str | None = Field(None, description="Model id (or Azure deployment, if `azure` is not given).")
    base_url: str | None = Field(
        None, description="Endpoint, e.g. http://localhost:8000/v1 (vLLM); default: $OPENAI_BASE_URL or OpenAI."
    )
    api_key_env: str | None = Field(
        "OPENAI_API_KEY",
        description="Name of the env var holding the key (never the key); null for keyless local servers (Ollama, vLLM).",
    )
    azure: AzureSettings | None = None
    params: dict[str, Any] = Field(
        default_factory=dict, description="temperature, max_tokens, seed, top_p, stop, logprobs, top_logprobs..."
    )
    timeout: float = Field(60.0, gt=0, description="Seconds per request.")
    max_tries: int = Field(
        6, ge=1, le=50, description="Tries per request on 429/5xx/timeouts before it counts as failed."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers (not secrets: use api_key_env)."
    )
    batch: bool = Field(False, description="Use the Batch API (half price, hours of latency).")
    on_empty: Literal["fail", "score_as_empty"] = Field(
        "fail",
        description="A reply with no usable content (content null: tool calls only; finish_reason "
        "content_filter; finish_reason length before any text): `fail` (default) makes it a failed "
        "item of kind no_content / content_filter / length_empty, unscored everywhere; "
        "`score_as_empty` scores it as the output ''. Either way it is counted in run.json "
        "(`empty`) and the report, and kept in the cache (a re-run does not ask again).",
    )

    @model_validator(mode="after")
    def _need_model(self) -> OpenAISettings:
        if not self.model and not self.azure:
            raise ValueError("give `model` (or `azure: {endpoint, deployment}`)")
        return self

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Any]) -> dict[str, Any]:
        for bad in ("api_key", "messages", "model", "stream"):
            if bad in v:
                raise ValueError(
                    f"params may not set '{bad}'" + (" (name an env var in api_key_env)" if bad == "api_key" else "")
                )
        return v


def _retry_after(exc: Any) -> float | None:
    resp = getattr(exc, "response", None)
    headers = getattr(resp, "headers", None)
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        val = headers.get(name)
        if val:
            try:
                return max(0.0, float(val) * scale)
            except ValueError:
                return None
    return None


@register_provider("openai")
class OpenAIProvider(Provider):
    """OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp server: anything that speaks /v1/chat/completions."""

    Settings = OpenAISettings
    supports_batch_api = True
    logprobs_hint = "add `logprobs: true` to its params"

    cfg: OpenAISettings

    def __init__(self, name: str, cfg: OpenAISettings):
        super().__init__(name, cfg)
        self._client: Any = None
        self.base_url = cfg.base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.model = cfg.azure.deployment if cfg.azure else cfg.model
        register_model(cfg)  # key variable, URL password, credential headers: redacted wherever they turn up

    def cache_identity(self) -> CacheIdentity:
        endpoint = self.cfg.azure.endpoint if self.cfg.azure else (self.base_url or "https://api.openai.com/v1")
        return {"kind": "openai", "endpoint": _without_userinfo(endpoint).rstrip("/"), "model": self.model}

    def describe(self) -> str:
        return str(self.model)

    def returns_logprobs(self) -> bool:
        return bool((self.cfg.params or {}).get("logprobs"))

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
        from ._openai_batch import run_batches

        return await run_batches(
            self, pending, cache=cache, settings=settings, stats=stats, progress=progress, label=label or ""
        )

    def _key(self) -> str | None:
        if self.cfg.api_key_env is None:
            return None
        return os.environ.get(self.cfg.api_key_env)

    def check_ready(self) -> None:
        env = self.cfg.api_key_env
        if env is not None and not os.environ.get(env):
            raise ConfigError(
                f"environment variable {env} is not set",
                where=f"models.{self.name}.api_key_env",
                hint=f"set the environment variable {env} to the key, or api_key_env: null for a keyless local server",
            )
        url = self.cfg.azure.endpoint if self.cfg.azure else self.base_url
        if url:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigError(
                    f"not an http(s) URL: {url!r}",
                    where=f"models.{self.name}.base_url",
                    hint="e.g. http://localhost:8000/v1",
                )

    def _get_client(self) -> Any:
        if self._client is None:
            import openai

            key = self._key() or "no-key"
            common: dict[str, Any] = dict(  # the SDK's keyword arguments
                api_key=key, max_retries=0, timeout=self.cfg.timeout, default_headers=self.cfg.headers or None
            )
            if self.cfg.azure:
                self._client = openai.AsyncAzureOpenAI(
                    azure_endpoint=self.cfg.azure.endpoint, api_version=self.cfg.azure.api_version, **common
                )
            else:
                self._client = openai.AsyncOpenAI(base_url=self.base_url, **common)
        return self._client

    async def generate(self, request: Request) -> Generation:
        import openai

        client = self._get_client()
        params: dict[str, Any] = self.effective_params(request)  # the SDK's keyword arguments
        try:
            resp = await client.chat.completions.create(model=self.model, messages=request.message_dicts, **params)
        except openai.RateLimitError as exc:
            raise TransientError("rate_limit", _msg(exc), _retry_after(exc)) from None
        except openai.APITimeoutError as exc:
            raise TransientError("timeout", _msg(exc)) from None
        except openai.APIConnectionError as exc:
            raise TransientError("connection", _msg(exc)) from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise PermanentError(
                "auth",
                f"authentication failed ({exc.status_code}): check the key in {self.cfg.api_key_env}",
                fatal=True,
            ) from None
        except openai.NotFoundError as exc:
            raise PermanentError(
                "not_found", f"not found (404): {_msg(exc)}; check the model name and base_url", fatal=True
            ) from None
        except openai.APIStatusError as exc:
            if exc.status_code >= 500 or exc.status_code in (408, 409, 425):
                raise TransientError(
                    "server_error", f"HTTP {exc.status_code}: {_msg(exc)}", _retry_after(exc)
                ) from None
            raise PermanentError("bad_request", f"HTTP {exc.status_code}: {_msg(exc)}") from None
        except (openai.APIResponseValidationError, ValueError, KeyError, TypeError) as exc:
            raise TransientError("bad_response", f"malformed response: {type(exc).__name__}") from None
        return _to_generation(resp)

    async def aclose(self) -> None:
        if self._client is not None:
            try:
                await self._client.close()
            except Exception:
                pass
            self._client = None


def _without_userinfo(url: str) -> str:
    """``http://user:secret@host/v1`` -> ``http://host/v1``: credentials never go into the cache key."""
    parsed = urlparse(url)
    if parsed.username is None and parsed.password is None:
        return url
    host = parsed.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parsed.port is not None:
        netloc += f":{parsed.port}"
    return parsed._replace(netloc=netloc).geturl()


def _msg(exc: Exception) -> str:
    return redact(str(exc))[:300]


def _to_generation(resp: Any) -> Generation:
    choices = getattr(resp, "choices", None)
    if not choices:
        raise TransientError("bad_response", "response has no choices")
    ch = choices[0]
    msg = ch.message
    text = msg.content if msg is not None and msg.content is not None else (getattr(msg, "refusal", None) or "")
    logprobs = top = tokens = None
    lp = getattr(ch, "logprobs", None)
    content = getattr(lp, "content", None) if lp is not None else None
    if content:
        tokens = [t.token for t in content]
        logprobs = [float(t.logprob) for t in content]
        if any(getattr(t, "top_logprobs", None) for t in content):
            top = [{c.token: float(c.logprob) for c in (t.top_logprobs or [])} for t in content]
    usage = getattr(resp, "usage", None)
    return Generation(
        text=text,
        logprobs=logprobs,
        top_logprobs=top,
        tokens=tokens,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        finish_reason=getattr(ch, "finish_reason", None),
        tool_calls=_tool_calls(getattr(msg, "tool_calls", None)),
    )


def _tool_calls(calls: Any) -> list[dict[str, Any]] | None:
    """The message's function tool calls as plain dicts (OpenAI shape; arguments kept as the model wrote
    them, a string that may not even be JSON); None when it made none."""
    if not calls:
        return None
    out = []
    for c in calls:
        fn = _field(c, "function")
        if fn is None:
            continue
        args = _field(fn, "arguments")
        out.append(
            {
                "id": str(_field(c, "id") or ""),
                "type": "function",
                "function": {
                    "name": str(_field(fn, "name") or ""),
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
        )
    return out or None


def _field(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)

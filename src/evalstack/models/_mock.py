"""A deterministic provider for unit tests only (never in the path a user runs: demo and docs use replay)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import CacheIdentity, Generation, PermanentError, Provider, ProviderSettings, Request, register_provider


class MockSettings(ProviderSettings):
    """For unit tests only: deterministic outputs with no I/O."""

    provider: Literal["mock"]
    outputs: dict[str, str] = Field(default_factory=dict, description="example id -> output")
    default: str = "mock output"
    fail_ids: list[str] = Field(default_factory=list)


@register_provider("mock")
class MockProvider(Provider):
    Settings = MockSettings
    cfg: MockSettings
    uses_cache = False

    def cache_identity(self) -> CacheIdentity:
        return {"kind": "mock", "model": self.name}

    async def generate(self, request: Request) -> Generation:
        if request.example_id in self.cfg.fail_ids:
            raise PermanentError("bad_request", f"mock failure for '{request.example_id}'")
        text = self.cfg.outputs.get(request.example_id, self.cfg.default)
        return Generation(
            text=text,
            prompt_tokens=sum(len((m[1] or "").split()) for m in request.messages),
            completion_tokens=len(text.split()),
        )

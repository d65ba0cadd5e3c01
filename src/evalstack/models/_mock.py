"""A deterministic provider for unit tests only (never in the path a user runs: demo and docs use replay)."""

from __future__ import annotations

from typing import Any

from ._base import Generation, PermanentError, Provider, Request, register_provider


@register_provider("mock")
class MockProvider(Provider):
    uses_cache = False

    def identity(self) -> dict[str, Any]:
        return {"kind": "mock", "model": self.name}

    async def generate(self, request: Request) -> Generation:
        if request.example_id in self.cfg.fail_ids:
            raise PermanentError("bad_request", f"mock failure for '{request.example_id}'")
        text = self.cfg.outputs.get(request.example_id, self.cfg.default)
        return Generation(text=text, prompt_tokens=sum(len(c.split()) for _, c in request.messages),
                          completion_tokens=len(text.split()))

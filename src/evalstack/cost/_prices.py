"""Prices per 1M tokens: a shipped, dated table for common OpenAI models, overridable per model in the config.

The table holds list prices in USD per 1M tokens (input, output, cached input) as OpenAI published them on
:data:`PRICES_AS_OF`; the Batch API bills half of each. A fine-tuned model (``ft:<base>:...``) has its own
(higher) inference price, listed under ``ft:<base>``. Prices change: a config's ``price:`` on a model
(``{input: , output: , cached_input: }`` per 1M tokens) wins over the table, and every report names the
date of the prices it used. A model the table does not know and the config prices nowhere is
**unpriced**: counted and named, never costed as 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BATCH_DISCOUNT", "PRICES", "PRICES_AS_OF", "Price", "PriceSpec", "price_for"]

PRICES_AS_OF = "2025-08-07"
"""The day the shipped prices were OpenAI's list prices (standard tier)."""

BATCH_DISCOUNT = 0.5
"""The Batch API bills this share of the standard price."""


class PriceSpec(BaseModel):
    """A model's ``price:`` in the config: USD per 1M tokens (wins over the shipped table)."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0, description="USD per 1M prompt tokens.")
    output: float = Field(ge=0, description="USD per 1M completion tokens.")
    cached_input: float | None = Field(None, ge=0, description="USD per 1M cached prompt tokens.")


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens."""

    input: float
    output: float
    cached_input: float | None = None
    source: str = f"shipped table ({PRICES_AS_OF})"

    def cost(self, prompt_tokens: int, completion_tokens: int, *, cached_tokens: int = 0, batch: bool = False) -> float:
        """USD for these tokens (cached prompt tokens at the cached price where one is known)."""
        cached = min(cached_tokens, prompt_tokens) if self.cached_input is not None else 0
        usd = (
            (prompt_tokens - cached) * self.input
            + cached * (self.cached_input or 0.0)
            + completion_tokens * self.output
        ) / 1e6
        return usd * (BATCH_DISCOUNT if batch else 1.0)


PRICES: dict[str, Price] = {
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "o3": Price(2.00, 8.00, 0.50),
    "o4-mini": Price(1.10, 4.40, 0.275),
    "o3-mini": Price(1.10, 4.40, 0.55),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    # fine-tuned models: inference prices of the tuned variants
    "ft:gpt-4.1": Price(3.00, 12.00, 0.75),
    "ft:gpt-4.1-mini": Price(0.80, 3.20, 0.20),
    "ft:gpt-4.1-nano": Price(0.20, 0.80, 0.05),
    "ft:gpt-4o": Price(3.75, 15.00, 1.875),
    "ft:gpt-4o-mini": Price(0.30, 1.20, 0.15),
    "ft:gpt-3.5-turbo": Price(3.00, 6.00),
}


def _base_name(model: str) -> str | None:
    """The table key of a model id: exact, a dated snapshot (gpt-4o-2024-08-06 -> gpt-4o), ft:<base>:..."""
    if model in PRICES:
        return model
    if model.startswith("ft:"):
        base = model[3:].split(":", 1)[0]
        key = _base_name(base)
        return f"ft:{key}" if key and f"ft:{key}" in PRICES else None
    # longest known prefix followed by '-' (a dated snapshot), never a different family (gpt-4o vs gpt-4o-mini)
    best = None
    for name in PRICES:
        if (
            not name.startswith("ft:")
            and model.startswith(name + "-")
            and model[len(name) + 1 : len(name) + 2].isdigit()
        ):
            if best is None or len(name) > len(best):
                best = name
    return best


def price_for(model: str | None, override: dict[str, float] | None = None) -> Price | None:
    """The price of a model id: the config's ``price:`` when given, else the shipped table, else None."""
    if override:
        return Price(
            float(override["input"]),
            float(override["output"]),
            None if override.get("cached_input") is None else float(override["cached_input"]),
            source="config",
        )
    key = _base_name(model) if model else None
    return PRICES[key] if key else None

"""Model providers (openai-compatible, replay, local HF, mock), the SQLite response cache and the async runner."""

from ._base import (
    Generation,
    PermanentError,
    Provider,
    Request,
    TransientError,
    make_provider,
    provider_kinds,
    register_provider,
)
from ._batch import BatchSettings, BatchStats
from ._cache import Cache, default_cache_path
from ._runner import Runner, RunStats, attribute_shared

__all__ = [
    "BatchSettings",
    "BatchStats",
    "Cache",
    "Generation",
    "PermanentError",
    "Provider",
    "Request",
    "RunStats",
    "Runner",
    "TransientError",
    "attribute_shared",
    "default_cache_path",
    "make_provider",
    "provider_kinds",
    "register_provider",
]

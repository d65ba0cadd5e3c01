"""Model providers (openai-compatible, replay, local HF, mock), the SQLite response cache and the async runner."""

from ._base import (
    Generation,
    PermanentError,
    Provider,
    ProviderSettings,
    Request,
    TransientError,
    make_provider,
    provider_class,
    provider_kinds,
    register_provider,
)
from ._batch_api import BatchSettings, BatchStats
from ._cache import Cache, default_cache_path
from ._cache_merge import CacheMerge, merge_caches
from ._cache_repair import CacheReport, check_cache, repair_cache
from ._empty import EMPTY_KINDS, apply_on_empty, empty_counts, empty_kind
from ._runner import Runner, RunStats, attribute_shared

__all__ = [
    "BatchSettings",
    "BatchStats",
    "Cache",
    "CacheReport",
    "EMPTY_KINDS",
    "Generation",
    "PermanentError",
    "Provider",
    "ProviderSettings",
    "Request",
    "RunStats",
    "Runner",
    "TransientError",
    "apply_on_empty",
    "attribute_shared",
    "check_cache",
    "merge_caches",
    "CacheMerge",
    "default_cache_path",
    "empty_counts",
    "empty_kind",
    "make_provider",
    "provider_class",
    "provider_kinds",
    "register_provider",
    "repair_cache",
]

"""Local Hugging Face models for metrics: offline loading, one load per process, device checks.

Nothing here may reach a model hub: loads run with ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1``
and only from local folders. Loaded models are kept in a process-wide cache keyed by what defines them,
so a run that scores several tasks/models with the same metric loads the weights once.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import ConfigError

_CACHE: dict[tuple, Any] = {}
_LOCK = threading.Lock()
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """Temporarily force the Hugging Face libraries offline (restores the previous environment)."""
    old = {k: os.environ.get(k) for k in _OFFLINE_VARS}
    os.environ.update({k: "1" for k in _OFFLINE_VARS})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def cached(key: tuple, load: Callable[[], Any]) -> Any:
    """``load()`` once per process for ``key`` (offline), then the same object."""
    with _LOCK:
        if key not in _CACHE:
            with offline():
                _CACHE[key] = load()
        return _CACHE[key]


def clear_cache() -> None:
    """Forget loaded models (tests, memory)."""
    with _LOCK:
        _CACHE.clear()


def resolve_device(metric: str, device: str | None) -> str:
    """'cpu', 'cuda', 'cuda:N' or 'mps'; default cuda when available. Unavailable devices are ConfigErrors."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"metric '{metric}': option 'device': '{device}' is not available here", hint="use device: cpu"
        )
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"metric '{metric}': option 'device': 'mps' is not available here", hint="use device: cpu")
    return device


def check_model_folder(metric: str, path: str) -> None:
    """A usable local model folder has a config.json; say so before transformers gives a long error."""
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise ConfigError(
            f"metric '{metric}': option 'model': '{path}' has no config.json",
            hint="point it to a local Hugging Face model folder (save_pretrained output)",
        )

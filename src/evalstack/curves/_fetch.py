"""Download a fine-tuning job's curves through the official ``openai`` client.

Writes into ``out_dir``: ``job.json`` (the job, with its hyperparameters), ``results.csv`` (the result
file from the files content API, base64-decoded when it arrives encoded), ``checkpoints.json`` (every page
of the checkpoints API, with per-checkpoint metrics) and ``events.json`` (every page of the job's events,
metrics events included). ``read_curves(out_dir)`` / ``analyze(out_dir)`` read the folder back.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._io import atomic_write_bytes, atomic_write_json
from ..errors import ConfigError, ProviderError
from ._readers import maybe_base64
from ._readers_json import job_epochs

PAGE_SIZE = 100


def _dump(obj: Any) -> Any:
    """A JSON-able dict of an API object (extra fields such as RFT metrics kept)."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    return obj


def _call(what: str, job_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the API and turn its failures into one-line evalstack errors (no key in any message)."""
    import openai

    try:
        return fn(*args, **kwargs)
    except openai.NotFoundError:
        raise ConfigError(
            f"{what}: not found (job {job_id})", hint="check the job id and the API key's project"
        ) from None
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise ConfigError(
            f"{what}: the API key was rejected ({exc.status_code})", hint="check OPENAI_API_KEY / OPENAI_BASE_URL"
        ) from None
    except openai.APIStatusError as exc:
        raise ProviderError(f"{what}: the API answered {exc.status_code}") from None
    except openai.APIConnectionError as exc:
        raise ProviderError(
            f"{what}: cannot reach the API ({type(exc).__name__})", hint="check OPENAI_BASE_URL and the network"
        ) from None


def fetch_job(job_id: str, *, client: Any, out_dir: str | Path) -> dict[str, Any]:
    """Download job ``job_id``'s result file, checkpoints and events with ``client`` (a sync ``openai.OpenAI``).

    Uses ``client.fine_tuning.jobs.retrieve``, ``client.files.content`` (each result file),
    ``client.fine_tuning.jobs.checkpoints.list`` and ``client.fine_tuning.jobs.list_events`` (all pages).
    Returns a summary: job id, status, model, n_epochs, the written files, counts, and whether the
    result file was base64-decoded.
    """
    if not job_id or not str(job_id).strip():
        raise ConfigError("the job id is empty")
    out = Path(out_dir)
    job = _dump(_call("retrieve job", job_id, client.fine_tuning.jobs.retrieve, job_id))
    files = [atomic_write_json(out / "job.json", job)]
    decoded = False
    for i, file_id in enumerate(job.get("result_files") or []):
        resp = _call(f"result file {file_id}", job_id, client.files.content, file_id)
        data = resp.content if hasattr(resp, "content") else resp.read()
        plain = maybe_base64(data)
        if plain is not None:
            data, decoded = plain, True
        files.append(atomic_write_bytes(out / ("results.csv" if i == 0 else f"results_{i + 1}.csv"), data))

    def all_items(what: str, fn: Callable[..., Any]) -> list[Any]:
        return _call(what, job_id, lambda: [_dump(x) for x in fn(job_id, limit=PAGE_SIZE)])

    checkpoints = all_items("list checkpoints", client.fine_tuning.jobs.checkpoints.list)
    checkpoints.sort(key=lambda c: c.get("step_number") or 0)
    files.append(atomic_write_json(out / "checkpoints.json", checkpoints))
    events = all_items("list events", client.fine_tuning.jobs.list_events)
    files.append(atomic_write_json(out / "events.json", events))
    return {
        "job_id": job.get("id", job_id),
        "status": job.get("status"),
        "model": job.get("model"),
        "fine_tuned_model": job.get("fine_tuned_model"),
        "n_epochs": job_epochs(job),
        "out_dir": str(out),
        "files": [str(p) for p in files],
        "n_result_files": len(job.get("result_files") or []),
        "n_checkpoints": len(checkpoints),
        "n_events": len(events),
        "result_base64_decoded": decoded,
    }


def client_from_env() -> Any:
    """A sync ``openai.OpenAI`` from ``OPENAI_API_KEY`` and (optional) ``OPENAI_BASE_URL``."""
    key = os.environ.get("OPENAI_API_KEY")
    if not key:
        raise ConfigError(
            "OPENAI_API_KEY is not set", hint="export OPENAI_API_KEY; set OPENAI_BASE_URL too for a compatible server"
        )
    import openai

    return openai.OpenAI(api_key=key, base_url=os.environ.get("OPENAI_BASE_URL") or None, max_retries=2, timeout=60.0)

"""The OpenAI Batch API path of the ``openai`` provider (``batch: true``): half the price, hours of latency.

``OpenAIProvider.run_batch_api`` calls :func:`run_batches`; the runner only knows the provider capability
(``supports_batch_api``) and :mod:`._batch_api`'s settings and counts.

The runner hands this module the requests its cache could not answer; what comes back goes into the same
SQLite cache, parsed exactly as an online response is, so reports, ``--resume`` and re-runs cannot tell a
batch answer from an online one.

1. Each request becomes one JSONL line: ``custom_id`` = its cache key, ``method: POST``, ``url``
   (``/v1/chat/completions``; ``/chat/completions`` with the deployment as model on Azure) and ``body`` =
   the body the online path sends (:func:`request_body`). Lines are split into files at
   :attr:`BatchSettings.max_requests` lines / :attr:`BatchSettings.max_bytes` bytes (the API's 50,000 /
   200 MB); a single line over the byte limit is sent online.
2. Each file is uploaded (Files API, purpose ``batch``) and submitted (``completion_window`` 24h); the
   batch id and its keys are written to the cache's ``batches`` table at once, before any waiting. A run
   stopped while batches are in flight finds them there and polls the same ids: nothing is submitted twice.
3. Batches are polled every :attr:`BatchSettings.poll_interval` seconds (a rich progress line per batch
   shows its request counts, on a terminal only). A finished batch's output and error files are streamed
   to a temporary file and parsed in a worker thread (the event loop never waits on parsing or SQLite);
   good lines go to the cache, then the batch is marked ``collected``.
4. Failed lines (a non-200 status in the output or error file, an unparseable body) are handed back to the
   runner, which sends them online with its usual retries. Requests a batch never finished (it expired,
   failed validation or was cancelled) go into a new batch, at most :attr:`BatchSettings.resubmits` times,
   then online. Everything is counted in :class:`BatchStats`.
"""

from __future__ import annotations

__all__ = ["request_body", "run_batches"]

import asyncio
import json
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProviderError, redact
from ._base import Generation, Provider, Request, TransientError
from ._batch_api import BatchProgress, BatchSettings, BatchStats
from ._cache import Cache

_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_UNFINISHED_CODES = frozenset({"batch_expired", "batch_cancelled"})
_REQUEST_OPTIONS = ("timeout", "extra_headers", "extra_query")  # SDK request options, not body fields
_WRITE_EVERY = 1000  # cache rows per transaction while parsing a result file
_TRANSFER_TIMEOUT = 1800.0  # seconds for one file upload/download (the provider's timeout is per chat request)


def request_body(provider: Any, request: Request) -> dict[str, Any]:
    """The chat-completions body the online path sends for ``request`` (model, messages, params)."""
    params = provider.effective_params(request)
    for k in _REQUEST_OPTIONS:
        params.pop(k, None)
    extra = params.pop("extra_body", None) or {}
    return {"model": provider.model, "messages": request.message_dicts, **params, **extra}


def _url(provider: Any) -> str:
    return "/chat/completions" if getattr(provider.cfg, "azure", None) else "/v1/chat/completions"


def _chunks(
    items: Iterable[tuple[str, dict[str, Any]]], url: str, max_requests: int, max_bytes: int, oversize: list[str]
) -> Iterator[tuple[list[str], bytes]]:
    """Greedy split of JSONL lines into files within both limits; keys of single over-size lines go to ``oversize``."""
    keys: list[str] = []
    parts: list[bytes] = []
    size = 0
    for key, body in items:
        line = (
            json.dumps(
                {"custom_id": key, "method": "POST", "url": url, "body": body},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            + "\n"
        ).encode("utf-8")
        if len(line) > max_bytes:
            oversize.append(key)
            continue
        if keys and (len(keys) >= max_requests or size + len(line) > max_bytes):
            yield keys, b"".join(parts)
            keys, parts, size = [], [], 0
        keys.append(key)
        parts.append(line)
        size += len(line)
    if keys:
        yield keys, b"".join(parts)


def _status_kind(status: int) -> str:
    if status == 429:
        return "rate_limit"
    if status >= 500:
        return "server_error"
    return "auth" if status in (401, 403) else "bad_request"


@dataclass
class _Outcome:
    ok: dict[str, Generation] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    """key -> error kind of lines that came back failed."""


def _parse_line(row: dict[str, Any]) -> tuple[Generation | None, str | None]:
    """(generation, None) for a good line, (None, error kind) for a failed one, (None, None) for unfinished."""
    from openai.types.chat import ChatCompletion

    from ._openai import _to_generation

    resp = row.get("response")
    if isinstance(resp, dict):
        status = int(resp.get("status_code") or 0)
        if status != 200:
            return None, _status_kind(status)
        body = resp.get("body")
        if not isinstance(body, dict):
            return None, "bad_response"
        try:  # built as the SDK builds an online response (construct, no validation), then parsed alike
            return _to_generation(ChatCompletion.construct(**body)), None
        except (TransientError, AttributeError, TypeError, ValueError, KeyError):
            return None, "bad_response"
    code = (row.get("error") or {}).get("code")
    return (None, None) if code in _UNFINISHED_CODES else (None, str(code or "batch_error"))


class _BatchJob:
    """Batch mode for one runner call: submit, watch, collect, resubmit."""

    def __init__(
        self, provider: Any, cache: Cache, settings: BatchSettings, stats: BatchStats, progress: Any, label: str
    ):
        self.p = provider
        self.cache = cache
        self.settings = settings
        self.stats = stats
        self.progress = progress
        self.label = label
        self.tag = json.dumps(provider.cache_identity(), sort_keys=True)
        self.client = provider._get_client()
        self.n = 0

    # ------------------------------------------------------------------ API calls with retries
    async def _api(self, what: str, call: Callable[[], Awaitable[Any]], *, missing_ok: bool = False) -> Any:
        """``await call()``, retrying what a retry may fix; ProviderError otherwise (None on 404 if ``missing_ok``)."""
        import openai

        tries = max(3, self.p.max_tries)
        for attempt in range(1, tries + 1):
            try:
                return await call()
            except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                err: Exception = exc
            except openai.APIStatusError as exc:
                if exc.status_code == 404 and missing_ok:
                    return None
                if exc.status_code < 500 and exc.status_code not in (408, 409, 425, 429):
                    hint = (
                        "check the key"
                        if exc.status_code in (401, 403)
                        else "this endpoint may have no Batch API: set batch: false"
                        if exc.status_code == 404
                        else "batches in flight are kept in the cache; rerun with --resume"
                    )
                    raise ProviderError(
                        f"model '{self.p.name}': Batch API {what} failed (HTTP {exc.status_code}): "
                        f"{redact(str(exc))[:300]}",
                        hint=hint,
                    ) from None
                err = exc
            if attempt < tries:
                await asyncio.sleep(min(30.0, 0.25 * 2**attempt))
        raise ProviderError(
            f"model '{self.p.name}': Batch API {what} kept failing ({type(err).__name__}: {redact(str(err))[:200]})",
            hint="batches in flight are kept in the cache; rerun with --resume",
        )

    # ------------------------------------------------------------------ submit
    async def _submit(
        self, keys: list[str], pending: dict[str, Request], start: Callable[[str, list[str]], None]
    ) -> list[str]:
        """Upload and create batches for ``keys``; ``start(batch_id, keys)`` right after each is saved.
        Returns the keys whose line alone is over ``max_bytes``."""
        oversize: list[str] = []
        gen = _chunks(
            ((k, request_body(self.p, pending[k])) for k in keys),
            _url(self.p),
            self.settings.max_requests,
            self.settings.max_bytes,
            oversize,
        )
        while True:
            chunk = await asyncio.to_thread(next, gen, None)
            if chunk is None:
                return oversize
            ckeys, data = chunk
            self.n += 1
            name = f"evalstack-{self.p.name}-{self.n}.jsonl".replace(":", "_").replace("/", "_")
            up = await self._api(
                "file upload",
                lambda: self.client.files.create(
                    file=(name, data, "application/jsonl"),  # noqa: B023
                    purpose="batch",
                    timeout=_TRANSFER_TIMEOUT,
                ),
            )
            del data
            batch = await self._api("batch create", self._creator(up.id))
            self.cache.save_batch(batch.id, self.tag, batch.status, ckeys)  # before any waiting
            self.stats.created += 1
            start(batch.id, ckeys)

    def _creator(self, file_id: str) -> Callable[[], Awaitable[Any]]:
        """Creates the batch of an uploaded file; a retry first looks for a batch of that file (a create whose
        answer was lost may have succeeded), so that a file is never submitted twice."""
        tried = [False]

        async def create() -> Any:
            if tried[0]:
                page = await self.client.batches.list(limit=100)
                for b in page.data:
                    if b.input_file_id == file_id:
                        return b
            tried[0] = True
            return await self.client.batches.create(
                input_file_id=file_id,
                endpoint=_url(self.p),
                completion_window=self.settings.completion_window,
                metadata={"evalstack_provider": self.p.name[:500]},
            )

        return create

    # ------------------------------------------------------------------ watch and collect
    async def _watch(self, batch_id: str, keys: list[str], out: list[_Outcome]) -> None:
        self.stats.batch_ids.append(batch_id)
        tid = self.progress.add(f"{self.label} · batch …{batch_id[-6:]}", len(keys)) if self.progress else None
        saved = None
        while True:
            b = await self._api("poll", lambda: self.client.batches.retrieve(batch_id), missing_ok=True)
            self.stats.polls += 1
            if b is None:  # unknown to the API (deleted, other account): nothing to collect, requests unfinished
                self.cache.save_batch(batch_id, self.tag, "collected", keys)
                out.append(_Outcome())
                return
            rc = b.request_counts
            if self.progress is not None and rc is not None:
                self.progress.update(
                    tid,
                    completed=(rc.completed or 0) + (rc.failed or 0),
                    total=rc.total or len(keys),
                    errors=rc.failed or 0,
                    description=f"{self.label} · batch …{batch_id[-6:]} {b.status}",
                )
            if b.status in _TERMINAL:
                break
            if b.status != saved:
                self.cache.save_batch(batch_id, self.tag, b.status, keys)
                saved = b.status
            await asyncio.sleep(self.settings.poll_interval)
        outcome = _Outcome()
        for fid in (b.output_file_id, b.error_file_id):
            if fid:
                path = await self._download(fid)
                if path is not None:
                    try:
                        await asyncio.to_thread(self._read_results, path, set(keys), outcome)
                    finally:
                        os.unlink(path)
        self.cache.save_batch(batch_id, self.tag, "collected", keys)  # results are in the cache by now
        out.append(outcome)

    async def _download(self, file_id: str) -> str | None:
        """Stream a result file to a temporary file (None if the file is gone: its lines count as unfinished)."""

        async def fetch() -> str:
            fd, path = tempfile.mkstemp(prefix="evalstack-batch-", suffix=".jsonl")
            try:
                with os.fdopen(fd, "wb") as fh:
                    async with self.client.files.with_streaming_response.content(
                        file_id, timeout=_TRANSFER_TIMEOUT
                    ) as resp:
                        async for part in resp.iter_bytes():
                            fh.write(part)
            except BaseException:
                os.unlink(path)
                raise
            return path

        path: str | None = await self._api("result download", fetch, missing_ok=True)
        return path

    def _read_results(self, path: str, keys: set[str], out: _Outcome) -> None:
        """Parse one result file (worker thread): good lines to the cache, failed ones to ``out.failed``."""
        rows: list[tuple[str, str, str, str]] = []
        model = self.p.describe()
        with open(path, encoding="utf-8") as fh:
            for raw in fh:
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw)
                except ValueError:
                    continue
                key = row.get("custom_id")
                if key not in keys:
                    continue
                gen, kind = _parse_line(row)
                if gen is not None:
                    out.ok[key] = gen
                    out.failed.pop(key, None)
                    rows.append((key, self.p.kind, model, gen.to_cache()))
                    if len(rows) >= _WRITE_EVERY:
                        self.cache.put_many(rows)
                        rows = []
                elif kind is not None and key not in out.ok:
                    out.failed[key] = kind
        self.cache.put_many(rows)

    # ------------------------------------------------------------------ the whole job
    async def run(self, pending: dict[str, Request]) -> dict[str, Generation]:
        results: dict[str, Generation] = {}
        failed: set[str] = set()
        resumed = [
            (bid, keys) for bid, _s, keys in self.cache.open_batches(self.tag) if any(k in pending for k in keys)
        ]
        covered = {k for _, keys in resumed for k in keys}
        submit = [k for k in pending if k not in covered]
        self.stats.resumed += len(resumed)
        round_no = 0
        while True:
            outcomes: list[_Outcome] = []
            round_keys = set(submit) | (covered & pending.keys())
            try:
                async with asyncio.TaskGroup() as tg:

                    def watch(bid: str, keys: list[str]) -> None:
                        tg.create_task(self._watch(bid, keys, outcomes))  # noqa: B023

                    for bid, keys in resumed:
                        watch(bid, keys)
                    oversize = set(await self._submit(submit, pending, watch))
            except BaseExceptionGroup as group:  # one watcher failed: the others were cancelled; raise its error
                raise _first_leaf(group) from None
            for o in outcomes:
                results.update((k, g) for k, g in o.ok.items() if k in pending)
            for o in outcomes:
                failed.update(k for k in o.failed if k in pending and k not in results)
            unfinished = [
                k for k in pending if k in round_keys and k not in results and k not in failed and k not in oversize
            ]
            self.stats.unfinished += len(unfinished)
            if not unfinished or round_no >= self.settings.resubmits:
                break
            round_no += 1
            self.stats.resubmitted += len(unfinished)
            submit, resumed, covered = unfinished, [], set()
        self.stats.results += len(results)
        self.stats.failed_lines += len(failed)
        self.stats.online += len(pending) - len(results)
        return results


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def run_batches(
    provider: Provider,
    pending: dict[str, Request],
    *,
    cache: Cache,
    settings: BatchSettings,
    stats: BatchStats,
    progress: BatchProgress | None = None,
    label: str = "",
) -> dict[str, Generation]:
    """Answer ``pending`` (cache key -> request) through the Batch API.

    Returns key -> Generation for every request a batch answered (already stored in ``cache``). The keys
    left out (failed lines, requests unfinished after ``settings.resubmits`` new batches, lines over
    ``settings.max_bytes``) are for the caller to send online. Raises ProviderError when the Batch API
    itself keeps failing (batches in flight stay recorded in the cache for ``--resume``)."""
    if not pending:
        return {}
    return await _BatchJob(provider, cache, settings, stats, progress, label or provider.name).run(pending)

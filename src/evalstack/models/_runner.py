"""The async runner: cache first, then the provider with per-endpoint concurrency and retries.

Per request the overhead is one dict lookup, one sha256 and one SQLite commit; no client is built per
request (each provider owns one client), nothing is fsynced per sample and no log is rewritten. That keeps
a 2,000-request run at concurrency 32 within a few percent of a bare ``AsyncOpenAI`` + semaphore loop
(``bench/bench_runner.py``).

Retries: exponential backoff with full jitter on TransientError (429, 5xx, timeouts, dropped connections,
malformed bodies), honouring ``retry-after``; ``max_tries`` per request, then the item is a failed
Generation (stored nowhere, counted in the report, retried by ``--resume``). A PermanentError marked fatal
(bad key, unknown model) stops the provider's remaining requests at once.
"""

from __future__ import annotations

__all__ = ["Runner", "RunStats", "attribute_shared"]

import asyncio
import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ProviderError, redact
from ._base import Generation, PermanentError, Provider, Request, TransientError
from ._batch_api import BatchSettings, BatchStats
from ._cache import Cache

if TYPE_CHECKING:
    from ..cost import Budget


@dataclass
class RunStats:
    """Counters per provider name."""

    requests: int = 0
    cached: int = 0
    retries: int = 0
    failed: int = 0
    cache_repaired: int = 0
    """Cache rows found damaged (not JSON, unknown key, text null...): re-requested and overwritten."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    batch: BatchStats | None = None
    """What batch mode did (``batch: true`` providers only)."""


class _Progress:
    """A rich progress bar per label on a terminal; silent elsewhere (CI logs stay clean)."""

    def __init__(self, enabled: bool):
        self._p = None
        if enabled:
            import sys

            from rich.console import Console

            # the progress bar's own escape codes go to the real stream (the CLI's SafeStream would show them)
            console = Console(file=getattr(sys.stderr, "unsafe_raw", sys.stderr))
            if console.is_terminal:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TaskProgressColumn,
                    TextColumn,
                    TimeRemainingColumn,
                )

                self._p = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TaskProgressColumn(),
                    TextColumn("{task.fields[rate]:>7} req/s"),
                    TextColumn("[red]{task.fields[errors]} errors"),
                    TimeRemainingColumn(),
                    console=console,
                    transient=False,
                    refresh_per_second=8,
                )
                self._p.start()

    def add(self, label: str, total: int) -> Any:
        if self._p is None:
            return None
        from rich.markup import escape

        from .._safetext import visible

        return self._p.add_task(escape(visible(label)), total=total, rate="-", errors=0)

    def advance(self, tid: Any, n: int, errors: int, rate: float) -> None:
        if self._p is not None and tid is not None:
            self._p.update(tid, advance=n, errors=errors, rate=f"{rate:.1f}")

    def update(self, tid: Any, **fields: Any) -> None:
        """Set a line's completed/total/description/errors (batch mode shows a batch's request counts)."""
        if self._p is not None and tid is not None:
            self._p.update(tid, **fields)

    @property
    def live(self) -> bool:
        """True while bars are drawn (a terminal)."""
        return self._p is not None

    def print(self, text: str) -> None:
        """A line above the live bars."""
        if self._p is not None:
            self._p.console.print(text, markup=False, highlight=False)

    def stop(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None


def _shared(gen: Generation) -> Generation:
    """The answer of another identical request: no tries of its own; counted as cached when it succeeded."""
    return dataclasses.replace(gen, cached=gen.ok, tries=0)


def attribute_shared(uses: Sequence[Sequence[Generation]]) -> None:
    """Charge each request sent once for several identical uses to the first use in ``uses`` order.

    Which use actually sent a shared request depends on timing (whose worker got there first); its tries
    (and so its tokens, in usage counts) move to the first use in the given order (the pipeline passes
    tasks, rubrics and models in config order), and the sender's use becomes the cached one. So the usage
    attributed to each model is the same on every run. Counts per provider are unchanged.
    """
    first: dict[str, Generation] = {}
    sender: dict[str, Generation] = {}
    for gens in uses:
        for g in gens:
            if g.key is None:
                continue
            first.setdefault(g.key, g)
            if not g.cached and g.tries > 0:
                sender.setdefault(g.key, g)
    for key, s in sender.items():
        f = first[key]
        if f is not s:
            f.cached, f.tries, s.cached, s.tries = s.cached, s.tries, f.cached, f.tries


async def _pool(items: Sequence[Any], work: Any, *, workers: int) -> None:
    """Run ``await work(item)`` for every item with at most ``workers`` coroutines alive."""
    it = iter(items)

    async def worker() -> None:
        for item in it:  # a shared iterator: each item is taken by exactly one worker
            await work(item)

    await asyncio.gather(*(worker() for _ in range(min(workers, len(items)))))


class Runner:
    """Runs requests through providers, the cache and retries. One per pipeline run."""

    def __init__(
        self,
        cache: Cache,
        *,
        progress: bool = True,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        seed: int | None = None,
        batch: BatchSettings | None = None,
        note: Any = None,
    ):
        self.cache = cache
        self._note = note
        """``note(text)``: where stage lines go when no bars are drawn (see ``_stages.py``); None: nowhere."""
        self.batch_settings = batch or BatchSettings.from_env()
        """How ``batch: true`` providers split, submit and poll (see ``_batch_api.py``)."""
        self.stats: dict[str, RunStats] = {}
        self._sems: dict[int, asyncio.Semaphore] = {}
        self._inflight: dict[str, asyncio.Future[Generation]] = {}
        """cache key -> the answer of a request in flight, shared by identical requests of other models."""
        self._done: dict[str, Generation] = {}
        """cache key -> a successful answer sent by this runner: an identical request whose cache lookup came
        before that answer (another model's queue was behind) gets it instead of sending again."""
        self._progress = _Progress(progress)
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._rng = random.Random(seed)
        self.budget: Budget | None = None
        """``run --max-cost``: asked before every try is sent (see ``cost/_budget.py``)."""

    def close(self) -> None:
        self._progress.stop()

    def note(self, text: str) -> None:
        """A stage line: above the bars on a terminal, else through ``note`` (CI logs, captured stderr)."""
        if self._progress.live:
            self._progress.print(text)
        elif self._note is not None:
            self._note(text)

    def _sem(self, provider: Provider) -> asyncio.Semaphore:
        key = id(provider)
        sem = self._sems.get(key)
        if sem is None:
            sem = self._sems[key] = asyncio.Semaphore(max(1, provider.concurrency))
        return sem

    def _wait(self, attempt: int, exc: TransientError) -> float:
        base = min(self._backoff_max, self._backoff_initial * (2 ** (attempt - 1)))
        delay = self._rng.uniform(0, base)  # full jitter
        if exc.retry_after is not None:
            delay = max(delay, min(float(exc.retry_after), self._backoff_max * 4))
        return delay

    async def run(self, provider: Provider, requests: Sequence[Request], label: str | None = None) -> list[Generation]:
        """Generations for ``requests``, in order. Never raises for a single failed item."""
        st = self.stats.setdefault(provider.name, RunStats())
        keys = [provider.cache_key(r) for r in requests] if provider.uses_cache else [None] * len(requests)
        results: list[Generation | None] = [None] * len(requests)
        if provider.uses_cache and self.cache.enabled:
            found = self.cache.get_many(k for k in set(keys) if k is not None)
            damaged: set[str] = set()
            for i, k in enumerate(keys):
                if k is None or k not in found:
                    continue
                gen = Generation.from_cache_checked(found[k])
                if gen is None:
                    damaged.add(k)  # a miss: sent again below, and the good answer overwrites the row
                else:
                    gen.key = k
                    results[i] = gen
            st.cache_repaired += len(damaged)
        # identical requests (same key) are sent once
        todo: dict[Any, list[int]] = {}
        for i, r in enumerate(results):
            if r is None:
                todo.setdefault(keys[i] if keys[i] is not None else ("#", i), []).append(i)
        n_cached = len(requests) - sum(len(v) for v in todo.values())
        st.cached += n_cached
        if not self._progress.live:  # no bar to show it: one line per label instead
            self.note(f"{label or provider.name}: {len(requests)} request(s), {n_cached} from the cache")
        tid = self._progress.add(label or provider.name, len(requests))
        if n_cached:
            self._progress.advance(tid, n_cached, 0, 0.0)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        done = [0]
        fatal: list[PermanentError] = []

        def finish(idxs: list[int], gen: Generation) -> None:
            for j, i in enumerate(idxs):
                g = gen if j == 0 else _shared(gen)
                g.key = keys[i] if isinstance(keys[i], str) else None
                results[i] = g
            done[0] += len(idxs)
            if not gen.ok:
                st.failed += len(idxs)
            elapsed = loop.time() - t0
            self._progress.advance(tid, len(idxs), st.failed, done[0] / elapsed if elapsed > 0 else 0.0)

        async def one(key: Any, idxs: list[int]) -> None:
            shared = isinstance(key, str) and provider.uses_cache
            if shared and key in self._done:  # sent and answered for another model/task since our lookup
                finish(idxs, _shared(self._done[key]))
                return
            if shared and key in self._inflight:  # the same request is in flight for another model/task
                gen = await asyncio.shield(self._inflight[key])
                finish(idxs, _shared(gen))
                return
            fut: asyncio.Future[Generation] | None = None
            if shared:
                fut = self._inflight[key] = asyncio.get_running_loop().create_future()
            try:
                gen = await self._with_retries(provider, requests[idxs[0]], st, fatal)
                if gen.ok and shared:
                    self.cache.put(key, provider.kind, provider.describe(), gen.to_cache())
                    self._done[key] = gen
            except BaseException as exc:
                if fut is not None:
                    del self._inflight[key]
                    fut.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                    fut.exception()  # retrieved: no "never retrieved" warning when nobody waits
                raise
            if fut is not None:
                del self._inflight[key]
                fut.set_result(gen)
            finish(idxs, gen)

        async def micro_batch(items: list[tuple[Any, list[int]]]) -> None:
            async with self._sem(provider):
                gens = await self._micro_batch_call(provider, [requests[idxs[0]] for _, idxs in items], st)
            rows = []
            for (key, idxs), gen in zip(items, gens):
                if gen.ok and provider.uses_cache and isinstance(key, str):
                    rows.append((key, provider.kind, provider.describe(), gen.to_cache()))
                finish(idxs, gen)
            self.cache.put_many(rows)

        if provider.batch_api_enabled() and todo:  # the Batch API first; what it leaves out goes online below
            await self._via_batch_api(provider, requests, todo, st, finish, label)
        items = list(todo.items())
        if provider.micro_batch > 1:
            chunks = [items[i : i + provider.micro_batch] for i in range(0, len(items), provider.micro_batch)]
            await _pool(chunks, micro_batch, workers=max(1, provider.concurrency))
        else:
            # a bounded pool of workers, not a task per request: memory stays flat at 100k requests. Twice
            # the concurrency, so that workers sleeping in a backoff do not leave request slots idle.
            await _pool(items, lambda item: one(*item), workers=max(8, 2 * provider.concurrency))
        if fatal:
            raise ProviderError(
                f"model '{provider.name}' ({provider.describe()}): {redact(str(fatal[0]))}",
                hint="fix the key/model/endpoint; finished requests are cached, rerun with --resume",
            )
        return [r for r in results if r is not None]

    async def _via_batch_api(
        self,
        provider: Provider,
        requests: Sequence[Request],
        todo: dict[Any, list[int]],
        st: RunStats,
        finish: Any,
        label: str | None,
    ) -> None:
        st.batch = st.batch or BatchStats()
        pending = {k: requests[idxs[0]] for k, idxs in todo.items() if isinstance(k, str)}
        held: dict[str, float] = {}
        for key in list(pending) if self.budget is not None else []:  # --max-cost: what fits is submitted
            h = self.budget.reserve(provider, pending[key]) if self.budget is not None else None
            if h is None:
                del pending[key]
                finish(
                    todo.pop(key), Generation(text=None, error_kind="max_cost", tries=0, error_message=self._refused())
                )
            else:
                held[key] = h
        if self.budget is not None and not pending:  # nothing fits: no batch is created
            return
        got = await provider.run_batch_api(
            pending,
            cache=self.cache,
            settings=self.batch_settings,
            stats=st.batch,
            progress=self._progress,
            label=label or provider.name,
        )
        for key, h in held.items():  # what the batch left out goes online below, asking the budget again
            if self.budget is not None:
                self.budget.settle(provider, h, got.get(key))
        for key, gen in got.items():
            st.requests += 1
            st.prompt_tokens += gen.prompt_tokens
            st.completion_tokens += gen.completion_tokens
            finish(todo.pop(key), gen)

    async def _micro_batch_call(self, provider: Provider, reqs: list[Request], st: RunStats) -> list[Generation]:
        try:
            gens = await provider.generate_micro_batch(reqs)
        except (TransientError, PermanentError) as exc:
            return [Generation(text=None, error_kind=exc.kind, error_message=redact(str(exc)), tries=1) for _ in reqs]
        for g in gens:
            st.requests += 1
            st.prompt_tokens += g.prompt_tokens
            st.completion_tokens += g.completion_tokens
        return gens

    def _refused(self) -> str:
        return self.budget.refused() if self.budget is not None else "not sent"

    async def _with_retries(
        self, provider: Provider, req: Request, st: RunStats, fatal: list[PermanentError]
    ) -> Generation:
        tries = 0
        while True:
            tries += 1
            try:
                async with self._sem(provider):
                    if fatal:  # checked once a slot is ours: requests queued behind a fatal one are not sent
                        return Generation(
                            text=None,
                            error_kind=fatal[0].kind,
                            tries=tries - 1,
                            error_message="not sent: an earlier request failed fatally",
                        )
                    held = self.budget.reserve(provider, req) if self.budget is not None else 0.0
                    if held is None:  # --max-cost would pass: not sent, a failed item that --resume sends
                        return Generation(
                            text=None, error_kind="max_cost", tries=tries - 1, error_message=self._refused()
                        )
                    st.requests += 1
                    answer: Generation | None = None
                    try:
                        gen = answer = await provider.generate(req)
                    finally:
                        if self.budget is not None:
                            self.budget.settle(provider, held, answer)
            except TransientError as exc:
                st.faults[exc.kind] = st.faults.get(exc.kind, 0) + 1
                if tries >= provider.max_tries:
                    return Generation(text=None, error_kind=exc.kind, error_message=redact(str(exc))[:500], tries=tries)
                st.retries += 1
                await asyncio.sleep(self._wait(tries, exc))
                continue
            except PermanentError as exc:
                st.faults[exc.kind] = st.faults.get(exc.kind, 0) + 1
                if exc.fatal and not fatal:
                    fatal.append(exc)
                return Generation(text=None, error_kind=exc.kind, error_message=redact(str(exc))[:500], tries=tries)
            gen.tries = tries
            st.prompt_tokens += gen.prompt_tokens
            st.completion_tokens += gen.completion_tokens
            return gen

"""The loopback server's application: recording, auth, faults, replies and the OpenAI routes.

:class:`LoopbackApp` holds all state and the asyncio request handler; the public
:class:`evalstack.testing.loopback.LoopbackServer` adds the thread and the start/stop lifecycle.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ._chat import Reply, chat_body, default_reply, last_user_text, n_choices, normalize_reply, sse_body, validate_chat
from ._faults import Fault, FaultPlan
from ._finetune import FineTuning
from ._http import Drop, Request, Response, serve_connection
from ._routes import route_request
from ._store import ApiError, Batches, BatchPlan, Files

ReplyFn = Callable[[dict], Any]
"""``fn(request_json) -> str | dict | Fault``: the reply for one choice of a chat request."""

DEFAULT_MODELS = ("gpt-4.1-mini", "gpt-4.1", "gpt-4.1-nano", "gpt-4o-mini")
_PREFIX = re.compile(r"^(?:/openai)?(?:/v1)?(?:/deployments/([^/]+))?(?=/)")
_MALFORMED = b'{"id": "chatcmpl-loopback", "object": "chat.completion", "choices": [{"index": 0, "mess'


@dataclass(frozen=True)
class Recorded:
    """One request the server received (admin ``/_loopback/*`` requests are not recorded)."""

    method: str
    """Upper-case HTTP method."""
    path: str
    """Path as sent, without the query string, e.g. ``/v1/chat/completions``."""
    headers: dict[str, str] = field(repr=False)
    """Headers with lower-case names (``authorization`` included, as sent; left out of the repr)."""
    json: Any
    """The body parsed as JSON, or None when it is empty or not JSON (e.g. a multipart upload)."""
    raw: bytes = field(repr=False)
    """The raw body bytes."""
    query: dict[str, str] = field(default_factory=dict)
    """Query-string parameters."""
    at: float = 0.0
    """``time.monotonic()`` when the request was read."""

    @property
    def body(self) -> Any:
        """The JSON body when there is one, else the raw bytes."""
        return self.json if self.json is not None else self.raw


def _json_or_none(req: Request) -> Any:
    if not req.body or req.body[:1] not in (b"{", b"["):
        return None
    try:
        return req.json()
    except ValueError:
        return None


class AppSettings(TypedDict, total=False):
    """The keyword settings of :class:`LoopbackApp` (and of ``LoopbackServer`` beside its ``port``)."""

    latency_ms: float
    jitter_ms: float
    fault_rate: Mapping[str, float] | str | None
    seed: int
    retry_after: float | None
    hang_s: float
    require_key: str | None
    models: Iterable[str]
    record: bool


class LoopbackApp:
    """State and request handling of the loopback OpenAI-compatible server (no thread, no socket)."""

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        fault_rate: Mapping[str, float] | str | None = None,
        seed: int = 0,
        retry_after: float | None = 0.05,
        hang_s: float = 30.0,
        require_key: str | None = None,
        models: Iterable[str] = DEFAULT_MODELS,
        record: bool = True,
    ):
        if latency_ms < 0 or jitter_ms < 0 or hang_s < 0:
            raise ValueError("latency_ms, jitter_ms and hang_s must be >= 0")
        self.latency_ms = float(latency_ms)
        """Fixed delay before every chat-completion response, in milliseconds."""
        self.jitter_ms = float(jitter_ms)
        """Extra uniform random delay in [0, jitter_ms] ms (seeded)."""
        self.hang_s = float(hang_s)
        """How long a ``timeout`` fault hangs before closing the connection."""
        self.require_key = require_key
        """When set, requests without ``Authorization: Bearer <key>`` (or ``api-key``) get 401."""
        self.record = record
        """Whether requests are kept in :attr:`requests` (counts are kept either way)."""
        self.models = list(models)
        """Model ids listed by ``GET /v1/models``."""
        self._lock = threading.RLock()
        self._faults = FaultPlan(fault_rate, seed, retry_after)
        self._requests: list[Recorded] = []
        self._counts: Counter[tuple[str, str]] = Counter()
        self._script: deque[Reply] = deque()
        self._reply_fn: ReplyFn | None = None
        self._errors: list[str] = []
        self._files = Files()
        self._batches = Batches(self._files, self.complete)
        self._fine_tuning = FineTuning(self._files)
        self._tasks: set[asyncio.Task] = set()

    # ----------------------------------------------------------------- replies
    def reply_with(self, fn: ReplyFn | None) -> None:
        """Answer chat requests with ``fn(request_json)``: a str (the content), a dict (see
        ``_chat.REPLY_KEYS``: content, top_logprobs, logprobs, body...) or a :class:`Fault`.
        None restores the default ``"echo: <last user message>"``. Scripted replies go first."""
        with self._lock:
            self._reply_fn = fn

    def reply_map(self, mapping: Mapping[str, Any], default: Any = None) -> None:
        """Reply with the value of the first key found as a substring of the last user message;
        ``default`` (or the echo reply when None) when no key matches."""
        table = [(key, normalize_reply(value)) for key, value in mapping.items()]
        fallback = normalize_reply(default) if default is not None else None

        def fn(request: dict) -> Any:
            text = last_user_text(request)
            for key, value in table:
                if key in text:
                    return value
            return fallback if fallback is not None else default_reply(request)

        self.reply_with(fn)

    def reply_turns(self, mapping: Mapping[str, Sequence[Any]], default: Any = None) -> None:
        """Multi-turn scripts: ``{first question substring: [turn-1 reply, turn-2 reply, ...]}`` (see
        :func:`._turns.turn_reply_fn`); ``default`` (or the echo reply) for anything else."""
        from ._turns import turn_reply_fn

        self.reply_with(turn_reply_fn(mapping, default))

    def script(self, replies: Iterable[Any]) -> None:
        """Queue replies (str, dict or Fault) consumed in order, one per choice, before the reply function."""
        checked = [normalize_reply(r) for r in replies]
        with self._lock:
            self._script.extend(checked)

    @property
    def script_remaining(self) -> int:
        """Scripted replies not consumed yet."""
        with self._lock:
            return len(self._script)

    def _next_reply(self, request: dict) -> Reply:
        with self._lock:
            if self._script:
                return self._script.popleft()
            fn = self._reply_fn
        return normalize_reply(fn(request)) if fn is not None else default_reply(request)

    def complete(self, request: dict) -> tuple[int, dict]:
        """Run one chat-completion request body through the reply logic, without latency or random
        faults: (status, body). Used for Batch API lines; a Fault reply becomes its status (else 500)."""
        try:
            validate_chat(request)
            replies = [self._next_reply(request) for _ in range(n_choices(request))]
        except ApiError as exc:
            return exc.status, exc.body()
        except Exception as exc:  # a test's reply function failed: report it, answer 500
            return 500, self._handler_error(exc).body()
        fault = next((r for r in replies if isinstance(r, Fault)), None)
        if fault is not None:
            self._faults.count(fault)
            return (fault.status or 500), fault.error_body()
        first = replies[0]
        if isinstance(first, dict) and "body" in first:
            body = first["body"]
            return int(first.get("status", 200)), body if isinstance(body, dict) else {"raw": str(body)}
        return 200, chat_body(request, replies, "chatcmpl-" + uuid.uuid4().hex[:24], int(time.time()))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ faults
    def fail_next(
        self,
        k: int = 1,
        status: int | str = 429,
        *,
        retry_after: float | None = 0.05,
        hang_s: float | None = None,
        path_suffix: str | None = "/chat/completions",
        message: str | None = None,
    ) -> None:
        """Fail the next ``k`` requests whose path ends with ``path_suffix`` (None: any path).

        ``status`` is an HTTP error status (429, 500, 503...) or ``"timeout"``, ``"drop"``,
        ``"malformed"``. ``retry_after`` (seconds) is sent as ``retry-after``/``retry-after-ms`` on
        429 and 503 answers (None: no header)."""
        kind = str(status)
        ra = retry_after if kind in ("429", "503") else None
        self._faults.push(Fault(kind, ra, hang_s, message), k, path_suffix)

    def set_fault_rate(self, fault_rate: Mapping[str, float] | str | None) -> None:
        """Replace the random fault rates, e.g. ``{"429": 0.1, "500": 0.05, "drop": 0.02}``."""
        self._faults.set_rates(fault_rate)

    @property
    def faults(self) -> dict[str, int]:
        """Faults injected so far, per kind (``"429"``, ``"500"``, ``"timeout"``, ``"drop"``...)."""
        return self._faults.counts()

    # --------------------------------------------------------------- recording
    @property
    def requests(self) -> list[Recorded]:
        """A snapshot of the requests received, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def handler_errors(self) -> list[str]:
        """Errors raised inside the server by test code (reply functions, bad scripted replies)."""
        with self._lock:
            return list(self._errors)

    def count(self, path_suffix: str = "", method: str | None = None) -> int:
        """How many requests had a path ending with ``path_suffix`` (and ``method``, when given)."""
        with self._lock:
            return sum(
                n
                for (m, p), n in self._counts.items()
                if p.endswith(path_suffix) and (method is None or m == method.upper())
            )

    def reset(self) -> None:
        """Forget recorded requests, counts, scripted replies, queued faults and fault counts.
        Files, batches and fine-tuning jobs stay; the reply function stays."""
        with self._lock:
            self._requests.clear()
            self._counts.clear()
            self._script.clear()
            self._errors.clear()
        self._faults.clear()

    def stats(self) -> dict:
        """Counts per ``"METHOD path"``, total, faults per kind (what ``GET /_loopback/stats`` returns)."""
        with self._lock:
            per = {f"{m} {p}": n for (m, p), n in self._counts.items()}
        return {"requests": sum(per.values()), "by_route": per, "faults": self.faults}

    # ----------------------------------------------------------- other state
    def batch_plan(self, **settings: Any) -> BatchPlan:
        """Set how batches created from now on behave (fields of :class:`BatchPlan`); returns the plan."""
        fields: dict[str, Any] = {k: (frozenset(v) if k == "fail_custom_ids" else v) for k, v in settings.items()}
        plan = BatchPlan(**fields)
        with self._lock:
            self._batches.plan = plan
        return plan

    def add_file(self, content: bytes | str, filename: str = "upload.jsonl", purpose: str = "batch") -> str:
        """Store a file as if uploaded; returns its id."""
        data = content.encode("utf-8") if isinstance(content, str) else content
        with self._lock:
            return self._files.add(data, filename, purpose).id

    def file_content(self, file_id: str) -> bytes:
        """The stored bytes of a file (KeyError when unknown)."""
        with self._lock:
            return self._files.files[file_id].content

    def add_fine_tuning_job(
        self,
        job_id: str,
        results_csv: str,
        checkpoints: list[dict] = (),  # type: ignore[assignment]
        events: list[dict] | None = None,
        base64_content: bool = True,
        *,
        model: str = "gpt-4.1-mini-2025-04-14",
        status: str = "succeeded",
        n_epochs: int = 3,
        trained_tokens: int | None = None,
        fine_tuned_model: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
    ) -> dict:
        """Add a fine-tuning job with its results file (base64-encoded as OpenAI serves it, or raw),
        checkpoints (dicts with ``step_number`` and optional ``metrics``; missing metrics are taken
        from the CSV row of that step) and events (None: one ``metrics`` event per CSV row).
        Returns the job object."""
        with self._lock:
            return self._fine_tuning.add_job(
                job_id,
                results_csv,
                list(checkpoints),
                events,
                base64_content,
                model=model,
                status=status,
                n_epochs=n_epochs,
                trained_tokens=trained_tokens,
                fine_tuned_model=fine_tuned_model,
                hyperparameters=hyperparameters,
            )

    # ------------------------------------------------------------ serving
    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The ``asyncio.start_server`` callback: serve one connection."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await serve_connection(reader, writer, self.handle)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def cancel_connections(self) -> None:
        """Cancel every open connection (hanging ``timeout`` faults included)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _handler_error(self, exc: Exception) -> ApiError:
        text = f"loopback reply logic raised {type(exc).__name__}: {exc}"
        with self._lock:
            self._errors.append(text)
        return ApiError(500, text, etype="server_error")

    async def handle(self, req: Request) -> Response:
        """Answer one request."""
        if req.path.startswith("/_loopback/"):
            return self._admin(req)
        match = _PREFIX.match(req.path)
        route = req.path[match.end() :] if match else req.path
        body = _json_or_none(req)
        with self._lock:
            self._counts[(req.method, req.path)] += 1
            if self.record:
                self._requests.append(
                    Recorded(req.method, req.path, req.headers, body, req.body, req.query, time.monotonic())
                )
        try:
            self._check_key(req)
            if route == "/chat/completions" and req.method == "POST":
                return await self._chat(req, body, match.group(1) if match else None)
            fault = self._faults.take_queued(req.path)
            if fault is not None:
                return await self._fault(fault)
            with self._lock:
                result = route_request(req, route, body, self.models, self._files, self._batches, self._fine_tuning)
            return result if isinstance(result, Response) else _ok(result)
        except ApiError as exc:
            return _ok(exc.body(), exc.status)
        except Drop:
            raise
        except Exception as exc:  # a bug or a bad test input: answer 500 and keep it for the test
            return _ok(self._handler_error(exc).body(), 500)

    def _check_key(self, req: Request) -> None:
        if self.require_key is None:
            return
        given = req.headers.get("api-key") or req.headers.get("authorization", "").removeprefix("Bearer ")
        if given != self.require_key:
            raise ApiError(
                401,
                "Incorrect API key provided. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    async def _fault(self, fault: Fault) -> Response:
        self._faults.count(fault)
        if fault.kind == "drop":
            raise Drop
        if fault.kind == "timeout":
            await asyncio.sleep(self.hang_s if fault.hang_s is None else fault.hang_s)
            raise Drop
        if fault.kind == "malformed":
            return Response(200, _MALFORMED, "application/json", {"x-request-id": _request_id()})
        headers = {"x-request-id": _request_id()}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
            headers["retry-after-ms"] = str(int(round(fault.retry_after * 1000)))
        return _ok(fault.error_body(), fault.status or 500, headers)

    async def _chat(self, req: Request, body: Any, deployment: str | None) -> Response:
        started = time.perf_counter()
        if body is None:
            raise ApiError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
            )
        if deployment and isinstance(body, dict):
            body.setdefault("model", deployment)
        validate_chat(body)
        delay = self.latency_ms + (self.jitter_ms * self._faults.uniform() if self.jitter_ms else 0.0)
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        fault = self._faults.take_queued(req.path) or self._faults.draw_random()
        if fault is not None:
            return await self._fault(fault)
        try:
            replies = [self._next_reply(body) for _ in range(n_choices(body))]
        except Exception as exc:
            raise self._handler_error(exc) from exc
        scripted_fault = next((r for r in replies if isinstance(r, Fault)), None)
        if scripted_fault is not None:
            return await self._fault(scripted_fault)
        first = replies[0]
        headers = {"x-request-id": _request_id()}
        if isinstance(first, dict) and "body" in first:
            raw = first["body"]
            data = (
                raw
                if isinstance(raw, bytes)
                else raw.encode("utf-8")
                if isinstance(raw, str)
                else json.dumps(raw, separators=(",", ":")).encode("utf-8")
            )
            return Response(int(first.get("status", 200)), data, "application/json", headers)
        try:
            result = chat_body(body, replies, "chatcmpl-" + uuid.uuid4().hex[:24], int(time.time()))  # type: ignore[arg-type]
        except (ValueError, TypeError, KeyError) as exc:
            raise self._handler_error(exc) from exc
        headers["openai-processing-ms"] = str(int((time.perf_counter() - started) * 1000))
        if body.get("stream"):
            return Response(200, sse_body(result, body), "text/event-stream; charset=utf-8", headers)
        return _ok(result, 200, headers)

    def _admin(self, req: Request) -> Response:
        if req.path == "/_loopback/stats" and req.method == "GET":
            return _ok(self.stats())
        if req.path == "/_loopback/reset" and req.method == "POST":
            self.reset()
            return _ok({"reset": True})
        return _ok(ApiError(404, f"Invalid URL ({req.method} {req.path})").body(), 404)


def _request_id() -> str:
    return "req_" + uuid.uuid4().hex[:24]


def _ok(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response.json(obj, status, headers)


__all__ = ["LoopbackApp", "Recorded", "ReplyFn"]

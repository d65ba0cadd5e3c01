"""A loopback OpenAI-compatible HTTP server for tests and benches.

A real HTTP/1.1 server on ``127.0.0.1`` (a free port), written on asyncio streams, that speaks enough
of the OpenAI API for the official ``openai`` SDK: chat completions (scripted replies, logprobs,
``response_format``, ``n``, streaming), models, Files, Batches and fine-tuning jobs (checkpoints,
events). It injects latency and faults (429 with ``retry-after``, 5xx, hangs, dropped connections,
malformed bodies) and records every request.

In-process (the server runs its own event loop in a daemon thread)::

    from evalstack.testing.loopback import LoopbackServer, Fault

    with LoopbackServer(latency_ms=0) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="sk-test")
        srv.script(["first reply", {"content": "4", "top_logprobs": {"4": -0.2, "5": -1.9}}])
        srv.fail_next(1, status=429, retry_after=0.05)
        ...
        assert srv.count("/chat/completions") == 3

As a separate process (so that it does not share the GIL with the client being measured)::

    python -m evalstack.testing.loopback --port 0 --latency-ms 50 --fault-rate 429=0.1,drop=0.02
    # prints "READY http://127.0.0.1:PORT/v1"; GET /_loopback/stats gives the counts

or from Python: ``with LoopbackProcess(latency_ms=50) as proc: proc.base_url; proc.stats()``.

Latency and random faults apply to chat completions only; ``fail_next`` applies to any path by suffix.
"""

from ._app import Recorded, ReplyFn
from ._chat import REPLY_KEYS
from ._faults import Fault
from ._server import LoopbackProcess, LoopbackServer, main
from ._store import BatchPlan
from ._turns import turn_reply_fn, user_turn

__all__ = [
    "LoopbackServer",
    "LoopbackProcess",
    "Recorded",
    "Fault",
    "BatchPlan",
    "ReplyFn",
    "REPLY_KEYS",
    "main",
    "turn_reply_fn",
    "user_turn",
]

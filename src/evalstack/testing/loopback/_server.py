"""The loopback server run in a thread (LoopbackServer) or a child process (LoopbackProcess), and its CLI."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Mapping
from typing import Unpack

from ._app import AppSettings, LoopbackApp

__all__ = ["LoopbackServer", "LoopbackProcess", "main"]

HOST = "127.0.0.1"


class LoopbackServer(LoopbackApp):
    """The loopback server, run in a daemon thread with its own event loop.

    Args:
        latency_ms: fixed delay before each chat-completion response.
        jitter_ms: extra uniform random delay in [0, jitter_ms] (seeded by ``seed``).
        fault_rate: random faults on chat completions, e.g. ``{"429": 0.1, "500": 0.05,
            "timeout": 0.02, "drop": 0.02, "malformed": 0.01}`` (or ``"429=0.1,drop=0.02"``).
        seed: seed of the fault and jitter RNG.
        retry_after: seconds sent in ``retry-after`` with random 429s (None: no header).
        hang_s: how long a ``timeout`` fault hangs before closing the connection.
        require_key: answer 401 unless the request carries this API key.
        models: model ids listed by ``GET /v1/models``.
        record: keep every request in :attr:`requests` (counts are kept either way).
        port: port to listen on (0: a free one).
    """

    def __init__(self, *, port: int = 0, **settings: Unpack[AppSettings]):
        super().__init__(**settings)
        self._want_port = port
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port listened on (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the loopback server is not started; call start() or use it in a with block")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: the ``base_url`` for ``openai.OpenAI``."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: the ``azure_endpoint`` for ``openai.AzureOpenAI`` (deployment
        paths ``/openai/deployments/NAME/...`` are served; the deployment name is the model)."""
        return f"http://{HOST}:{self.port}"

    def start(self) -> LoopbackServer:
        """Start listening; returns self once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("the loopback server is already started")
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self.serve, HOST, self._want_port, backlog=1024)
                )
                self._port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # report bind errors to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="loopback-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure or self._port is None:
            self._thread.join(1)
            loop.close()
            self._thread = self._loop = None
            raise RuntimeError(f"loopback server could not start: {failure[0] if failure else 'timeout'}")
        return self

    def stop(self) -> None:
        """Close the listening socket and every open connection, and end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        try:
            fut.result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
            self._loop = self._thread = self._server = None
            self._port = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.cancel_connections()
        if self._server is not None:
            await self._server.wait_closed()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"<LoopbackServer {where} latency_ms={self.latency_ms:g}>"


class LoopbackProcess:
    """The loopback server in a child process (``python -m evalstack.testing.loopback``).

    Takes the same settings as :class:`LoopbackServer` (but no scripted replies: the child answers
    with the echo reply). The child exits when stopped or when this process goes away.
    """

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        fault_rate: Mapping[str, float] | str | None = None,
        seed: int = 0,
        retry_after: float | None = 0.05,
        hang_s: float = 30.0,
        record: bool = False,
        require_key_env: str | None = None,
        python: str = sys.executable,
        startup_timeout: float = 30.0,
    ):
        rates = fault_rate if isinstance(fault_rate, str) or fault_rate is None else json.dumps(dict(fault_rate))
        self.args = [
            python,
            "-m",
            "evalstack.testing.loopback",
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
            "--jitter-ms",
            str(jitter_ms),
            "--seed",
            str(seed),
            "--hang-s",
            str(hang_s),
            "--retry-after",
            "none" if retry_after is None else str(retry_after),
            "--exit-on-stdin-eof",
        ]
        if rates:
            self.args += ["--fault-rate", rates]
        if record:
            self.args.append("--record")
        if require_key_env:
            self.args += ["--require-key-env", require_key_env]
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        """``http://127.0.0.1:PORT/v1`` once started."""

    def start(self) -> LoopbackProcess:
        """Start the child and wait for its READY line."""
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], self.startup_timeout)
        line = self.proc.stdout.readline().decode("utf-8", "replace").strip() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"loopback process did not start (first line {line!r}); command: {' '.join(self.args)}")
        self.base_url = line.split(" ", 1)[1]
        return self

    def _admin(self, method: str, name: str) -> dict:
        url = self.base_url.rsplit("/v1", 1)[0] + "/_loopback/" + name
        request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict:
        """``{"requests": N, "by_route": {"POST /v1/chat/completions": N, ...}, "faults": {...}}``."""
        return self._admin("GET", "stats")

    def reset(self) -> None:
        """Zero the child's counts."""
        self._admin("POST", "reset")

    def stop(self) -> str:
        """Stop the child (SIGTERM, then SIGKILL after 5 s); returns what it wrote on stderr."""
        proc, self.proc = self.proc, None
        if proc is None:
            return ""
        if proc.poll() is None:
            proc.terminate()
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        return err.decode("utf-8", "replace")

    def __enter__(self) -> LoopbackProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m evalstack.testing.loopback", description="Loopback OpenAI-compatible server on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument(
        "--fault-rate",
        default=None,
        help='random faults on chat completions: "429=0.1,500=0.05,timeout=0.02,drop=0.02,'
        'malformed=0.01" or the same as JSON',
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retry-after", default="0.05", help="seconds of retry-after on 429s, or 'none'")
    parser.add_argument("--hang-s", type=float, default=30.0, help="how long 'timeout' faults hang")
    parser.add_argument("--require-key-env", default=None, help="answer 401 unless the key in this env var is sent")
    parser.add_argument("--record", action="store_true", help="keep request bodies in memory")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin closes")
    return parser.parse_args(argv)


async def _serve_forever(app: LoopbackApp, port: int, stdin_eof: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if stdin_eof:

        def watch() -> None:
            sys.stdin.buffer.read()
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch, daemon=True).start()
    server = await asyncio.start_server(app.serve, HOST, port, backlog=1024)
    print(f"READY http://{HOST}:{server.sockets[0].getsockname()[1]}/v1", flush=True)
    await stop.wait()
    server.close()
    await app.cancel_connections()
    await server.wait_closed()


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; prints ``READY <base_url>`` when listening."""
    args = _parse_args(argv)
    try:
        key = None
        if args.require_key_env:
            key = os.environ.get(args.require_key_env)
            if not key:
                raise ValueError(f"--require-key-env {args.require_key_env}: that variable is not set")
        retry_after = None if args.retry_after.lower() == "none" else float(args.retry_after)
        app = LoopbackApp(
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            fault_rate=args.fault_rate,
            seed=args.seed,
            retry_after=retry_after,
            hang_s=args.hang_s,
            require_key=key,
            record=args.record,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_serve_forever(app, args.port, args.exit_on_stdin_eof))
    stats = app.stats()
    print(f"loopback: served {stats['requests']} requests; faults {json.dumps(stats['faults'])}", file=sys.stderr)
    return 0

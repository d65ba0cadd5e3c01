"""Fault injection for the loopback server: what a fault is, queued faults, random faults, counters."""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass

FAULT_KINDS = ("timeout", "drop", "malformed")
"""Fault kinds that are not an HTTP status."""

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", None),
    404: ("invalid_request_error", None),
    408: ("timeout", None),
    409: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


@dataclass(frozen=True)
class Fault:
    """One injected failure.

    ``kind`` is an HTTP status as a string (``"429"``, ``"500"``, ``"503"``...) or one of
    ``"timeout"`` (hang ``hang_s`` seconds, then close without answering), ``"drop"`` (close the
    socket without answering) and ``"malformed"`` (200 with a body that is not JSON).
    """

    kind: str
    """``"429"``, ``"500"``, any other status, ``"timeout"``, ``"drop"`` or ``"malformed"``."""
    retry_after: float | None = None
    """Seconds sent in ``retry-after`` (status faults only); None sends no header."""
    hang_s: float | None = None
    """For ``"timeout"``: seconds to hang; None uses the server's ``hang_s``."""
    message: str | None = None
    """Error message in the body of a status fault; None gives a realistic default."""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS and not (self.kind.isdigit() and 400 <= int(self.kind) <= 599):
            raise ValueError(f"fault kind {self.kind!r} is not an HTTP error status (400-599) nor one of {FAULT_KINDS}")

    @classmethod
    def of(
        cls,
        kind: int | str,
        *,
        retry_after: float | None = None,
        hang_s: float | None = None,
        message: str | None = None,
    ) -> Fault:
        """A fault from a status number or a kind name (``Fault.of(429, retry_after=0.05)``)."""
        return cls(str(kind), retry_after, hang_s, message)

    @property
    def status(self) -> int | None:
        """The HTTP status of a status fault, else None."""
        return int(self.kind) if self.kind.isdigit() else None

    def error_body(self) -> dict:
        """The OpenAI-shaped error body of a status fault."""
        status = self.status or 500
        etype, code = _ERROR_TYPES.get(status, ("server_error", None))
        if self.message is not None:
            message = self.message
        elif status == 429:
            message = "Rate limit reached for requests (loopback fault injection). Please try again later."
        elif status >= 500:
            message = "The server had an error while processing your request (loopback fault injection)."
        else:
            message = f"Request failed with status {status} (loopback fault injection)."
        return {"error": {"message": message, "type": etype, "param": None, "code": code}}


def parse_fault_rates(rates: Mapping[str, float] | str | None) -> dict[str, float]:
    """Validate ``{"429": 0.1, "drop": 0.02}`` (or the text ``429=0.1,drop=0.02`` / its JSON).

    Raises ``ValueError`` naming the bad entry.
    """
    if rates is None:
        return {}
    if isinstance(rates, str):
        text = rates.strip()
        if text.startswith("{"):
            import json

            rates = json.loads(text)
        else:
            parsed: dict[str, float] = {}
            for item in filter(None, (p.strip() for p in text.split(","))):
                name, sep, rate = item.partition("=")
                if not sep:
                    raise ValueError(f"fault rate {item!r} is not KIND=PROBABILITY (e.g. 429=0.1)")
                parsed[name.strip()] = float(rate)
            rates = parsed
    assert not isinstance(rates, str)
    out: dict[str, float] = {}
    for key, value in rates.items():
        kind = str(key)
        Fault(kind)  # validates the kind
        p = float(value)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"fault rate for {kind!r} is {p}; expected a probability in [0, 1]")
        out[kind] = p
    if sum(out.values()) > 1.0 + 1e-9:
        raise ValueError(f"fault rates add up to {sum(out.values()):.3f}; they must add up to at most 1")
    return out


class FaultPlan:
    """Queued faults (``fail_next``), random faults (``fault_rate``) and counts of faults injected.

    Thread-safe: tests configure it from their thread while the server's loop draws from it.
    """

    def __init__(self, rates: Mapping[str, float] | str | None, seed: int, retry_after: float | None):
        self._lock = threading.Lock()
        self._rates = parse_fault_rates(rates)
        self._rng = random.Random(seed)
        self._retry_after = retry_after
        self._queue: deque[tuple[Fault, str | None]] = deque()
        self._counts: Counter[str] = Counter()

    def set_rates(self, rates: Mapping[str, float] | str | None) -> None:
        """Replace the random fault rates."""
        parsed = parse_fault_rates(rates)
        with self._lock:
            self._rates = parsed

    def push(self, fault: Fault, k: int, path_suffix: str | None) -> None:
        """Queue ``fault`` for the next ``k`` requests whose path ends with ``path_suffix`` (None: any)."""
        with self._lock:
            self._queue.extend([(fault, path_suffix)] * k)

    def clear(self) -> None:
        """Forget queued faults and counts (rates stay)."""
        with self._lock:
            self._queue.clear()
            self._counts.clear()

    def pending(self) -> int:
        """How many queued faults are left."""
        with self._lock:
            return len(self._queue)

    def take_queued(self, path: str) -> Fault | None:
        """Pop the first queued fault that applies to ``path``."""
        with self._lock:
            for i, (fault, suffix) in enumerate(self._queue):
                if suffix is None or path.endswith(suffix):
                    del self._queue[i]
                    return fault
        return None

    def draw_random(self) -> Fault | None:
        """Draw a random fault with the configured rates (seeded), or None."""
        with self._lock:
            if not self._rates:
                return None
            u = self._rng.random()
            for kind, p in self._rates.items():
                if u < p:
                    retry_after = self._retry_after if kind == "429" else None
                    return Fault(kind, retry_after)
                u -= p
        return None

    def uniform(self) -> float:
        """A draw from the plan's seeded RNG (used for latency jitter)."""
        with self._lock:
            return self._rng.random()

    def count(self, fault: Fault) -> None:
        """Count one injected fault."""
        with self._lock:
            self._counts[fault.kind] += 1

    def counts(self) -> dict[str, int]:
        """Faults injected so far, per kind."""
        with self._lock:
            return dict(self._counts)

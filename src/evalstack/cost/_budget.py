"""``run --max-cost USD`` while the run sends: the running guard.

Before each request (models and judges, every try) the runner asks :meth:`Budget.reserve`: the actual cost
of the requests this invocation sent (their usage x prices), plus the estimated cost of those still in
flight, plus this request's estimated cost (its prompt tokens and ``max_tokens``), must stay <= the limit.
When it would pass, the budget is *stopped*: this request and every later one are not sent (they become
failed items, so the run is incomplete, exit 3, and ``--resume`` sends them: cached answers cost nothing);
requests already in flight finish and are counted. One lock guards the totals, so the concurrent runner
(and any thread) sees one consistent budget. A Batch API submission reserves its requests one by one and
takes only those that fit; their actual cost replaces the reservations when the batch returns.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ._estimate import _max_tokens, model_price
from ._prices import Price
from ._tokens import TokenCounter, counter_for

if TYPE_CHECKING:
    from ..models import Generation, Provider, Request

__all__ = ["Budget", "MAX_COST_KIND"]

MAX_COST_KIND = "max_cost"
"""``error_kind`` of a request the budget did not send."""


class Budget:
    """The running total of one ``run --max-cost`` invocation, shared by every provider's requests."""

    def __init__(self, limit: float):
        self.limit = float(limit)
        self.spent = 0.0
        """USD: usage x prices of the requests this invocation sent and got answered."""
        self.sent = 0
        self.not_sent = 0
        self.stopped = False
        self._inflight = 0.0
        self._lock = threading.Lock()
        self._parts: dict[int, tuple[Price | None, TokenCounter, int, bool]] = {}

    def _of(self, provider: Provider) -> tuple[Price | None, TokenCounter, int, bool]:
        key = id(provider)
        if key not in self._parts:
            s = provider.cfg
            price, _ = model_price(s)
            counter = counter_for(getattr(s, "model", None))
            self._parts[key] = (price, counter, _max_tokens(s)[0], bool(getattr(s, "batch", False)))
        return self._parts[key]

    def estimate(self, provider: Provider, req: Request) -> float:
        """USD of one request before sending: its prompt tokens, and its ``max_tokens`` as output."""
        price, counter, out, batch = self._of(provider)
        if price is None:  # check_max_cost refuses unpriced models before the run: nothing to bound here
            return 0.0
        params = dict(req.params)
        limit = params.get("max_completion_tokens") or params.get("max_tokens")
        out = int(limit) if isinstance(limit, int) else out
        prompt = counter.messages([{"role": m[0], "content": m[1]} for m in req.messages])
        return price.cost(prompt, out, batch=batch)

    def reserve(self, provider: Provider, req: Request) -> float | None:
        """The request's estimate, held until :meth:`settle`; None: do not send it (the limit would pass)."""
        est = self.estimate(provider, req)
        with self._lock:
            if self.stopped or self.spent + self._inflight + est > self.limit:
                self.stopped = True
                self.not_sent += 1
                return None
            self._inflight += est
            self.sent += 1
            return est

    def settle(self, provider: Provider, reserved: float, gen: Generation | None) -> None:
        """Replace a reservation by what the answer cost (``gen`` None or failed: nothing billed)."""
        price, _, _, batch = self._of(provider)
        usd = 0.0
        if gen is not None and price is not None:
            usd = price.cost(gen.prompt_tokens, gen.completion_tokens, batch=batch)
        with self._lock:
            self._inflight -= reserved
            self.spent += usd

    def refused(self) -> str:
        """The error message of a request not sent."""
        return f"not sent: --max-cost ${self.limit:g} reached after ${self.spent:.6f}"

    def setting(self) -> dict[str, object]:
        """run.json ``settings.max_cost``: the limit, what was spent, and whether (and how much) it stopped."""
        return {
            "limit_usd": self.limit,
            "spent_usd": round(self.spent, 9),
            "stopped": self.stopped,
            "not_sent": self.not_sent,
        }


def stop_sentence(setting: object) -> str | None:
    """'stopped: --max-cost $X reached after $Y; ...' for a run the budget stopped (``settings.max_cost``)."""
    if not isinstance(setting, dict) or not setting.get("stopped"):
        return None
    return (
        f"stopped: --max-cost ${setting['limit_usd']:g} reached after ${setting['spent_usd']:.6f} "
        f"({setting['not_sent']} request(s) not sent); run again with --resume [--max-cost ...] to continue"
    )

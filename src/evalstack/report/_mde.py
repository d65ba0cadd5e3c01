"""What each gated comparison could see: the smallest drop it detects with 80% power at its n.

One line per gated (task, metric, model) of a comparative rule (max_regression, max_drop,
require_non_inferiority), read from the run's delta alone:

- **0/1 scores** (the gate's McNemar test): the exact power of that test at the observed n and discordance
  rate (``stats.mcnemar_mde``), two-sided at the gate's level; shown in points (x100).
- **other scores** (bootstrap CI): a normal approximation from the delta's own CI width,
  ``(z_{1-a/2} + z_{power}) * SE`` with ``SE = CI width / (2 z)``, and said to be one.

A rule with a margin ``m`` fails only on drops beyond it, so it needs about ``m + MDE``; the line says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

from ..results import DeltaSummary, RunResult

__all__ = ["MdeLine", "mde_lines"]

POWER = 0.8
_COMPARATIVE = ("max_regression", "max_drop", "require_non_inferiority")


@dataclass(frozen=True)
class MdeLine:
    """The detectable drop of one gated comparison."""

    metric: str
    model: str
    n: int
    mde: float | None
    """Smallest drop (metric units) seen with ``POWER``; None when not estimable."""
    method: str
    margin: float
    binary: bool

    def text(self) -> str:
        scale, unit = (100.0, " points") if self.binary else (1.0, "")
        head = f"{self.metric} ({self.model}): with n={self.n:,}, "
        if self.mde is None:
            return head + f"no drop can be told from chance at {POWER:.0%} power ({self.method})"
        out = head + f"this gate can detect a drop of ≥ {self.mde * scale:.3g}{unit} at {POWER:.0%} power"
        if self.margin > 0:
            out += f" (beyond its margin {self.margin * scale:g}{unit}: ≥ {(self.margin + self.mde) * scale:.3g}{unit})"
        return out + f" ({self.method})"


def _one(delta: DeltaSummary, conf: float, run_conf: float) -> tuple[float | None, str, bool]:
    from ..stats import mcnemar_mde

    alpha = 1.0 - conf
    if delta.test == "mcnemar" and delta.n >= 1:
        psi = (delta.wins + delta.losses) / delta.n
        if psi == 0:
            return None, "McNemar, no discordant pair: the two models agree on every example", True
        return mcnemar_mde(delta.n, psi, power=POWER, alpha=alpha), f"McNemar, discordance {psi:.3g}", True
    if delta.ci_low is None or delta.ci_high is None or delta.n < 2:
        return None, "no CI", False
    nd = NormalDist()
    own = delta.confidence if delta.confidence is not None else run_conf
    se = (delta.ci_high - delta.ci_low) / (2 * nd.inv_cdf(0.5 + own / 2))
    if se <= 0:
        return None, "the paired differences have no spread", False
    return (nd.inv_cdf(1 - alpha / 2) + nd.inv_cdf(POWER)) * se, "normal approximation from the CI width", False


def mde_lines(run: RunResult) -> list[MdeLine]:
    """One line per gated comparison (first rule naming it wins the margin), in the gate's order."""
    gate = run.gate
    if gate is None:
        return []
    run_conf = float(run.settings.get("confidence", 0.95))
    seen: set[tuple[str, str]] = set()
    out: list[MdeLine] = []
    for r in gate.rules:
        if r.kind not in _COMPARATIVE or r.model is None or (r.metric, r.model) in seen:
            continue
        task, _, key = r.metric.partition("/")
        ts = run.tasks.get(task)
        delta = ts.deltas.get(r.model, {}).get(key) if ts else None
        if delta is None:
            continue
        seen.add((r.metric, r.model))
        mde, method, binary = _one(delta, gate.confidence, run_conf)
        margin = float(r.bound or 0.0) if r.kind != "require_non_inferiority" else 0.0
        out.append(MdeLine(r.metric, r.model, delta.n, mde, method, margin, binary))
    return out

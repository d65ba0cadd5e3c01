"""SFT analysis: epoch boundaries, smoothed series, per-checkpoint overfit ratio, best checkpoint, OVERFIT.

Best checkpoint = lowest *measured* validation loss (the seed's ``min(valid_loss)``), using
``full_valid_loss`` where the run measured it at least twice (a full pass over the validation set, measured
less often) and otherwise ``valid_loss`` (HF ``eval_loss``, OpenAI's batch valid loss) as measured. The
OVERFIT warning compares the final measurement with that same raw minimum. Smoothing is for drawing and for
the trend rules on per-batch series only: smoothing a measured series shifts its minimum to another step.
When the saved checkpoints are known (fetch, checkpoints.json) only they are candidates, since only they
can be deployed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._records import CheckpointPoint, overfit_band
from ._table import CurveTable, auto_window, smooth, value_at
from ._thresholds import OVERFIT_FACTOR


@dataclass
class SftContext:
    """The series the SFT rules look at."""

    train_steps: list[int]
    """Steps with a measured train loss."""
    train_raw: list[float]
    """Measured train losses."""
    train_smooth: list[float]
    """Centred moving average of ``train_raw``."""
    valid_steps: list[int]
    """Steps of the validation series used for selection."""
    valid: list[float]
    """Validation series used for selection, as measured (full_valid_loss, else valid_loss)."""
    valid_raw_steps: list[int]
    """Steps of the raw validation measurements (batch valid where present)."""
    valid_raw: list[float]
    """Raw validation measurements (for the oscillation rule)."""
    valid_source: str
    """Which column the validation series comes from."""
    epoch_ends: list[int]
    """Last step of each epoch (empty = unknown)."""
    last_step: int
    """Last step of the run."""
    valid_window: int = 1
    """Measurements a per-batch ``valid_loss`` is averaged over by the trend rules (1: read as measured)."""
    valid_raw_per_batch: bool = False
    """True when ``valid_raw`` is a per-batch estimate (OpenAI/Azure/generic ``valid_loss``, not HF eval)."""
    hidden_uncorrected: int = 0
    """n when the losses still include n hidden tokens per example (absolute thresholds are then loose)."""

    def train_at(self, step: float) -> float | None:
        """Smoothed train loss at ``step``."""
        return value_at(self.train_steps, self.train_smooth, step)

    def epoch_of(self, step: int) -> int | None:
        """1-based epoch of ``step`` (``None`` when epochs are unknown)."""
        return epoch_of(step, self.epoch_ends)


def epoch_of(step: int, ends: list[int]) -> int | None:
    """1-based epoch of ``step`` given the last step of each epoch."""
    if not ends:
        return None
    for i, end in enumerate(ends, start=1):
        if step <= end:
            return i
    return len(ends)


def _even_spacing(steps: list[int], last: int) -> int | None:
    """The common spacing when ``steps`` are evenly spaced from 0 and end at ``last`` (else ``None``)."""
    if len(steps) < 2 or abs(steps[-1] - last) > 1:
        return None
    gaps = [b - a for a, b in zip([0] + steps[:-1], steps)]
    spacing = last / len(steps)
    if all(abs(g - spacing) <= max(2.0, 0.05 * spacing) for g in gaps):
        return round(spacing)
    return None


def epoch_boundaries(
    table: CurveTable, n_epochs: int | None, *, n_epochs_source: str = "config"
) -> tuple[list[int], str | None]:
    """The last step of each epoch, and where that came from.

    Order: an ``epoch`` column (HF trainer state); ``n_epochs`` (config) or the table's own (job
    hyperparameters / trainer state) splitting the steps evenly; evenly spaced ``full_valid_loss``
    measurements ending at the last step (OpenAI measures them at each epoch end); evenly spaced saved
    checkpoints. Empty when none applies.
    """
    if not table.steps:
        return [], None
    last = table.steps[-1]
    es, ev = table.series("epoch")
    if ev:
        n = n_epochs or table.n_epochs or max(1, math.ceil(max(ev) - 1e-6))
        ends = [next((s for s, e in zip(es, ev) if e >= k - 1e-6), last) for k in range(1, n + 1)]
        return ends, "epoch column of the trainer state"
    n_ep, source = (n_epochs, n_epochs_source) if n_epochs else (table.n_epochs, "job hyperparameters / trainer state")
    if n_ep:
        return [round(k * last / n_ep) for k in range(1, n_ep + 1)], f"n_epochs={n_ep} ({source})"
    fv_steps, _ = table.series("full_valid_loss")
    spacing = _even_spacing(fv_steps, last)
    if spacing:
        return list(fv_steps), "inferred: full_valid_loss is measured at each epoch end"
    cps = [c.step for c in table.checkpoints]
    spacing = _even_spacing(cps, last) if len(cps) >= 2 else None
    if spacing:
        k = round(last / spacing)
        return [round(i * last / k) for i in range(1, k + 1)], "inferred from the checkpoint spacing"
    return [], None


def build_context(
    table: CurveTable, *, window: int, epoch_ends: list[int], hidden_uncorrected: int
) -> SftContext | None:
    """The SFT series of a table (``None`` when it has no loss at all).

    The validation series is ``full_valid_loss`` when it was measured at least twice (or is all there
    is), else ``valid_loss``; both as measured. A per-batch ``valid_loss`` (OpenAI/Azure/generic, not
    HF's whole-eval-set ``eval_loss``) gets an averaging window for the trend rules.
    """
    per_batch = table.format != "hf"
    ts, tv = table.series("train_loss")
    n_full = len(table.series("full_valid_loss")[0])
    vwin = 1
    if n_full >= 2 or (n_full and not table.has("valid_loss")):
        vs, vv = table.series("full_valid_loss")
        source = "full_valid_loss"
    elif table.has("valid_loss"):
        vs, vv = table.series("valid_loss")
        source = "valid_loss"
        if per_batch and window > 1:
            vwin = auto_window(len(vv))
    else:
        vs, vv, source = [], [], "none"
    if not ts and not vs:
        return None
    rs, rv = table.series("valid_loss") if table.has("valid_loss") else (vs, vv)
    return SftContext(
        train_steps=ts,
        train_raw=tv,
        train_smooth=smooth(tv, window),
        valid_steps=vs,
        valid=list(vv),
        valid_raw_steps=rs,
        valid_raw=rv,
        valid_source=source,
        valid_window=vwin,
        epoch_ends=epoch_ends,
        last_step=table.steps[-1],
        hidden_uncorrected=hidden_uncorrected,
        valid_raw_per_batch=per_batch and window > 1,
    )


def _nearest(steps: list[int], values: list[float], step: int) -> float | None:
    """The measured value nearest to ``step`` (the earlier one on ties)."""
    if not steps:
        return None
    i = min(range(len(steps)), key=lambda k: (abs(steps[k] - step), steps[k]))
    return values[i]


def checkpoint_points(table: CurveTable, ctx: SftContext) -> list[CheckpointPoint]:
    """Points with a validation loss: the saved checkpoints when known, else every validation measurement."""
    exact = dict(zip(ctx.valid_steps, ctx.valid))
    cps = {c.step: c for c in table.checkpoints}
    steps = sorted(cps) if cps else list(ctx.valid_steps)
    out = []
    for step in steps:
        v = exact[step] if step in exact else _nearest(ctx.valid_steps, ctx.valid, step)
        if v is None:
            continue
        train = ctx.train_at(step)
        ratio = v / train if train is not None and train > 0 else None
        cp = cps.get(step)
        out.append(
            CheckpointPoint(
                step=step,
                epoch=ctx.epoch_of(step),
                train_loss=train,
                valid_loss=v,
                valid_source=ctx.valid_source,
                overfit_ratio=ratio,
                overfit_band=overfit_band(ratio),
                model=cp.model if cp else None,
                is_checkpoint=cp is not None,
            )
        )
    return out


def best_point(points: list[CheckpointPoint]) -> CheckpointPoint | None:
    """Lowest validation loss (earliest on ties)."""
    return min(points, key=lambda p: (p.valid_loss, p.step)) if points else None


def overfit_warning(
    points: list[CheckpointPoint], *, per_batch: bool = False, level_rose: bool = True
) -> tuple[bool, str | None, str | None]:
    """The seed's OVERFIT check: final measured valid loss > 1.2 x the lowest measured one.

    On a per-batch series (``per_batch``) the lowest of many noisy values is biased low, so the warning
    also needs ``level_rose`` (valid_rises held: the noise-averaged level rose beyond the noise); when it
    does not, the third value is a note saying what was seen and why it was not warned.
    """
    if not points:
        return False, None, None
    best = min(p.valid_loss for p in points)
    final = points[-1].valid_loss
    if final > best * OVERFIT_FACTOR:
        ratio = f"{final / best:.2f}x the best" if best > 0 else "the best is 0"
        msg = f"OVERFIT: best={best:.4f}, final={final:.4f} ({ratio})"
        if per_batch and not level_rose:
            return (
                False,
                None,
                (
                    f"{msg} on single valid mini-batches, but the averaged valid level did not rise "
                    "beyond the batch noise: not warned (noise)"
                ),
            )
        return True, msg, None
    return False, None, None

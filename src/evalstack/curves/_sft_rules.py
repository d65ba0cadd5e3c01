"""The seven SFT diagnosis rules of the training-curve seed, each with a stable id.

| id                  | observation                      | diagnosis                        | action                              |
|---------------------|----------------------------------|----------------------------------|-------------------------------------|
| train_loss_flat     | train loss barely decreases      | LR too low or noisy data         | increase LR or clean data           |
| train_loss_collapse | train loss crashes to ~0         | LR too high or easy data         | decrease LR or add harder examples  |
| valid_rises         | valid loss rises after an epoch  | overfitting                      | deploy the best (earlier) checkpoint|
| valid_plateau       | valid loss plateaus after epoch 1| learned quickly                  | try n_epochs=1 or lower LR          |
| valid_oscillates    | valid loss oscillates            | small batch or inconsistent data | increase batch size or audit data   |
| both_high           | both losses stay high            | task too hard                    | larger model or simplify the task   |
| gap_from_start      | large train-valid gap from start | insufficient/mismatched data     | add diverse training data           |

Every threshold, and why it has its value, is in ``_thresholds``. The valid-loss rules are noise-aware: a
per-batch series is read through its noise-averaged level and each change must clear ``NOISE_Z`` standard
errors as well as a practical size (see ``_thresholds`` and ``_noise``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ._noise import mann_kendall, noise_sigma, reversals
from ._records import CheckpointPoint, Diagnosis
from ._table import auto_window, edge_median, median, r, smooth
from ._thresholds import (
    COLLAPSE_LOSS,
    FLAT_MIN_DROP,
    FLAT_MIN_LEVEL,
    GAP_RATIO,
    HIGH_MIN_DROP,
    MK_P,
    NOISE_Z,
    OSC_MIN_REVERSALS,
    OSC_MIN_SPAN,
    OSC_MIN_SWING,
    PLATEAU_GAIN,
    PLATEAU_LEARNED,
    RISE,
)


def valid_level(ctx, *, wide: bool = False) -> tuple[list[int], list[float], float, int]:
    """The validation series the trend rules read: ``(steps, level, standard error of a level value, k)``.

    A per-batch series is averaged over ``k`` measurements (its noise ``sigma`` shrinks to sigma/sqrt k;
    ``wide``: k >= n/5, for the end-vs-minimum comparison of valid_rises, where a narrow window leaves the
    minimum of many noisy averages biased low); a whole-set series (full_valid_loss, HF eval_loss) is used
    as measured with no noise allowance.
    """
    steps, raw = ctx.valid_steps, ctx.valid
    if ctx.valid_window > 1 and len(raw) >= 5:
        k = max(ctx.valid_window, len(raw) // 5) if wide else ctx.valid_window
        k += 1 - k % 2
        return steps, smooth(raw, k), noise_sigma(raw) / math.sqrt(k), k
    return steps, list(raw), 0.0, 1


def _hidden_evidence(ctx, ev: dict) -> dict:
    if ctx.hidden_uncorrected:
        ev["note"] = (
            f"losses include {ctx.hidden_uncorrected} hidden tokens per example (not corrected): the "
            "visible-token loss is higher than shown"
        )
    return ev


def train_loss_flat(ctx, best: CheckpointPoint | None) -> Diagnosis | None:
    """Train loss barely decreases -> LR too low or noisy data."""
    raw = ctx.train_raw
    if len(raw) < 10:
        return None
    head, tail = edge_median(raw, tail=False), edge_median(raw, tail=True)
    if head <= 0:
        return None
    drop = (head - tail) / head
    if drop >= FLAT_MIN_DROP or tail < FLAT_MIN_LEVEL:
        return None
    return Diagnosis(
        "train_loss_flat",
        "warning",
        "Train loss barely decreases",
        "learning rate too low or noisy data",
        _hidden_evidence(
            ctx,
            {
                "start_train_loss": r(head),
                "end_train_loss": r(tail),
                "relative_drop": r(drop),
                "steps": [ctx.train_steps[0], ctx.train_steps[-1]],
                "threshold_drop": FLAT_MIN_DROP,
            },
        ),
        "Increase the learning-rate multiplier (e.g. x2) or clean noisy / contradictory training examples.",
    )


def train_loss_collapse(ctx, best: CheckpointPoint | None) -> Diagnosis | None:
    """Train loss crashes to ~0 -> LR too high or easy data."""
    raw = ctx.train_raw
    if len(raw) < 5:
        return None
    tail = edge_median(raw, tail=True)
    if tail > COLLAPSE_LOSS:
        return None
    first = next(
        (s for s, v in zip(ctx.train_steps, ctx.train_smooth) if v <= 2.5 * COLLAPSE_LOSS), ctx.train_steps[-1]
    )
    return Diagnosis(
        "train_loss_collapse",
        "warning",
        "Train loss crashes to ~0",
        "learning rate too high or data too easy",
        _hidden_evidence(
            ctx,
            {
                "start_train_loss": r(edge_median(raw, tail=False)),
                "end_train_loss": r(tail, 5),
                "first_step_below_0.05": first,
                "fraction_of_run": r(first / ctx.last_step, 3) if ctx.last_step > 0 else None,
                "threshold": COLLAPSE_LOSS,
            },
        ),
        "Lower the learning-rate multiplier or add harder, more varied examples (check for duplicated or "
        "trivial targets).",
    )


def valid_rises(ctx, best: CheckpointPoint | None) -> Diagnosis | None:
    """Valid loss rises after its minimum (after an epoch) -> overfitting.

    The end level must sit ``RISE`` above the minimum level and beyond ``NOISE_Z`` standard errors of the
    difference; on a per-batch series the measurements after the minimum must also trend up
    (Mann-Kendall), since the minimum of a noisy series is biased low.
    """
    steps, vals, se, k = valid_level(ctx, wide=True)
    if len(vals) < 3:
        return None
    b = min(range(len(vals)), key=lambda i: (vals[i], i))
    vmin, final = vals[b], vals[-1]
    if vmin <= 0 or b >= len(vals) - 1:
        return None  # a relative rise from a zero loss is undefined; the minimum at the end is no rise
    need = max(RISE * vmin, NOISE_Z * se * math.sqrt(2))
    if final - vmin < need:
        return None
    tau = p = None
    after = [v for s, v in zip(ctx.valid_steps, ctx.valid) if s >= steps[b]]
    if k > 1 and len(after) >= 6:
        tau, p = mann_kendall(after)
        if tau <= 0 or p >= MK_P:
            return None
    elif not (b == len(vals) - 2 or vals[-2] >= vmin + need / 2):
        return None  # not sustained: only the last value is up
    e_best = ctx.epoch_of(steps[b])
    at_end = e_best is not None and steps[b] in ctx.epoch_ends
    where = f"step {best.step}" if best else f"the checkpoint nearest step {steps[b]}"
    if e_best is not None:
        when = f"after epoch {e_best}" if at_end else f"from step {steps[b]} (epoch {e_best})"
        kk = best.epoch if best and best.epoch else e_best
        act = f"Deploy the checkpoint at {where} (epoch {kk}) or retrain with n_epochs={kk}."
    else:
        when = f"after step {steps[b]}"
        act = f"Deploy the checkpoint at {where} or train for fewer steps/epochs."
    source = ctx.valid_source if k == 1 else f"{ctx.valid_source} (mean of {k} measurements)"
    return Diagnosis(
        "valid_rises",
        "warning",
        f"Valid loss rises {when}",
        "overfitting",
        {
            "min_step": steps[b],
            "min_epoch": e_best,
            "min_valid_loss": r(vmin),
            "final_step": steps[-1],
            "final_valid_loss": r(final),
            "rise_pct": r(100 * (final / vmin - 1), 2),
            "threshold_pct": r(100 * need / vmin, 2),
            "noise_sigma": r(se * math.sqrt(k)) if k > 1 else None,
            "mann_kendall_tau": r(tau, 3),
            "mann_kendall_p": r(p, 4),
            "valid_source": source,
        },
        act,
    )


def valid_plateau(ctx, best: CheckpointPoint | None) -> Diagnosis | None:
    """Valid loss plateaus after epoch 1 -> learned quickly (no measurable gain from later epochs)."""
    steps, vals, se, k = valid_level(ctx)
    if len(ctx.epoch_ends) < 2 or not vals:
        return None
    e1 = ctx.epoch_ends[0]
    after = [(s, v) for s, v in zip(steps, vals) if s > e1]
    upto = [(s, v) for s, v in zip(steps, vals) if s <= e1]
    if not after or not upto:
        return None
    v1 = upto[-1][1]
    s_min, m = min(after, key=lambda sv: (sv[1], sv[0]))
    gain = (v1 - m) / v1 if v1 > 0 else 0.0
    if gain >= PLATEAU_GAIN or vals[-1] >= min(vals) * (1 + RISE) + NOISE_Z * se:
        return None  # still improving, or rising (that is valid_rises)
    raw_after = [v for s, v in zip(ctx.valid_steps, ctx.valid) if s > e1]
    tau, p = mann_kendall(raw_after) if len(raw_after) >= 6 else (0.0, 1.0)
    if tau < 0 and p < MK_P:
        return None  # small but significant fall: still learning
    learned = None
    if len(upto) >= 2 and upto[0][1] > 0:
        learned = (upto[0][1] - v1) / upto[0][1]
    elif ctx.train_raw:
        t0, t1 = edge_median(ctx.train_raw, tail=False), ctx.train_at(e1)
        learned = (t0 - t1) / t0 if t0 and t1 is not None else None
    if learned is not None and learned < PLATEAU_LEARNED:
        return None  # nothing was learned in epoch 1 either: flat/high rules cover that
    return Diagnosis(
        "valid_plateau",
        "info",
        "Valid loss plateaus after epoch 1",
        "the model learned the task quickly",
        {
            "epoch1_end_step": e1,
            "valid_at_epoch1": r(v1),
            "best_valid_after": r(m),
            "best_step_after": s_min,
            "improvement_after_epoch1_pct": r(100 * gain, 2),
            "epoch1_improvement_pct": r(100 * learned, 2) if learned is not None else None,
            "mann_kendall_tau_after": r(tau, 3),
            "n_epochs": len(ctx.epoch_ends),
            "valid_source": ctx.valid_source,
        },
        f"Try n_epochs=1 (deploy the epoch-1 checkpoint, step {e1}) or a lower learning-rate multiplier.",
    )


def valid_oscillates(ctx, best: CheckpointPoint | None) -> Diagnosis | None:
    """Valid loss oscillates -> small batch or inconsistent data.

    Swings of the valid *level* (noise-averaged on a per-batch series), each at least ``OSC_MIN_SWING`` of
    the level and beyond ``NOISE_Z`` standard errors, reversing ``OSC_MIN_REVERSALS`` times or more over
    at least ``OSC_MIN_SPAN`` of the run (or two epochs). Step-to-step scatter of a mini-batch estimate is
    noise, not oscillation.
    """
    raw, steps = ctx.valid_raw, ctx.valid_raw_steps
    if len(raw) < 6:
        return None
    level = median(raw)
    if level <= 0:
        return None
    per_batch = ctx.valid_raw_per_batch
    k = auto_window(len(raw)) if per_batch else 1
    vals = smooth(raw, k) if k > 1 else list(raw)
    sigma = noise_sigma(raw) if per_batch else 0.0
    h = max(OSC_MIN_SWING * level, NOISE_Z * sigma / math.sqrt(k) * math.sqrt(2))
    turns = reversals(vals, h)
    if len(turns) < OSC_MIN_REVERSALS:
        return None
    first, last = steps[turns[0]], steps[turns[-1]]
    spread = (last - first) >= OSC_MIN_SPAN * (steps[-1] - steps[0])
    e0, e1 = ctx.epoch_of(first), ctx.epoch_of(last)
    if not spread and not (e0 is not None and e1 is not None and e1 > e0):
        return None
    return Diagnosis(
        "valid_oscillates",
        "warning",
        "Valid loss oscillates",
        "small batch or inconsistent data",
        {
            "n_measurements": len(raw),
            "reversals": len(turns),
            "swing_threshold": r(h),
            "relative_swing_threshold": r(h / level),
            "noise_sigma": r(sigma) if per_batch else None,
            "averaged_over": k,
            "turning_points": [{"step": steps[i], "valid_loss": r(vals[i])} for i in turns[:10]],
        },
        "Increase the batch size, or audit the training/validation data for inconsistent labels or formats.",
    )


def both_high(ctx, best: CheckpointPoint | None) -> Diagnosis | None:
    """Both losses stay high -> task too hard: each fell by less than ``HIGH_MIN_DROP`` of its own start."""
    if len(ctx.train_raw) < 5 or not ctx.valid:
        return None
    t0, t1 = edge_median(ctx.train_raw, tail=False), edge_median(ctx.train_raw, tail=True)
    _, vals, _, _ = valid_level(ctx)
    v0 = edge_median(ctx.valid, tail=False) if ctx.valid_window > 1 else ctx.valid[0]
    vbest = min(vals)
    if t0 <= 0 or v0 <= 0 or t1 < FLAT_MIN_LEVEL:
        return None
    tdrop, vdrop = (t0 - t1) / t0, (v0 - vbest) / v0
    if tdrop >= HIGH_MIN_DROP or vdrop >= HIGH_MIN_DROP:
        return None
    return Diagnosis(
        "both_high",
        "warning",
        "Both losses stay high",
        "the task is too hard for this model as framed",
        _hidden_evidence(
            ctx,
            {
                "start_train_loss": r(t0),
                "end_train_loss": r(t1),
                "train_drop": r(tdrop),
                "start_valid_loss": r(v0),
                "best_valid_loss": r(vbest),
                "valid_drop": r(vdrop),
                "threshold_drop": HIGH_MIN_DROP,
            },
        ),
        "Try a larger base model, or simplify / split the task (shorter targets, clearer format).",
    )


def gap_from_start(ctx, best: CheckpointPoint | None) -> Diagnosis | None:
    """Large train-valid gap from the start -> insufficient or mismatched data."""
    if not ctx.valid or not ctx.train_raw:
        return None
    early_end = ctx.epoch_ends[0] if len(ctx.epoch_ends) >= 2 else 0.25 * ctx.last_step
    early = [(s, v, ctx.train_at(s)) for s, v in zip(ctx.valid_steps, ctx.valid) if s <= early_end]
    ratios = [(s, v / t) for s, v, t in early if t and t > 0]
    if not ratios:
        return None
    med = median([x for _, x in ratios])
    if med < GAP_RATIO:
        return None
    return Diagnosis(
        "gap_from_start",
        "warning",
        "Large train-valid gap from the start",
        "insufficient or mismatched training data",
        {
            "window_end_step": round(early_end),
            "early_ratios": [{"step": s, "ratio": r(x)} for s, x in ratios[:10]],
            "median_ratio": r(med),
            "threshold": GAP_RATIO,
        },
        "Add more diverse training data that matches the validation (real) distribution; check that train and "
        "valid come from the same source and format.",
    )


SFT_RULES: dict[str, Callable] = {
    f.__name__: f
    for f in (
        train_loss_flat,
        train_loss_collapse,
        valid_rises,
        valid_plateau,
        valid_oscillates,
        both_high,
        gap_from_start,
    )
}
"""Rule id -> rule function (the ids are stable: reports and tests key on them)."""


def run_sft_rules(ctx, best: CheckpointPoint | None) -> list[Diagnosis]:
    """Every SFT rule that fires, in table order."""
    return [d for f in SFT_RULES.values() if (d := f(ctx, best)) is not None]

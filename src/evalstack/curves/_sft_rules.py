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

Thresholds are module constants (relative to the run's own level, so they hold for any loss scale,
except the absolute ``COLLAPSE_LOSS``/``HIGH_LOSS`` which are in nats per token).
"""

from __future__ import annotations

from typing import Callable

from ._records import CheckpointPoint, Diagnosis
from ._table import auto_window, edge_median, median, r, smooth

FLAT_MIN_DROP = 0.10
"""train_loss_flat: the train loss fell by less than this fraction from start to end ..."""
FLAT_MIN_LEVEL = 0.10
"""... and still ends above this level (a run that starts near zero is not "flat")."""
COLLAPSE_LOSS = 0.02
"""train_loss_collapse: median train loss over the last 10% of steps at or below this."""
RISE = 0.05
"""valid_rises: final valid loss at least this fraction above its minimum (sustained over the last 2 values)."""
PLATEAU_GAIN = 0.03
"""valid_plateau: after epoch 1 the valid loss improves by less than this fraction."""
OSC_NOISE = 0.15
"""valid_oscillates: median |valid - trend| / median valid at or above this ..."""
OSC_TURNS = 0.5
"""... and at least this fraction of consecutive changes reverse direction."""
HIGH_LOSS = 1.0
"""both_high: final train loss and best valid loss both at or above this (nats per token)."""
GAP_RATIO = 1.5
"""gap_from_start: median valid/train ratio in the first epoch (or first quarter) at or above this."""


def relative_noise(raw: list[float]) -> float:
    """Robust relative noise (sigma / level) of a series from its successive differences:
    median |v[i+1] - v[i]| / (0.6745 * sqrt 2) / median v (a slow trend barely moves it)."""
    if len(raw) < 4:
        return 0.0
    level = median(raw)
    if level <= 0:
        return 0.0
    return median([abs(b - a) for a, b in zip(raw, raw[1:])]) / 0.9539 / level


def _hidden_evidence(ctx, ev: dict) -> dict:
    if ctx.hidden_uncorrected:
        ev["note"] = (f"losses include {ctx.hidden_uncorrected} hidden tokens per example (not corrected): the "
                      "visible-token loss is higher than shown")
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
        "train_loss_flat", "warning", "Train loss barely decreases", "learning rate too low or noisy data",
        _hidden_evidence(ctx, {"start_train_loss": r(head), "end_train_loss": r(tail), "relative_drop": r(drop),
                               "steps": [ctx.train_steps[0], ctx.train_steps[-1]], "threshold_drop": FLAT_MIN_DROP}),
        "Increase the learning-rate multiplier (e.g. x2) or clean noisy / contradictory training examples.")


def train_loss_collapse(ctx, best: CheckpointPoint | None) -> Diagnosis | None:
    """Train loss crashes to ~0 -> LR too high or easy data."""
    raw = ctx.train_raw
    if len(raw) < 5:
        return None
    tail = edge_median(raw, tail=True)
    if tail > COLLAPSE_LOSS:
        return None
    first = next((s for s, v in zip(ctx.train_steps, ctx.train_smooth) if v <= 2.5 * COLLAPSE_LOSS), ctx.train_steps[-1])
    return Diagnosis(
        "train_loss_collapse", "warning", "Train loss crashes to ~0", "learning rate too high or data too easy",
        _hidden_evidence(ctx, {"start_train_loss": r(edge_median(raw, tail=False)), "end_train_loss": r(tail, 5),
                               "first_step_below_0.05": first, "fraction_of_run": r(first / ctx.last_step, 3) if ctx.last_step > 0 else None,
                               "threshold": COLLAPSE_LOSS}),
        "Lower the learning-rate multiplier or add harder, more varied examples (check for duplicated or "
        "trivial targets).")


def valid_rises(ctx, best: CheckpointPoint | None) -> Diagnosis | None:
    """Valid loss rises after its minimum (after an epoch) -> overfitting.

    full_valid_loss is used as measured. A batch valid_loss is smoothed more widely here (about n/5
    measurements) and the rise must also clear 2.5x the smoothed noise, since the minimum of a noisy
    series is biased low.
    """
    if ctx.valid_window > 1:
        steps, raw = ctx.valid_raw_steps, ctx.valid_raw
        w = max(ctx.valid_window, len(raw) // 5)
        w += 1 - w % 2
        vals = smooth(raw, w)
        need = max(RISE, 2.5 * relative_noise(raw) / w ** 0.5)
    else:
        steps, vals, need = ctx.valid_steps, ctx.valid, RISE
    if len(vals) < 3:
        return None
    b = min(range(len(vals)), key=lambda i: (vals[i], i))
    vmin, final = vals[b], vals[-1]
    if vmin <= 0:
        return None  # a relative rise from a zero loss is undefined
    sustained = b == len(vals) - 2 or vals[-2] >= vmin * (1 + need / 2)
    if b >= len(vals) - 1 or final < vmin * (1 + need) or not sustained:
        return None
    e_best = ctx.epoch_of(steps[b])
    at_end = e_best is not None and steps[b] in ctx.epoch_ends
    where = f"step {best.step}" if best else f"the checkpoint nearest step {steps[b]}"
    if e_best is not None:
        when = f"after epoch {e_best}" if at_end else f"from step {steps[b]} (epoch {e_best})"
        k = best.epoch if best and best.epoch else e_best
        act = f"Deploy the checkpoint at {where} (epoch {k}) or retrain with n_epochs={k}."
    else:
        when = f"after step {steps[b]}"
        act = f"Deploy the checkpoint at {where} or train for fewer steps/epochs."
    return Diagnosis(
        "valid_rises", "warning", f"Valid loss rises {when}", "overfitting",
        {"min_step": steps[b], "min_epoch": e_best, "min_valid_loss": r(vmin), "final_step": steps[-1],
         "final_valid_loss": r(final), "rise_pct": r(100 * (final / vmin - 1), 2), "threshold_pct": r(100 * need, 2),
         "valid_source": ctx.valid_source if ctx.valid_window == 1 else f"valid_loss (smoothed over {w} measurements)"},
        act)


def valid_plateau(ctx, best: CheckpointPoint | None) -> Diagnosis | None:
    """Valid loss plateaus after epoch 1 -> learned quickly."""
    if len(ctx.epoch_ends) < 2 or not ctx.valid:
        return None
    e1 = ctx.epoch_ends[0]
    after = [(s, v) for s, v in zip(ctx.valid_steps, ctx.valid) if s > e1]
    upto = [(s, v) for s, v in zip(ctx.valid_steps, ctx.valid) if s <= e1]
    if not after or not upto:
        return None
    v1 = upto[-1][1]
    s_min, m = min(after, key=lambda sv: (sv[1], sv[0]))
    gain = (v1 - m) / v1 if v1 > 0 else 0.0
    if gain >= PLATEAU_GAIN or ctx.valid[-1] >= min(ctx.valid) * (1 + RISE):
        return None  # still improving, or rising (that is valid_rises)
    learned = None
    if len(upto) >= 2 and upto[0][1] > 0:
        learned = (upto[0][1] - v1) / upto[0][1]
    elif ctx.train_raw:
        t0, t1 = edge_median(ctx.train_raw, tail=False), ctx.train_at(e1)
        learned = (t0 - t1) / t0 if t0 and t1 is not None else None
    if learned is not None and learned < 0.10:
        return None  # nothing was learned in epoch 1 either: flat/high rules cover that
    return Diagnosis(
        "valid_plateau", "info", "Valid loss plateaus after epoch 1", "the model learned the task quickly",
        {"epoch1_end_step": e1, "valid_at_epoch1": r(v1), "best_valid_after": r(m), "best_step_after": s_min,
         "improvement_after_epoch1_pct": r(100 * gain, 2), "epoch1_improvement_pct": r(100 * learned, 2) if learned is not None else None,
         "n_epochs": len(ctx.epoch_ends), "valid_source": ctx.valid_source},
        f"Try n_epochs=1 (deploy the epoch-1 checkpoint, step {e1}) or a lower learning-rate multiplier.")


def valid_oscillates(ctx, best: CheckpointPoint | None) -> Diagnosis | None:
    """Valid loss oscillates -> small batch or inconsistent data."""
    raw, steps = ctx.valid_raw, ctx.valid_raw_steps
    if len(raw) < 6:
        return None
    level = median(raw)
    if level <= 0:
        return None
    trend = smooth(raw, max(3, auto_window(len(raw))))
    noise = median([abs(a - b) for a, b in zip(raw, trend)]) / level
    diffs = [b - a for a, b in zip(raw, raw[1:]) if b != a]
    turns = sum(1 for a, b in zip(diffs, diffs[1:]) if (a > 0) != (b > 0))
    turn_frac = turns / max(1, len(diffs) - 1)
    if noise < OSC_NOISE or turn_frac < OSC_TURNS:
        return None
    swings = sorted(range(len(raw) - 1), key=lambda i: -abs(raw[i + 1] - raw[i]))[:3]
    return Diagnosis(
        "valid_oscillates", "warning", "Valid loss oscillates", "small batch or inconsistent data",
        {"n_measurements": len(raw), "relative_noise": r(noise), "direction_changes": turns,
         "direction_change_fraction": r(turn_frac, 3),
         "largest_swings": [{"from_step": steps[i], "to_step": steps[i + 1], "from": r(raw[i]), "to": r(raw[i + 1])}
                            for i in sorted(swings)]},
        "Increase the batch size, or audit the training/validation data for inconsistent labels or formats.")


def both_high(ctx, best: CheckpointPoint | None) -> Diagnosis | None:
    """Both losses stay high -> task too hard."""
    if len(ctx.train_raw) < 5 or not ctx.valid:
        return None
    tail, vbest = edge_median(ctx.train_raw, tail=True), min(ctx.valid)
    if tail < HIGH_LOSS or vbest < HIGH_LOSS:
        return None
    return Diagnosis(
        "both_high", "warning", "Both losses stay high", "the task is too hard for this model as framed",
        _hidden_evidence(ctx, {"end_train_loss": r(tail), "best_valid_loss": r(vbest), "threshold": HIGH_LOSS}),
        "Try a larger base model, or simplify / split the task (shorter targets, clearer format).")


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
        "gap_from_start", "warning", "Large train-valid gap from the start", "insufficient or mismatched training data",
        {"window_end_step": round(early_end), "early_ratios": [{"step": s, "ratio": r(x)} for s, x in ratios[:10]],
         "median_ratio": r(med), "threshold": GAP_RATIO},
        "Add more diverse training data that matches the validation (real) distribution; check that train and "
        "valid come from the same source and format.")


SFT_RULES: dict[str, Callable] = {
    f.__name__: f for f in (train_loss_flat, train_loss_collapse, valid_rises, valid_plateau, valid_oscillates,
                            both_high, gap_from_start)
}
"""Rule id -> rule function (the ids are stable: reports and tests key on them)."""


def run_sft_rules(ctx, best: CheckpointPoint | None) -> list[Diagnosis]:
    """Every SFT rule that fires, in table order."""
    return [d for f in SFT_RULES.values() if (d := f(ctx, best)) is not None]

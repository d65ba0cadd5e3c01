"""Every threshold of the curve analysis, in one place, with the reason for its value.

The rules (``_sft_rules``, ``_sft``, ``_rft``) import these names; nothing else in the package holds a
number that decides a diagnosis. ``python bench/curves_real_logs.py`` prints how the SFT values fare on
the real public training logs in ``tests/fixtures/real_curves`` (README "Loss curves on real logs").

**Which numbers a rule looks at.** The best checkpoint and the OVERFIT check use the *measured* validation
loss (``full_valid_loss`` where measured at least twice, else ``valid_loss``): the seed picks
``min(valid_loss)`` and smoothing a measured series only moves its minimum. A *per-batch* series (OpenAI /
Azure / generic ``valid_loss``: each value is one validation mini-batch) carries sampling noise, so the
trend rules read it through a centred moving average of ``k`` measurements (``auto_window``: ~n/15, odd,
3..25) and compare every change with the noise: ``sigma`` = 1.4826 x the median absolute residual around a
running median of 5 (a robust local fit: a slow trend or a single spike barely moves it), and a mean of
``k`` values has noise ``sigma / sqrt(k)``. HF ``eval_loss`` and ``full_valid_loss`` average the whole
validation set: they are read as measured.

**Hidden tokens (seed 000).** OpenAI's reported loss/accuracy average over the v visible tokens *and*
n hidden tokens per example (n = 2 for GPT-4.1-family models) that are predicted with certainty:
reported loss = visible loss x v/(v+n); reported accuracy = (visible correct + n)/(v+n). The correction
back (``_hidden.correct_for_hidden_tokens``) is visible loss = reported x (v+n)/v. It scales train and
valid by the same factor, so every *ratio* below (overfit ratio, relative drop, relative rise) is
unchanged by it; only the one absolute level (``COLLAPSE_LOSS``) is affected, and rules that use it say
in their evidence when the losses were not corrected.
"""

from __future__ import annotations

# ------------------------------------------------------------------------------ overfit ratio and OVERFIT

BANDS = (
    (1.2, "healthy", "generalizes well"),
    (1.5, "mild", "acceptable for small datasets"),
    (2.0, "moderate", "consider reducing epochs"),
    (float("inf"), "severe", "deploy an earlier checkpoint"),
)
"""Overfit ratio (valid/train) bands, the seed's table: < 1.2 healthy, 1.2-1.5 mild, 1.5-2.0 moderate, > 2.0
severe."""

OVERFIT_FACTOR = 1.2
"""The seed's OVERFIT check: final valid loss > 1.2 x the lowest measured one. On a per-batch series the
lowest of many noisy values is biased low by about 2 sigma, so there the check also needs ``valid_rises``
to hold (a rise of the noise-averaged level beyond the noise); otherwise it fires on noise alone: it did
on all 3 healthy real OpenAI logs with per-step valid_loss (final 1.5-3x a lucky minimum batch)."""

# ------------------------------------------------------------------------------ noise

NOISE_FIT = 5
"""Running-median window of the robust local fit whose residuals give ``sigma`` (5: the shortest window
whose median ignores two outliers; longer windows start to follow real curvature into the residuals)."""

SIGMA_FACTOR = 1.2955
"""Makes ``_noise.noise_sigma`` the standard deviation of Gaussian noise: 1/median|e - median of 4 other e|
for e ~ N(0, 1) (measured on 200,000 draws; the textbook 1.4826 is for residuals from the true mean)."""

NOISE_Z = 3.0
"""A change counts as real only beyond NOISE_Z x its standard error: 3 sigma keeps the chance that pure
noise passes one test near 0.1%, and the rules test a few dozen points at most."""

MK_P = 0.05
"""Mann-Kendall (Kendall's tau of value against order, scipy) significance for "still falling" / "rising
after the minimum": the conventional 5%; the test is rank-based, so spikes do not drive it."""

# ------------------------------------------------------------------------------ SFT rules

FLAT_MIN_DROP = 0.10
"""train_loss_flat: the train loss (median of the first vs last 10% of values) fell by less than 10% of its
start: on the real logs the healthy runs fall 14-97% by this measure, the two flat ones 4% and 8%."""
FLAT_MIN_LEVEL = 0.10
"""... and still ends above 0.1 nats/token: a run that starts near zero is a model that already knows the
task, not a flat one."""
COLLAPSE_LOSS = 0.02
"""train_loss_collapse: median train loss over the last 10% of steps at or below 0.02 nats/token, i.e. the
model predicts the training targets with ~98% probability per token: memorised (or trivially easy) data.
The one absolute level; hidden tokens lower reported losses, so uncorrected runs say so in the evidence."""
RISE = 0.05
"""valid_rises: the end level at least 5% above the minimum (and beyond NOISE_Z x the noise): smaller
rises are within what a different eval subset or seed moves."""
PLATEAU_GAIN = 0.03
"""valid_plateau: after epoch 1 the valid loss improves by less than 3% of its epoch-1 value (and is not
significantly falling, Mann-Kendall): the extra epochs buy nothing measurable."""
PLATEAU_LEARNED = 0.10
"""... provided epoch 1 itself improved the loss by at least 10% (else the flat/high rules apply)."""
OSC_MIN_SWING = 0.05
"""valid_oscillates: a swing must move the (noise-averaged) valid loss by at least 5% of its level ..."""
OSC_MIN_REVERSALS = 3
"""... and the direction must reverse at least 3 times (down-up-down-up); one rise after a minimum is
overfitting, one dip inside a rise is noise ..."""
OSC_MIN_SPAN = 0.5
"""... with the reversals spread over at least half of the run, or over two epochs where epochs are known
(the issue's "persist across epochs"): a single bumpy stretch is not a pattern."""
HIGH_MIN_DROP = 0.25
"""both_high: the train loss *and* the valid loss each fell by less than 25% of their own start. An
absolute level means nothing across tokenisers and tasks (healthy chat SFT sits near 1 nat/token); where
the run started is the only reference every run has. 25%: the two too-hard real runs fell 8% and 21%
(train), healthy chat SFT runs 28-49% (their train loss ends near 1.0-1.3 nats/token, where the old
absolute 1.0 threshold called them "too hard"); a healthy run whose train loss fell less (short or noisy
runs: 14-24%) keeps a valid loss that fell more, or has none, and both must stay high."""
GAP_RATIO = 1.5
"""gap_from_start: median valid/train ratio in the first epoch (or first quarter) at or above 1.5, the
seed's "moderate" band: a gap there from the start is a data mismatch, not overfitting."""

# ------------------------------------------------------------------------------ RFT rules
# Rewards are assumed to lie on the usual grader scale (about 0..1) for these absolute thresholds.

FLAT_ZERO = 0.05
"""reward_flat_zero: |smoothed reward| never above 0.05: 5% of the scale, below any grader that passes
anything."""
HIGH_START = 0.8
"""reward_high_flat: reward over the first 10% of steps at or above 0.8 ..."""
HIGH_FLAT_RANGE = 0.10
"""... and the smoothed reward never moves more than 0.10 (the seed's "immediately high + flat")."""
HACKING_GAP = 0.10
"""reward_hacking: train - valid reward above 0.10 at the last validation (the seed's number)."""
TOKENS_NORMAL = 2.0
"""token_growth fires at 2x (end/start, the seed's "tokens double": normal) ..."""
TOKENS_EXCESSIVE = 3.0
"""... and as "excessive" from 3x (the seed's "3x+")."""
CLIMB = 0.05
"""Reward "climbing": end minus start above 0.05 (parse errors are tolerated only while it climbs)."""

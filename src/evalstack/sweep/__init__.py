"""Checkpoint sweeps: evaluate a fine-tuning run's checkpoints on the real tasks and pick one honestly.

``evalstack sweep CONFIG`` (or :func:`run_sweep`) reads a run config with a ``sweep:`` section, finds the
checkpoints (an OpenAI fine-tuning job, a local HF training folder, or an explicit list), chooses candidates
from the loss curve, evaluates them through the normal pipeline on a selection part of the held-out set
(optionally by successive halving), picks the best that meets the constraints (gate rules), and reports the
pick's delta against the baseline on the held-out confirmation part::

    from evalstack.sweep import load_sweep, run_sweep
    outcome = run_sweep(load_sweep("configs/sweep-demo.yaml"))
    outcome.result["pick"]["name"], outcome.result["pick"]["confirmation"]["delta"]
"""

from ._config import SweepSettings, SweepSpec, load_sweep, sweep_from_data
from ._run import SweepOutcome, run_sweep
from ._select import choose_candidates, halving_sizes, loss_conflicts, rank, split_ids, successive_halving

__all__ = [
    "SweepOutcome",
    "SweepSettings",
    "SweepSpec",
    "choose_candidates",
    "halving_sizes",
    "load_sweep",
    "loss_conflicts",
    "rank",
    "run_sweep",
    "split_ids",
    "successive_halving",
    "sweep_from_data",
]

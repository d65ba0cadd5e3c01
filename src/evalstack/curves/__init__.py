"""Loss-curve analysis next to the eval: SFT and RFT diagnosis, best checkpoint, hidden-token correction.

Public API::

    from evalstack.curves import read_curves, analyze, write_curve_outputs, curves_markdown
    report = analyze("results.csv", hidden_tokens=2, visible_tokens=3)
    report.best_step, report.overfit_ratio, report.overfit_band, report.diagnoses
    run_json["curves"] = [report.to_dict()]
    write_curve_outputs([report], run_dir)        # run_dir/curves/analysis.json + <label>_*.png
    md = curves_markdown([report], plot_dir="curves")

Inputs: OpenAI / Azure results CSV, a generic CSV with a column mapping, HF ``trainer_state.json``, RFT
metrics (CSV or events), ``checkpoints.json``, or a folder written by :func:`fetch_job`. matplotlib and
openai are imported only when plotting / fetching.
"""

from ._analyze import analyze, analyze_config
from ._fetch import fetch_job
from ._hidden import (
    HiddenTokenCorrection,
    correct_for_hidden_tokens,
    hidden_token_expectation,
    infer_hidden_tokens,
    reported_loss,
    visible_accuracy,
    visible_loss,
)
from ._join import join_checkpoints
from ._readers import read_curves
from ._records import BANDS, CheckpointPoint, CurveReport, Diagnosis, RftCandidate, RftSummary, overfit_band
from ._sft_rules import SFT_RULES as _SFT_RULES
from ._table import CheckpointInfo, CurveTable
from ._text import curves_markdown
from ._write import write_curve_outputs

RFT_RULE_IDS = (
    "reward_flat_zero",
    "reward_always_negative",
    "reward_high_flat",
    "reward_hacking",
    "token_growth",
    "grader_errors",
    "parse_errors",
)
"""Stable ids of the RFT rules."""

SFT_RULE_IDS = tuple(_SFT_RULES)
"""Stable ids of the SFT rules."""

__all__ = [
    "BANDS",
    "CheckpointInfo",
    "CheckpointPoint",
    "CurveReport",
    "CurveTable",
    "Diagnosis",
    "HiddenTokenCorrection",
    "RFT_RULE_IDS",
    "RftCandidate",
    "RftSummary",
    "SFT_RULE_IDS",
    "analyze",
    "analyze_config",
    "correct_for_hidden_tokens",
    "curves_markdown",
    "fetch_job",
    "hidden_token_expectation",
    "infer_hidden_tokens",
    "join_checkpoints",
    "overfit_band",
    "read_curves",
    "reported_loss",
    "visible_accuracy",
    "visible_loss",
    "write_curve_outputs",
]

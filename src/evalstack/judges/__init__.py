"""LLM judges: YAML rubrics, pointwise/reference/pairwise judging, logprob-weighted scores, validation.

Public API::

    from evalstack.judges import load_rubric, JudgeItem, judge_pointwise, judge_pairwise
    rubric = load_rubric("faithfulness")            # a built-in name or a path to a rubric YAML file
    out = await judge_pointwise(rubric, items, provider=judge, runner=runner, task="qa", spec=spec)
    out.result          # MetricResult judge_faithfulness (None = unscored, never zero)
    out.rows[example_id]  # JudgeRow: score, reason, method ('logprob_weighted' | 'plain'), raw, error
    out.rows[example_id].to_dict()  # its judge.<rubric> entry in examples.jsonl

Scale types (points, pass_fail, fraction, preference) are registered classes: ``evalstack.judges.scales``.
"""

from ._call import usage_of
from ._pairwise import SWAPPED_SUFFIX, PairwiseOutcome, judge_pairwise, pair_tally, pairwise_summary, wilson_interval
from ._parse import Parsed, parse_reply
from ._pointwise import PointwiseOutcome, judge_pointwise
from ._prompt import JudgeItem, build_messages, reference_text, reply_schema
from ._rows import JudgeRow, OrderVerdict, PairRow
from ._rubric import Rubric, Scale, builtin_rubrics, load_rubric
from ._scorer import JudgeOutcome, JudgeScorer
from ._trust import (
    annotate_judges,
    check_trust,
    corrections,
    find_validation,
    judge_identity,
    rubric_digest,
    save_validation,
)
from ._validate import LabelSet, ValidationReport, agreement, cohen_kappa, read_labels, validate_rubric
from ._weights import Weighted, weighted_score

__all__ = [
    "JudgeItem",
    "JudgeOutcome",
    "JudgeRow",
    "JudgeScorer",
    "LabelSet",
    "OrderVerdict",
    "PairRow",
    "PairwiseOutcome",
    "Parsed",
    "PointwiseOutcome",
    "Rubric",
    "SWAPPED_SUFFIX",
    "Scale",
    "ValidationReport",
    "Weighted",
    "agreement",
    "annotate_judges",
    "build_messages",
    "builtin_rubrics",
    "check_trust",
    "cohen_kappa",
    "corrections",
    "find_validation",
    "judge_identity",
    "judge_pairwise",
    "pair_tally",
    "pairwise_summary",
    "judge_pointwise",
    "load_rubric",
    "parse_reply",
    "read_labels",
    "reference_text",
    "reply_schema",
    "rubric_digest",
    "save_validation",
    "usage_of",
    "validate_rubric",
    "weighted_score",
    "wilson_interval",
]

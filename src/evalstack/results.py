"""The records of a finished run: what `run.json` holds (contract, versioned by ``schema_version``).

The pipeline builds a :class:`RunResult`; `report/` renders it, `gate` judges it, `compare` merges saved
ones. Per-example rows (outputs, scores, judge reasons, errors) live beside it in ``examples.jsonl`` as
:class:`ExampleRow` records, one per example x model.
"""

from __future__ import annotations

__all__ = [
    "SCHEMA_VERSION",
    "MetricSummary",
    "DeltaSummary",
    "Usage",
    "ModelTaskSummary",
    "SliceSummary",
    "TaskSummary",
    "ModelInfo",
    "GateRuleResult",
    "GateDecision",
    "RunResult",
    "ExampleRow",
    "ErrorInfo",
    "FailureGroup",
    "Incomplete",
]

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

SCHEMA_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricSummary(_Record):
    """One metric of one model on one task (or slice)."""

    value: float | None = Field(description="Corpus value over scored examples; null if none scored.")
    ci_low: float | None = Field(None, description="Lower bound of the bootstrap CI.")
    ci_high: float | None = Field(None, description="Upper bound of the bootstrap CI.")
    n: int = Field(description="Scored examples.")
    unscored: int = Field(
        0, description="Examples that could not be scored (failed generation, judge reply unparseable)."
    )
    higher_is_better: bool = True
    corpus_only: bool = Field(False, description="No per-example form (macro F1, BLEU).")
    ci_method: str | None = Field(
        None, description="How ci_low/ci_high were computed: wilson (0/1 scores) or percentile_bootstrap."
    )
    details: dict[str, Any] = Field(
        default_factory=dict, description="Confusion matrix, per-class values, invalid count..."
    )


class DeltaSummary(_Record):
    """``model - baseline`` for one metric, on the examples both scored (paired)."""

    delta: float | None = Field(description="Metric of the model minus metric of the baseline.")
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = Field(None, description="Two-sided p-value of the paired test (the same method as the CI).")
    test: str = Field(
        "",
        description="Method of the CI and p-value: mcnemar (0/1 scores: McNemar's asymptotic test, "
        "Tango's score CI) or paired_bootstrap (percentile CI and the p that inverts it).",
    )
    n: int = Field(0, description="Examples scored for both models.")
    wins: int = Field(0, description="Examples where the model scored better than the baseline.")
    losses: int = 0
    ties: int = 0
    verdict: Literal["better", "worse", "no_significant_change", "unknown"] = Field(
        "unknown", description="Direction-aware reading of the CI: excludes 0 on the good/bad side, or not."
    )
    confidence: float | None = Field(None, description="Confidence level of ci_low/ci_high.")
    quantiles: list[list[float]] | None = Field(
        None,
        description="[probability, delta] pairs of the paired-bootstrap distribution (dense in the tails): "
        "lets a gate read the CI at any confidence, and Holm p-values, from run.json alone.",
    )

    def brief(self) -> dict[str, float | str | int | None]:
        """The delta, its CI, p-value, test and n, in that order (a row of ``api.delta_rows``, a sweep phase)."""
        return {
            "delta": self.delta,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "test": self.test,
            "n": self.n,
        }


class Usage(_Record):
    """Token usage and request counts."""

    requests: int = 0
    cached: int = Field(0, description="Requests answered from the cache.")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = Field(0, description="Extra tries after 429/5xx/timeouts.")
    reasks: int = Field(
        0,
        description="Judge prompts asked again after an unparseable reply (each re-ask is also "
        "counted in requests, or in cached).",
    )


class ModelTaskSummary(_Record):
    """One model on one task."""

    n_examples: int
    failed: int = Field(0, description="Generations that failed after retries (rows with `error` in examples.jsonl).")
    metrics: dict[str, MetricSummary] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)
    judge_usage: dict[str, Usage] = Field(default_factory=dict, description="Per rubric name.")
    judge_failed: dict[str, int] = Field(
        default_factory=dict,
        description="Per rubric name (pairwise: pairwise_<rubric>): examples whose judge request "
        "still failed after retries. Failed items like failed generations: the run "
        "exits 3 and `--resume` sends exactly those again.",
    )
    empty: dict[str, int] = Field(
        default_factory=dict,
        description="Replies with no usable content, per kind (content_filter, no_content, "
        "length_empty): unscored failures under `on_empty: fail` (not counted in "
        "`failed`: they are the endpoint's final answer, cached, not re-sent by "
        "`--resume`), scored as '' under `score_as_empty`.",
    )
    judge_unparseable: dict[str, int] = Field(
        default_factory=dict,
        description="Per rubric name: examples whose judge reply stayed unparseable after the "
        "re-ask (unscored, not failed: a re-send would get the same cached reply).",
    )
    tool_calls: dict[str, int] | None = Field(
        None,
        exclude_if=lambda v: v is None,  # tasks without tools dump as before
        description="Tool tasks: calls (made, over every step), invalid (not an offered function, or arguments "
        "not a JSON object valid against its schema), tool_errors (tool-loop calls answered with an error: "
        "raised, timed out...), step_cap_hits (examples still calling tools at max_steps). Absent otherwise.",
    )

    @property
    def failed_items(self) -> int:
        """Failed generations plus failed judge requests: what makes the run exit 3."""
        return self.failed + sum(self.judge_failed.values())


class SliceSummary(_Record):
    """Metrics and deltas restricted to examples whose ``column`` equals ``value``."""

    column: str
    value: str
    n: int
    metrics: dict[str, dict[str, MetricSummary]] = Field(default_factory=dict, description="model -> key -> summary")
    deltas: dict[str, dict[str, DeltaSummary]] = Field(default_factory=dict, description="model -> key -> delta")


class TaskSummary(_Record):
    name: str
    n_examples: int
    models: dict[str, ModelTaskSummary] = Field(default_factory=dict)
    deltas: dict[str, dict[str, DeltaSummary]] = Field(
        default_factory=dict, description="non-baseline model -> key -> delta"
    )
    slices: list[SliceSummary] = Field(default_factory=list)
    pairwise: dict[str, Any] = Field(
        default_factory=dict, description="Pairwise judge results (win/tie/loss rates with CIs, position bias)."
    )


class ModelInfo(_Record):
    name: str
    provider: str
    model: str | None = Field(None, description="Model id, file or folder (never a key).")
    checkpoint_step: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class GateRuleResult(_Record):
    rule: str = Field(description="Human-readable rule, e.g. 'intent/f1_macro max_regression 0.01'.")
    metric: str
    model: str | None = None
    kind: str = Field(
        description="min, max, max_regression, require_non_inferiority, max_unscored, max_invalid, max_drop"
    )
    bound: float | None = None
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    passed: bool
    outcome: Literal["pass", "fail", "inconclusive", "not_judged"] | None = Field(
        None,
        description="pass; fail; inconclusive (the CI straddles the bound: `passed` follows the rule's "
        "`inconclusive` policy); not_judged (items failed or nothing was scored).",
    )
    quantity: str | None = Field(
        None,
        description="What value/limit are: level (the model's value), delta "
        "(model - baseline), share or count (unscored, invalid).",
    )
    limit: float | None = Field(
        None,
        description="The bound on the value's scale, signed (for a max_drop of 0.02 on "
        "a higher-is-better metric: delta >= -0.02).",
    )
    relation: str | None = Field(None, description="How value must compare with limit to pass: >=, <=, >, <.")
    message: str = ""
    verdict: str | None = Field(
        None, description="Comparative rules: better / worse / no_significant_change at the gate's confidence."
    )


class GateDecision(_Record):
    passed: bool
    status: Literal["passed", "warned", "failed", "not_judged"] | None = Field(
        None,
        description="passed; warned (passed, with inconclusive rules); failed; not_judged (a rule could not be "
        "judged: the run is incomplete or nothing was scored).",
    )
    confidence: float = 0.95
    holm: bool = False
    source: str | None = Field(
        None,
        description="Where the rules came from when not the run's own config "
        "(`compare`: the newest run's, or --rules FILE).",
    )
    rules: list[GateRuleResult] = Field(default_factory=list)


class FailureGroup(_Record):
    """Items of one task, model and stage that failed after retries."""

    task: str
    model: str
    stage: str = Field(description="generation, or judge <rubric>.")
    failed: int
    total: int
    kinds: dict[str, int] = Field(default_factory=dict, description="Error kind -> count.")
    examples: dict[str, str] = Field(default_factory=dict, description="Error kind -> one example message.")

    @classmethod
    def of(cls, task: str, model: str, stage: str, total: int, errors: list[tuple[str, str]]) -> FailureGroup:
        """From the (kind, message) of each failed item: counts per kind, the first message of each kind."""
        kinds: dict[str, int] = {}
        examples: dict[str, str] = {}
        for kind, message in errors:
            kinds[kind] = kinds.get(kind, 0) + 1
            examples.setdefault(kind, message[:500])
        return cls(task=task, model=model, stage=stage, failed=len(errors), total=total, kinds=kinds, examples=examples)


class Incomplete(_Record):
    """Why a run is incomplete (items failed after retries) and the command that finishes it."""

    failed: int
    groups: list[FailureGroup] = Field(default_factory=list)
    resume_command: str = Field("", description="The exact command that retries the failed items.")


class RunResult(_Record):
    """Everything `run.json` holds. Built once, complete (`_summary.assemble_run`), and never changed
    afterwards: assigning a field raises."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    name: str
    created_at: str = Field(description="ISO 8601 UTC time the run finished.")
    evalstack_version: str
    config_digest: str = Field(
        description="sha256 of what determines the result: the config, with each file it names as its path relative to the config and the sha256 of its contents (the same evaluation in two checkouts has one digest; secrets excluded)."
    )
    baseline: str
    models: dict[str, ModelInfo]
    tasks: dict[str, TaskSummary]
    gate: GateDecision | None = None
    incomplete: Incomplete | None = Field(None, description="Set when items failed after retries (exit 3).")
    curves: list[dict[str, Any]] = Field(
        default_factory=list, description="CurveReport.to_dict() per configured curve."
    )
    checkpoints: list[dict[str, Any]] = Field(
        default_factory=list, description="Checkpoint rows joining valid loss and task scores."
    )
    settings: dict[str, Any] = Field(default_factory=dict, description="confidence, n_resamples, seed, limit...")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="The resolved config (no secrets: keys are named by env var); lets `compare` re-score saved runs.",
    )
    requests: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per provider (model or judge): requests sent, cached, retries, failed, faults by kind.",
    )
    sources: list[str] = Field(default_factory=list, description="For `compare`: the run folders merged into this one.")
    cost: dict[str, Any] | None = Field(
        None,
        description="What the requests sent cost (USD): prices_as_of, total_usd, unpriced models, lines per task "
        "and model or judge with requests and tokens; cache hits cost nothing. Null for `compare`.",
    )
    examples_sha256: str | None = Field(
        None,
        description="sha256 of the examples.jsonl written with this run.json; "
        "readers refuse a folder whose examples.jsonl differs (a mix of two runs).",
    )
    timings: dict[str, float] = Field(
        default_factory=dict, description="Seconds per phase (ignored by determinism checks)."
    )
    digests: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per task: sha256 digests of what determines its result (data rows used in id order, prompt, "
        "labels and label parsing, metric names and options, per judge its model + params and rubric text, per "
        "model its identity + params, the scoring version); path-independent. Deltas between runs whose data, "
        "prompt, labels, metrics, judge, rubric or scoring digests differ are refused (evalstack._digests).",
    )

    @property
    def failed_items(self) -> int:
        """Generations and judge requests that failed after retries, over every task and model."""
        return sum(mts.failed_items for ts in self.tasks.values() for mts in ts.models.values())

    @property
    def exit_code(self) -> int:
        """The one exit-code rule of `run`, `compare`, `gate` on a saved run and the API: 3 items failed
        after retries (the run is incomplete), 1 the gate failed, 0 passed or no gate."""
        if self.failed_items:
            return 3
        return 1 if self.gate is not None and not self.gate.passed else 0


class ErrorInfo(_Record):
    kind: str = Field(
        description="rate_limit, server_error, timeout, connection, bad_response, ...; content_filter, "
        "no_content, length_empty for a reply with no usable content (final, not re-sent)"
    )
    message: str
    tries: int
    finish_reason: str | None = Field(None, description="The reply's finish_reason, where a reply came.")


class ExampleRow(_Record):
    """One example x model row of examples.jsonl."""

    task: str
    model: str
    id: str
    input: str = Field(
        description="The example's input as reviews show it: the value of the column the user prompt "
        "shows (`column: value` lines for several; the last user message if it shows none)."
    )
    output: str | None = None
    output_truncated: int | None = Field(
        None,
        description="Characters cut from the output by max_output_chars (it was judged, scored and stored without them).",
    )
    reference: Any = None
    scores: dict[str, float | None] = Field(default_factory=dict, description="Per-example scores by metric key.")
    judge: dict[str, Any] = Field(default_factory=dict, description="Per rubric: score, reason, method, raw.")
    fields: dict[str, Any] = Field(default_factory=dict, description="Slice columns and other kept data columns.")
    error: ErrorInfo | None = None
    finish_reason: str | None = Field(
        None, description="The reply's finish_reason when not 'stop' (length, content_filter, tool_calls...)."
    )
    usage: dict[str, int] = Field(default_factory=dict)
    cached: bool = False
    notes: list[str] = Field(
        default_factory=list,
        description="What evalstack changed in this row's output and why (e.g. lone surrogates replaced with U+FFFD).",
    )
    conversation: list[dict[str, Any]] | None = Field(
        None,
        description="Conversation tasks: OpenAI-style messages (prompt, given history, each user turn and the "
        "model's own answer with its `turn`; a failed turn has `error`, one not asked `skipped`). Tool loops: the "
        "prompt, each assistant reply with its tool_calls, each `tool` result, the final answer. Absent otherwise.",
    )
    tool_calls: list[dict[str, Any]] | None = Field(
        None,
        description="Tool tasks: the calls the model made, in order ({name, arguments} as written; a tool loop: "
        "every step's), scored by the tool metrics. Absent otherwise.",
    )
    tool_loop: dict[str, Any] | None = Field(
        None,
        description="Tool loops: steps (requests), tool_errors (calls answered with an error: raised, timed out, "
        "no such tool, arguments not a JSON object), step_cap_hit. Absent otherwise.",
    )

    label_probs: dict[str, float] | None = Field(
        None,
        description="Classification tasks whose model returned top_logprobs: each label's probability from the "
        "first answer token's candidates (not renormalised; see stats.label_token_probs). Absent otherwise.",
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> Any:
        data = handler(self)
        for key in ("conversation", "tool_calls", "tool_loop", "label_probs"):  # rows of other tasks stay as they were
            if isinstance(data, dict) and data.get(key, 0) is None:
                del data[key]
        return data

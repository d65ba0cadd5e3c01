"""Everything checked and built before the first request: data, prompts, metrics, rubrics, providers.

A bad column, template, metric option, rubric or missing key fails here, with nothing sent and nothing
written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast, overload

from ._conversation import Conversation
from ._score import score_outputs
from .config import Config, TaskConfig
from .data import Example, check_template, load_examples, make_env, messages_text, render_messages
from .errors import ConfigError, DataError, EvalstackError

if TYPE_CHECKING:
    from jinja2 import Environment, Template

    from .judges import JudgeScorer, Rubric
    from .metrics import Metric, MetricContext
    from .models import Provider
    from .tools import ToolSet


@dataclass
class MetricPlan:
    name: str
    options: dict[str, object]
    instance: Metric
    uses_labels: bool
    where: str
    turn: int | str | None = None
    """``turns`` tasks: the turns it scores (a number, ``all`` or ``last``; :mod:`evalstack._turns`)."""


@dataclass
class TaskPlan:
    """A task ready to run: its examples, rendered prompts and scorers."""

    cfg: TaskConfig
    index: int
    examples: list[Example]
    messages: Sequence[list[dict[str, str]]]
    metrics: list[MetricPlan] = field(default_factory=list)
    judges: list[JudgeScorer] = field(default_factory=list)
    """The task's judges, pointwise (``judges:``) then pairwise (``pairwise:``), each a scorer."""
    keys: dict[str, bool] = field(default_factory=dict)
    """Metric keys this task will report -> higher_is_better (found by a dry run before any request)."""
    backends: list[MetricPlan] = field(default_factory=list)
    """Metrics that load a heavy backend: dry-run by :func:`load_metric_backends` after every cheap check."""
    keys_pending: bool = False
    """True while a heavy metric whose keys only computing tells has not been dry-run yet."""
    conversations: list[Conversation] | None = None
    """Conversation tasks (``turns:`` / ``messages:``): one per example; ``messages`` then holds turn 1's."""
    turn_pools: dict[str, list[str]] = field(default_factory=dict)
    """``turn: all`` judges: the pooled key -> the names of its per-turn judges."""
    tools: ToolSet | None = None
    """The task's tools (``tools:``), None for a task without."""
    expected_calls: list[list[dict[str, object]]] | None = None
    """Per example, the expected calls ``[{"name", "arguments"}]`` (``expected_calls:``)."""

    @property
    def name(self) -> str:
        return self.cfg.name

    def column(self, name: str | None) -> list[object] | None:
        if not name:
            return None
        return [ex.row.get(name) for ex in self.examples]

    input_fields: list[str] = field(default_factory=list)
    """The columns the user prompt shows, in the order it first shows them."""
    templates: list[tuple[str, Template, str]] = field(default_factory=list)
    """The compiled prompt templates: :meth:`release_prompts` renders from them again when asked."""

    def release_prompts(self) -> None:
        """Let the rendered prompts go (generation and judges are done: a million-row run holds no second
        copy of its inputs); a prompt asked for afterwards is rendered again (it rendered once already)."""
        if self.templates and self.conversations is None and isinstance(self.messages, list):
            self.messages = _Prompts(self.templates, self.examples, self.cfg.name)

    def input_text(self, i: int) -> str:
        """The example's own input as reviews show it: the value of the column the user prompt shows
        (``column: value`` lines for several), not the rendered prompt with its instructions and label list.
        A user prompt that shows no column: the last user message. A conversation: its user turns."""
        if self.conversations is not None:
            return self.conversations[i].input_text()
        row = self.examples[i].row
        if len(self.input_fields) == 1:
            return _as_text(row.get(self.input_fields[0]))
        if self.input_fields:
            return "\n".join(f"{c}: {_as_text(row.get(c))}" for c in self.input_fields)
        return self.messages[i][-1]["content"]

    def prompt_text(self, i: int) -> str:
        """The whole rendered prompt."""
        return messages_text(self.messages[i])


class _Prompts(Sequence[list[dict[str, str]]]):
    """A task's rendered prompts, rendered when asked (after :meth:`TaskPlan.release_prompts`)."""

    def __init__(self, templates: list[tuple[str, Template, str]], examples: list[Example], task: str):
        self._templates, self._examples, self._task = templates, examples, task

    def __len__(self) -> int:
        return len(self._examples)

    @overload
    def __getitem__(self, i: int) -> list[dict[str, str]]: ...
    @overload
    def __getitem__(self, i: slice) -> list[list[dict[str, str]]]: ...
    def __getitem__(self, i: int | slice) -> list[dict[str, str]] | list[list[dict[str, str]]]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        ex = self._examples[i]
        return render_messages(self._templates, ex.row, where=f"task '{self._task}', example '{ex.id}'")


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else str(value)


def _shown_fields(env: Environment, source: str, columns: set[str]) -> list[str]:
    """The data columns a template reads, in order of first use (walking its syntax tree)."""
    from jinja2 import nodes

    seen: list[str] = []
    for node in env.parse(source).find_all(nodes.Name):
        if node.name in columns and node.name not in seen:
            seen.append(node.name)
    return seen


def _templates(
    task: TaskConfig, key: str, source: str, env: Environment
) -> tuple[list[tuple[str, Template, str]], dict[str, str]]:
    """Compiled (role, template, where) triples and the columns they read -> the first config key that reads it."""
    parts: list[tuple[str, Template, str]] = []
    needed: dict[str, str] = {}
    p = task.prompt
    items: list[tuple[str, str, str]] = []
    if p.system:
        items.append(("system", p.system, f"{key}.prompt.system"))
    for i, shot in enumerate(p.few_shot):
        items.append(("user", shot.user, f"{key}.prompt.few_shot[{i}].user"))
        items.append(("assistant", shot.assistant, f"{key}.prompt.few_shot[{i}].assistant"))
    if p.user is not None:  # conversation tasks take their user messages from the data
        items.append(("user", p.user, f"{key}.prompt.user"))
    for role, src, k in items:
        tmpl, names = check_template(env, src, f"{source}: {k}")
        parts.append((role, tmpl, f"{source}: {k}"))
        for name in sorted(names):
            needed.setdefault(name, k)
    return parts, needed


def _column_keys(task: TaskConfig, key: str, needed: dict[str, str]) -> dict[str, str]:
    """Every column the task reads -> the config key that names it (for errors that say which key to fix)."""
    required = dict(needed)
    for name in ("target", "reference", "context", "turns", "messages"):
        col = getattr(task, name)
        if name == "reference" and task.turns:  # MT-Bench: only some questions have reference answers
            continue
        if col:
            required.setdefault(col, f"{key}.{name}")
    if task.expected_calls is not None:
        required.setdefault(task.expected_calls.column, f"{key}.expected_calls")
    for name in ("slice_by", "keep_columns"):
        for i, col in enumerate(getattr(task, name)):
            required.setdefault(col, f"{key}.{name}[{i}]")
    return required


def _check_gold_labels(task: TaskConfig, examples: list[Example], key: str, source: str) -> None:
    """Gold labels outside `labels`: every distinct unknown value with its count, in one line."""
    from collections import Counter

    allowed = set(task.labels or ())
    target = cast(str, task.target)  # labels need a target (TaskConfig checks it)
    bad = [ex for ex in examples if str(ex.row[target]) not in allowed]
    if not bad:
        return
    counts = Counter(str(ex.row[target]) for ex in bad)
    shown = [f"{v!r} ({k} row{'s' if k != 1 else ''})" for v, k in counts.most_common(50)]
    if len(counts) > 50:
        shown.append(f"and {len(counts) - 50} more distinct values")
    what = f"gold label {next(iter(counts))!r} is" if len(counts) == 1 else f"gold labels {', '.join(shown)} are"
    raise ConfigError(
        f"{what} not in `labels` {list(task.labels or ())}: {len(bad)} of {len(examples)} rows "
        f"(first: {task.data.path.name}:{bad[0].line})",
        where=f"{source}: {key}.labels",
        hint=f"add them to {key}.labels or fix column '{task.target}' of the data",
    )


def prepare_task(cfg: Config, task: TaskConfig, index: int, *, limit: int | None = None) -> TaskPlan:
    """Load and render one task; build its metrics and rubrics."""
    source, key = str(cfg.source or "config"), f"tasks[{index}]"
    where = f"{source}: {key}"
    env = make_env()
    templates, needed = _templates(task, key, source, env)
    d = task.data
    if not Path(d.path).exists():
        raise DataError(
            f"file not found: {d.path}",
            where=f"{where}.data.path",
            hint="check the path (relative paths start at the config's folder)",
        )
    examples = load_examples(
        d.path,
        fmt=d.format,
        id_column=d.id,
        split=d.split,
        limit=min(x for x in (d.limit, limit) if x) if (d.limit or limit) else None,
        sample=d.sample,
        seed=d.seed,
        required=_column_keys(task, key, needed),
        where=source,
    )
    for ex in examples:  # a null cell would be sent to the model as the text "None"
        for col in sorted(needed):
            val = ex.row.get(col)
            if val is None or (isinstance(val, float) and val != val):
                raise DataError(
                    f"column '{col}' is empty (null) but the prompt uses it",
                    where=f"{d.path}:{ex.line}",
                    hint="fill the cell, drop the row, or use {{ " + col + " or '' }} in the template",
                )
    from ._render import render_session

    with render_session():  # the time budget's signal handler, installed once for all of the task's prompts
        messages = [
            render_messages(
                templates, ex.row, where=f"task '{task.name}', example '{ex.id}' ({d.path}:{ex.line or '?'})"
            )
            for ex in examples
        ]
    plan = TaskPlan(
        cfg=task,
        index=index,
        examples=examples,
        messages=messages,
        input_fields=_shown_fields(env, task.prompt.user, set(needed)) if task.prompt.user is not None else [],
        templates=templates,
    )
    if task.turns or task.messages:
        from ._conversation import load_conversations

        plan.conversations = load_conversations(task, examples, messages, d.path)
        plan.messages = [c.request_messages(1, []) for c in plan.conversations]
    if task.labels is not None:
        _check_gold_labels(task, examples, key, source)
    from .tools import prepare_tools

    plan.tools, plan.expected_calls = prepare_tools(task, examples, key, source)
    from .metrics import extract_labels, get_metric

    if task.labels is not None:
        try:  # validates aliases/regex against the labels before any request
            extract_labels([], task.labels, **task.label_parsing.model_dump())
        except EvalstackError as exc:
            raise exc.at(f"{where}.label_parsing") from None
    for j, spec in enumerate(task.metrics):
        w = f"{where}.metrics[{j}]"
        from ._turns import metric_turn

        options, turn = metric_turn(task, spec.options, w)
        try:
            cls = get_metric(spec.name)
            inst = cls(**options)
        except EvalstackError as exc:
            raise exc.at(w) from None
        except TypeError as exc:
            raise ConfigError(f"bad options for metric '{spec.name}': {exc}", where=w) from None
        uses_labels = bool(cls.uses_labels)  # scored against `target` (gold labels), else against `reference`
        if uses_labels and not task.target:
            raise ConfigError(f"metric '{spec.name}' needs `target` (the gold label column)", where=w)
        if not uses_labels and cls.needs_reference and not task.reference and not task.target:
            raise ConfigError(f"metric '{spec.name}' needs `reference` (the column with reference texts)", where=w)
        for need, what in (("needs_tools", "tools"), ("needs_expected_calls", "expected_calls")):
            if getattr(cls, need, False) and getattr(task, what) is None:
                raise ConfigError(f"metric '{spec.name}' scores tool calls: the task needs `{what}:`", where=w)
        if cls.needs_context and not task.context:
            raise ConfigError(
                f"metric '{spec.name}' needs `context` (the column with the texts it compares with)",
                where=w,
                hint=f"set tasks[{index}].context to the column that holds them",
            )
        # the keys it will report, known without computing (gate rules are checked against them)
        plan.keys.update(dict.fromkeys(inst.keys(options), bool(getattr(inst, "HIGHER_IS_BETTER", True))))
        plan.metrics.append(MetricPlan(spec.name, options, inst, uses_labels, w, turn))
    _dry_run_metrics(plan)
    if task.judges or task.pairwise:
        from .judges import JudgeScorer, load_rubric

        for kind, specs in (("judges", task.judges), ("pairwise", task.pairwise)):
            for j, js in enumerate(specs):
                w = f"{where}.{kind}[{j}]"
                try:
                    rubric = load_rubric(js.rubric)
                except EvalstackError as exc:
                    raise exc.at(w) from None
                if kind == "judges" and rubric.kind == "pairwise":
                    raise ConfigError(
                        f"rubric '{rubric.name}' is pairwise",
                        where=w,
                        hint="list it under the task's `pairwise:` instead of `judges:`",
                    )
                for fld, named in (("reference", task.reference or task.target), ("context", task.context)):
                    if fld in rubric.fields and not named and not (fld == "reference" and rubric.reference_optional):
                        raise ConfigError(
                            f"rubric '{rubric.name}' reads `{fld}` but the task has no `{fld}:` column",
                            where=w,
                            hint=f"set tasks[{index}].{fld} to the column that holds it",
                        )
                _dry_run_rubric(plan, rubric, pairwise=kind == "pairwise", where=w)
                judge = JudgeScorer(rubric, js, pairwise=kind == "pairwise", where=w)
                from ._turns import add_judge

                add_judge(plan, judge, bool(getattr(rubric, "higher_is_better", True)))
    if plan.conversations is not None and task.turns:
        from ._turns import turn_metric_keys

        turn_metric_keys(plan)
    return plan


def check_logprobs(plans: list[TaskPlan], name: str, provider: Provider) -> None:
    """Metrics that need the outputs' token logprobs (``needs_logprobs``) need a provider that returns
    them: say so now, not as n/a later."""
    if provider.returns_logprobs():
        return
    for plan in plans:
        for mp in plan.metrics:
            if mp.instance.needs_logprobs:
                raise ConfigError(
                    f"metric '{mp.name}' needs token logprobs, which model '{name}' does not return",
                    where=mp.where,
                    hint=provider.logprobs_hint,
                )


def check_gate_keys(cfg: Config, plans: list[TaskPlan]) -> None:
    """Every gate rule names a key its task reports (a did-you-mean otherwise). Tasks whose heavy metrics
    have not been dry-run yet and declare no keys are checked on the second call, after the backends load."""
    if not cfg.gate:
        return
    from .registry import did_you_mean

    keys = {p.name: p.keys for p in plans}
    pending = {p.name for p in plans if p.keys_pending}
    for i, rule in enumerate(cfg.gate.rules):
        task, key = rule.metric.split("/", 1)
        if key not in keys[task] and task not in pending:
            hint = did_you_mean(
                key, keys[task], f"task '{task}' reports: {', '.join(sorted(keys[task]))}", prefix=f"{task}/"
            )
            raise ConfigError(
                f"unknown metric '{rule.metric}'", where=f"{cfg.source}: gate.rules[{i}].metric", hint=hint
            )


def load_metric_backends(plans: list[TaskPlan]) -> None:
    """The dry run of the metrics that load a model or a slow library (BERTScore, toxicity classifiers,
    local LMs, `evaluate` modules): called once every cheap check of the run has passed, still before any
    request, so that a typo is reported in a second and a broken backend before anything is sent."""
    for plan in plans:
        if plan.backends:
            _dry_run_metrics(plan, plan.backends)
            plan.backends, plan.keys_pending = [], False


def _dry_run_metrics(plan: TaskPlan, metrics: list[MetricPlan] | None = None) -> None:
    """Score one plausible output per metric now, so that a metric that cannot work with this task (a bad
    option only compute sees, a column of the wrong shape) fails before any request. The keys it reports
    are declared (``keys(options)``); only a metric that declares none (``evaluate`` without ``keys``) adds
    them here.

    Without ``metrics``: the light metrics now; the heavy ones are kept in ``plan.backends`` for
    :func:`load_metric_backends` (a heavy metric that declares no keys leaves ``plan.keys_pending``)."""
    task = plan.cfg
    row = plan.examples[0].row
    gold = row.get(task.reference) if task.reference else None
    if plan.conversations is not None and task.turns:  # a turn's reference, of the first example that has one
        refs = [r for c in plan.conversations for r in c.references or () if r is not None]
        gold = refs[0] if refs else None
    label = None if not task.target else str(row.get(task.target))
    if metrics is None:
        metrics = []
        for mp in plan.metrics:
            if not mp.instance.loads_backend():
                metrics.append(mp)
                continue
            plan.backends.append(mp)
            plan.keys_pending |= not mp.instance.keys(mp.options)
    for mp in metrics:
        ref = label if mp.uses_labels else (gold if gold is not None else label)
        out = ref[0] if isinstance(ref, list) and ref else ref
        results = score_outputs(
            task,
            [mp],
            [None if out is None else str(out)],
            targets=None if label is None else [label],
            references=None if gold is None else [gold],
            knowledge=[row.get(task.context)] if task.context else None,
            logprobs=[[-0.5, -0.25]],
            extra=dry_run_context(plan),
        )
        for r in results:
            plan.keys[r.key] = r.higher_is_better


def dry_run_context(plan: TaskPlan) -> MetricContext | None:
    """The tool context of the metrics' dry run: the first example's expected calls, made."""
    from .tools import as_made, score_context

    first = plan.expected_calls[0] if plan.expected_calls else []
    return score_context(plan.tools, [first], [as_made(first)])


def _dry_run_rubric(plan: TaskPlan, rubric: Rubric, *, pairwise: bool, where: str) -> None:
    """Build the judge prompt for the first example now, so that a rubric template that fails at render
    time (or goes over the render budget) stops the run before the first generation request."""
    from .judges import build_messages, reference_text

    task, row = plan.cfg, plan.examples[0].row
    ref_col = task.reference or task.target
    ref = row.get(ref_col) if ref_col else None
    sample = reference_text(ref) if ref not in (None, [], "") else "a model output"
    values = {
        "input": plan.prompt_text(0),
        "reference": sample,
        "output": sample,
        "output_a": sample,
        "output_b": sample,
        "context": str(row.get(task.context)) if task.context else "",
    }
    try:
        build_messages(rubric, values, pairwise=pairwise)
    except EvalstackError as exc:
        raise exc.at(where, note=f"dry run on example '{plan.examples[0].id}'") from None

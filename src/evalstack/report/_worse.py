"""What got worse: the significantly worse deltas, the biggest per-example regressions, and *new failure
modes*: outputs a model repeats across unrelated inputs that the baseline does not.

A failure mode is one normalised output (lower-case, whitespace collapsed, surrounding punctuation and
quotes dropped) of one model on one task without ``labels`` (a classification task repeats its labels by
design) that is either

- **repeated**: given for >= 3 examples whose references are not all the same (>= 2 different
  references), or
- **a label answer**: one of the labels of a classification task of the run (a fine-tuned router
  answering "billing" to "What is the capital of France?").

It is *new* when the baseline gives the same normalised output on the same task on fewer than half as
many examples: a baseline that does the same is not flagged. Counting is streamed: one small entry per
distinct output (keyed by a 16-byte digest), example texts are fetched in a second pass for the modes
found only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..results import ExampleRow, RunResult
from ._format import one_line
from ._runinfo import model_order

MIN_REPEATS = 3
"""A repeated output counts from this many examples on (with >= 2 different references)."""
SHOWN = 3
"""Examples shown per failure mode."""

_STRIP = " \t\r\n.,;:!?\"'`()[]{}*_-"


def normalise(text: Any) -> str:
    """The form outputs are compared in: lower-case, whitespace collapsed, outer punctuation dropped."""
    return " ".join(str(text).lower().split()).strip(_STRIP)


def _ref_key(ref: Any) -> str:
    if isinstance(ref, list):
        return json.dumps(sorted(normalise(r) for r in ref))
    return "" if ref is None else normalise(ref)


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class _Entry:
    __slots__ = ("count", "wrong", "ref", "multi", "label_of", "wrong_ids", "any_ids")

    def __init__(self, ref: str, label_of: list[str]) -> None:
        self.count = 0
        self.wrong = 0  # examples whose reference is not this output
        self.ref = ref
        self.multi = False  # >= 2 different references seen
        self.label_of = label_of
        self.wrong_ids: list[str] = []
        self.any_ids: list[str] = []


class OutputCounter:
    """Per (task, model) of the tasks without labels: how often each normalised output was given, to how
    many different references, and whether it is a label of a classification task of the run."""

    def __init__(self, run: RunResult) -> None:
        self.labels = label_sets(run)
        self.label_tasks = {t for ts in self.labels.values() for t in ts}
        self.entries: dict[tuple[str, str], dict[bytes, _Entry]] = {}

    def add(self, row: ExampleRow) -> None:
        if row.output is None or row.task in self.label_tasks:
            return  # a failed request is counted as failed elsewhere; a label task repeats labels by design
        norm = normalise(row.output)
        ref = _ref_key(row.reference)
        table = self.entries.setdefault((row.task, row.model), {})
        key = _digest(norm)
        e = table.get(key)
        if e is None:
            e = table[key] = _Entry(ref, [t for t in self.labels.get(norm, []) if t != row.task])
        e.count += 1
        e.multi = e.multi or ref != e.ref
        if len(e.any_ids) < SHOWN:
            e.any_ids.append(row.id)
        if ref != norm and not (ref.startswith("[") and norm in json.loads(ref)):
            e.wrong += 1
            if len(e.wrong_ids) < SHOWN:
                e.wrong_ids.append(row.id)


@dataclass
class FailureMode:
    """One new failure mode of ``model`` on ``task`` (see the module docstring)."""

    task: str
    model: str
    baseline: str
    count: int  # examples with this normalised output
    wrong: int  # ... whose reference is something else
    multi: bool  # the references of those examples differ
    baseline_count: int
    label_of: list[str] = field(default_factory=list)  # classification tasks this output is a label of
    examples: list[dict[str, Any]] = field(default_factory=list)  # id, input, reference, model/baseline output
    output: str = ""  # the output as the model first wrote it (filled in by the second pass)

    def why(self) -> str:
        if self.label_of:
            return f"a label of task {', '.join(self.label_of)}, on a task without labels"
        return "the same answer to inputs with different references"

    def sentence(self) -> str:
        """One plain sentence, e.g. for the terminal."""
        return (
            f'{self.task}: {self.model} answers "{one_line(self.output, 60)}" on {self.count} examples '
            f"({self.wrong} with another reference; {self.baseline}: {self.baseline_count}): {self.why()}"
        )


def label_sets(run: RunResult) -> dict[str, list[str]]:
    """Normalised label -> the classification tasks it is a label of (from the run's config, else from
    the label lists stored with classification metrics)."""
    out: dict[str, list[str]] = {}
    found: dict[str, list[Any]] = {}
    for t in (run.config or {}).get("tasks", []) or []:
        if isinstance(t, dict) and t.get("labels"):
            found[str(t.get("name"))] = list(t["labels"])
    if not found:
        for name, ts in run.tasks.items():
            for mts in ts.models.values():
                for s in mts.metrics.values():
                    if isinstance((s.details or {}).get("labels"), list):
                        found.setdefault(name, list(s.details["labels"]))
    for task, labels in found.items():
        for lab in labels:
            n = normalise(lab)
            if n and task not in out.setdefault(n, []):
                out[n].append(task)
    return out


def find_failure_modes(run: RunResult, counter: OutputCounter) -> list[FailureMode]:
    """New failure modes of every non-baseline model, most examples first (ties: task order, model).
    Example texts are filled in by :func:`fill_failure_examples`."""
    order = {t: i for i, t in enumerate(run.tasks)}
    base = run.baseline
    modes: list[FailureMode] = []
    for (task, model), table in counter.entries.items():
        if model == base:
            continue
        base_table = counter.entries.get((task, base), {})
        for key, e in table.items():
            repeated = e.count >= MIN_REPEATS and e.multi
            label = bool(e.label_of) and e.wrong > 0
            b = base_table.get(key)
            if (repeated or label) and 2 * (b.count if b else 0) < e.count:
                modes.append(
                    FailureMode(
                        task=task,
                        model=model,
                        baseline=base,
                        count=e.count,
                        wrong=e.wrong,
                        multi=e.multi,
                        baseline_count=b.count if b else 0,
                        label_of=e.label_of,
                        examples=[{"id": i} for i in (e.wrong_ids or e.any_ids)],
                    )
                )
    return sorted(modes, key=lambda m: (-m.count, order.get(m.task, len(order)), m.model))


def fill_failure_examples(run_dir: str | Path, modes: list[FailureMode]) -> list[FailureMode]:
    """Second pass over examples.jsonl: the output as written and the shown examples' texts."""
    from ._store import iter_examples

    if not modes:
        return []
    wanted = {(m.task, m.model, ex["id"]) for m in modes for ex in m.examples}
    wanted |= {(m.task, m.baseline, ex["id"]) for m in modes for ex in m.examples}
    rows: dict[tuple[str, str, str], ExampleRow] = {}
    for row in iter_examples(run_dir):
        k = (row.task, row.model, row.id)
        if k in wanted:
            rows[k] = row
    for m in modes:
        mine = [r for ex in m.examples if (r := rows.get((m.task, m.model, ex["id"]))) is not None]
        m.output = next((r.output for r in mine if r.output is not None), "")
        m.examples = [
            {
                "id": r.id,
                "input": r.input,
                "reference": r.reference,
                "model_output": r.output,
                "baseline_output": b.output if (b := rows.get((m.task, m.baseline, r.id))) else None,
            }
            for r in mine
        ]
    return modes


def significant_worse(run: RunResult) -> list[tuple[str, str, str, Any]]:
    """(task, model, metric key, delta) of every delta whose verdict is "worse", in task and model order."""
    out = []
    for task, ts in run.tasks.items():
        for m in model_order(run):
            for key, d in sorted(ts.deltas.get(m, {}).items()):
                if d.verdict == "worse":
                    out.append((task, m, key, d))
    return out


def failure_mode_table(mode: FailureMode) -> Any:
    """The shown examples of one failure mode: input, reference, the model's and the baseline's output."""
    from ._view import Cell, Table

    t = Table(["id", "input", "reference", f"{mode.model} output", f"{mode.baseline} output"])
    for ex in mode.examples:
        t.rows.append(
            [
                Cell(str(ex["id"])),
                Cell(_text(ex.get("input")), long=True),
                Cell(_text(ex.get("reference")), long=True),
                Cell(_text(ex.get("model_output")), long=True, tone="bad"),
                Cell(_text(ex.get("baseline_output")), long=True),
            ]
        )
    return t


def worse_deltas_table(run: RunResult) -> Any:
    """Every significantly worse delta: task/metric, model, delta with its CI and p-value."""
    from ._format import fmt_ci, fmt_num, fmt_p, metric_label
    from ._view import Cell, Table

    t = Table(["metric", "model", "Δ", "CI", "p"], numeric=[False, False, True, True, True])
    for task, model, key, d in significant_worse(run):
        hib = next((s.higher_is_better for mts in run.tasks[task].models.values() if (s := mts.metrics.get(key))), True)
        t.rows.append(
            [
                Cell(f"{task}/{metric_label(key, hib)}"),
                Cell(model),
                Cell(fmt_num(d.delta, signed=True), tone="bad", strong=True),
                Cell(fmt_ci(d.ci_low, d.ci_high, signed=True)),
                Cell(fmt_p(d.p_value)),
            ]
        )
    return t


def _text(value: Any) -> str:
    from ._format import as_text

    return "" if value is None else as_text(value)


def summary_lines(run: RunResult, modes: list[FailureMode] | None) -> list[str]:
    """The terminal's "what got worse" lines: new failure modes first, then significantly worse deltas."""
    worse = significant_worse(run)
    if not modes and not worse:
        return ["what got worse: no significantly worse metric" + ("" if modes is None else ", no new failure mode")]
    lines = ["what got worse:"]
    for m in modes or []:
        ex = m.examples[0] if m.examples else None
        lines.append(
            f"  NEW FAILURE MODE {m.sentence()}" + (f"; e.g. {ex['id']}: {one_line(ex.get('input'), 70)}" if ex else "")
        )
    for task, model, key, d in worse:
        lines.append(
            f"  WORSE {task}/{key} {model} - {run.baseline}: {d.delta:+.4f} [{d.ci_low:+.4f}, {d.ci_high:+.4f}]"
        )
    return lines

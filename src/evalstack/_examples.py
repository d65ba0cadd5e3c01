"""examples.jsonl: one :class:`~evalstack.results.ExampleRow` per example x model, written in one step.

`run` builds the rows from its generations, scores and judge rows (:func:`example_rows`); `compare` from
the saved rows with re-computed scores (:func:`with_scores`). Both keep only per-example scores: the
per-example proxies of corpus-only metrics (macro F1, BLEU) stay out, so that nobody averages a column
into the wrong number. :func:`write_examples` streams them atomically into the run folder (listed in its
manifest first) and returns the sha256 that run.json records.
"""

from __future__ import annotations

__all__ = ["example_rows", "per_example_scores", "with_scores", "write_examples"]

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._io import AtomicWriter
from ._outdir import record, sha256_file
from .results import ErrorInfo, ExampleRow

if TYPE_CHECKING:
    from ._prepare import TaskPlan
    from .judges import JudgeRow, PairRow
    from .metrics import MetricResult
    from .models import Generation


def per_example_scores(results: Sequence[MetricResult]) -> list[tuple[str, list[float | None]]]:
    """(key, value per row) of the results that have a per-example form (corpus-only proxies left out)."""
    return [(r.key, r.per_example) for r in results if r.per_example is not None and not r.corpus_only]


def example_rows(
    plan: TaskPlan,
    model: str,
    rows: Sequence[tuple[int, int, str]],
    gens: Sequence[Generation],
    results: Sequence[MetricResult],
    judge_rows: Mapping[str, Mapping[str, JudgeRow | PairRow]],
    cut: Mapping[int, int],
    turns: Sequence[Sequence[Generation | None]] | None = None,
) -> Iterator[ExampleRow]:
    """The rows of one model on one task: ``rows`` is (example index, repeat index, scoring id) per
    output, ``cut`` the characters ``max_output_chars`` cut per output position, ``turns`` (conversation
    tasks) the generation of each turn per row."""
    if turns is not None:
        from ._turns_gen import conversation_record
    ref_col = plan.cfg.reference or plan.cfg.target
    # slice columns, kept columns, and the context column (so `compare` can re-score knowledge_f1)
    keep = list(
        dict.fromkeys([*plan.cfg.slice_by, *plan.cfg.keep_columns, *([plan.cfg.context] if plan.cfg.context else [])])
    )
    if plan.cfg.expected_calls is not None:  # so `compare` can score the calls again
        keep.append(plan.cfg.expected_calls.column)
    per_ex = per_example_scores(results)
    from .tools import row_fields

    for k, (i, _r, sid) in enumerate(rows):
        ex = plan.examples[i]
        gen = gens[k]
        tool = row_fields(gen, plan.tools, plan.messages[i])  # a tool task's calls (and a tool loop's conversation)
        yield ExampleRow(
            task=plan.name,
            model=model,
            id=sid,
            input=plan.input_text(i),
            output=gen.text if gen.ok else None,
            output_truncated=cut.get(k),
            reference=ex.row.get(ref_col) if ref_col else None,
            scores={key: vals[k] for key, vals in per_ex},
            judge={name: jr[sid].to_dict() for name, jr in judge_rows.items() if sid in jr},
            fields={c: ex.row.get(c) for c in keep},
            error=None
            if gen.ok
            else ErrorInfo(
                kind=gen.error_kind or "error",
                tries=gen.tries,
                message=gen.error_message or "",
                finish_reason=gen.finish_reason,
            ),
            finish_reason=gen.finish_reason if gen.finish_reason != "stop" else None,
            usage={"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens},
            cached=gen.cached,
            notes=list(gen.notes or []),
            conversation=conversation_record(plan, i, turns[k])
            if turns is not None
            else tool.pop("conversation", None),
            **tool,
            label_probs=_label_probs(plan, gen),
        )


def _label_probs(plan: TaskPlan, gen: Generation) -> dict[str, float] | None:
    """The labels' probabilities from the reply's top logprobs (classification tasks only)."""
    if not plan.cfg.labels or not gen.ok or not gen.top_logprobs:
        return None
    from .stats import label_token_probs

    lp = plan.cfg.label_parsing
    return label_token_probs(
        gen.top_logprobs, plan.cfg.labels, aliases=lp.aliases or None, case_sensitive=bool(lp.case_sensitive)
    )


def with_scores(rows: Sequence[ExampleRow], results: Sequence[MetricResult]) -> Iterator[ExampleRow]:
    """Saved rows with the scores of ``results`` (aligned with ``rows``) put over their own."""
    per_ex = per_example_scores(results)
    for k, e in enumerate(rows):
        yield e.model_copy(update={"scores": {**e.scores, **{key: vals[k] for key, vals in per_ex}}})


def write_examples(out_dir: Path, rows: Iterable[ExampleRow]) -> str:
    """Write examples.jsonl into ``out_dir`` (atomically, after listing it in the folder's manifest);
    return its sha256."""
    path = out_dir / "examples.jsonl"
    record(out_dir, [path])  # the manifest lists a file before it is written
    with AtomicWriter(path, root=out_dir) as fh:
        for row in rows:
            fh.write(json.dumps(row.model_dump(mode="json"), ensure_ascii=False, default=str) + "\n")
    return sha256_file(path)

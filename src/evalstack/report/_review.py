"""Review lists from examples.jsonl, streamed: the N worst examples per metric and model, and the biggest
per-example regressions of each model against the baseline (both outputs side by side).

One pass keeps the N worst rows per (task, model, metric) and every per-example score as a compact float
column (100k rows cost a few MB); a second pass fetches the texts of the chosen regressions only.
"""

from __future__ import annotations

import csv
import io
import json
import math
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from .._safetext import cap, csv_cell
from ..results import ExampleRow, RunResult
from ._format import as_text
from ._runinfo import (
    check_filters,
    higher_is_better,
    is_per_example,
    key_of_score,
    metric_matches,
    model_order,
    task_rank,
)
from ._store import EXAMPLES_JSONL, iter_examples, read_run

ALMOST_ALL = 0.95
"""The report leaves out a lowest-score list when this share of the metric's per-example values ties at its
worst value (a pick among ties says nothing); review/lowest.csv keeps it."""

LOWEST_COLUMNS = [
    "task",
    "model",
    "metric",
    "rank",
    "id",
    "score",
    "higher_is_better",
    "input",
    "output",
    "reference",
    "judge_reason",
]
"""Columns of review/lowest.csv (and keys of each review row)."""

REGRESSION_COLUMNS = [
    "task",
    "metric",
    "model",
    "baseline",
    "rank",
    "id",
    "baseline_score",
    "model_score",
    "delta",
    "higher_is_better",
    "input",
    "reference",
    "baseline_output",
    "model_output",
    "baseline_judge_reason",
    "model_judge_reason",
]
"""Columns of review/regressions.csv; ``delta`` is model - baseline (raw, not direction-flipped)."""


def judge_reason(judge: dict[str, Any], key: str) -> str:
    """The judge reason behind score ``key``: the rubric's own for ``judge_<rubric>``, else every reason."""

    def reason(entry: Any) -> str:
        return as_text(entry.get("reason")) if isinstance(entry, dict) else ""

    if key.startswith("judge_") and key[len("judge_") :] in judge:
        return reason(judge[key[len("judge_") :]])
    parts = [f"{name}: {reason(entry)}" for name, entry in sorted(judge.items()) if reason(entry)]
    return "\n".join(parts)


class _Column:
    """Per (task, model): example ids and one float column per metric key (NaN = not scored)."""

    __slots__ = ("ids", "cols")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.cols: dict[str, array] = {}

    def add(self, example_id: str, scores: dict[str, float]) -> None:
        n = len(self.ids)
        self.ids.append(example_id)
        for key, value in scores.items():
            col = self.cols.get(key)
            if col is None:
                col = self.cols[key] = array("d", [math.nan]) * n
            col.append(value)
        for key, col in self.cols.items():  # noqa: B007
            if len(col) == n:
                col.append(math.nan)


class ExampleScan:
    """One streaming pass over examples.jsonl (see the module docstring).

    ``worst`` rows are kept per (task, model, metric), worst first (direction-aware: for a lower-is-better
    metric the highest values); ties break on the example id so lists are stable.
    """

    def __init__(self, run: RunResult, *, worst: int = 20, metric: str | None = None, model: str | None = None):
        self.run = run
        self.worst = max(int(worst), 0)
        self.metric = metric
        self.model = model
        self.columns: dict[tuple[str, str], _Column] = {}
        self._lowest: dict[tuple[str, str, str], list[Any]] = {}
        self._kind: dict[tuple[str, str], tuple[bool, bool]] = {}  # (task, key) -> (per_example, higher_is_better)
        self.rows = 0
        from ._worse import OutputCounter

        self.outputs = OutputCounter(run)  # repeated outputs: new failure modes

    def _info(self, task: str, key: str) -> tuple[bool, bool]:
        k = (task, key)
        if k not in self._kind:
            known = task in self.run.tasks
            self._kind[k] = (
                is_per_example(self.run, task, key) if known else True,
                higher_is_better(self.run, task, key) if known else True,
            )
        return self._kind[k]

    def add(self, row: ExampleRow) -> None:
        """Take one row into the scan."""
        self.rows += 1
        self.outputs.add(row)
        scores: dict[str, float] = {}
        for raw_key, value in row.scores.items():
            key = key_of_score(row.task, raw_key)
            per_example, hib = self._info(row.task, key)
            if not per_example or value is None or not math.isfinite(value):
                continue
            scores[key] = float(value)
            if (
                self.worst
                and (self.model is None or row.model == self.model)
                and metric_matches(self.metric, row.task, key)
            ):
                self._keep_lowest(row, key, float(value), hib)
        self.columns.setdefault((row.task, row.model), _Column()).add(row.id, scores)

    def _keep_lowest(self, row: ExampleRow, key: str, value: float, hib: bool) -> None:
        rank_key = (value if hib else -value, row.id)
        group = self._lowest.setdefault((row.task, row.model, key), [None, []])  # [cutoff, kept]
        if group[0] is not None and rank_key >= group[0]:
            return  # better than the N worst kept so far
        kept = group[1]
        kept.append((rank_key, row))
        if len(kept) > 4 * self.worst + 16:
            kept.sort(key=lambda t: t[0])
            del kept[self.worst :]
            group[0] = kept[-1][0]

    def lowest_rows(self) -> list[dict[str, Any]]:
        """The kept worst rows, ordered by task (config order), metric, model (baseline first), then rank."""
        order = {m: i for i, m in enumerate(model_order(self.run))}
        tasks = task_rank(self.run)
        out = []
        for task, model, key in sorted(
            self._lowest, key=lambda g: (tasks.get(g[0], len(tasks)), g[0], g[2], order.get(g[1], len(order)), g[1])
        ):
            kept = sorted(self._lowest[(task, model, key)][1], key=lambda t: t[0])[: self.worst]
            hib = self._info(task, key)[1]
            for rank, (_, row) in enumerate(kept, 1):
                out.append(
                    {
                        "task": task,
                        "model": model,
                        "metric": key,
                        "rank": rank,
                        "id": row.id,
                        "score": _score(row, key),
                        "higher_is_better": hib,
                        **_texts(row, key),
                        "judge_reason": cap(judge_reason(row.judge, key)),
                    }
                )
        return out

    def for_report(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """The lowest rows worth showing in the report, and the lists left out with why.

        A list says nothing when the metric's per-example values are constant, or almost all (at least
        :data:`ALMOST_ALL`) tied at the worst value: it would be an arbitrary pick among ties. Rows that
        score the best value seen are not low at all and are dropped from the lists kept. (review/lowest.csv
        and ``evalstack review`` keep every row.)"""
        out: list[dict[str, Any]] = []
        skipped: list[tuple[str, str]] = []
        best: dict[tuple[str, str, str], float | None] = {}
        rank: dict[tuple[str, str, str], int] = {}
        for r in rows:
            g = (r["task"], r["model"], r["metric"])
            if g not in best:
                why, best[g] = self._tie_reason(*g, r["higher_is_better"])
                if why:
                    skipped.append((f"{g[0]}/{g[2]}: {g[1]}", why))
                    rank[g] = -1
            if rank.get(g) == -1 or r["score"] == best[g]:
                continue
            rank[g] = rank.get(g, 0) + 1  # ranks count again from 1 in each list shown
            out.append(r | {"rank": rank[g]})
        return out, skipped

    def _tie_reason(self, task: str, model: str, key: str, hib: bool) -> tuple[str | None, float | None]:
        """(why the list says nothing or None, the best value seen)."""
        vals = self.values(task, model, key)
        if not vals:
            return None, None
        best, worst = (max(vals), min(vals)) if hib else (min(vals), max(vals))
        n = len(vals)
        if best == worst:
            return f"every one of the {n} examples scores {worst:g}", best
        ties = sum(1 for v in vals if v == worst)
        if ties >= ALMOST_ALL * n:
            return f"{ties} of {n} examples tie at the worst value {worst:g}", best
        return None, best

    def values(self, task: str, model: str, key: str) -> list[float]:
        """Finite per-example scores of one model on ``task/key`` (for histograms)."""
        col = self.columns.get((task, model))
        if col is None or key not in col.cols:
            return []
        return [v for v in col.cols[key] if not math.isnan(v)]

    def score_keys(self, task: str) -> list[str]:
        """Per-example metric keys seen for ``task``, sorted."""
        keys: set[str] = set()
        for (t, _), col in self.columns.items():
            if t == task:
                keys.update(col.cols)
        return sorted(keys)

    def regression_candidates(
        self, baseline: str, *, worst: int, metric: str | None = None, model: str | None = None
    ) -> list[dict[str, Any]]:
        """Per task, model (not the baseline) and metric: the ``worst`` examples where the model lost most.

        The loss is ``baseline - model`` (``model - baseline`` for lower-is-better metrics); only examples
        both scored and with a loss > 0 count. Texts are filled in later by :func:`fill_regression_texts`.
        """
        import numpy as np

        out: list[dict[str, Any]] = []
        order = {m: i for i, m in enumerate(model_order(self.run))}
        rank = task_rank(self.run)
        for task in sorted({t for t, _ in self.columns}, key=lambda t: (rank.get(t, len(rank)), t)):  # config order
            base = self.columns.get((task, baseline))
            if base is None:
                continue
            base_index = {eid: i for i, eid in enumerate(base.ids)}  # a repeated id: the last row wins
            models = sorted(
                {m for t, m in self.columns if t == task and m != baseline}, key=lambda m: (order.get(m, len(order)), m)
            )
            for m in models:
                if model is not None and m != model:
                    continue
                col = self.columns[(task, m)]
                idx = np.array([base_index.get(eid, -1) for eid in col.ids], dtype=np.int64)
                have = idx >= 0
                for key in sorted(set(col.cols) & set(base.cols)):
                    if not metric_matches(metric, task, key):
                        continue
                    hib = self._info(task, key)[1]
                    mv = np.frombuffer(col.cols[key], dtype=np.float64)
                    bv = np.full(mv.shape, np.nan)
                    bv[have] = np.frombuffer(base.cols[key], dtype=np.float64)[idx[have]]
                    loss = (bv - mv) if hib else (mv - bv)
                    cand = np.flatnonzero(np.isfinite(loss) & (loss > 0))
                    chosen = sorted(cand.tolist(), key=lambda i: (-loss[i], col.ids[i]))[:worst]
                    for pos, i in enumerate(chosen, 1):
                        out.append(
                            {
                                "task": task,
                                "metric": key,
                                "model": m,
                                "baseline": baseline,
                                "rank": pos,
                                "id": col.ids[i],
                                "baseline_score": float(bv[i]),
                                "model_score": float(mv[i]),
                                "delta": float(mv[i] - bv[i]),
                                "higher_is_better": hib,
                            }
                        )
        return out


def _score(row: ExampleRow, key: str) -> float:
    value = row.scores.get(key)
    if value is None:
        value = row.scores[f"{row.task}/{key}"]
    return float(cast(float, value))


def _texts(row: ExampleRow, key: str) -> dict[str, Any]:
    """Input, output and reference of ``row`` as a list of ``key`` shows them (capped): a per-turn key of a
    conversation shows that turn (the dialogue up to its question, its answer, its reference)."""
    shown = (row.input, row.output, row.reference)
    if row.conversation is not None:
        from .._conversation import turn_view

        shown = turn_view(row.conversation, row.reference, key, shown)
    if row.tool_calls:  # a tool task: the calls are the answer (the text, if any, before them)
        calls = "; ".join(f"{c.get('name')}({c.get('arguments')})" for c in row.tool_calls)
        shown = (shown[0], "\n".join(x for x in (shown[1], f"calls: {calls}") if x), shown[2])
    return {"input": cap(shown[0]), "output": cap(shown[1]), "reference": cap(shown[2])}


def fill_regression_texts(run_dir: str | Path, candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Second pass over examples.jsonl: input, reference, both outputs and judge reasons of the candidates."""
    wanted: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for c in candidates:
        wanted.setdefault((c["task"], c["model"], c["id"]), []).append(c)
        wanted.setdefault((c["task"], c["baseline"], c["id"]), [])
    if not candidates:
        return []
    texts: dict[tuple[str, str, str], ExampleRow] = {}
    for row in iter_examples(run_dir):
        k = (row.task, row.model, row.id)
        if k in wanted:
            texts[k] = row
    out = []
    for c in candidates:
        mine = texts.get((c["task"], c["model"], c["id"]))
        base = texts.get((c["task"], c["baseline"], c["id"]))
        first = mine or base
        shown = _texts(first, c["metric"]) if first else {"input": None, "reference": None}
        out.append(
            {col: None for col in REGRESSION_COLUMNS}
            | c
            | {
                "input": shown["input"],
                "reference": shown["reference"],
                "baseline_output": _texts(base, c["metric"])["output"] if base else None,
                "model_output": _texts(mine, c["metric"])["output"] if mine else None,
                "baseline_judge_reason": cap(judge_reason(base.judge, c["metric"])) if base else "",
                "model_judge_reason": cap(judge_reason(mine.judge, c["metric"])) if mine else "",
            }
        )
    return out


def scan_examples(
    run_dir: str | Path, run: RunResult, *, worst: int = 20, metric: str | None = None, model: str | None = None
) -> ExampleScan:
    """Run an :class:`ExampleScan` over ``run_dir/examples.jsonl``."""
    scan = ExampleScan(run, worst=worst, metric=metric, model=model)
    for row in iter_examples(run_dir):
        scan.add(row)
    return scan


def review_rows(
    run_dir: str | Path,
    *,
    worst: int = 20,
    metric: str | None = None,
    model: str | None = None,
    allow_unfinished: bool = False,
) -> list[dict[str, Any]]:
    """What ``evalstack review`` prints: the ``worst`` lowest-scoring examples per metric and model.

    Per-example metrics only (corpus-only ones such as macro F1 have no per-example score);
    direction-aware (for lower-is-better metrics, the highest values). ``metric`` is ``key`` or
    ``task/key``; ``model`` a model name. Each row has the keys in :data:`LOWEST_COLUMNS`.
    """
    run = read_run(run_dir, allow_unfinished=allow_unfinished)
    check_filters(run, metric=metric, model=model)
    return scan_examples(run_dir, run, worst=worst, metric=metric, model=model).lowest_rows()


def regression_rows(
    run_dir: str | Path,
    *,
    worst: int = 20,
    baseline: str | None = None,
    metric: str | None = None,
    model: str | None = None,
    allow_unfinished: bool = False,
) -> list[dict[str, Any]]:
    """Per task, non-baseline model and per-example metric: the ``worst`` examples where the model lost most
    against ``baseline`` (default: the run's baseline), with both outputs side by side.

    Each row has the keys in :data:`REGRESSION_COLUMNS`; ``delta`` is model - baseline.
    """
    run = read_run(run_dir, allow_unfinished=allow_unfinished)
    check_filters(run, metric=metric, model=model, baseline=baseline)
    scan = scan_examples(run_dir, run, worst=0)
    cands = scan.regression_candidates(baseline or run.baseline, worst=worst, metric=metric, model=model)
    return fill_regression_texts(run_dir, cands)


def rows_to_csv(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    """CSV text (header + rows) via the csv module: quotes and newlines in model text round-trip.

    A text cell that a spreadsheet would run as a formula (it starts with ``= + - @``, tab or CR) gets a
    leading ``'`` (OWASP); our own numbers stay numbers. JSONL (:func:`rows_to_jsonl`) keeps the raw text."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([_csv_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def _csv_cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return csv_cell(as_text(value))


def rows_to_jsonl(rows: Iterable[dict[str, Any]]) -> str:
    """One JSON object per line (references keep their JSON type)."""
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=False, allow_nan=False) + "\n" for r in rows)


def has_examples(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds an examples.jsonl."""
    return (Path(run_dir) / EXAMPLES_JSONL).is_file()

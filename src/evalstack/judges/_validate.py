"""How far can a judge be trusted? Agreement of its verdicts with human labels.

Label files (JSONL/CSV/JSON): pointwise rows ``id, input, output, [reference], [context], human_score``;
pairwise rows ``id, input, output_a, output_b, human`` with ``human`` in {a, b, tie}.

Reported: exact agreement, Cohen's kappa (quadratic-weighted on ordinal point scales, unweighted otherwise;
the same number as scikit-learn's ``cohen_kappa_score``), Spearman's rho (scipy), the confusion matrix
(rows = human, columns = judge), mean bias (judge - human), and warnings below kappa 0.6 or under 100
labels. Agreement, kappa and the confusion matrix use the judge's verdict (the level it chose); Spearman
and bias use its final score (logprob-weighted where available).
"""

from __future__ import annotations

__all__ = ["LabelSet", "ValidationReport", "read_labels", "cohen_kappa", "agreement", "validate_rubric"]

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..errors import DataError
from ._agreement import agreement, cohen_kappa
from ._pairwise import judge_pairwise
from ._pointwise import judge_pointwise, resolve_threshold
from ._prompt import JudgeItem
from ._rubric import Rubric

MIN_KAPPA = 0.6
"""Below this kappa the report warns that the judge needs work (or people) before it is trusted."""
MIN_LABELS = 100
"""Below this many labels the report warns that the estimate is too loose (aim for 100-200)."""

_PAIR = {"a": "a", "b": "b", "tie": "tie", "draw": "tie"}
PAIR_LABELS = ["b", "tie", "a"]
"""Pairwise label order (ordinal: B better < tie < A better)."""


@dataclass
class LabelSet:
    """A human-labelled file, read and checked."""

    path: Path
    kind: str
    """'pointwise' or 'pairwise' (from the columns)."""
    items: list[JudgeItem]
    """Pointwise: what to judge; pairwise: the A side."""
    items_b: list[JudgeItem] | None
    """Pairwise: the B side."""
    human: list[Any]
    """Pointwise: a number on the scale; pairwise: 'a', 'b' or 'tie'."""


def read_labels(path: str | Path, rubric: Rubric) -> LabelSet:
    """Read a label file; a DataError names the file, line and column for every bad row."""
    from ..data import read_rows

    p = Path(path)
    rows = read_rows(p)
    if not rows:
        raise DataError("the label file is empty", where=str(p))
    first = rows[0][1]
    pairwise = "output_a" in first or ("human" in first and "human_score" not in first)
    needed = ["id", "input", "output_a", "output_b", "human"] if pairwise else ["id", "input", "output", "human_score"]
    needed += [f for f in ("reference", "context") if f in rubric.fields]
    if not pairwise and rubric.kind == "pairwise":
        raise DataError(
            f"rubric '{rubric.name}' is pairwise but the file has pointwise rows",
            where=str(p),
            hint="pairwise rows: id, input, output_a, output_b, human (a|b|tie)",
        )
    if pairwise and not rubric.scale.rules.can_compare:
        raise DataError(f"rubric '{rubric.name}' cannot compare two outputs", where=str(p))
    items: list[JudgeItem] = []
    items_b: list[JudgeItem] = []
    human: list[Any] = []  # pairwise: a, b or tie; pointwise: the scale's value
    seen: dict[str, int] = {}
    for line, row in rows:
        where = f"{p}:{line}"
        missing = [c for c in needed if c not in row or row[c] is None or (c == "id" and str(row[c]).strip() == "")]
        if missing:
            raise DataError(
                f"missing column '{missing[0]}' (columns: {', '.join(sorted(row))})",
                where=where,
                hint="rows need " + ", ".join(needed),
            )
        ex_id = str(row["id"])
        if ex_id in seen:
            raise DataError(f"duplicate id '{ex_id}' (first on line {seen[ex_id]})", where=where)
        seen[ex_id] = line
        ref, ctx = row.get("reference"), row.get("context")
        if pairwise:
            h = _PAIR.get(str(row["human"]).strip().lower())
            if h is None:
                raise DataError(f"human {row['human']!r} is not a, b or tie", where=where)
            items.append(JudgeItem(ex_id, str(row["input"]), str(row["output_a"]), ref, ctx))
            items_b.append(JudgeItem(ex_id, str(row["input"]), str(row["output_b"]), ref, ctx))
            human.append(h)
        else:
            items.append(JudgeItem(ex_id, str(row["input"]), str(row["output"]), ref, ctx))
            human.append(rubric.scale.rules.human_value(row["human_score"], rubric.name, where))
    return LabelSet(p, "pairwise" if pairwise else "pointwise", items, items_b if pairwise else None, human)


@dataclass
class ValidationReport:
    """The result of ``evalstack judge validate``."""

    rubric: str
    kind: str
    labels_file: str
    judge_model: str
    n_labels: int
    unscored: int
    stats: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    methods: dict[str, int] = field(default_factory=dict)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``--json``)."""
        return {
            "rubric": self.rubric,
            "kind": self.kind,
            "labels_file": self.labels_file,
            "judge_model": self.judge_model,
            "n_labels": self.n_labels,
            "unscored": self.unscored,
            **self.stats,
            "warnings": self.warnings,
            "usage": self.usage,
            "methods": self.methods,
            "rows": self.rows,
        }


def _warnings(stats: dict[str, Any], n_labels: int, unscored: int) -> list[str]:
    out = []
    kappa = stats.get("kappa")
    if kappa is None:
        out.append(
            "kappa is undefined (every verdict and label in one category): the labels cannot tell "
            "whether the judge agrees with people"
        )
    elif kappa < MIN_KAPPA:
        out.append(
            f"kappa {kappa:.3f} is below {MIN_KAPPA}: the judge does not agree well enough with people "
            "to be trusted unchecked (tighten the rubric, change the judge model, or review by hand)"
        )
    if n_labels < MIN_LABELS:
        out.append(
            f"only {n_labels} labelled examples: agreement estimates are loose below {MIN_LABELS} (label 100-200)"
        )
    if unscored:
        out.append(f"{unscored} of {n_labels} replies could not be scored and are left out of the statistics")
    return out


async def validate_rubric(
    rubric: Rubric, labels: LabelSet, *, provider: Any, runner: Any, spec: Any, task: str = "validate"
) -> ValidationReport:
    """Run the judge over the labelled rows and measure its agreement with the human labels."""
    if labels.kind == "pairwise":
        out = await judge_pairwise(
            rubric,
            labels.items,
            labels.items_b or [],
            provider=provider,
            runner=runner,
            task=task,
            spec=spec,
            name_a="a",
            name_b="b",
        )
        pairs = [out.rows[it.example_id] for it in labels.items]
        rows = {it.example_id: {**r.to_dict(), "human": h} for it, r, h in zip(labels.items, pairs, labels.human)}
        keep = [(h, r.winner) for h, r in zip(labels.human, pairs) if r.winner is not None]
        code = {"a": 1.0, "tie": 0.0, "b": -1.0}
        stats = agreement(
            [h for h, _ in keep],
            [v for _, v in keep],
            labels=PAIR_LABELS,
            weights=None,
            human_num=[code[h] for h, _ in keep],
            judge_num=[code[v] for _, v in keep],
        )
        stats.update(
            mean_bias=None,
            coding="a=1, tie=0, b=-1",
            position_bias_rate=out.summary["position_bias_rate"],
            inconsistent_rate=out.summary["inconsistent_rate"],
        )
        unscored, usage, methods = out.summary["unscored"], out.usage, {}
    else:
        thr = resolve_threshold(rubric, spec.threshold, "--threshold")
        res = await judge_pointwise(rubric, labels.items, provider=provider, runner=runner, task=task, spec=spec)
        judged = [res.rows[it.example_id] for it in labels.items]
        rows = {it.example_id: {**r.to_dict(), "human": h} for it, r, h in zip(labels.items, judged, labels.human)}
        scored = [(h, r) for h, r in zip(labels.human, judged) if r.score is not None]
        human_num, judge_num = [h for h, _ in scored], [cast(float, r.score) for _, r in scored]
        stats = rubric.scale.rules.agreement(human_num, [r.verdict for _, r in scored], judge_num, thr)
        unscored, usage, methods = res.unscored, res.usage, res.method_counts
    return ValidationReport(
        rubric=rubric.name,
        kind=labels.kind,
        labels_file=str(labels.path),
        judge_model=provider.describe(),
        n_labels=len(labels.items),
        unscored=unscored,
        stats=stats,
        warnings=_warnings(stats, len(labels.items), unscored),
        usage=usage,
        methods=methods,
        rows=rows,
    )

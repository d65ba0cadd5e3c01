"""Input drift: did the held-out data change between the baseline's run and the newest run?

Per task, from the example rows each run folder keeps (one model's rows: every model sees the same inputs):
the label distribution (the ``reference`` column, which holds the target of a classification task) by
Pearson's chi-square test of homogeneity (``scipy.stats.chi2_contingency``), and the input length in
characters by the two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``). A small p-value says "the
data changed", which a metric's decline alone cannot tell from "the model got worse".
"""

from __future__ import annotations

__all__ = ["InputDrift", "input_drift"]

from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class InputDrift:
    task: str
    n_baseline: int
    n_newest: int
    labels_p: float | None
    """Chi-square p-value of the label distributions (None: no labels, or one label on both sides)."""
    lengths_p: float | None
    """Kolmogorov-Smirnov p-value of the input lengths."""
    changed: bool
    """Either p-value below alpha."""


def _rows(run_dir: Path) -> dict[str, list[tuple[str, object]]]:
    """Per task, (input, reference) of one model's rows (the run's baseline model)."""
    from ..report import iter_examples, read_run

    model = read_run(run_dir).baseline
    out: dict[str, list[tuple[str, object]]] = {}
    for r in iter_examples(run_dir):
        if r.model == model:
            out.setdefault(r.task, []).append((r.input, r.reference))
    return out


def input_drift(baseline_dir: Path, newest_dir: Path, *, alpha: float = 0.05) -> list[InputDrift]:
    """Per task both runs have: the label chi-square and input-length KS tests."""
    from scipy.stats import chi2_contingency, ks_2samp

    a, b = _rows(baseline_dir), _rows(newest_dir)
    out = []
    for task in [t for t in a if t in b]:
        la = Counter(str(ref) for _, ref in a[task] if isinstance(ref, (str, int, bool)))
        lb = Counter(str(ref) for _, ref in b[task] if isinstance(ref, (str, int, bool)))
        labels = sorted(set(la) | set(lb))
        p_labels = None
        if len(labels) > 1 and la.total() and lb.total() and len(labels) <= 100:
            table = [[la[x] for x in labels], [lb[x] for x in labels]]
            p_labels = float(chi2_contingency(table, correction=False)[1])
        p_len = float(ks_2samp([len(x) for x, _ in a[task]], [len(x) for x, _ in b[task]]).pvalue)
        changed = (p_labels is not None and p_labels < alpha) or p_len < alpha
        out.append(InputDrift(task, len(a[task]), len(b[task]), p_labels, p_len, changed))
    return out

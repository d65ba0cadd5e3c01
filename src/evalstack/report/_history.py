"""report.md's history section: each gated metric over the newest earlier comparable runs of the run store
(same task digests, or config digest, and baseline model), with their CIs; absent without such runs."""

from __future__ import annotations

from pathlib import Path

from ..results import RunResult

LAST = 8
"""Earlier runs shown per metric."""


def history_section(run: RunResult, store: Path | None = None) -> list[str]:
    """Markdown lines (empty when the store is absent or holds no earlier comparable run)."""
    from ..history import RunStore, comparable_rows, default_store

    folder = Path(store) if store is not None else default_store()
    if run.gate is None or not (folder / "runs.sqlite").is_file():  # never create a store to read it
        return []
    own = {t: c for _, t, c, _ in comparable_rows("", run.digests)}
    out: list[str] = []
    rs = RunStore(folder)
    try:
        for metric in dict.fromkeys(r.metric for r in run.gate.rules):
            task, key = metric.split("/", 1)
            if task not in run.tasks:
                continue
            here = own.get(task) or run.config_digest
            for model in [m for m in run.tasks[task].models if m != run.baseline]:
                summary = run.tasks[task].models[model].metrics.get(key)
                if summary is None:
                    continue
                rows: list[tuple[str, str, float | None, float | None, float | None]] = []
                for p in reversed(list(rs.points(task=task, metric=key, model=model))):
                    if p.created_at == run.created_at and p.name == run.name:
                        continue  # this run, if already indexed
                    if (p.comparable or p.config_digest) != here or p.baseline != run.baseline:
                        break
                    rows.insert(0, (p.created_at, p.name, p.value, p.ci_low, p.ci_high))
                    if len(rows) >= LAST:
                        break
                if not rows:
                    continue
                rows.append((run.created_at, f"{run.name} (this run)", summary.value, summary.ci_low, summary.ci_high))
                out += [f"**{metric}**, {model}: the last {len(rows)} comparable runs", ""]
                out += ["| finished | run | value | CI |", "|---|---|---:|---|"]
                for when, name, v, lo, hi in rows:
                    ci = "n/a" if lo is None or hi is None else f"[{lo:.4g}, {hi:.4g}]"
                    val = "n/a" if v is None else f"{v:.4g}"
                    out.append(f"| {when} | {name.replace('|', '/')} | {val} | {ci} |")
                out.append("")
    finally:
        rs.close()
    return ["## History", "", *out] if out else []

"""``evalstack gate RUN --rules R --baseline prod``: a saved candidate run judged against a stored baseline.

The candidate run's own baseline model is left out (a joint run of base + ft keeps ft); the rest are paired
with the stored baseline's per-example rows by `compare` (digests checked, ids matched), and the rules are
judged on those deltas.
"""

from __future__ import annotations

__all__ = ["gate_against_baseline"]

import shutil
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..pipeline import RunOutcome


def gate_against_baseline(
    run_dir: Path,
    ref: str,
    *,
    rules: Path,
    out_dir: Path | None = None,
    intersect: bool = False,
    allow_mismatch: Collection[str] = (),
) -> RunOutcome:
    from ..compare import compare
    from ..gate import load_gate_rules
    from ..report import read_run
    from ._store import resolve_baseline, trimmed_copy

    load_gate_rules(rules)  # a bad rules file fails before any work
    stored = resolve_baseline(ref, base_dir=Path.cwd())
    run = read_run(run_dir)
    keep = [m for m in run.models if m != run.baseline] or list(run.models)
    if stored.model in keep:
        raise ConfigError(
            f"the run's model {stored.model!r} has the stored baseline's model name",
            where="--baseline",
            hint="compare them with `evalstack compare` and --baseline",
        )
    tmp = Path(tempfile.mkdtemp(prefix="evalstack-gate-"))
    try:
        trimmed_copy(Path(run_dir), keep, tmp / "run", baseline=keep[0])
        return compare(
            [tmp / "run", stored.folder],
            out_dir=out_dir or tmp / "gated",
            baseline=stored.model,
            intersect=intersect,
            rules=rules,
            allow_mismatch=allow_mismatch,
            name=run.name,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

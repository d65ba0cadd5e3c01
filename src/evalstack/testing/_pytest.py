"""Assertions that keep evaluation thresholds inside a team's own test suite (pytest or unittest)::

    from evalstack.testing import assert_gate_passes, assert_metric

    def test_finetune_ships():
        result = assert_gate_passes("evals/support.yaml")         # runs it; fails with the gate table
        assert_metric(result, "intent/f1_macro", min=0.85)         # fails with the metric line

Both raise ``AssertionError`` (pytest shows the message, not evalstack's frames). A run is anything
:func:`evalstack.api.load` or :func:`evalstack.run` gives, a ``RunResult``, or a saved run folder; a config
(a YAML path, a dict or a ``Config``) is run first.
"""

from __future__ import annotations

__all__ = ["assert_gate_passes", "assert_metric"]

from pathlib import Path
from typing import Any

from ..errors import ConfigError


def _is_saved_run(path: Path) -> bool:
    return (path.is_dir() and (path / "run.json").is_file()) or (path.is_file() and path.name == "run.json")


def _evaluation(run_or_config: Any, run_kwargs: dict[str, Any]) -> Any:
    """An :class:`~evalstack.api.Evaluation` of a run, a saved run folder, or a config (run now)."""
    from .. import api
    from ..pipeline import RunOutcome
    from ..results import RunResult

    if isinstance(run_or_config, api.Evaluation):
        return run_or_config
    if isinstance(run_or_config, RunOutcome):
        return api.Evaluation(
            run=run_or_config.run,
            out_dir=run_or_config.out_dir,
            failed=run_or_config.failed,
            exit_code=run_or_config.exit_code,
        )
    if isinstance(run_or_config, RunResult):
        return api.Evaluation(
            run=run_or_config, out_dir=Path("."), failed=run_or_config.failed_items, exit_code=run_or_config.exit_code
        )
    if isinstance(run_or_config, (str, Path)) and _is_saved_run(Path(run_or_config)):
        return api.load(run_or_config)
    return api.run(run_or_config, **run_kwargs)


def _text_table(table: Any) -> str:
    """A report Table as aligned plain text (pytest shows it as is; Markdown escapes would be noise)."""
    rows = [list(table.headers)] + [[c.text for c in row] for row in table.rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(table.headers))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def gate_message(run: Any) -> str:
    """The gate verdict and its table (every rule: value, bound, CI, p, result, message)."""
    from ..report import gate_table

    gate = run.gate
    failed = [r for r in gate.rules if not r.passed]
    head = (
        f"evalstack gate {'PASSED' if gate.passed else 'FAILED'} for run '{run.name}': "
        f"{len(failed)} of {len(gate.rules)} rules failed (confidence {gate.confidence})"
    )
    return f"{head}\n{_text_table(gate_table(gate))}"


def assert_gate_passes(run_or_config: Any, **run_kwargs: Any) -> Any:
    """Assert that the run's gate passed and that every item finished; return the
    :class:`~evalstack.api.Evaluation` (for further :func:`assert_metric` calls).

    ``run_or_config`` is a run (``evalstack.run(...)``'s result, a ``RunResult``, a saved run folder or its
    run.json) or a config (YAML path, dict, ``Config``), which is run with ``run_kwargs`` (``out_dir``,
    ``limit``, ``models``...). The AssertionError's message is the gate table. A run without a gate fails
    too (a check that cannot fail is no check): add ``gate: {rules: [...]}`` to the config.
    """
    __tracebackhide__ = True
    ev = _evaluation(run_or_config, run_kwargs)
    if ev.failed:
        raise AssertionError(
            f"evalstack run '{ev.run.name}': {ev.failed} item(s) failed after retries, so the gate "
            f"cannot be trusted (finish them with `evalstack run CONFIG --resume`; rows with `error` "
            f"in {ev.out_dir / 'examples.jsonl'})"
        )
    if ev.run.gate is None:
        raise AssertionError(
            f"evalstack run '{ev.run.name}' has no gate: add `gate: {{rules: [...]}}` to the config "
            "(or use assert_metric)"
        )
    if not ev.run.gate.passed:
        raise AssertionError(gate_message(ev.run))
    return ev


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def assert_metric(
    run: Any,
    metric: str,
    *,
    min: float | None = None,
    max: float | None = None,
    model: str | None = None,
) -> float:
    """Assert ``min <= value <= max`` for ``'<task>/<metric>'`` of ``model``; return the value.

    ``run`` is as for :func:`assert_gate_passes` (a config is run first). ``model`` defaults to the only
    non-baseline model (name it when there are several). The AssertionError's message is the metric line:
    ``intent/accuracy of finetuned = 0.91 (95% CI 0.877..0.943, n=300): below min 0.95``. Unknown task,
    metric or model names raise ConfigError listing what exists.
    """
    __tracebackhide__ = True
    if min is None and max is None:
        raise ConfigError(f"assert_metric('{metric}'): give min=..., max=... or both")
    ev = _evaluation(run, {})
    from ..api import find_metric

    name, s = find_metric(ev.run, metric, model=model)
    conf = ev.run.settings.get("confidence", 0.95)
    line = (
        f"{metric} of {name} = {_fmt(s.value)} ({conf:.0%} CI {_fmt(s.ci_low)}..{_fmt(s.ci_high)}, n={s.n}"
        + (f", {s.unscored} unscored" if s.unscored else "")
        + ")"
    )
    if s.value is None:
        raise AssertionError(f"{line}: undefined (no example could be scored)")
    if min is not None and s.value < min:
        raise AssertionError(f"{line}: below min {min:g}")
    if max is not None and s.value > max:
        raise AssertionError(f"{line}: above max {max:g}")
    return s.value

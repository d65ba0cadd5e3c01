"""The sweep record (sweep.json) and its report: sweep.md, sweep.html (plot inline) and the PNG plot of the
task score (with CI) against step above the train/valid loss on the same x-axis."""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any

from .. import __version__

SCHEMA_VERSION = 1


def _r(x: Any, nd: int = 6) -> Any:
    return (
        None
        if x is None or (isinstance(x, float) and not math.isfinite(x))
        else (round(x, nd) if isinstance(x, float) else x)
    )


def _curve_summary(curve: Any) -> dict[str, Any] | None:
    if curve is None:
        return None
    return {
        "kind": curve.kind,
        "best_step": curve.best_step,
        "best_valid_loss": _r(curve.best_valid_loss),
        "final_step": curve.final.step if curve.final else None,
        "final_valid_loss": _r(curve.final_valid_loss),
        "overfit_message": curve.overfit_message,
        "n_steps": len(curve.table.steps),
        "diagnoses": [d.message for d in curve.diagnoses],
    }


def _gate_on_pick(sw: Any, pick: Any, confirmation: dict[str, Any] | None) -> dict[str, Any] | None:
    """The config's gate on the pick: as judged in the confirmation run, else on the last selection run."""
    if confirmation is not None:
        return confirmation.get("gate")
    gate = sw.cfg.gate
    if gate is None or pick is None or not sw.runs:
        return None
    from ..gate import evaluate_gate

    run = list(sw.runs.values())[-1].run
    rules = [r for r in gate.rules if r.model in (None, pick.name)]
    decision = evaluate_gate(run, gate.model_copy(update={"rules": rules}))
    decision.rules = [r for r in decision.rules if r.model in (None, pick.name)]
    decision.passed = all(r.passed for r in decision.rules)
    return decision.model_dump(mode="json")


def build_result(
    spec: Any,
    sw: Any,
    found: Any,
    chosen: list[Any],
    reasons: dict[str, list[str]],
    notes: list[str],
    rounds: list[dict[str, Any]],
    pick: Any,
    confirmation: dict[str, Any] | None,
    flags: dict[str, dict[str, Any]],
    incomplete: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON-able sweep record."""
    from .._runjson import relative_path
    from ._select import valid_loss_at

    cfg, s = spec.config, spec.sweep
    out = sw.out.resolve()
    chosen_names = {c.name for c in chosen}
    evals = getattr(sw, "evals", {})
    higher = True if sw.higher is None else sw.higher
    loss_best = next((c for c in found.candidates if "best_valid_loss" in reasons.get(c.name, [])), None)
    cands = []
    for c in found.candidates:
        vl, vl_step = valid_loss_at(found.curve, c.step)
        pt = next((p for p in (found.curve.points if found.curve else []) if p.step == vl_step), None)
        ev = evals.get(c.name, {})
        last = ev[max(ev)] if ev else None
        cons = sw.constraint_results.get(c.name) if hasattr(sw, "constraint_results") else None
        cands.append(
            {
                "name": c.name,
                "step": c.step,
                "origin": c.origin,
                "final": c.final,
                "reasons": reasons.get(c.name, []),
                "chosen": c.name in chosen_names,
                "evaluated": bool(ev),
                "valid_loss": _r(vl),
                "valid_loss_step": vl_step,
                "train_loss": _r(pt.train_loss) if pt else None,
                "rounds": {str(r): e for r, e in sorted(ev.items())},
                "score": last,
                "constraints": cons,
                "meets_constraints": None if cons is None else all(g["passed"] for g in cons),
                "flag": flags.get(c.name),
                "pick": pick is not None and c.name == pick.name,
                "loss_best": loss_best is not None and c.name == loss_best.name,
            }
        )
    n_sel = sum(len(sel) for sel, _ in sw.split.values())
    n_conf = sum(len(conf) for _, conf in sw.split.values())
    full = (len(chosen) + 1) * n_sel
    sel_units = sum(1 for u in sw.units if u[2] not in {i for _, conf in sw.split.values() for i in conf})
    gate = _gate_on_pick(sw, pick, confirmation)
    selection = pick and evals.get(pick.name) and evals[pick.name][max(evals[pick.name])]
    flag_lines = []
    for name, f in flags.items():
        step = next(c.step for c in chosen if c.name == name)
        n = evals.get(name, {}).get(f["round"], {}).get("n")
        flag_lines.append(
            f"lower valid loss scored worse on the real task: {name} (step {step}, valid loss "
            f"{f['valid_loss']:.4f}) scored {f['score']:.4g} on {s.objective.metric}, {f['than']} "
            f"(step {f['than_step']}, valid loss {f['than_valid_loss']:.4f}) scored {f['than_score']:.4g}"
            + (f" (same {n} examples; point estimates)" if n else "")
        )
    pick_rec = None
    if pick is not None:
        adjusted = confirmation is not None
        pick_rec = {
            "name": pick.name,
            "step": pick.step,
            "origin": pick.origin,
            "selection": selection,
            "confirmation": confirmation,
            "adjusted": adjusted,
            "note": (
                f"confirmed on {n_conf} held-out example(s) not used to choose it"
                if adjusted
                else "NOT ADJUSTED: confirm_fraction is 0, so the pick's score and CI come from the same "
                "examples it was chosen on (winner's curse: optimistic)"
            ),
        }
    no_pick = pick is None and incomplete is None
    code = 3 if incomplete else (1 if no_pick or (gate is not None and not gate.get("passed", True)) else 0)
    return {
        "schema_version": SCHEMA_VERSION,
        "name": cfg.name,
        "evalstack_version": __version__,
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "source": found.source,
        "baseline": cfg.baseline,
        "objective": {"metric": s.objective.metric, "higher_is_better": higher},
        "constraints": [r.model_dump(mode="json", exclude_none=True) for r in s.constraints],
        "select": s.select if isinstance(s.select, str) else s.select.model_dump(),
        "strategy": s.strategy,
        "eta": s.eta,
        "confirm_fraction": s.confirm_fraction,
        "seed": s.seed,
        "split": {t: {"select": len(sel), "confirm": len(conf)} for t, (sel, conf) in sw.split.items()},
        "curve": _curve_summary(found.curve),
        "candidates": cands,
        "rounds": [
            {**{k: v for k, v in r.items() if k != "values"}, "sizes": sw.round_sizes.get(r["round"], {})}
            for r in rounds
        ],
        "baseline_score": getattr(sw, "baseline_eval", None),
        "pick": pick_rec,
        "no_pick_reason": "no candidate met the constraints" if no_pick else None,
        "loss_best": None if loss_best is None else {"name": loss_best.name, "step": loss_best.step},
        "flags": flag_lines,
        "gate": gate,
        "budget": {
            "strategy": s.strategy,
            "evaluations": sel_units,
            "full_sweep_evaluations": full,
            "fraction_of_full": _r(sel_units / full, 4) if full else None,
            "confirmation_evaluations": 2 * n_conf if pick_rec and pick_rec["adjusted"] else 0,
            "requests_sent": sw.requests["sent"],
            "requests_cached": sw.requests["cached"],
        },
        "runs": {phase: relative_path(str(o.out_dir.resolve()), out) for phase, o in sw.runs.items()},
        "notes": notes,
        "incomplete": incomplete,
        "exit_code": code,
    }


def plot_png(result: dict[str, Any], curve: Any) -> bytes | None:
    """Task score (CI bars) per evaluated candidate against step, the train/valid loss below on the same
    x-axis; the loss-best and the task-best (pick) steps marked on both."""
    rows = [c for c in result["candidates"] if c["score"] and c["score"].get("value") is not None]
    if not rows:
        return None
    from ..report import figure_png, new_figure, plain_text

    has_curve = curve is not None and bool(curve.table.steps)
    fig = new_figure(7.5, 5.2 if has_curve else 3.2)
    axes = fig.subplots(2 if has_curve else 1, 1, sharex=True, squeeze=False)[:, 0]
    ax = axes[0]
    steps = [c["step"] for c in rows]
    vals = [c["score"]["value"] for c in rows]
    lo = [v - (c["score"]["ci_low"] if c["score"]["ci_low"] is not None else v) for v, c in zip(vals, rows)]
    hi = [(c["score"]["ci_high"] if c["score"]["ci_high"] is not None else v) - v for v, c in zip(vals, rows)]
    ax.errorbar(
        steps,
        vals,
        yerr=[lo, hi],
        fmt="o-",
        color="#0969da",
        capsize=3,
        label=plain_text(result["objective"]["metric"]),
    )
    b = result.get("baseline_score") or {}
    if b.get("value") is not None:
        ax.axhline(b["value"], color="#6e7781", lw=1, label=plain_text(f"baseline {result['baseline']}"))
        if b.get("ci_low") is not None and b.get("ci_high") is not None:
            ax.axhspan(b["ci_low"], b["ci_high"], color="#6e7781", alpha=0.12, lw=0)
    ax.set_ylabel(plain_text(result["objective"]["metric"]))
    ax.set_title(plain_text(f"{result['name']}: task score (selection part, CI) and loss by step"))
    marks = []
    if result.get("loss_best"):
        marks.append((result["loss_best"]["step"], "#cf222e", "lowest valid loss"))
    if result.get("pick"):
        marks.append((result["pick"]["step"], "#1a7f37", "pick (task score)"))
    if has_curve:
        lax = axes[1]
        for col, colour, label in (
            ("train_loss", "#6e7781", "train loss"),
            ("valid_loss", "#bf8700", "valid loss"),
            ("full_valid_loss", "#8250df", "full valid loss"),
        ):
            xs, ys = curve.table.series(col)
            if xs:
                lax.plot(xs, ys, "-" if col == "train_loss" else "o-", color=colour, label=label, lw=1, ms=3)
        lax.set_xlabel("step")
        lax.set_ylabel("loss")
        lax.legend(fontsize=8)
    else:
        ax.set_xlabel("step")
    for step, colour, label in marks:
        for a in axes:
            a.axvline(step, color=colour, ls="--", lw=1, label=label if a is ax else None)
    ax.legend(fontsize=8)
    return figure_png(fig)


def _plot_name(result: dict[str, Any]) -> str:
    from ..report import safe_name

    return "sweep_" + safe_name(*result["objective"]["metric"].split("/", 1)) + ".png"


def write_outputs(out: Path, result: dict[str, Any], curve: Any) -> list[Path]:
    """sweep.json, the plot, sweep.md and sweep.html (plot inline) into ``out``."""
    from .._io import atomic_write_bytes, atomic_write_json, atomic_write_text
    from .._outdir import record
    from ._markdown import render_html, render_markdown

    png = plot_png(result, curve)
    result["plot"] = _plot_name(result) if png else None
    paths = [out / "sweep.json", out / "sweep.md", out / "sweep.html"] + ([out / result["plot"]] if png else [])
    record(out, paths)
    written = [atomic_write_json(out / "sweep.json", result, root=out)]
    if png:
        written.append(atomic_write_bytes(out / result["plot"], png, root=out))
    written.append(atomic_write_text(out / "sweep.md", render_markdown(result), root=out))
    written.append(atomic_write_text(out / "sweep.html", render_html(result, png), root=out))
    return written

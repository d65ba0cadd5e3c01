"""Pure decisions of a sweep: which checkpoints to evaluate (from the curve), the selection/confirmation
split, the successive-halving schedule, the ranking, and the "lower valid loss scored worse" flags.

Nothing here runs a model or reads a file: the sweep runner and the bench simulation call the same code.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any


def valid_loss_at(curve: Any, step: int) -> tuple[float | None, int | None]:
    """(valid loss, the step it was measured at) of the curve point at ``step``, else the nearest one."""
    points = getattr(curve, "points", None) or []
    if not points:
        return None, None
    p = min(points, key=lambda q: (abs(q.step - step), q.step))
    return p.valid_loss, p.step


def _nearest(cands: Sequence[Any], step: float) -> Any:
    return min(cands, key=lambda c: (abs(c.step - step), c.step))


def choose_candidates(
    cands: Sequence[Any], curve: Any, select: Any
) -> tuple[list[Any], dict[str, list[str]], list[str]]:
    """The candidates to evaluate, why each is one (``best_valid_loss``, ``final``, ``mid``, ``peak_reward``)
    and notes.

    ``select``: ``"all"``; ``"curve"`` (the best-valid-loss checkpoint, the final one, one mid-training and,
    for RFT, the peak-reward one); an object with ``every`` (steps that are a multiple of N, plus the final).
    Reasons are given in every mode, so the report can mark the loss-best checkpoint whichever was chosen.
    """
    cands = sorted(cands, key=lambda c: c.step)
    reasons: dict[str, list[str]] = {c.name: [] for c in cands}
    notes: list[str] = []
    if not cands:
        return [], reasons, notes
    final = next((c for c in reversed(cands) if c.final), cands[-1])
    reasons[final.name].append("final")
    losses = [(valid_loss_at(curve, c.step)[0], c) for c in cands]
    measured = [(v, c) for v, c in losses if v is not None]
    if measured:
        best = min(measured, key=lambda vc: (vc[0], vc[1].step))[1]
        reasons[best.name].append("best_valid_loss")
    else:
        notes.append(
            "no validation loss in the curve"
            if curve is not None
            else "no loss curve: the best-valid-loss checkpoint is unknown (give sweep.curve)"
        )
    rft = getattr(curve, "rft", None)
    if rft is not None and rft.facts.get("peak_step") is not None:
        reasons[_nearest(cands, rft.facts["peak_step"]).name].append("peak_reward")
    taken = {n for n, r in reasons.items() if r}
    mid_step = (cands[0].step + final.step) / 2
    free = [c for c in cands if c.name not in taken] or list(cands)
    reasons[_nearest(free, mid_step).name].append("mid")
    if select == "all":
        chosen = list(cands)
    elif select == "curve":
        chosen = [c for c in cands if reasons[c.name]]
    else:
        n = select.every
        chosen = [c for c in cands if c.step % n == 0 or c.name == final.name]
    return chosen, reasons, notes


def _order_key(seed: int, ex_id: str) -> str:
    return hashlib.sha256(f"{seed}\0{ex_id}".encode()).hexdigest()


def split_ids(ids: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(selection ids, confirmation ids): a seeded hash order of the ids; the first ``round(n * fraction)``
    confirm (at least one each when ``fraction > 0`` and n >= 2), the rest select. The selection part is
    returned in that hash order (successive halving's slices are its prefixes: random, nested)."""
    order = sorted(ids, key=lambda i: _order_key(seed, i))
    n_conf = round(len(order) * fraction) if fraction > 0 else 0
    if fraction > 0 and len(order) >= 2:
        n_conf = min(max(n_conf, 1), len(order) - 1)
    return order[n_conf:], order[:n_conf]


def halving_sizes(n: int, k: int, eta: int) -> list[int]:
    """Slice sizes of successive halving for ``k`` candidates on ``n`` selection examples: rounds until one
    candidate is left, each round's slice ``eta`` times the last, the last round the whole selection part."""
    rounds = 0
    alive = k
    while alive > 1:
        alive = math.ceil(alive / eta)
        rounds += 1
    return [max(1, math.ceil(n / eta ** (rounds - r))) for r in range(rounds + 1)]


def rank(values: dict[str, float | None], higher_is_better: bool, order: Sequence[str]) -> list[str]:
    """Names best first by value (unscored last; ties by ``order``, e.g. step order)."""
    pos = {n: i for i, n in enumerate(order)}

    def key(name: str) -> tuple[int, float, int]:
        v = values.get(name)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return (1, 0.0, pos.get(name, 0))
        return (0, -v if higher_is_better else v, pos.get(name, 0))

    return sorted(values, key=key)


def successive_halving(
    names: Sequence[str],
    sizes: Sequence[int],
    eta: int,
    evaluate: Callable[[int, list[str], int], tuple[dict[str, float | None], set[str]]],
    higher_is_better: bool | Callable[[], bool],
) -> list[dict[str, Any]]:
    """Run the schedule: round r evaluates the alive candidates on the first ``sizes[r]`` selection
    examples through ``evaluate(r, alive, size) -> ({name: objective}, {names failing a constraint})``;
    those failing a constraint leave, then the better ``ceil(alive / eta)`` by the objective stay.
    ``higher_is_better`` may be a callable: the objective's direction is read from the first round's results
    when no dry run could tell it. Returns one record per round: size, evaluated, values, failed, kept."""
    alive = list(names)
    out = []
    for r, size in enumerate(sizes):
        values, failed = evaluate(r, alive, size)
        ok = [n for n in alive if n not in failed]
        higher = higher_is_better() if callable(higher_is_better) else higher_is_better  # known after round 0
        ranked = rank({n: values.get(n) for n in ok}, higher, names)
        last = r == len(sizes) - 1
        kept = ranked if last else ranked[: max(1, math.ceil(len(alive) / eta))]
        out.append(
            {
                "round": r,
                "size": size,
                "evaluated": list(alive),
                "values": values,
                "failed": sorted(failed),
                "kept": kept,
            }
        )
        alive = [n for n in names if n in kept]
        if not alive:
            break
    return out


def loss_conflicts(rows: Iterable[dict[str, Any]], higher_is_better: bool) -> dict[str, dict[str, Any]]:
    """The "lower valid loss scored worse on the real task" flags: for each candidate, the first other one
    with a higher valid loss but a better objective on the largest slice both were evaluated on.

    ``rows``: dicts with ``name, step, valid_loss`` and ``scores`` (round -> objective value)."""
    rows = [r for r in rows if r.get("valid_loss") is not None]
    flags: dict[str, dict[str, Any]] = {}
    for a in sorted(rows, key=lambda x: x["step"]):
        for b in sorted(rows, key=lambda x: x["step"]):
            if a is b or not a["valid_loss"] < b["valid_loss"]:
                continue
            common = sorted(set(a["scores"]) & set(b["scores"]))
            if not common:
                continue
            rnd = common[-1]
            va, vb = a["scores"][rnd], b["scores"][rnd]
            if va is None or vb is None or va == vb:
                continue
            if (va < vb) == higher_is_better:  # a scored worse
                flags.setdefault(
                    a["name"],
                    {
                        "than": b["name"],
                        "than_step": b["step"],
                        "valid_loss": a["valid_loss"],
                        "than_valid_loss": b["valid_loss"],
                        "score": va,
                        "than_score": vb,
                        "round": rnd,
                    },
                )
    return flags

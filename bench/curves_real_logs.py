"""The SFT curve rules on real public training logs: confusion table per diagnosis, false alarms, best step.

The logs are ``tests/fixtures/real_curves/*.csv`` (numbers only: step, train loss, valid/eval loss, epoch),
taken from public GitHub repositories (HF ``trainer_state.json``, OpenAI ``step_metrics.csv``); the index
``sources.json`` names each one's repository, path and commit, what was kept, and the label given by
reading the curve *before* the rules were tuned (healthy / overfit with its best step / flat / collapse /
oscillating / too_hard), with the diagnosis ids that are true for it.

Prints, per diagnosis id: real logs where it is true, hits (fired and true), misses, false alarms (fired
and not true); then the false-alarm rate on healthy logs (anything fired: a diagnosis or the OVERFIT
warning) and the share of overfit logs flagged with the right best checkpoint.

Run: ``python bench/curves_real_logs.py`` (``--verbose`` lists every log).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from evalstack.curves import SFT_RULE_IDS, analyze, read_curves

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "real_curves"

LABEL_TRUTH = {
    "healthy": (),
    "overfit": ("valid_rises",),
    "flat": ("train_loss_flat",),
    "collapse": ("train_loss_collapse",),
    "oscillating": ("valid_oscillates",),
    "too_hard": ("both_high",),
    "plateau": ("valid_plateau",),
    "gap": ("gap_from_start",),
}
"""The diagnosis a label means; a log lists any further true ids under ``also``."""


def load_index(folder: Path = FIXTURES) -> list[dict[str, Any]]:
    """The entries of ``sources.json``."""
    return json.loads((folder / "sources.json").read_text())["logs"]


def analyze_log(entry: dict[str, Any], folder: Path = FIXTURES):
    """The :class:`CurveReport` of one fixture (its source format and epochs from the index)."""
    table = read_curves(folder / entry["file"])
    table = dataclasses.replace(table, format=entry["format"], n_epochs=entry.get("n_epochs"))
    return analyze(table, label=entry["name"])


def truth(entry: dict[str, Any]) -> set[str]:
    """The diagnosis ids that are true for a log (from its label and ``also``)."""
    return set(LABEL_TRUTH[entry["label"]]) | set(entry.get("also", ()))


def evaluate(folder: Path = FIXTURES) -> dict[str, Any]:
    """Run every log; return per-log results and the summary numbers."""
    logs = []
    for e in load_index(folder):
        rep = analyze_log(e, folder)
        fired = {d.id for d in rep.diagnoses}
        logs.append({"name": e["name"], "label": e["label"], "true": sorted(truth(e)), "fired": sorted(fired),
                     "overfit_warning": rep.overfit_warning, "best_step": rep.best_step,
                     "label_best_step": e.get("best_step"), "format": e["format"]})
    table = {}
    for rid in SFT_RULE_IDS:
        t = [x for x in logs if rid in x["true"]]
        table[rid] = {"real_logs": len(t), "hits": sum(rid in x["fired"] for x in t),
                      "false_alarms": sum(rid in x["fired"] for x in logs if rid not in x["true"])}
    healthy = [x for x in logs if x["label"] == "healthy"]
    alarms = [x for x in healthy if x["fired"] or x["overfit_warning"]]
    overfit = [x for x in logs if x["label"] == "overfit"]
    right = [x for x in overfit if ("valid_rises" in x["fired"] or x["overfit_warning"])
             and x["best_step"] == x["label_best_step"]]
    return {"logs": logs, "table": table, "n_logs": len(logs), "n_healthy": len(healthy),
            "healthy_false_alarms": [x["name"] for x in alarms], "n_overfit": len(overfit),
            "overfit_right": [x["name"] for x in right]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--verbose", action="store_true", help="list every log with its label and what fired")
    args = ap.parse_args()
    res = evaluate()
    labels: dict[str, int] = {}
    for x in res["logs"]:
        labels[x["label"]] = labels.get(x["label"], 0) + 1
    print(f"{res['n_logs']} real training logs: " + ", ".join(f"{n} {k}" for k, n in sorted(labels.items())))
    print()
    print("| diagnosis | real logs where true | hits | misses | false alarms |")
    print("|---|---|---|---|---|")
    for rid, row in res["table"].items():
        miss = row["real_logs"] - row["hits"]
        print(f"| `{rid}` | {row['real_logs'] or 'none (synthetic test only)'} | {row['hits']} | {miss} | {row['false_alarms']} |")
    print()
    nh, fa = res["n_healthy"], res["healthy_false_alarms"]
    print(f"healthy logs with any alarm (diagnosis or OVERFIT): {len(fa)}/{nh} = {len(fa) / max(1, nh):.0%}"
          + (f" ({', '.join(fa)})" if fa else ""))
    no, ok = res["n_overfit"], res["overfit_right"]
    print(f"overfit logs flagged with the right best checkpoint: {len(ok)}/{no} = {len(ok) / max(1, no):.0%}")
    if args.verbose:
        print()
        for x in res["logs"]:
            print(f"{x['name']:<22} {x['format']:<7} {x['label']:<12} true={','.join(x['true']) or '-':<22} "
                  f"fired={','.join(x['fired']) or '-':<34} overfit={x['overfit_warning']!s:<5} best={x['best_step']}"
                  + (f" (label {x['label_best_step']})" if x["label_best_step"] is not None else ""))


if __name__ == "__main__":
    main()

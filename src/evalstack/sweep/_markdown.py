"""sweep.md and sweep.html from the sweep record: the verdict on the pick, the flags, the joined table
(step, why, train/valid loss, task score with CI, delta vs baseline, constraints) and the plot."""

from __future__ import annotations

import base64
import html
from typing import Any

from ..report import fmt_ci, fmt_num, fmt_p


def _cell(text: Any) -> str:
    """One line of sweep.md: HTML characters as entities (a candidate named like a tag stays text)."""
    s = "" if text is None else str(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'").replace("\n", " ")


def _score(e: dict[str, Any] | None) -> str:
    if not e or e.get("value") is None:
        return "n/a"
    return f"{fmt_num(e['value'])} {fmt_ci(e.get('ci_low'), e.get('ci_high'))} (n={e.get('n')})"


def _delta(e: dict[str, Any] | None) -> str:
    d = (e or {}).get("delta")
    if not d or d.get("delta") is None:
        return "n/a"
    return f"{fmt_num(d['delta'], signed=True)} {fmt_ci(d.get('ci_low'), d.get('ci_high'), signed=True)}"


def headline(result: dict[str, Any]) -> list[str]:
    """The verdict lines (also printed by the CLI)."""
    metric = result["objective"]["metric"]
    lines = []
    if result.get("incomplete"):
        inc = result["incomplete"]
        lines.append(
            f"SWEEP INCOMPLETE: {inc['failed']} item(s) failed after retries in phase {inc['phase']} "
            f"({inc['run']}); run the sweep again to retry them (answers so far are cached)"
        )
    p = result.get("pick")
    if p:
        lines.append(
            f"Pick: {p['name']} (step {p['step']}) by {metric}, "
            f"{'higher' if result['objective']['higher_is_better'] else 'lower'} is better"
        )
        src = p["confirmation"] or p["selection"]
        where = "confirmation part" if p["confirmation"] else "selection part (NOT ADJUSTED for selection)"
        d = (src or {}).get("delta") or {}
        lines.append(
            f"  {metric} {_score(src)} on the {where}; vs {result['baseline']}: {_delta(src)}"
            + (f" p {fmt_p(d.get('p_value'))} ({d.get('test')})" if d.get("p_value") is not None else "")
        )
        lines.append(f"  {p['note']}")
        b = result.get("baseline_score")
        if b and b.get("value") is not None:
            lines.append(f"  baseline {result['baseline']}: {metric} {_score(b)} on the selection part")
    elif result.get("no_pick_reason"):
        lines.append(f"No pick: {result['no_pick_reason']}")
    for f in result.get("flags", []):
        lines.append(f"FLAG {f}")
    g = result.get("gate")
    if g is not None:
        n = len(g.get("rules", []))
        shaky = sum(1 for r in g.get("rules", []) if r.get("outcome") == "inconclusive")
        lines.append(
            f"Gate on the pick {'PASSED' if g.get('passed') else 'FAILED'}: {n} rule{'s' if n != 1 else ''}"
            + (f", {shaky} inconclusive" if shaky else "")
        )
        for r in g.get("rules", []):
            if not r.get("passed") or r.get("outcome") not in (None, "pass"):
                lines.append(f"  {(r.get('outcome') or 'fail').upper()} {r.get('rule')}: {r.get('message')}")
    b = result["budget"]
    frac = b.get("fraction_of_full")
    lines.append(
        f"Budget ({b['strategy']}): {b['evaluations']} of a full sweep's {b['full_sweep_evaluations']} "
        f"selection evaluations"
        + (f" ({frac:.0%})" if frac is not None else "")
        + f", + {b['confirmation_evaluations']} to confirm; requests sent {b['requests_sent']}, "
        f"cached {b['requests_cached']}"
    )
    return lines


def _marks(c: dict[str, Any]) -> str:
    out = []
    if c.get("pick"):
        out.append("**pick**")
    if c.get("loss_best"):
        out.append("lowest valid loss")
    if c.get("flag"):
        out.append("FLAG: lower valid loss, worse task score")
    return ", ".join(out)


def table_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the joined table (evaluated candidates, by step)."""
    metric = result["objective"]["metric"]
    head = [
        "step",
        "checkpoint",
        "why",
        "train loss",
        "valid loss",
        f"{metric} [CI] (n)",
        f"delta vs {result['baseline']} [CI]",
        "constraints",
        "",
    ]
    rows = []
    for c in sorted((c for c in result["candidates"] if c["chosen"]), key=lambda c: c["step"]):
        cons = c.get("meets_constraints")
        shaky = any(g.get("outcome") == "inconclusive" for g in c.get("constraints") or [])
        rows.append(
            [
                str(c["step"]),
                c["name"],
                ", ".join(c["reasons"]),
                fmt_num(c.get("train_loss")),
                fmt_num(c.get("valid_loss")),
                _score(c.get("score")),
                _delta(c.get("score")),
                "n/a" if cons is None else (("met (inconclusive)" if shaky else "met") if cons else "FAILED"),
                _marks(c),
            ]
        )
    return head, rows


def render_markdown(result: dict[str, Any]) -> str:
    """sweep.md."""
    o = result
    lines = [
        f"# evalstack sweep: {o['name']}",
        "",
        f"Source: {_cell(o['source'])}. Objective: `{o['objective']['metric']}`. Select: {_cell(o['select'])}; "
        f"strategy: {o['strategy']}; confirmation share: {o['confirm_fraction']} (seed {o['seed']}).",
        "",
    ]
    lines += [f"  - {_cell(x.strip())}" if x.startswith("  ") else f"- {_cell(x)}" for x in headline(o)] + [""]
    head, rows = table_rows(o)
    lines += ["## Candidates", "", "| " + " | ".join(_cell(h) for h in head) + " |", "|" + "---|" * len(head)] + [
        "| " + " | ".join(_cell(x) for x in r) + " |" for r in rows
    ]
    skipped = [c for c in o["candidates"] if not c["chosen"]]
    if skipped:
        lines += [
            "",
            f"Not chosen ({len(skipped)}): " + ", ".join(f"{_cell(c['name'])} (step {c['step']})" for c in skipped),
        ]
    lines.append("")
    lines.append(
        "Scores are each candidate's on the largest selection slice it was evaluated on (n says how many "
        "examples); the pick's reported delta comes from the confirmation part when there is one."
    )
    if o.get("plot"):
        lines += ["", f"![task score and loss by step]({o['plot']})"]
    if o.get("rounds") and len(o["rounds"]) > 1:
        lines += ["", "## Successive halving", ""]
        lines += [
            f"- round {r['round']}: "
            + ", ".join(f"{n} {t}" for t, n in r["sizes"].items())
            + f" example(s), evaluated {', '.join(r['evaluated'])}; "
            f"kept {', '.join(r['kept']) or 'none'}"
            + (f"; failed a constraint: {', '.join(r['failed'])}" if r["failed"] else "")
            for r in o["rounds"]
        ]
    if o.get("curve"):
        c = o["curve"]
        lines += [
            "",
            "## Loss curve",
            "",
            f"- best valid loss {fmt_num(c['best_valid_loss'])} at step {c['best_step']}; "
            f"final {fmt_num(c['final_valid_loss'])} at step {c['final_step']}",
        ]
        lines += [
            f"- {_cell(x)}" for x in ([c["overfit_message"]] if c.get("overfit_message") else []) + c["diagnoses"]
        ]
    if o.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {_cell(x)}" for x in o["notes"]]
    lines += ["", "## Runs", ""] + [f"- {phase}: [{path}]({path}/report.md)" for phase, path in o["runs"].items()]
    return "\n".join(lines) + "\n"


def render_html(result: dict[str, Any], png: bytes | None) -> str:
    """sweep.html: one self-contained page (the plot inline)."""
    e = html.escape
    head, rows = table_rows(result)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        f"<title>evalstack sweep: {e(result['name'])}</title>",
        "<style>body{font-family:sans-serif;max-width:70rem;margin:2rem auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.25rem .5rem;font-size:.9rem}</style></head><body>",
        f"<h1>evalstack sweep: {e(result['name'])}</h1><p>Source: {e(result['source'])}</p><ul>",
    ]
    parts += [f"<li>{e(x)}</li>" for x in headline(result)]
    parts.append("</ul><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
    parts += ["<tr>" + "".join(f"<td>{e(x.replace('**', ''))}</td>" for x in r) + "</tr>" for r in rows]
    parts.append("</table>")
    if png:
        parts.append(
            f"<p><img alt='task score and loss by step' src='data:image/png;base64,{base64.b64encode(png).decode()}'></p>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"

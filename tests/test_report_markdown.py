"""report.md: verdict first, metric x model tables, deltas, slices, checkpoints, tokens, regressions, curves."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from evalstack.report import render_markdown, write_run_json
from fixtures.report.crafted import INTENT_GOLD, INTENT_PRED, PAYLOADS, SUM_SCORES, build_run, write_run_dir


def _section(md: str, title: str) -> str:
    """The text under a heading up to the next heading of the same or higher level."""
    m = re.search(rf"^(#+) {re.escape(title)}.*$", md, flags=re.M)
    assert m, f"no heading {title!r}"
    level = len(m.group(1))
    rest = md[m.end() :]
    nxt = re.search(rf"^#{{1,{level}}} ", rest, flags=re.M)
    return rest[: nxt.start()] if nxt else rest


def _row(md: str, *cells: str) -> str:
    """The one table row that starts with these cells."""
    prefix = "| " + " | ".join(cells) + " |"
    rows = [line for line in md.splitlines() if line.startswith(prefix)]
    assert len(rows) == 1, (prefix, rows)
    return rows[0]


def _cells(row: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


@pytest.fixture(scope="module")
def md() -> str:
    return render_markdown(build_run())


def test_verdict_comes_first_and_names_the_failed_rule(md: str):
    lines = [x for x in md.splitlines() if x.strip()]
    assert lines[0] == "# evalstack report: crafted"
    assert lines[1] == "> ❌ **Gate FAILED: 1 of 3 rules failed (confidence 0.95).**"
    assert lines[2] == "Failed rules:"
    assert lines[3] == (
        "- intent/accuracy max\\_regression 0.05 [ckpt-200]: ckpt-200 is significantly worse than "
        "base by more than 0.05"
    )
    fail = _cells(_row(md, "intent/accuracy max\\_regression 0.05", "ckpt-200"))
    assert fail[2:7] == ["-0.3333", "0.0500", "\\[-0.4133, -0.2533\\]", "0.0100", "❌ **FAIL**"]
    assert _cells(_row(md, "summaries/toxicity\\_rate max 0.2", "ckpt-100"))[6] == "✅ pass"


def test_no_gate_and_passed_gate_verdicts():
    assert "> ℹ️ **No gate configured: the run finished; read the deltas below.**" in render_markdown(
        build_run(gate=False)
    )
    run = build_run()
    run.gate.passed = True
    for r in run.gate.rules:
        r.passed = True
    md = render_markdown(run)
    assert "> ✅ **Gate PASSED: all 3 rules passed (confidence 0.95).**" in md
    assert "Failed rules" not in md


def test_metric_table_values_ci_n_unscored(md: str):
    task = _section(md, "Task `intent`")
    metrics = _section(task, "Metrics")
    acc = sum(p == g for p, g in zip(INTENT_PRED["ckpt-200"], INTENT_GOLD)) / 12
    invalid = sum(p not in ("billing", "bug", "account", "other") for p in INTENT_PRED["ckpt-200"])
    assert _cells(_row(metrics, "accuracy", "ckpt-200")) == [
        "accuracy",
        "ckpt-200",
        f"{acc:.4f}",
        f"\\[{acc - 0.05:.4f}, {acc + 0.05:.4f}\\]",
        "12",
        "0",
        str(invalid),
    ]
    assert "Examples: 12; per model: base 12 (0 failed), ckpt-100 12 (0 failed), ckpt-200 12 (0 failed)" in task
    summ = _section(_section(md, "Task `summaries`"), "Metrics")
    faith = [x for x in SUM_SCORES["judge_faithfulness"]["base"] if x is not None]
    assert _cells(_row(summ, "judge\\_faithfulness", "**base**"))[2:] == [
        f"{sum(faith) / len(faith):.4f}",
        f"\\[{sum(faith) / len(faith) - 0.05:.4f}, {sum(faith) / len(faith) + 0.05:.4f}\\]",
        "9",
        "1",
    ]
    assert "ckpt-100 10 (0 failed)" in _section(md, "Task `summaries`")
    incomplete = render_markdown(build_run(incomplete=True))
    assert "ckpt-100 10 (1 failed)" in _section(incomplete, "Task `summaries`")
    assert incomplete.startswith(
        "# evalstack report: crafted\n\n> 🚧 **INCOMPLETE: 1 item failed after retries; "
        "the gate was not judged. Finish the run with --resume.**"
    )
    assert "- summaries / ckpt-100 generation: 1 of 10 failed" in incomplete
    assert _cells(_row(summ, "toxicity\\_rate (lower is better)", "ckpt-200"))[2] == "0.3000"


def test_deltas_with_arrow_ci_test_and_verdict(md: str):
    deltas = _section(_section(md, "Task `summaries`"), "Deltas vs `base`")
    b = SUM_SCORES["rougeL"]["base"]
    m = SUM_SCORES["rougeL"]["ckpt-200"]
    d = sum(y - x for x, y in zip(b, m)) / 10
    wins, losses = sum(y > x for x, y in zip(b, m)), sum(y < x for x, y in zip(b, m))
    assert _cells(_row(deltas, "rougeL", "ckpt-200")) == [
        "rougeL",
        "ckpt-200",
        f"▼ {d:.4f}",
        f"\\[{d - 0.08:.4f}, {d + 0.08:.4f}\\]",
        "0.0100",
        "wilcoxon",
        f"{wins}/{losses}/{10 - wins - losses}",
        "10",
        "❌ **worse**",
    ]
    assert _cells(_row(deltas, "rouge1", "ckpt-100"))[-1] == "no significant change"
    # lower is better: a drop in toxicity is "better" with a down arrow
    tox = _cells(_row(deltas, "toxicity\\_rate (lower is better)", "ckpt-100"))
    assert tox[2].startswith("▼ -0.1111") and tox[-1] == "✅ **better**"


def test_per_slice_deltas(md: str):
    slices = _section(md, "Per-slice deltas")
    header = _cells(slices.strip().splitlines()[0])
    assert header.count("n") == 1  # one n per row: the delta's (issue 14 item 9)
    row = _cells(_row(slices, "lang=de", "accuracy", "ckpt-100"))
    assert row[3] == "1.0000" and row[4] == "▲ +0.1667" and row[header.index("n")] == "6" and row[-1] == "✅ **better**"
    assert _cells(_row(slices, "lang=en", "accuracy", "ckpt-100"))[4] == "= 0"


def test_checkpoint_table_marks_best_direction_aware(md: str):
    cp = _section(md, "Checkpoints").split("### ")[0]  # the per-task score tables, not the loss-curve join

    def table(task: str) -> dict[str, dict[str, str]]:
        text = cp[cp.index(f"Task `{task}`:") :]
        lines = [x for x in text.split("\n\n")[1].splitlines() if x.startswith("| ")]
        header = _cells(lines[0])
        return {_cells(x)[0]: dict(zip(header, _cells(x))) for x in lines[1:]}

    intent, summaries = table("intent"), table("summaries")
    assert list(intent["ckpt-100"])[:3] == ["model", "step", "accuracy"]  # a column per metric (issue 14 item 9)
    tox = "toxicity\\_rate (lower is better)"
    assert summaries["ckpt-100"][tox] == "**0**"  # lowest toxicity is best
    assert summaries["base (baseline)"][tox] == "0.1000"
    assert intent["ckpt-100"]["accuracy"] == "**0.9167**"
    assert intent["ckpt-200"]["step"] == "200" and intent["base (baseline)"]["step"] == ""
    assert "lower valid loss, worse task score" in _section(md, "Checkpoints and the loss curve")


def test_checkpoint_table_only_with_several_models():
    run = build_run(curves=False)
    del run.models["ckpt-200"]
    for t in run.tasks.values():
        t.models.pop("ckpt-200")
        t.deltas.pop("ckpt-200")
    assert "## Checkpoints" not in render_markdown(run)


def test_token_usage_per_judge_and_model(md: str):
    usage = _section(md, "Token usage")
    assert _cells(_row(usage, "faithfulness")) == ["faithfulness", "30", "0", "0", "15,003", "2,100", "0"]
    assert _cells(_row(usage, "relevance")) == ["relevance", "30", "0", "30", "12,000", "1,500", "0"]
    assert _cells(_row(usage, "ckpt-200")) == ["ckpt-200", "22", "3", "1,240", "324", "9,002", "1,200"]


def test_top_regressions_from_examples(tmp_path: Path):
    run = write_run_dir(tmp_path)
    write_run_json(tmp_path, run)
    md = render_markdown(run, tmp_path, top=2)
    regs = _section(md, "Largest per-example losses")
    # intent: the gated metric; summaries: no gated per-example comparison -> the judge score
    s200 = _section(regs, "`summaries/judge_faithfulness`: `ckpt-200` vs `base`")
    assert [_cells(x)[1] for x in s200.splitlines() if re.match(r"\| \d", x)] == ["s3", "s8"]  # losses 4, 3 (s0: 2)
    assert "No example scored worse than `base`." in _section(
        regs, "`summaries/judge_faithfulness`: `ckpt-100` vs `base`"
    )
    i200 = _section(regs, "`intent/accuracy`: `ckpt-200` vs `base`")
    assert [_cells(x)[1] for x in i200.splitlines() if re.match(r"\| \d", x)] == ["i0", "i2"]
    # long model text is cut and folded to one line
    assert 'He said "fine, thanks", then: left; a tab' in i200
    assert "…" in i200
    assert "Largest per-example losses" not in render_markdown(run)  # no run_dir, no rows: no section


def test_model_text_cannot_break_markdown_or_inject_html(tmp_path: Path):
    run = write_run_dir(tmp_path, evil=True)
    md = render_markdown(run, tmp_path, top=5)
    assert "<script" not in md and "<img" not in md and "<svg" not in md and "<iframe" not in md
    assert "&lt;script&gt;" in md
    for line in md.splitlines():
        if line.startswith("| "):
            assert line.endswith(" |"), line
    # every table row has as many cells as its header
    for block in re.split(r"\n\s*\n", md):
        lines = [x for x in block.splitlines() if x.startswith("|")]
        if lines:
            widths = {len(_cells(x)) for x in lines if not x.startswith("|---")}
            assert len(widths) == 1, block


def test_loss_curve_section_fallback_and_curves_markdown(monkeypatch: pytest.MonkeyPatch):
    run = build_run()
    monkeypatch.setitem(sys.modules, "evalstack.curves", types.ModuleType("evalstack.curves"))  # no curves_markdown
    md = render_markdown(run)
    curves = _section(md, "Loss curves")
    assert _cells(_row(curves, "ckpt run", "200")) == [
        "ckpt run",
        "200",
        "0.8123",
        "1.0456",
        "1.6200",
        "moderate",
        "yes",
        "as reported",
    ]  # no hidden-token correction, no smoothing
    diag = _cells(_row(curves, "ckpt run", "**valid\\_rises**"))
    assert diag[2:4] == ["warning", "Valid loss rises after epoch 2"]
    assert diag[4] == '{"from\\_step": 200, "rise": 0.2333, "to\\_step": 400}'
    fake = types.ModuleType("evalstack.curves")
    fake.curves_markdown = lambda cs: "## Training curves\n\nCURVES-MD " + ", ".join(str(c["best_step"]) for c in cs)
    monkeypatch.setitem(sys.modules, "evalstack.curves", fake)
    md = render_markdown(run)
    assert "CURVES-MD 200" in _section(md, "Training curves") and "## Loss curves" not in md
    fake.curves_markdown = lambda cs: [c.table for c in cs]  # takes CurveReport objects only
    assert "valid\\_rises" in _section(render_markdown(run), "Loss curves")
    fake.curves_markdown = lambda cs: "## Training curves\n\n<b>x</b> & ->"  # its text is HTML-escaped
    assert "&lt;b>x&lt;/b> &amp; ->" in render_markdown(run)
    assert "Loss curves" not in render_markdown(build_run(curves=False))


def test_payload_in_run_name_is_escaped():
    md = render_markdown(build_run(evil=True))
    first = md.splitlines()[0]
    assert first.startswith("# evalstack report: crafted &lt;script&gt;")
    assert PAYLOADS[0] not in md

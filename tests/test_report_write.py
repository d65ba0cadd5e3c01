"""write_reports: every file of the output-folder contract, with the content each must hold."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from evalstack.report import (
    LOWEST_COLUMNS,
    REGRESSION_COLUMNS,
    read_run,
    regression_rows,
    render_junit,
    review_rows,
    write_reports,
)
from fixtures.report.crafted import write_run_dir

EXPECTED = [
    "run.json",
    "report.md",
    "report.html",
    "junit.xml",
    "review/lowest.csv",
    "review/lowest.jsonl",
    "review/regressions.csv",
    "plots/forest.png",
    "plots/confusion_intent.png",
    "plots/hist_intent_accuracy.png",
    "plots/hist_summaries_judge-faithfulness.png",
    "plots/hist_summaries_rouge1.png",
    "plots/hist_summaries_rougeL.png",
    "plots/hist_summaries_toxicity-rate.png",
]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("run")
    run = write_run_dir(d)
    (d / "plots").mkdir()
    (d / "plots" / "stale_from_last_time.png").write_bytes(b"old")  # listed in the manifest: evalstack wrote it
    (d / "plots" / "users_own.png").write_bytes(b"mine")  # not listed: never deleted
    (d / ".evalstack-run").write_text(json.dumps({"files": ["run.json", "plots/stale_from_last_time.png"]}))
    paths = write_reports(d, run, worst=3)
    return d, run, paths


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_contract_file_is_written(written):
    d, run, paths = written
    assert [p.relative_to(d).as_posix() for p in paths] == EXPECTED
    assert not (d / "plots" / "stale_from_last_time.png").exists()
    assert (d / "plots" / "users_own.png").read_bytes() == b"mine"
    manifest = json.loads((d / ".evalstack-run").read_text())["files"]
    assert manifest == sorted(["run.json", *EXPECTED[1:]]) and "plots/users_own.png" not in manifest
    assert not list(d.rglob(".*.tmp"))  # atomic writes leave no temp files
    assert not list((d / "plots").glob("loss*"))  # curve PNGs stay in curves/, inlined in the HTML only


def test_run_json_and_junit(written):
    d, run, _ = written
    assert read_run(d) == run
    assert (d / "junit.xml").read_text(encoding="utf-8") == render_junit(run)
    ET.parse(d / "junit.xml")


def test_review_files_hold_the_review_rows(written):
    d, _, _ = written
    low = _csv(d / "review" / "lowest.csv")
    assert list(low[0]) == LOWEST_COLUMNS
    expect = review_rows(d, worst=3)
    assert [(r["task"], r["model"], r["metric"], r["id"], float(r["score"])) for r in low] == [
        (r["task"], r["model"], r["metric"], r["id"], r["score"]) for r in expect
    ]
    assert len(low) == 3 * (1 + 4) * 3  # 3 models x (accuracy + 4 summaries metrics) x 3 worst
    jl = [json.loads(x) for x in (d / "review" / "lowest.jsonl").read_text(encoding="utf-8").splitlines()]
    assert jl == expect
    reg = _csv(d / "review" / "regressions.csv")
    assert list(reg[0]) == REGRESSION_COLUMNS
    rexp = regression_rows(d, worst=3)
    assert [(r["task"], r["model"], r["metric"], r["id"], r["baseline_output"], r["model_output"]) for r in reg] == [
        (r["task"], r["model"], r["metric"], r["id"], r["baseline_output"], r["model_output"]) for r in rexp
    ]
    worst = next(r for r in reg if r["metric"] == "rougeL" and r["model"] == "ckpt-200")
    assert (worst["id"], float(worst["baseline_score"]), float(worst["model_score"])) == ("s3", 0.9, 0.1)


def test_plots_are_pngs_and_reports_reference_them(written):
    from PIL import Image

    d, _, _ = written
    for rel in EXPECTED[7:]:
        im = Image.open(d / rel)
        assert im.format == "PNG" and im.size[0] >= 300, rel
    md = (d / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# evalstack report: crafted\n\n> ❌ **Gate FAILED")
    assert "## What got worse vs `base`" in md and "### Largest per-example losses" in md
    html = (d / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 8


def test_reports_are_byte_stable(written, tmp_path: Path):
    d, run, _ = written
    d2 = tmp_path / "again"
    run2 = write_run_dir(d2)
    write_reports(d2, run2, worst=3)
    for rel in EXPECTED:
        assert (d / rel).read_bytes() == (d2 / rel).read_bytes(), rel


def test_without_examples(tmp_path: Path):
    run = write_run_dir(tmp_path, curves=False)
    (tmp_path / "examples.jsonl").unlink()
    paths = write_reports(tmp_path, run)
    names = [p.relative_to(tmp_path).as_posix() for p in paths]
    assert names == EXPECTED[:7] + ["plots/forest.png", "plots/confusion_intent.png"]
    assert (tmp_path / "review" / "lowest.csv").read_bytes() == (",".join(LOWEST_COLUMNS) + "\r\n").encode()
    assert (tmp_path / "review" / "lowest.jsonl").read_text(encoding="utf-8") == ""
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "### Significantly worse metrics" in md  # from run.json alone
    assert "### Largest per-example losses" not in md and "### New failure modes" not in md
    assert "examples.jsonl was not found" in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert list(csv.reader(io.StringIO((tmp_path / "review" / "regressions.csv").read_text(encoding="utf-8")))) == [
        REGRESSION_COLUMNS
    ]


def test_curve_pngs_follow_the_plots_mapping_inside_the_run_folder(tmp_path: Path):
    from evalstack.report._plots import curve_pngs
    from fixtures.report.crafted import tiny_png

    run_dir = tmp_path / "run"
    (run_dir / "curves" / "curves").mkdir(parents=True)
    (run_dir / "curves" / "curves" / "sft_loss.png").write_bytes(tiny_png())  # nested as write_curve_outputs does
    (run_dir / "curves" / "extra.png").write_bytes(tiny_png())
    (tmp_path / "outside.png").write_bytes(tiny_png())
    curves = [
        {
            "label": "sft",
            "plots": {"loss": "curves/sft_loss.png", "escape": "../outside.png", "missing": "curves/nope.png"},
        }
    ]
    got = [(p.title, p.name) for p in curve_pngs(run_dir, curves)]
    assert got == [("sft: loss", "sft_loss"), ("extra", "extra")]

"""Bad input is reported cheaply and precisely, through the real CLI (issue 14 items 6, 7; issue 13 item 20).

- every config, data, template and file check runs before any model or metric backend is loaded: with
  bertscore configured, a bad input exits 2 without torch / transformers / bert_score ever being imported;
- each error names the config key (tasks[0].prompt.user, tasks[0].data.path, tasks[0].slice_by[0]) with the
  columns and a did-you-mean, and gold labels outside `labels` are listed with their counts;
- duplicates in a metric's list option are exit 2 (they created a phantom class; checked against sklearn).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = """\
name: t
baseline: base
models:
  base: {provider: replay, path: base.jsonl}
  ft: {provider: replay, path: ft.jsonl}
tasks:
  - name: intent
    data: {path: data.jsonl, id: id}
    prompt: {user: "Ticket: {{ text }}"}
    target: label
    labels: [a, b]
    slice_by: [region]
    metrics: [accuracy, {f1: {average: macro}}]
output: out
"""

HEAVY = ("torch", "transformers", "bert_score")

# the CLI's own main(), in a fresh interpreter; afterwards print which heavy modules it imported
_PROBE = (
    "import json, sys\n"
    "from evalstack.cli import main\n"
    "code = main(sys.argv[1:])\n"
    f"print(json.dumps({{'heavy': sorted(m for m in {HEAVY!r} if m in sys.modules)}}))\n"
    "sys.exit(code)\n"
)


def setup(tmp: Path, cfg: str = GOOD, gold: list[str] | None = None) -> Path:
    gold = gold or ["a" if i % 2 else "b" for i in range(20)]
    rows = [
        {"id": f"e{i}", "text": f"ticket {i}", "label": g, "region": "eu" if i < 10 else "us"}
        for i, g in enumerate(gold)
    ]
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("base", "ft"):
        (tmp / f"{name}.jsonl").write_text(
            "".join(json.dumps({"id": r["id"], "output": r["label"]}) + "\n" for r in rows)
        )
    p = tmp / "cfg.yaml"
    p.write_text(cfg)
    return p


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_API_KEY": "sk-FAKE-input-checks-0000"}
    return subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=env, timeout=300)


def error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def heavy_imported(r: subprocess.CompletedProcess) -> list[str]:
    return json.loads(r.stdout.strip().splitlines()[-1])["heavy"]


# ------------------------------------------------------------------ 14.6 cheap checks before heavy loads

BERT = ("metrics: [accuracy, {f1: {average: macro}}]", "metrics: [accuracy, bertscore]\n    reference: label")

BAD_WITH_BERTSCORE = [
    ("missing replay file", [("path: ft.jsonl", "path: nope.jsonl")], ["nope.jsonl"]),
    ("missing data file", [("path: data.jsonl", "path: nodata.jsonl")], ["tasks[0].data.path", "nodata.jsonl"]),
    ("template typo", [("{{ text }}", "{{ txt }}")], ["tasks[0].prompt.user", "'txt'"]),
    ("slice typo", [("slice_by: [region]", "slice_by: [regoin]")], ["tasks[0].slice_by[0]", "did you mean 'region'"]),
    (
        "gate key typo",
        [("output: out", "output: out\ngate: {rules: [{metric: intent/bertscore_f11, min: 0.5}]}")],
        ["gate.rules[0].metric", "did you mean 'intent/bertscore_f1'"],
    ),
    ("missing curves file", [("output: out", "output: out\ncurves: [nope.csv]")], ["nope.csv"]),
    (
        "missing rubric",
        [
            ("output: out", "output: out\njudge: {provider: replay, path: base.jsonl}"),
            ("slice_by: [region]", "slice_by: [region]\n    judges: [{rubric: no_such_rubric.yaml}]"),
        ],
        ["tasks[0].judges[0]"],
    ),
]


@pytest.mark.parametrize("name,edits,needles", BAD_WITH_BERTSCORE, ids=[c[0] for c in BAD_WITH_BERTSCORE])
def test_bad_input_exits_2_before_any_metric_backend_loads(tmp_path, name, edits, needles):
    pytest.importorskip("bert_score")
    text = GOOD.replace(*BERT)
    for old, new in edits:
        assert old in text
        text = text.replace(old, new, 1)
    r = cli("run", str(setup(tmp_path, text)))
    line = error_line(r)
    for needle in needles:
        assert needle in line, (needle, line)
    assert heavy_imported(r) == [], f"{name}: {heavy_imported(r)} imported before the error"
    assert not (tmp_path / "out" / "run.json").exists()


def test_good_config_with_bertscore_does_load_it(tmp_path):
    """The probe can see an import: a valid config with bertscore loads the backend (and finishes)."""
    pytest.importorskip("bert_score")
    r = cli("--quiet", "run", str(setup(tmp_path, GOOD.replace(*BERT))))
    assert r.returncode == 0, r.stderr
    assert "bert_score" in heavy_imported(r)


# ------------------------------------------------------------------ 14.7 errors name the key


def test_template_typo_names_the_key_the_columns_and_a_did_you_mean(tmp_path):
    line = error_line(cli("run", str(setup(tmp_path, GOOD.replace("{{ text }}", "{{ txt }}")))))
    assert "tasks[0].prompt.user" in line
    assert "columns: id, label, region, text" in line
    assert "did you mean 'text'" in line


def test_slice_by_unknown_column_gets_a_did_you_mean(tmp_path):
    line = error_line(cli("run", str(setup(tmp_path, GOOD.replace("slice_by: [region]", "slice_by: [regoin]")))))
    assert "tasks[0].slice_by[0]" in line and "'regoin'" in line and "did you mean 'region'" in line


def test_missing_data_file_names_the_key(tmp_path):
    line = error_line(cli("run", str(setup(tmp_path, GOOD.replace("path: data.jsonl", "path: nope.jsonl")))))
    assert "tasks[0].data.path" in line and "nope.jsonl" in line and "file not found" in line


def test_gold_labels_outside_labels_are_all_listed_with_counts(tmp_path):
    gold = ["a"] * 5 + ["b"] * 7 + ["c"] * 3 + ["Billing"] * 1 + ["a"] * 4
    cfg = setup(tmp_path, GOOD.replace("labels: [a, b]", "labels: [a, z]"), gold=gold)
    line = error_line(cli("run", str(cfg)))
    assert "tasks[0].labels" in line
    for needle in ("'b' (7 rows)", "'c' (3 rows)", "'Billing' (1 row)"):
        assert needle in line, (needle, line)
    assert "11 of 20 rows" in line


# ------------------------------------------------------------------ 13.20 duplicate labels in a metric option


def test_duplicate_labels_in_a_metric_option_are_exit_2(tmp_path):
    cfg = setup(tmp_path, GOOD.replace("{f1: {average: macro}}", "{f1: {average: macro, labels: [a, a, b]}}"))
    line = error_line(cli("run", str(cfg)))
    assert "tasks[0].metrics[1]" in line and "labels" in line and "'a'" in line and "duplicate" in line


def test_distinct_labels_in_a_metric_option_give_sklearns_macro_f1(tmp_path):
    from sklearn.metrics import f1_score

    cfg = setup(tmp_path, GOOD.replace("{f1: {average: macro}}", "{f1: {average: macro, labels: [a, b]}}"))
    r = cli("--quiet", "run", str(cfg))
    assert r.returncode == 0, r.stderr
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    gold = ["a" if i % 2 else "b" for i in range(20)]
    expected = f1_score(gold, gold, labels=["a", "b"], average="macro")
    assert expected == 1.0
    assert run["tasks"]["intent"]["models"]["ft"]["metrics"]["f1_macro"]["value"] == pytest.approx(expected)


@pytest.mark.parametrize("option", ["{rouge: {types: [rouge1, rouge1]}}", "{f1: {average: [macro, macro]}}"])
def test_duplicates_in_any_list_option_are_exit_2(tmp_path, option):
    cfg = setup(
        tmp_path,
        GOOD.replace("{f1: {average: macro}}", option).replace("target: label", "target: label\n    reference: text"),
    )
    line = error_line(cli("run", str(cfg)))
    assert "tasks[0].metrics[1]" in line and "duplicate" in line

"""Review lists: lowest scores (direction-aware) and biggest regressions, checked against a plain re-computation
over all rows; CSV/JSONL round-trips of tricky model text; the review command."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalstack.errors import ConfigError
from evalstack.report import (
    LOWEST_COLUMNS,
    REGRESSION_COLUMNS,
    regression_rows,
    review_rows,
    rows_to_csv,
    rows_to_jsonl,
    write_run_json,
)
from evalstack.report._cli import review
from evalstack.results import ExampleRow
from fixtures.report.crafted import BASELINE, SUM_HIB, TRICKY, raw_rows, write_run_dir

HIB = dict(SUM_HIB, accuracy=True)
PER_EXAMPLE = {"intent": ["accuracy"], "summaries": sorted(SUM_HIB)}  # f1_macro is corpus-only: never listed


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = write_run_dir(tmp_path / "run")
    write_run_json(tmp_path / "run", run)
    return tmp_path / "run"


def expected_lowest(rows: list[dict], task: str, model: str, key: str, worst: int) -> list[tuple[str, float]]:
    scored = [
        (r["id"], r["scores"][key])
        for r in rows
        if r["task"] == task and r["model"] == model and r["scores"].get(key) is not None
    ]
    sign = 1 if HIB[key] else -1
    return sorted(scored, key=lambda t: (sign * t[1], t[0]))[:worst]


def expected_regressions(
    rows: list[dict], task: str, model: str, key: str, worst: int
) -> list[tuple[str, float, float]]:
    base = {r["id"]: r["scores"].get(key) for r in rows if r["task"] == task and r["model"] == BASELINE}
    out = []
    for r in rows:
        if (
            r["task"] == task
            and r["model"] == model
            and r["scores"].get(key) is not None
            and base.get(r["id"]) is not None
        ):
            b, m = base[r["id"]], r["scores"][key]
            loss = (b - m) if HIB[key] else (m - b)
            if loss > 0:
                out.append((loss, r["id"], b, m))
    return [(i, b, m) for _, i, b, m in sorted(out, key=lambda t: (-t[0], t[1]))[:worst]]


@pytest.mark.parametrize("worst", [1, 3, 20])
def test_lowest_rows_match_a_plain_sort(run_dir: Path, worst: int):
    rows = raw_rows(run_dir)
    got = review_rows(run_dir, worst=worst)
    groups = sorted({(r["task"], r["model"], r["metric"]) for r in got})
    assert groups == sorted(
        (t, m, k) for t, keys in PER_EXAMPLE.items() for k in keys for m in ("base", "ckpt-100", "ckpt-200")
    )
    for task, model, key in groups:
        mine = [r for r in got if (r["task"], r["model"], r["metric"]) == (task, model, key)]
        assert [(r["id"], r["score"]) for r in mine] == expected_lowest(rows, task, model, key, worst)
        assert [r["rank"] for r in mine] == list(range(1, len(mine) + 1))
        assert all(list(r) == LOWEST_COLUMNS for r in mine)


def test_lowest_is_direction_aware_and_carries_texts(run_dir: Path):
    tox = review_rows(run_dir, worst=3, metric="summaries/toxicity_rate", model="ckpt-200")
    # lower is better: the worst are the toxic ones (1.0), ties by id
    assert [(r["id"], r["score"]) for r in tox] == [("s0", 1.0), ("s2", 1.0), ("s6", 1.0)]
    assert all(r["higher_is_better"] is False for r in tox)
    s2 = tox[1]
    assert s2["output"] == "summary summaries#2 by ckpt-200 " + TRICKY
    assert s2["input"] == "document summaries#2 " + TRICKY
    assert s2["reference"] == "reference summaries#2 " + TRICKY
    # a non-judge metric carries every judge's reason; a judge metric only its own
    assert s2["judge_reason"] == f"faithfulness: reason summaries#2 by ckpt-200 {TRICKY}\nrelevance: relevant 2"
    faith = review_rows(run_dir, worst=2, metric="judge_faithfulness", model="ckpt-200")
    assert [(r["id"], r["score"]) for r in faith] == [("s2", 1.0), ("s3", 1.0)]
    assert faith[1]["judge_reason"] == "reason summaries#3 by ckpt-200"
    # list references survive as lists
    s4 = review_rows(run_dir, worst=20, metric="rougeL", model="base")
    assert next(r for r in s4 if r["id"] == "s4")["reference"] == ["reference summaries#4", "second reference"]


def test_unscored_and_failed_rows_are_never_listed(run_dir: Path):
    got = review_rows(run_dir, worst=20, metric="summaries/judge_faithfulness")
    ids = {(r["model"], r["id"]) for r in got}
    assert ("base", "s2") not in ids  # judge reply unparseable: unscored
    assert ("ckpt-100", "s9") not in ids  # generation failed
    assert len([r for r in got if r["model"] == "ckpt-200"]) == 10


def test_filters_are_checked(run_dir: Path):
    with pytest.raises(ConfigError, match=r"--metric: unknown metric 'bleu' \(metrics in this run: intent/accuracy"):
        review_rows(run_dir, metric="bleu")
    with pytest.raises(
        ConfigError, match=r"--model: unknown model 'gpt' \(models in this run: base, ckpt-100, ckpt-200\)"
    ):
        review_rows(run_dir, model="gpt")
    with pytest.raises(ConfigError, match=r"--baseline: unknown baseline 'x'"):
        regression_rows(run_dir, baseline="x")
    assert {r["task"] for r in review_rows(run_dir, metric="intent/accuracy")} == {"intent"}


@pytest.mark.parametrize("worst", [1, 2, 20])
def test_regression_rows_match_a_plain_pairing(run_dir: Path, worst: int):
    rows = raw_rows(run_dir)
    got = regression_rows(run_dir, worst=worst)
    for task, keys in PER_EXAMPLE.items():
        for model in ("ckpt-100", "ckpt-200"):
            for key in keys:
                mine = [r for r in got if (r["task"], r["model"], r["metric"]) == (task, model, key)]
                assert [(r["id"], r["baseline_score"], r["model_score"]) for r in mine] == expected_regressions(
                    rows, task, model, key, worst
                )
    assert all(list(r) == REGRESSION_COLUMNS for r in got)
    assert not [r for r in got if r["model"] == BASELINE]


def test_regression_rows_side_by_side_and_other_baseline(run_dir: Path):
    got = regression_rows(run_dir, worst=1, metric="summaries/rougeL", model="ckpt-200")
    assert len(got) == 1
    r = got[0]
    assert (r["id"], r["baseline_score"], r["model_score"]) == ("s3", 0.90, 0.10)
    assert r["delta"] == pytest.approx(-0.80)
    assert r["baseline_output"] == "summary summaries#3 by base"
    assert r["model_output"] == "summary summaries#3 by ckpt-200"
    assert r["baseline_judge_reason"] == "faithfulness: reason summaries#3 by base\nrelevance: relevant 3"
    # lower-is-better: ckpt-200 turned toxic where base was clean
    tox = regression_rows(run_dir, worst=5, metric="toxicity_rate", model="ckpt-200")
    assert [(x["id"], x["delta"]) for x in tox] == [("s0", 1.0), ("s2", 1.0)]
    # against another baseline
    other = regression_rows(run_dir, worst=1, baseline="ckpt-100", metric="summaries/rougeL")
    assert {(x["model"], x["baseline"]) for x in other} == {("base", "ckpt-100"), ("ckpt-200", "ckpt-100")}
    assert next(x for x in other if x["model"] == "ckpt-200")["id"] == "s3"


def test_csv_and_jsonl_round_trip_tricky_text(run_dir: Path):
    rows = review_rows(run_dir, worst=20)
    text = rows_to_csv(rows, LOWEST_COLUMNS)
    back = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(back) == len(rows)
    for a, b in zip(rows, back):
        assert b["output"] == (a["output"] or "")
        assert b["input"] == a["input"]
        assert b["judge_reason"] == a["judge_reason"]
        assert float(b["score"]) == a["score"]
        assert b["reference"] == (
            a["reference"] if isinstance(a["reference"], str) else json.dumps(a["reference"], sort_keys=True)
        )
    assert any(TRICKY in b["output"] for b in back)
    jl = [json.loads(line) for line in rows_to_jsonl(rows).splitlines()]
    assert jl == rows


def test_review_command(run_dir: Path, tmp_path: Path):
    runner = CliRunner()
    res = runner.invoke(review, [str(run_dir), "--worst", "2", "--metric", "summaries/rougeL", "--model", "ckpt-200"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == "summaries/rougeL  ckpt-200  #1  id=s3  score 0.1000"
    res = runner.invoke(
        review, [str(run_dir), "--regressions", "--worst", "1", "--metric", "rougeL", "--format", "jsonl"]
    )
    assert [json.loads(x)["id"] for x in res.output.splitlines()] == ["s3", "s3"]
    out = tmp_path / "r.csv"
    res = runner.invoke(review, [str(run_dir), "--format", "csv", "--out", str(out)])
    assert res.exit_code == 0
    assert list(csv.DictReader(out.open(newline="", encoding="utf-8"))) == list(
        csv.DictReader(io.StringIO(rows_to_csv(review_rows(run_dir), LOWEST_COLUMNS), newline=""))
    )
    res = runner.invoke(review, [str(run_dir), "--model", "nope"])
    assert isinstance(res.exception, ConfigError)


def test_a_large_file_gives_the_same_lists_as_a_plain_recomputation(tmp_path: Path):
    """20k rows x 3 models (the streaming scan keeps N rows per group, not the rows): the lists equal a plain
    sort over every row. Its speed is measured by bench/bench_review_bootstrap.py, not asserted here."""
    from fixtures.report.crafted import build_run

    run = build_run(gate=False, curves=False)
    d = tmp_path / "big"
    d.mkdir()
    n = 20_000
    models = ("base", "ckpt-100", "ckpt-200")
    score = {m: [((i * 7919 + m_i * 104729) % 1000) / 1000 for i in range(n)] for m_i, m in enumerate(models)}
    with (d / "examples.jsonl").open("w", encoding="utf-8") as f:
        for m in models:
            for i in range(n):
                s = score[m][i]
                f.write(
                    ExampleRow(
                        task="summaries",
                        model=m,
                        id=f"x{i}",
                        input="x" * 200,
                        output="y" * 200,
                        reference="z",
                        scores={"rougeL": s, "rouge1": s},
                    ).model_dump_json()
                    + "\n"
                )
    write_run_json(d, run)
    rows = regression_rows(d, worst=5, metric="summaries/rougeL")
    low = review_rows(d, worst=5, metric="summaries/rougeL")
    assert len(rows) == 10 and len(low) == 15
    for m in models:  # lowest 5 per model, by a plain sort of all 20k scores
        assert [r["score"] for r in low if r["model"] == m] == pytest.approx(sorted(score[m])[:5])
    for m in models[1:]:  # the 5 biggest losses against the baseline, by a plain sort of all deltas
        deltas = sorted(score[m][i] - score["base"][i] for i in range(n))[:5]
        assert [r["delta"] for r in rows if r["model"] == m] == pytest.approx(deltas)

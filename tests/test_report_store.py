"""run.json: written from the record, validated by the committed JSON Schema, read back with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import evalstack.report as report
from evalstack.errors import DataError
from evalstack.report import SCHEMA_FILE, iter_examples, read_run, run_json_schema, write_run_json
from evalstack.results import SCHEMA_VERSION, RunResult
from fixtures.report.crafted import build_run, example_rows


def test_public_api_is_pinned():
    assert sorted(report.__all__) == sorted(
        [
            "CSP",
            "LOWEST_COLUMNS",
            "REGRESSION_COLUMNS",
            "SCHEMA_FILE",
            "iter_examples",
            "read_run",
            "regression_rows",
            "render_html",
            "render_junit",
            "render_markdown",
            "review_rows",
            "rows_to_csv",
            "rows_to_jsonl",
            "run_json_schema",
            "write_reports",
            "write_run_json",
            "write_run_schema",
            # what the CLI, api, judges, sweep and testing show (issue 15: no import of a report._module outside report/)
            "cost_line",
            "cost_table",
            "fmt_ci",
            "fmt_num",
            "fmt_p",
            "gate_table",
            "figure_png",
            "new_figure",
            "plain_text",
            "incomplete_lines",
            "model_order",
            "run_json_path",
            "safe_name",
            "summary_lines",
            "task_metric_keys",
            "verdict",
            "write_report_files",
            # report formats are plug-ins (evalstack.registry kind report_format)
            "ReportFormat",
            "register_report_format",
            "report_formats",
        ]
    )
    for name in report.__all__:
        assert getattr(report, name) is not None


def test_committed_schema_equals_generated():
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == run_json_schema(), (
        "src/evalstack/schema/run.schema.json is stale: regenerate it with "
        "`python -c 'from evalstack.report import write_run_schema; write_run_schema()'`"
    )
    assert committed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert committed["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    jsonschema.Draft202012Validator.check_schema(committed)


def test_written_run_json_validates_and_round_trips(tmp_path: Path):
    run = build_run()
    path = write_run_json(tmp_path, run)
    data = json.loads(path.read_text(encoding="utf-8"))
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["tasks"]["intent"]["models"]["ckpt-200"]["metrics"]["accuracy"]["value"] == pytest.approx(0.5)
    assert data["gate"]["passed"] is False
    assert read_run(tmp_path) == run
    assert read_run(path) == run  # the file itself works too
    # the schema really constrains: a wrong type or an unknown key is rejected
    bad = json.loads(json.dumps(data))
    bad["tasks"]["intent"]["models"]["base"]["metrics"]["accuracy"]["n"] = "twelve"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = dict(data, surprise=1)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_non_finite_values_are_written_as_null_with_a_warning(tmp_path: Path):
    run = build_run()
    run.tasks["intent"].models["base"].metrics["accuracy"].ci_low = float("nan")
    with pytest.warns(RuntimeWarning, match=r"tasks\.intent\.models\.base\.metrics\.accuracy\.ci_low"):
        write_run_json(tmp_path, run)
    data = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert data["tasks"]["intent"]["models"]["base"]["metrics"]["accuracy"]["ci_low"] is None


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "run.json").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (
            lambda d: d.update(schema_version=0),
            r"schema_version 0 \(written by evalstack 0\.1\.0\) is older .*reads \(1\).*re-run",
        ),
        (lambda d: d.update(schema_version=SCHEMA_VERSION + 1), r"schema_version 2 .* is newer .*upgrade evalstack"),
        (lambda d: d.pop("schema_version"), r"no integer schema_version"),
        (lambda d: d.update(schema_version="1"), r"no integer schema_version"),
        (lambda d: d["tasks"]["intent"].update(n_examples="many"), r"at tasks\.intent\.n_examples: .*integer"),
        (lambda d: d.update(extra_field=1), r"at extra_field: Extra inputs are not permitted"),
    ],
)
def test_read_run_version_and_shape_errors(tmp_path: Path, mutate, pattern):
    data = build_run().model_dump(mode="json")
    mutate(data)
    d = _write(tmp_path, json.dumps(data))
    with pytest.raises(DataError, match=pattern) as exc:
        read_run(d)
    assert str(tmp_path / "run.json") in str(exc.value)
    assert "\n" not in str(exc.value)


def test_read_run_missing_and_bad_json(tmp_path: Path):
    with pytest.raises(DataError, match=r"no run\.json here \(give a run folder"):
        read_run(tmp_path)
    _write(tmp_path, '{"schema_version": 1, "name": ')
    with pytest.raises(DataError, match=r"not valid JSON at line 1 column 31"):
        read_run(tmp_path)
    _write(tmp_path, "[1, 2]")
    with pytest.raises(DataError, match=r"must hold a JSON object"):
        read_run(tmp_path)
    (tmp_path / "run.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(DataError, match=r"not UTF-8"):
        read_run(tmp_path)


def test_iter_examples_streams_rows_and_names_the_bad_line(tmp_path: Path):
    rows = example_rows()
    lines = [r.model_dump_json() for r in rows]
    (tmp_path / "examples.jsonl").write_text("\n".join(lines[:3]) + "\n\n" + lines[3] + "\n", encoding="utf-8")
    assert list(iter_examples(tmp_path)) == rows[:4]
    (tmp_path / "examples.jsonl").write_text(lines[0] + "\n" + '{"task": "intent"}\n', encoding="utf-8")
    it = iter_examples(tmp_path)
    assert next(it) == rows[0]
    with pytest.raises(DataError, match=r"examples\.jsonl:2: at model: Field required"):
        next(it)
    with pytest.raises(DataError, match=r"no examples\.jsonl here"):
        list(iter_examples(tmp_path / "nowhere"))


def test_schema_documents_every_record_field():
    schema = run_json_schema()
    for name, model_schema in schema["$defs"].items():
        assert model_schema.get("additionalProperties") is False, name
    assert set(schema["properties"]) == set(RunResult.model_fields)

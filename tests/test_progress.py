"""No silent stage, and --quiet keeps the results (issue 14 item 5), through the CLI on captured output.

Every stage after the request bars (scoring per metric, judge reply parsing, statistics, plots, reports)
announces itself on stderr labelled by model, task and metric or rubric, so that the lines of two models'
judges differ; `--quiet` (the global flag and the run option) drops those lines but prints the results
(the deltas and the gate decision) and errors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalstack.cli import main

N = 10


def _judge(req: dict) -> str:
    return json.dumps({"reason": "checked", "score": 4})


def project(tmp: Path, base_url: str) -> Path:
    rows = [
        {"id": f"e{i}", "question": f"What is {i}+{i}?", "answer": str(2 * i), "kind": "even" if i % 2 else "odd"}
        for i in range(N)
    ]
    (tmp / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    outs = {
        "base": {r["id"]: (r["answer"] if i % 3 else "no idea") for i, r in enumerate(rows)},
        "ft": {r["id"]: r["answer"] for r in rows},
    }
    for name, o in outs.items():
        (tmp / f"{name}.jsonl").write_text("".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in o.items()))
    cfg = tmp / "cfg.yaml"
    cfg.write_text(f"""\
name: progress
baseline: base
models:
  base: {{provider: replay, path: base.jsonl}}
  ft: {{provider: replay, path: ft.jsonl}}
judge: {{provider: openai, model: judge-model, base_url: "{base_url}", api_key_env: PROGRESS_JUDGE_KEY}}
tasks:
  - name: qa
    data: {{path: d.jsonl, id: id}}
    prompt: {{user: "{{{{ question }}}}"}}
    reference: answer
    slice_by: [kind]
    metrics: [exact_match, token_f1, toxicity]
    judges: [factual_correctness]
gate: {{rules: [{{metric: qa/exact_match, min: 0.5}}]}}
cache: c.sqlite
output: out
""")
    return cfg


@pytest.fixture
def cfg(tmp_path, monkeypatch, srv):
    monkeypatch.setenv("PROGRESS_JUDGE_KEY", "sk-progress-judge-0123456789")
    srv.reply_with(_judge)
    return project(tmp_path, srv.base_url)


STAGE = re.compile(r"^\[\s*\d+\.\d+s\] ")


def stage_lines(err: str) -> list[str]:
    return [STAGE.sub("", line) for line in err.splitlines() if STAGE.match(line)]


def test_every_stage_has_a_labelled_line(cfg, capsys):
    assert main(["run", str(cfg)]) == 0
    out, err = capsys.readouterr()
    lines = stage_lines(err)
    for model in ("base", "ft"):
        # generation (no bars when stderr is not a terminal): one line per model and task
        assert f"{model} · qa: {N} request(s), 0 from the cache" in lines, lines
        # scoring: the quick metrics together, each metric that loads a backend on its own line
        assert f"scoring {model} · qa: exact_match, token_f1 ({N} outputs)" in lines, lines
        assert f"scoring {model} · qa: toxicity ({N} outputs)" in lines, lines
        # the judge of each model has its own label: the two "judge factual_correctness" lines differ
        assert f"{model} · qa · judge factual_correctness: {N} request(s), 0 from the cache" in lines, lines
        assert f"{model} · qa · judge factual_correctness: parsing {N} replies" in lines, lines
    assert "statistics qa: 2 models, 2000 resamples, slices by kind" in lines, lines
    assert any(line.startswith("plots: ") for line in lines), lines
    assert any(line.startswith("reports: report.md") for line in lines), lines
    # stages come in the order they run
    order = [
        next(i for i, line in enumerate(lines) if line.startswith(p))
        for p in ("base · qa: ", "base · qa · judge", "scoring base", "statistics", "plots", "reports")
    ]
    assert order == sorted(order), lines
    # and the results follow
    assert "Gate PASSED" in err and "qa/exact_match  ft - base:" in err


@pytest.mark.parametrize("argv", [["--quiet", "run"], ["run", "--quiet"], ["-q", "run"]])
def test_quiet_prints_results_and_errors_only(cfg, capsys, argv):
    assert main([*argv, str(cfg)]) == 0
    out, err = capsys.readouterr()
    assert stage_lines(err) == [] and stage_lines(out) == []
    assert "scoring" not in err and "request(s)" not in err
    # the results: where the run went, each delta, the gate decision
    assert "wrote " in err and "qa/exact_match  ft - base:" in err and "Gate PASSED" in err
    # an error under --quiet is still said, in one line
    cfg.write_text(cfg.read_text().replace("{{ question }}", "{{ questoin }}"))
    assert main([*argv, str(cfg)]) == 2
    out, err = capsys.readouterr()
    assert err.strip().startswith("error: ") and "did you mean 'question'" in err and len(err.strip().splitlines()) == 1

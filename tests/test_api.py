"""evalstack.run / evalstack.api: the notebook API returns the run's numbers, checked independently."""

from __future__ import annotations

import asyncio
import doctest
import json
from pathlib import Path

import pytest
from rouge_score import rouge_scorer
from sklearn.metrics import accuracy_score, f1_score

import evalstack
import evalstack.api
from evalstack.config import load_config
from evalstack.errors import ConfigError

LABELS = ["billing", "bug", "account"]
N = 30


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_project(tmp: Path, *, gate: str = "", extra: str = "") -> dict:
    """A two-task project with recorded outputs and a recorded judge; returns the truth to check against.

    intent: base right on 2 of 3 tickets, tuned right on 9 of 10 (free text, parsed with mode first).
    summaries: rougeL against references; the replay judge answers every summary with a reason.
    """
    tickets = [
        {"id": f"t{i}", "text": f"ticket {i}", "label": LABELS[i % 3], "channel": "chat" if i % 2 else "mail"}
        for i in range(N)
    ]
    base = [t["label"] if i % 3 else LABELS[(i + 1) % 3] for i, t in enumerate(tickets)]
    tuned = [f"Label: {t['label']}" if i % 10 else "unsure" for i, t in enumerate(tickets)]
    docs = [
        {
            "id": f"s{i}",
            "document": f"customer {i} asks about order {i}",
            "summary": f"customer {i} asks about an order",
        }
        for i in range(12)
    ]
    base_s = [f"order {i} question" for i in range(12)]
    tuned_s = [f"customer {i} asks about order" for i in range(12)]
    _jsonl(tmp / "intent.jsonl", tickets)
    _jsonl(tmp / "docs.jsonl", docs)
    _jsonl(
        tmp / "base.jsonl",
        [{"id": t["id"], "output": o} for t, o in zip(tickets, base)]
        + [{"id": d["id"], "output": o} for d, o in zip(docs, base_s)],
    )
    _jsonl(
        tmp / "tuned.jsonl",
        [{"id": t["id"], "output": o} for t, o in zip(tickets, tuned)]
        + [{"id": d["id"], "output": o} for d, o in zip(docs, tuned_s)],
    )
    _jsonl(
        tmp / "verdicts.jsonl",
        [
            {"id": d["id"], "output": json.dumps({"reason": f"covers request {i}", "score": 4})}
            for i, d in enumerate(docs)
        ],
    )
    (tmp / "eval.yaml").write_text(f"""\
name: proj
baseline: base
models:
  base:  {{provider: replay, path: base.jsonl}}
  tuned: {{provider: replay, path: tuned.jsonl}}
judge: {{provider: replay, path: verdicts.jsonl}}
tasks:
  - name: intent
    data: {{path: intent.jsonl, id: id}}
    prompt: {{user: "Ticket: {{{{ text }}}}\\nLabel:"}}
    target: label
    labels: [billing, bug, account]
    label_parsing: {{mode: first}}
    metrics: [accuracy, {{f1: {{average: macro}}}}]
    slice_by: channel
  - name: summaries
    data: {{path: docs.jsonl, id: id}}
    prompt: {{user: "Summarize: {{{{ document }}}}"}}
    reference: summary
    metrics: [{{rouge: {{types: [rougeL]}}}}]
    judges: [answer_relevance]
stats: {{n_resamples: 200}}
output: out
{gate}{extra}""")
    return {
        "labels": [t["label"] for t in tickets],
        "base": base,
        "tuned": [o.removeprefix("Label: ") if o != "unsure" else "__invalid__" for o in tuned],
        "refs": [d["summary"] for d in docs],
        "base_s": base_s,
        "tuned_s": tuned_s,
        "ids": [t["id"] for t in tickets],
    }


def _rougeL(preds: list[str], refs: list[str]) -> list[float]:
    sc = rouge_scorer.RougeScorer(["rougeL"])
    return [sc.score(target=r, prediction=p)["rougeL"].fmeasure for p, r in zip(preds, refs)]


def test_docstring_example_runs() -> None:
    res = doctest.testmod(evalstack.api, optionflags=doctest.ELLIPSIS)
    assert res.attempted >= 15 and res.failed == 0


def test_run_returns_tidy_numbers_equal_to_sklearn_and_rouge(tmp_path: Path) -> None:
    truth = write_project(tmp_path)
    result = evalstack.run(tmp_path / "eval.yaml")
    assert isinstance(result, evalstack.api.Evaluation) and isinstance(result, evalstack.RunOutcome)
    assert result.exit_code == 0 and result.gate is None and result.out_dir == tmp_path / "out"
    m = {(r["model"], r["metric"]): r for r in result.metrics}
    y = truth["labels"]
    for model in ("base", "tuned"):
        assert m[(model, "intent/accuracy")]["value"] == pytest.approx(accuracy_score(y, truth[model]))
        assert m[(model, "intent/f1_macro")]["value"] == pytest.approx(
            f1_score(y, truth[model], labels=LABELS, average="macro", zero_division=0)
        )
        assert m[(model, "summaries/rougeL")]["value"] == pytest.approx(
            sum(_rougeL(truth[f"{model}_s"], truth["refs"])) / 12
        )
        assert m[(model, "summaries/judge_answer_relevance")]["value"] == 4.0
    assert [r["model"] for r in result.metrics][:2] == ["base", "tuned"]  # baseline first
    d = {r["metric"]: r for r in result.deltas}
    assert set(d) == {"intent/accuracy", "intent/f1_macro", "summaries/rougeL", "summaries/judge_answer_relevance"}
    assert d["intent/accuracy"]["delta"] == pytest.approx(
        accuracy_score(y, truth["tuned"]) - accuracy_score(y, truth["base"])
    )
    right_b = [a == b for a, b in zip(truth["base"], y)]
    right_t = [a == b for a, b in zip(truth["tuned"], y)]
    acc = d["intent/accuracy"]
    assert (acc["wins"], acc["losses"], acc["ties"]) == (
        sum(t and not b for b, t in zip(right_b, right_t)),
        sum(b and not t for b, t in zip(right_b, right_t)),
        sum(b == t for b, t in zip(right_b, right_t)),
    )
    assert acc["baseline"] == "base" and acc["model"] == "tuned" and acc["ci_low"] <= acc["delta"] <= acc["ci_high"]
    # the same values as run.json on disk
    saved = json.loads((tmp_path / "out" / "run.json").read_text())
    assert (
        saved["tasks"]["intent"]["models"]["tuned"]["metrics"]["accuracy"]["value"]
        == m[("tuned", "intent/accuracy")]["value"]
    )


def test_to_pandas_one_row_per_example_and_model(tmp_path: Path) -> None:
    truth = write_project(tmp_path)
    result = evalstack.run(tmp_path / "eval.yaml")
    df = result.to_pandas()
    assert len(df) == 2 * (N + 12)
    assert {
        "task",
        "model",
        "id",
        "input",
        "output",
        "reference",
        "error",
        "accuracy",
        "rougeL",
        "judge_answer_relevance",
        "judge_answer_relevance_reason",
        "channel",
    } <= set(df.columns)
    intent = df[(df.task == "intent") & (df.model == "tuned")].set_index("id").loc[truth["ids"]]
    assert intent["accuracy"].tolist() == [float(a == b) for a, b in zip(truth["tuned"], truth["labels"])]
    assert intent["channel"].tolist() == ["chat" if i % 2 else "mail" for i in range(N)]
    assert intent["input"].iloc[3] == "ticket 3"  # the example's input field, not the rendered prompt
    summ = df[(df.task == "summaries") & (df.model == "base")].sort_values("id", key=lambda s: s.str[1:].astype(int))
    assert summ["rougeL"].tolist() == pytest.approx(_rougeL(truth["base_s"], truth["refs"]))
    assert summ["judge_answer_relevance_reason"].tolist() == [f"covers request {i}" for i in range(12)]
    metrics = result.to_pandas("metrics")
    assert len(metrics) == 8 and metrics.groupby("model")["value"].count().to_dict() == {"base": 4, "tuned": 4}
    assert len(result.to_pandas("deltas")) == 4
    with pytest.raises(ConfigError, match="expected 'examples'"):
        result.to_pandas("rows")


def test_to_markdown_is_the_report(tmp_path: Path) -> None:
    write_project(tmp_path, gate="gate: {rules: [{metric: intent/accuracy, min: 0.95}]}\n")
    result = evalstack.run(tmp_path / "eval.yaml")
    assert result.exit_code == 1 and result.gate is not None and not result.gate.passed
    assert result.to_markdown() == (tmp_path / "out" / "report.md").read_text()
    assert result._repr_markdown_().startswith("# evalstack report: proj")


def test_path_dict_and_config_give_the_same_run(tmp_path: Path) -> None:
    write_project(tmp_path)
    a = evalstack.run(str(tmp_path / "eval.yaml"), out_dir=tmp_path / "a")
    cfg = load_config(tmp_path / "eval.yaml")
    b = evalstack.run(cfg, out_dir=tmp_path / "b")
    import yaml

    data = yaml.safe_load((tmp_path / "eval.yaml").read_text())
    for key in ("base", "tuned"):
        data["models"][key]["path"] = str(tmp_path / data["models"][key]["path"])
    data["judge"]["path"] = str(tmp_path / "verdicts.jsonl")
    for t in data["tasks"]:
        t["data"]["path"] = str(tmp_path / t["data"]["path"])
    c = evalstack.run(data, out_dir=tmp_path / "c", limit=10)
    assert a.metrics == b.metrics
    assert a.out_dir == tmp_path / "a" and c.out_dir == tmp_path / "c"
    assert {r["metric"]: r["n"] for r in c.metrics if r["model"] == "base"}["intent/accuracy"] == 10


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited")
def test_works_inside_a_running_event_loop(tmp_path: Path) -> None:
    """Jupyter runs an event loop in the main thread; the pipeline's asyncio.run cannot nest in it."""
    write_project(tmp_path)
    from evalstack import pipeline

    async def notebook_cell(fn, out):
        return fn(tmp_path / "eval.yaml", out_dir=tmp_path / out)

    with pytest.raises(RuntimeError, match="running event loop"):
        asyncio.run(notebook_cell(pipeline.run, "plain"))
    import gc

    gc.collect()  # the never-awaited coroutine warns here, under this test's filter
    result = asyncio.run(notebook_cell(evalstack.run, "nb"))
    assert result.exit_code == 0 and (tmp_path / "nb" / "run.json").is_file()


def test_load_a_saved_run(tmp_path: Path) -> None:
    write_project(tmp_path, gate="gate: {rules: [{metric: intent/accuracy, min: 0.95}]}\n")
    ran = evalstack.run(tmp_path / "eval.yaml")
    loaded = evalstack.api.load(tmp_path / "out")
    assert loaded.metrics == ran.metrics and loaded.deltas == ran.deltas
    assert loaded.exit_code == ran.exit_code == 1 and loaded.failed == 0
    assert evalstack.api.load(tmp_path / "out" / "run.json").out_dir == tmp_path / "out"
    assert len(loaded.to_pandas()) == 2 * (N + 12)


def test_metric_lookup_and_its_errors(tmp_path: Path) -> None:
    truth = write_project(tmp_path)
    result = evalstack.run(tmp_path / "eval.yaml")
    s = result.metric("intent/accuracy")  # the only non-baseline model
    assert s.value == pytest.approx(accuracy_score(truth["labels"], truth["tuned"])) and s.n == N
    assert result.metric("intent/accuracy", model="base").value == pytest.approx(
        accuracy_score(truth["labels"], truth["base"])
    )
    with pytest.raises(ConfigError, match=r"no task 'intnet' in run 'proj' \(tasks: intent, summaries\)"):
        result.metric("intnet/accuracy")
    with pytest.raises(ConfigError, match=r"no metric 'acc' .*metrics: accuracy, f1_macro"):
        result.metric("intent/acc")
    with pytest.raises(ConfigError, match="no model 'ft'"):
        result.metric("intent/accuracy", model="ft")
    with pytest.raises(ConfigError, match="must be '<task>/<metric>'"):
        result.metric("accuracy")


def test_bad_config_raises_before_anything_is_written(tmp_path: Path) -> None:
    write_project(tmp_path)
    with pytest.raises(ConfigError, match="baseline"):
        evalstack.run(
            {
                "name": "x",
                "baseline": "nope",
                "models": {"a": {"provider": "mock"}},
                "tasks": [
                    {
                        "name": "t",
                        "data": {"path": str(tmp_path / "intent.jsonl")},
                        "prompt": {"user": "{{ text }}"},
                        "target": "label",
                    }
                ],
            }
        )
    assert not (tmp_path / "out").exists()

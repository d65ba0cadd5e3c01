"""`evalstack init`: the guess from real files, a config that loads and runs with recorded outputs, flags, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from rouge_score import rouge_scorer
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from evalstack.cli import main
from evalstack.config import load_config

INTENTS = ["billing", "bug", "account", "shipping"]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _tickets(n: int = 40) -> list[dict]:
    return [
        {
            "ticket_id": f"k{i:03d}",
            "channel": "chat" if i % 2 else "mail",
            "label": INTENTS[i % 4],
            "text": f"customer {i} writes about their {INTENTS[i % 4]} problem in some detail",
        }
        for i in range(n)
    ]


def _init(*args: str) -> int:
    return main(["init", *map(str, args)])


def _record(folder: Path, name: str, outputs: dict[str, str]) -> None:
    _jsonl(folder / "outputs" / f"{name}.jsonl", [{"id": k, "output": v} for k, v in outputs.items()])


def test_classification_guess_loads_and_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _tickets()
    data = _jsonl(tmp_path / "data" / "tickets.jsonl", rows)
    cfg_path = tmp_path / "evals" / "my-eval.yaml"
    cfg_path.parent.mkdir()
    assert _init(data, "--out", cfg_path, "--provider", "replay") == 0
    out = capsys.readouterr().out
    assert f"{data}: 40 rows, 4 columns" in out
    assert "ticket_id  str   40 (unique)" in out
    assert (
        "task: classification on 'label' (4 labels: account, billing, bug, shipping); input: 'text'; id: 'ticket_id'"
        in out
    )
    text = cfg_path.read_text()
    assert text.startswith("# evalstack config written by `evalstack init`")
    assert 'path: "../data/tickets.jsonl"' in text  # relative to the config's folder
    cfg = load_config(cfg_path)
    (task,) = cfg.tasks
    assert (
        task.target == "label" and task.labels == sorted(INTENTS) and task.data.id == "ticket_id"
    )  # by count, then name
    assert task.data.path.resolve() == data.resolve()
    assert [m.name for m in task.metrics] == ["accuracy", "f1", "balanced_accuracy"]
    assert task.metrics[1].options == {"average": "macro"}
    assert task.prompt.user == "{{ text }}" and "account, billing, bug, shipping" in task.prompt.system
    assert [(r.metric, r.max_regression) for r in cfg.gate.rules] == [("tickets/f1_macro", 0.01)]
    assert set(cfg.models) == {"base", "finetuned"} and cfg.baseline == "base"
    # with recorded outputs at the paths it names, the config runs as written
    y = [r["label"] for r in rows]
    base = [INTENTS[(i + (i % 3 == 0)) % 4] for i in range(40)]
    tuned = [INTENTS[i % 4] if i % 8 else "other" for i in range(40)]
    _record(cfg_path.parent, "base", {r["ticket_id"]: p for r, p in zip(rows, base)})
    _record(cfg_path.parent, "finetuned", {r["ticket_id"]: p.upper() + "." for r, p in zip(rows, tuned)})
    assert main(["run", str(cfg_path), "--quiet"]) in (0, 1)
    run = json.loads((cfg_path.parent / "reports" / "tickets" / "run.json").read_text())
    m = run["tasks"]["tickets"]["models"]
    tuned_parsed = [p if p in INTENTS else "__invalid__" for p in tuned]
    assert m["base"]["metrics"]["accuracy"]["value"] == pytest.approx(accuracy_score(y, base))
    assert m["finetuned"]["metrics"]["accuracy"]["value"] == pytest.approx(accuracy_score(y, tuned_parsed))
    assert m["finetuned"]["metrics"]["f1_macro"]["value"] == pytest.approx(
        f1_score(y, tuned_parsed, labels=INTENTS, average="macro", zero_division=0)
    )
    assert m["base"]["metrics"]["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(y, base))
    assert run["gate"]["rules"][0]["metric"] == "tickets/f1_macro"


def test_short_answers_become_qa_and_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": f"q{i}", "question": f"What is {i} plus {i}?", "answer": str(2 * i)} for i in range(25)]
    data = _jsonl(tmp_path / "qa.jsonl", rows)
    assert _init(data, "--out", tmp_path / "qa.yaml", "--provider", "replay") == 0
    assert "task: qa against 'answer'; input: 'question'; id: 'id'" in capsys.readouterr().out
    cfg = load_config(tmp_path / "qa.yaml")
    assert cfg.tasks[0].reference == "answer" and [m.name for m in cfg.tasks[0].metrics] == ["exact_match", "token_f1"]
    _record(tmp_path, "base", {r["id"]: r["answer"] if i % 2 else "no" for i, r in enumerate(rows)})
    _record(tmp_path, "finetuned", {r["id"]: r["answer"] for r in rows})
    assert main(["run", str(tmp_path / "qa.yaml"), "--quiet"]) == 0
    m = json.loads((tmp_path / "reports" / "qa" / "run.json").read_text())["tasks"]["qa"]["models"]
    assert m["base"]["metrics"]["exact_match"]["value"] == pytest.approx(12 / 25)
    assert m["finetuned"]["metrics"]["exact_match"]["value"] == 1.0


def _articles(n: int = 12) -> list[dict]:
    return [
        {
            "url": f"https://news.example/{i}",
            "article": f"The council of town {i} met on Monday and voted to repair "
            f"the old bridge over the river, which had been closed for {i + 2} months after the spring floods.",
            "highlights": f"Town {i} votes to repair its flood-damaged bridge.",
        }
        for i in range(n)
    ]


def test_csv_long_references_become_generation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _articles()
    with (tmp_path / "news.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert _init(tmp_path / "news.csv", "--out", tmp_path / "news.yaml", "--id-column", "url") == 0
    out = capsys.readouterr().out
    assert "task: generation against 'highlights'; input: 'article'; id: 'url'" in out
    cfg = load_config(tmp_path / "news.yaml")
    t = cfg.tasks[0]
    assert t.reference == "highlights" and t.prompt.user == "{{ article }}"
    assert [m.name for m in t.metrics] == ["rouge", "bertscore"]
    assert t.metrics[0].options == {"types": ["rouge1", "rouge2", "rougeL"], "stemmer": True}
    assert cfg.gate.rules[0].metric == "news/rougeL" and cfg.gate.rules[0].require_non_inferiority == 0.02
    assert cfg.models["base"].provider == "openai" and cfg.models["finetuned"].model.startswith("ft:")


@pytest.mark.slow
def test_generation_config_runs_with_bertscore(tmp_path: Path) -> None:
    rows = _articles(8)
    data = _jsonl(tmp_path / "news.jsonl", rows)
    assert _init(data, "--out", tmp_path / "news.yaml", "--provider", "replay", "--id-column", "url") == 0
    base = {r["url"]: "A meeting happened." for r in rows}
    tuned = {r["url"]: r["highlights"].replace("votes", "decides") for r in rows}
    _record(tmp_path, "base", base)
    _record(tmp_path, "finetuned", tuned)
    assert main(["run", str(tmp_path / "news.yaml"), "--quiet"]) == 0
    m = json.loads((tmp_path / "reports" / "news" / "run.json").read_text())["tasks"]["news"]["models"]
    sc = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    want = sum(sc.score(target=r["highlights"], prediction=tuned[r["url"]])["rougeL"].fmeasure for r in rows) / 8
    assert m["finetuned"]["metrics"]["rougeL"]["value"] == pytest.approx(want)
    assert m["finetuned"]["metrics"]["bertscore_f1"]["value"] > m["base"]["metrics"]["bertscore_f1"]["value"]


def test_parquet_and_hf_folder_via_datasets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import datasets

    rows = _tickets(30)
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "t.parquet"))
    assert _init(tmp_path / "t.parquet", "--out", tmp_path / "p.yaml") == 0
    assert "classification on 'label'" in capsys.readouterr().out
    counts = {k: sum(r["label"] == k for r in rows) for k in INTENTS}
    assert load_config(tmp_path / "p.yaml").tasks[0].labels == sorted(INTENTS, key=lambda k: (-counts[k], k))
    dd = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(rows), "test": datasets.Dataset.from_list(rows[:12])}
    )
    dd.save_to_disk(str(tmp_path / "hf"))
    assert _init(tmp_path / "hf", "--out", tmp_path / "hf.yaml") == 2
    assert "set data.split" in capsys.readouterr().err
    assert _init(tmp_path / "hf", "--out", tmp_path / "hf.yaml", "--split", "test") == 0
    cfg = load_config(tmp_path / "hf.yaml")
    assert cfg.tasks[0].data.split == "test" and cfg.tasks[0].data.path == (tmp_path / "hf").resolve()
    assert cfg.name == "hf"


def test_flags_override_the_guess(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _jsonl(tmp_path / "t.jsonl", _tickets())
    assert (
        _init(
            data,
            "--out",
            tmp_path / "a.yaml",
            "--label-column",
            "channel",
            "--base-model",
            "gpt-4.1-nano",
            "--finetuned-model",
            "ft:gpt-4.1-nano:acme::x1",
        )
        == 0
    )
    cfg = load_config(tmp_path / "a.yaml")
    assert cfg.tasks[0].target == "channel" and cfg.tasks[0].labels == ["chat", "mail"]
    assert cfg.models["base"].model == "gpt-4.1-nano" and cfg.models["finetuned"].model == "ft:gpt-4.1-nano:acme::x1"
    assert cfg.models["base"].params == {"temperature": 0, "max_tokens": 16}
    assert _init(data, "--out", tmp_path / "b.yaml", "--reference-column", "label", "--input-column", "text") == 0
    t = load_config(tmp_path / "b.yaml").tasks[0]
    assert t.reference == "label" and t.target is None and t.prompt.user == "{{ text }}"
    capsys.readouterr()
    assert _init(data, "--out", tmp_path / "c.yaml", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["task"] == "classification" and info["id"] == "ticket_id" and info["labels"] == sorted(INTENTS)
    assert [c["name"] for c in info["columns"]] == ["ticket_id", "channel", "label", "text"]
    assert info["columns"][1] == {
        "name": "channel",
        "types": ["str"],
        "present": 40,
        "distinct": 2,
        "mean_length": 4.0,
        "example": "mail",
    }


def test_integer_labels_are_quoted_with_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": i, "review": f"review number {i} of the product", "stars": i % 2} for i in range(20)]
    data = _jsonl(tmp_path / "rev.jsonl", rows)
    assert _init(data, "--out", tmp_path / "rev.yaml", "--provider", "replay") == 0
    assert "note: 'stars' holds int values: the label metrics compare text" in capsys.readouterr().out
    assert 'labels: ["0", "1"]' in (tmp_path / "rev.yaml").read_text()
    assert load_config(tmp_path / "rev.yaml").tasks[0].target == "stars"
    # with the labels stored as text, as the note says, the config runs as written
    _jsonl(data, [{**r, "stars": str(r["stars"])} for r in rows])
    _record(tmp_path, "base", {str(r["id"]): "1" for r in rows})
    _record(tmp_path, "finetuned", {str(r["id"]): str(r["stars"]) for r in rows})
    assert main(["run", str(tmp_path / "rev.yaml"), "--quiet"]) == 0
    m = json.loads((tmp_path / "reports" / "rev" / "run.json").read_text())["tasks"]["rev"]["models"]
    assert (m["base"]["metrics"]["accuracy"]["value"], m["finetuned"]["metrics"]["accuracy"]["value"]) == (0.5, 1.0)


def test_never_overwrites_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _jsonl(tmp_path / "t.jsonl", _tickets())
    target = tmp_path / "my-eval.yaml"
    target.write_text("mine\n")
    assert _init(data, "--out", target) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"error: {target}: the file exists; nothing was written (use --force to overwrite, or --out another.yaml)"
    )
    assert target.read_text() == "mine\n"
    assert _init(data, "--out", target, "--force") == 0
    assert load_config(target).tasks[0].target == "label"


@pytest.mark.parametrize(
    "rows, flags, message",
    [
        (
            None,
            ["--label-column", "label", "--reference-column", "text"],
            "give --label-column or --reference-column, not both",
        ),
        (
            None,
            ["--label-column", "lable"],
            "--label-column 'lable' is not a column (columns: ticket_id, channel, label, text)",
        ),
        (None, ["--label-column", "text"], "--label-column 'text' has 40 distinct values"),
        (
            [
                {"id": i, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
                for i in range(5)
            ],
            [],
            "rows hold chat messages (a 'messages' list), not columns",
        ),
        ([{"x": i, "y": i * 2.5} for i in range(10)], [], "found no text column to use as the model's input"),
        (
            [{"my text": f"t{i}", "label": "ab"[i % 2]} for i in range(10)],
            [],
            "column 'my text' cannot be named in a prompt template",
        ),
        ([{"id": f"i{i}", "text": f"some text {i}"} for i in range(10)], [], "cannot guess the task"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list | None, flags: list[str], message: str
) -> None:
    data = _jsonl(tmp_path / "d.jsonl", rows or _tickets())
    assert _init(data, "--out", tmp_path / "o.yaml", *flags) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o.yaml").exists()


def test_missing_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _init(tmp_path / "nope.jsonl") == 2
    assert "does not exist" in capsys.readouterr().err

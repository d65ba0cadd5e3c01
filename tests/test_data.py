"""Held-out set loading: every format, stable ids, sampling, and a clear error per bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalstack.data import check_template, load_examples, make_env, render_messages
from evalstack.errors import ConfigError, DataError

ROWS = [{"id": f"r{i}", "text": f"ticket {i}", "label": "a" if i % 3 else "b"} for i in range(10)]


def _jsonl(p: Path, rows: list[dict]) -> Path:
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


def test_all_formats_agree(tmp_path: Path) -> None:
    import datasets

    jl = _jsonl(tmp_path / "d.jsonl", ROWS)
    js = tmp_path / "d.json"
    js.write_text(json.dumps(ROWS))
    cs = tmp_path / "d.csv"
    cs.write_text("id,text,label\n" + "".join(f"{r['id']},{r['text']},{r['label']}\n" for r in ROWS))
    ds = datasets.Dataset.from_list(ROWS)
    pq = tmp_path / "d.parquet"
    ds.to_parquet(str(pq))
    folder = tmp_path / "hf"
    datasets.DatasetDict({"test": ds}).save_to_disk(str(folder))
    loaded = [load_examples(p, id_column="id") for p in (jl, js, cs, pq)] + [
        load_examples(folder, id_column="id", split="test")
    ]
    for exs in loaded:
        assert [e.id for e in exs] == [r["id"] for r in ROWS]
        assert [e.row["text"] for e in exs] == [r["text"] for r in ROWS]


def test_content_hash_ids_are_stable_and_unique(tmp_path: Path) -> None:
    rows = [{"text": "same"}, {"text": "same"}, {"text": "other"}]
    p = _jsonl(tmp_path / "d.jsonl", rows)
    a = [e.id for e in load_examples(p)]
    b = [e.id for e in load_examples(p)]
    assert a == b and len(set(a)) == 3 and a[1] == a[0] + "~1"


def test_sample_is_deterministic_and_ordered(tmp_path: Path) -> None:
    p = _jsonl(tmp_path / "d.jsonl", [{"id": str(i), "x": i} for i in range(100)])
    s1 = [e.id for e in load_examples(p, id_column="id", sample=10, seed=3)]
    s2 = [e.id for e in load_examples(p, id_column="id", sample=10, seed=3)]
    s3 = [e.id for e in load_examples(p, id_column="id", sample=10, seed=4)]
    assert s1 == s2 and s1 != s3 and s1 == sorted(s1, key=int)
    assert [e.id for e in load_examples(p, id_column="id", limit=3)] == ["0", "1", "2"]


def test_csv_keeps_text(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text('id,text\n007,"hello, ""world""\nline two"\n')
    (ex,) = load_examples(p, id_column="id")
    assert ex.id == "007" and ex.row["text"] == 'hello, "world"\nline two'


@pytest.mark.parametrize(
    "name,content,kwargs,expected",
    [
        (
            "d.jsonl",
            '{"id": "1", "text": "a"}\n{"id": "2", "text": \n',
            {"id_column": "id"},
            r"d.jsonl:2: malformed JSON",
        ),
        (
            "d.jsonl",
            '{"id": "1"}\n{"id": "1"}\n',
            {"id_column": "id"},
            r"d.jsonl:2: duplicate id '1' \(first on line 1\)",
        ),
        ("d.jsonl", "", {}, "the dataset is empty"),
        ("d.jsonl", '{"id": "1"}\n', {"id_column": "id", "required": ["text"]}, r"d.jsonl:1: missing column 'text'"),
        ("d.jsonl", '["a", "b"]\n', {}, "expected a JSON object"),
        ("d.jsonl", '{"x": 1}\n', {"id_column": "id"}, "missing id column 'id'"),
        ("d.csv", "id,text\n1,a,extra\n", {"id_column": "id"}, r"d.csv:2: 3 cells, the header has 2"),
        ("d.json", '{"a": 1}', {}, "expected a list of objects"),
        ("d.txt", "hello", {}, "cannot tell the format"),
    ],
)
def test_bad_data(tmp_path: Path, name: str, content: str, kwargs: dict, expected: str) -> None:
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=expected):
        load_examples(p, **kwargs)


def test_non_utf8_and_missing(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"id": "1", "text": "ok"}\n{"id": "2", "text": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"d.jsonl:2: not UTF-8"):
        load_examples(p)
    with pytest.raises(DataError, match="file not found"):
        load_examples(tmp_path / "none.jsonl")


def test_templates_are_sandboxed_and_values_stay_literal() -> None:
    env = make_env()
    tmpl, names = check_template(env, "Q: {{ text }}", "w")
    assert names == {"text"}
    out = render_messages([("user", tmpl)], {"text": "{{ 7*7 }}"}, where="w")
    assert out == [{"role": "user", "content": "Q: {{ 7*7 }}"}]
    with pytest.raises(ConfigError, match="bad template"):
        check_template(env, "{{ text ", "w")
    evil, _ = check_template(env, "{{ text.__class__.__mro__[1].__subclasses__() }}", "w")
    with pytest.raises((ConfigError, DataError)):
        render_messages([("user", evil)], {"text": "x"}, where="w")
    missing, _ = check_template(env, "{{ nope }}", "w")
    with pytest.raises(DataError, match="undefined"):
        render_messages([("user", missing)], {"text": "x"}, where="w")


def test_replay_answers_repeat_samples_from_their_own_row_or_the_example(tmp_path: Path) -> None:
    import asyncio

    from evalstack.config import ReplayModel
    from evalstack.models import Request, make_provider

    p = _jsonl(tmp_path / "r.jsonl", [{"id": "e1", "output": "base answer"}, {"id": "e1#1", "output": "second sample"}])
    prov = make_provider("r", ReplayModel(provider="replay", path=p))
    prov.check_examples("t", ["e1", "e1#1", "e1#2"])
    texts = [
        asyncio.run(prov.generate(Request.make("t", i, [{"role": "user", "content": "q"}]))).text
        for i in ("e1#0", "e1#1", "e1#2")
    ]
    assert texts == ["base answer", "second sample", "base answer"]

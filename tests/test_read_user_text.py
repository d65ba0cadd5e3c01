"""One reader of a user's text file, one set of one-line errors (issue 15 item 7).

Config, gate rules, rubrics (YAML), data / labels / replay outputs, curves files and run.json are read by
``_io.read_user_text``: a byte that is not UTF-8 is reported the same way by each, naming the file, the line
and the byte offset, through the CLI as a user meets it (exit 2, nothing written).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.errors import DataError, RubricError
from evalstack.judges import load_rubric

HINT = "save the file as UTF-8, e.g. iconv -f latin1 -t utf-8"
BAD = b"caf\xe9"  # latin-1, not UTF-8


def _line(path: Path, byte: int, hint: str = HINT) -> str:
    return f"error: {path}:2: not UTF-8 text (byte {byte}) ({hint})"


def _config(root: Path, data: bytes) -> Path:
    (root / "data.jsonl").write_bytes(data)
    (root / "base.jsonl").write_text(json.dumps({"id": "1", "output": "a"}) + "\n")
    (root / "eval.yaml").write_text("""\
name: utf
baseline: base
models:
  base: {provider: replay, path: base.jsonl}
tasks:
  - name: t
    data: {path: data.jsonl, id: id}
    prompt: {user: "{{ text }}"}
    target: label
    labels: [a, b]
    metrics: [accuracy]
output: out
""")
    return root / "eval.yaml"


def _err(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err.strip()


def test_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "eval.yaml"
    cfg.write_bytes(b"name: x\n# " + BAD + b"\n")
    assert _err(capsys, ["run", str(cfg)]) == _line(cfg, 13)  # "name: x\n# caf" is 13 bytes


def test_data_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = json.dumps({"id": "1", "text": "x", "label": "a"}).encode() + b"\n"
    cfg = _config(tmp_path, good + b'{"id": "2", "text": "' + BAD + b'", "label": "b"}\n')
    assert _err(capsys, ["run", str(cfg)]) == _line(tmp_path / "data.jsonl", len(good) + 24)
    assert not (tmp_path / "out").exists()


def test_data_file_with_a_bom_counts_bytes_from_the_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = b"\xef\xbb\xbf" + json.dumps({"id": "1", "text": "x", "label": "a"}).encode() + b"\n"
    cfg = _config(tmp_path, good + b'{"id": "2", "text": "' + BAD + b'", "label": "b"}\n')
    assert _err(capsys, ["run", str(cfg)]) == _line(tmp_path / "data.jsonl", len(good) + 24)


def test_curves_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "results.csv"
    f.write_bytes(b"step,train_loss\n1," + BAD + b"\n")
    assert _err(capsys, ["curves", "analyze", str(f)]) == _line(f, 21)


def test_run_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    f = tmp_path / "run" / "run.json"
    f.write_bytes(b'{"schema_version": 1,\n"name": "' + BAD + b'"}\n')
    assert _err(capsys, ["review", str(tmp_path / "run")]) == _line(
        f, 34, "the file is damaged: re-run `evalstack run` to write it again"
    )


def test_rubric_file_and_a_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_bytes(b"name: r\ndescription: " + BAD + b"\n")
    with pytest.raises(RubricError) as info:
        load_rubric(f)
    assert str(info.value) == _line(f, 24)[len("error: ") :]
    from evalstack._io import read_user_text

    with pytest.raises(DataError, match=r"^.*/nope\.jsonl: data file not found \(check the path\)$"):
        read_user_text(tmp_path / "nope.jsonl", "data file", error=DataError)

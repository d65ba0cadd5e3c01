"""An error found inside a metric gets its place in the config attached, not rebuilt (issue 15 item 7).

Before ``EvalstackError.at``, the pipeline re-created the error as ``type(exc)(str(exc), where=...)``: the
hint became part of the message and ``.hint`` was None, and an error class whose constructor takes other
arguments crashed the CLI with "internal error" (exit 4) instead of its one line (exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import evalstack
from evalstack import registry
from evalstack.cli import main
from evalstack.errors import ConfigError, DataError, EvalstackError
from evalstack.metrics import BaseMetric, register_metric

HINT = "add a 'source' column to the data"


class MissingColumn(DataError):
    """An error class of a plug-in metric whose constructor is its own."""

    def __init__(self, column: str):
        self.column = column
        super().__init__(f"needs the column '{column}'", hint=f"add a '{column}' column to the data")


class Hinted(BaseMetric):
    KEYS = "t15_hinted"
    DESCRIPTION = "always fails with a hint (test)"
    needs_reference = False

    def compute(self, predictions, references=None, **context):
        raise DataError("needs the column 'source'", hint=HINT)


class OwnCtor(BaseMetric):
    KEYS = "t15_own_ctor"
    DESCRIPTION = "always fails with an error class of its own (test)"
    needs_reference = False

    def compute(self, predictions, references=None, **context):
        raise MissingColumn("source")


@pytest.fixture(autouse=True)
def _test_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two failing metrics exist for this file's tests only (registered on a copy of the registry)."""
    for kind in registry.KINDS:
        registry.names(kind)  # built-ins loaded first: they stay
    monkeypatch.setattr(registry, "_ITEMS", dict(registry._ITEMS))
    register_metric("t15_hinted")(Hinted)
    register_metric("t15_own_ctor")(OwnCtor)


def _config(root: Path, metric: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"e{i}", "text": f"ticket {i}", "label": "a" if i % 2 else "b"} for i in range(4)]
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "base.jsonl").write_text("".join(json.dumps({"id": r["id"], "output": "a"}) + "\n" for r in rows))
    (root / "eval.yaml").write_text(f"""\
name: attached
baseline: base
models:
  base: {{provider: replay, path: base.jsonl}}
tasks:
  - name: intent
    data: {{path: data.jsonl, id: id}}
    prompt: {{user: "{{{{ text }}}}"}}
    target: label
    labels: [a, b]
    metrics: [accuracy, {metric}]
output: out
""")
    return root / "eval.yaml"


@pytest.mark.parametrize("metric", ["t15_hinted", "t15_own_ctor"])
def test_the_cli_line_names_the_place_once_and_keeps_the_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: str
) -> None:
    cfg = _config(tmp_path, metric)
    assert main(["run", str(cfg), "-q"]) == 2  # the own-constructor class was exit 4, "internal error", before
    err = capsys.readouterr().err.strip()
    assert err == f"error: {cfg}: tasks[0].metrics[1]: needs the column 'source' ({HINT})", err
    assert not (tmp_path / "out").exists()  # before any request, nothing written


def test_the_raised_object_keeps_its_type_hint_and_attributes(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        evalstack.run(str(_config(tmp_path / "a", "t15_hinted")))
    assert info.value.hint == HINT  # was None: the hint had been folded into a new object's message
    assert info.value.where == f"{tmp_path / 'a' / 'eval.yaml'}: tasks[0].metrics[1]"
    with pytest.raises(MissingColumn) as own:
        evalstack.run(str(_config(tmp_path / "b", "t15_own_ctor")))
    assert own.value.column == "source" and own.value.hint == HINT


def test_at_prefixes_the_place_and_appends_a_note_on_the_same_object() -> None:
    exc = ConfigError("bad value", where="inner", hint="fix it")
    same = exc.at("cfg.yaml: tasks[0]", note="dry run on example 'e1'")
    assert same is exc and type(same) is ConfigError
    assert str(exc) == "cfg.yaml: tasks[0]: inner: bad value (fix it) (dry run on example 'e1')"
    assert (exc.where, exc.hint, exc.message) == ("cfg.yaml: tasks[0]: inner", "fix it", "bad value")
    assert str(EvalstackError("x\ny").at("a\nb")) == "a\\nb: x\\ny"  # still one line


def test_at_on_a_subclass_that_skipped_the_base_constructor() -> None:
    class Bare(EvalstackError):
        def __init__(self, text: str):
            Exception.__init__(self, text)

    exc = Bare("plain text").at("here")
    assert str(exc) == "here: plain text" and exc.where == "here" and exc.hint is None


def test_a_label_parsing_error_gets_the_metric_as_its_place() -> None:
    from evalstack.metrics import get_metric

    with pytest.raises(ConfigError) as info:
        get_metric("accuracy")(labels=["a", "b"], label_parsing={"mode": "regex", "regex": "("})
    assert str(info.value).startswith("metric 'accuracy': label_parsing.regex '(' is not a valid regular expression")
    assert info.value.where == "metric 'accuracy'"

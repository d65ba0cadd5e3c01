"""Config loading: valid shapes, short forms, env expansion, paths, and one clear line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalstack.config import load_config
from evalstack.errors import ConfigError

GOOD = """\
name: t
baseline: base
models:
  base: {provider: replay, path: outputs/base.jsonl}
  ft: {provider: openai, model: "ft:x", base_url: "${MY_URL:-http://127.0.0.1:9/v1}", params: {temperature: 0}}
tasks:
  - name: intent
    data: {path: data/intent.jsonl, id: id}
    prompt: {system: "Route.", user: "Ticket: {{ text }}"}
    target: label
    labels: [a, b]
    metrics: [accuracy, {f1: {average: macro}}]
    slice_by: channel
gate:
  rules:
    - {metric: intent/f1_macro, max_regression: 0.01}
curves: demo/curves.csv
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg" / "c.yaml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def test_good_config_short_forms_and_paths(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    t = cfg.tasks[0]
    assert [m.name for m in t.metrics] == ["accuracy", "f1"]
    assert t.metrics[1].options == {"average": "macro"}
    assert t.slice_by == ["channel"]
    assert t.data.path == (tmp_path / "cfg" / "data" / "intent.jsonl").resolve()
    assert cfg.models["base"].path == (tmp_path / "cfg" / "outputs" / "base.jsonl").resolve()
    assert cfg.curves[0].path.name == "curves.csv"
    assert cfg.models["ft"].base_url == "http://127.0.0.1:9/v1"
    assert cfg.output_dir() == (tmp_path / "cfg" / "reports" / "t").resolve()


def test_env_expansion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_URL", "http://127.0.0.1:1234/v1")
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.models["ft"].base_url == "http://127.0.0.1:1234/v1"


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ("baseline: base", "baseline: bse", "baseline (line 2): 'bse' is not among models"),
        ("params: {", "paramz: {", "models.ft.paramz (line 5): unknown key 'paramz' (did you mean 'params'?)"),
        ("provider: openai", "provider: opnai", "unknown provider 'opnai' (did you mean 'openai'?)"),
        ("    data:", "    dta:", "tasks[0].dta (line 8): unknown key 'dta' (did you mean 'data'?)"),
        ("labels: [a, b]", "labels: [a, a]", "`labels` has duplicates"),
        ("max_regression: 0.01", "max_regresion: 0.01", "did you mean 'max_regression'?"),
        ("intent/f1_macro", "intnt/f1_macro", "gate.rules[0].metric (line 16): unknown task 'intnt'"),
        ("intent/f1_macro", "f1_macro", "metric must be '<task>/<metric>'"),
        ("name: t\n", "name: 't t'\n", "name (line 1)"),
        ("http://127.0.0.1:9/v1}", "}${NOPE_NOT_SET}", "environment variable NOPE_NOT_SET is not set"),
        ("{temperature: 0}", "{api_key: sk-abc}", "params may not set 'api_key'"),
        ("  - name: intent", "  - name: intent\n    bogus: 1", "tasks[0].bogus (line 8): unknown key 'bogus'"),
    ],
)
def test_bad_config_messages(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    p = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    msg = str(ei.value)
    assert expected in msg, msg
    assert str(p) in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    "text,expected",
    [
        ("name: [unclosed", "invalid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("name: a\nname: b\n", "duplicate key 'name'"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
            "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
            "too large",
        ),
        ("a:" + " [" * 100 + " ]" * 100, "nesting deeper"),
    ],
)
def test_bad_yaml(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, text))
    assert expected in str(ei.value)


def test_missing_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    p = tmp_path / "latin.yaml"
    p.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p)

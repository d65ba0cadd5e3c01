"""Property tests: any bytes given to a loader yield a valid object or our user-facing error (exit 2),
never another exception type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalstack.config import load_config
from evalstack.data import load_examples
from evalstack.errors import EvalstackError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20))
yaml_values = st.recursive(
    yaml_scalars,
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=8), c, max_size=4)),
    max_leaves=20,
)
CONFIG_KEYS = ["name", "baseline", "models", "tasks", "gate", "curves", "judge", "output", "cache", "stats", "trackers"]

VALID = """name: f
baseline: base
models:
  base: {provider: replay, path: b.jsonl}
tasks:
  - name: t
    data: {path: d.jsonl}
    prompt: {user: "{{ x }}"}
    reference: y
    metrics: [exact_match]
"""


def _check(fn, *args) -> None:
    try:
        fn(*args)
    except EvalstackError as exc:
        assert exc.exit_code == 2
        assert "\n" not in str(exc).strip()


@SETTINGS
@given(st.binary(max_size=400))
def test_config_from_random_bytes(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "c.yaml"
    p.write_bytes(data)
    _check(load_config, p)


@SETTINGS
@given(st.dictionaries(st.sampled_from(CONFIG_KEYS), yaml_values, max_size=6))
def test_config_from_random_structures(tmp_path: Path, data: dict) -> None:
    import yaml

    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True))
    _check(load_config, p)


@SETTINGS
@given(st.integers(min_value=0, max_value=len(VALID) - 1), st.text(max_size=5))
def test_config_mutations(tmp_path: Path, pos: int, insert: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(VALID[:pos] + insert + VALID[pos + 1 :])
    _check(load_config, p)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv"])
@SETTINGS
@given(data=st.binary(max_size=300))
def test_dataset_from_random_bytes(tmp_path: Path, suffix: str, data: bytes) -> None:
    p = tmp_path / f"d{suffix}"
    p.write_bytes(data)
    _check(load_examples, p)


@SETTINGS
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["id", "x", "y", "output"]),
            st.one_of(
                st.none(),
                st.integers(),
                st.floats(allow_nan=True, allow_infinity=True),
                st.text(max_size=10),
                st.lists(st.integers(), max_size=2),
            ),
            max_size=4,
        ),
        max_size=6,
    ),
    st.booleans(),
    st.booleans(),
)
def test_dataset_rows_and_replay(tmp_path: Path, rows: list, bom: bool, crlf: bool) -> None:
    nl = "\r\n" if crlf else "\n"
    text = ("\ufeff" if bom else "") + nl.join(json.dumps(r, allow_nan=True) for r in rows) + nl
    p = tmp_path / "d.jsonl"
    p.write_text(text, encoding="utf-8")
    _check(lambda: load_examples(p, id_column="id", required=["x"]))
    from evalstack.config import ReplayModel
    from evalstack.models import make_provider

    prov = make_provider("r", ReplayModel(provider="replay", path=p))

    def use() -> None:
        prov.check_ready()
        prov.check_examples("t", ["a", "b"])

    _check(use)


def test_huge_line_and_deep_json(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    _check(load_examples, p)
    p.write_text(json.dumps({"x": "a" * 5_000_000}) + "\n")
    assert load_examples(p)[0].row["x"] == "a" * 5_000_000


@pytest.mark.parametrize("suffix", [".yaml"])
@SETTINGS
@given(data=st.binary(max_size=300))
def test_rubric_from_random_bytes(tmp_path: Path, suffix: str, data: bytes) -> None:
    from evalstack.judges import load_rubric

    p = tmp_path / f"r{suffix}"
    p.write_bytes(data)
    _check(load_rubric, str(p))


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "name",
                "description",
                "kind",
                "criteria",
                "scale",
                "fields",
                "reasoning_first",
                "higher_is_better",
                "threshold",
                "template",
            ]
        ),
        yaml_values,
        max_size=8,
    )
)
def test_rubric_from_random_structures(tmp_path: Path, data: dict) -> None:
    import yaml

    from evalstack.judges import load_rubric

    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True))
    _check(load_rubric, str(p))


@pytest.mark.parametrize("name", ["results.csv", "trainer_state.json", "events.jsonl"])
@SETTINGS
@given(data=st.binary(max_size=400))
def test_curves_from_random_bytes(tmp_path: Path, name: str, data: bytes) -> None:
    from evalstack.curves import analyze

    p = tmp_path / name
    p.write_bytes(data)
    _check(analyze, p)


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.integers(-5, 10_000),
            st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
            st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        ),
        max_size=30,
    ),
    st.booleans(),
)
def test_curves_from_random_numbers(tmp_path: Path, rows: list, crlf: bool) -> None:
    from evalstack.curves import analyze

    nl = "\r\n" if crlf else "\n"
    text = (
        "step,train_loss,valid_loss"
        + nl
        + nl.join(f"{s},{'' if a is None else a},{'' if b is None else b}" for s, a, b in rows)
        + nl
    )
    p = tmp_path / "results.csv"
    p.write_text(text)
    _check(analyze, p)

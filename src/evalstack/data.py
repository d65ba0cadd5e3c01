"""Held-out sets: load rows, give each a stable id, render its prompt as chat messages.

Formats: JSONL and JSON are parsed here (so that a malformed line is reported with its line number, which
`datasets`' Arrow JSON reader cannot do); CSV with the csv module (cells stay text: an id "007" stays "007",
where type inference would make it 7); Parquet and saved HF dataset folders through `datasets`.
"""

from __future__ import annotations

__all__ = [
    "Example",
    "iter_rows",
    "load_examples",
    "read_rows",
    "render_messages",
    "messages_text",
    "make_env",
    "check_template",
]

import csv
import hashlib
import io
import json
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, DataError

_MAX_LINE = 50 * 1024 * 1024


@dataclass(slots=True)
class Example:
    """One row of a held-out set."""

    id: str
    """Stable id: the `id` column's value, else a content hash."""
    row: dict[str, Any] = field(repr=False)
    """All columns of the row."""
    line: int | None = None
    """1-based line (JSONL/CSV) or row number, for error messages."""


def _detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    if path.is_dir():
        return "hf"
    suffixes = [s.lower() for s in path.suffixes]
    for s in reversed(suffixes):
        if s in (".jsonl", ".ndjson"):
            return "jsonl"
        if s == ".json":
            return "json"
        if s in (".csv", ".tsv"):
            return "csv"
        if s in (".parquet", ".pq"):
            return "parquet"
    raise DataError(
        "cannot tell the format from the file name",
        where=str(path),
        hint="use .jsonl, .json, .csv, .parquet, a saved HF dataset folder, or set data.format",
    )


def _read_text(path: Path) -> str:
    from ._io import read_user_text

    return read_user_text(path, error=DataError, hint="check the path (relative paths start at the config's folder)")


def _rows_jsonl(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    text = _read_text(path)
    # split on "\n" only: str.splitlines() would also split inside JSON strings at U+2028, NEL, etc.
    for i, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        if len(line) > _MAX_LINE:
            raise DataError("line longer than 50 MiB", where=f"{path}:{i}")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"malformed JSON ({exc.msg} at column {exc.colno})",
                where=f"{path}:{i}",
                hint="each line must be one JSON object",
            ) from None
        except RecursionError:
            raise DataError("JSON nested too deeply", where=f"{path}:{i}") from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", where=f"{path}:{i}")
        if "\\u" in line:  # only a \uXXXX escape can give a lone surrogate (the bytes were valid UTF-8)
            _check_unicode(obj, f"{path}:{i}")
        yield i, obj


def _bad_text(value: Any) -> bool:
    """True for a str that UTF-8 cannot encode (a lone surrogate such as "\\ud800")."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


def _check_unicode(row: dict[str, Any], where: str) -> None:
    """Refuse a row holding a lone surrogate (in a column name or any value, nested ones too): it cannot be
    sent, stored or reported as UTF-8, so it is bad input (exit 2 naming file, line and column)."""

    def walk(v: Any) -> bool:
        if isinstance(v, dict):
            return any(_bad_text(k) or walk(x) for k, x in v.items())
        if isinstance(v, list):
            return any(walk(x) for x in v)
        return _bad_text(v)

    for col, value in row.items():
        try:
            bad = _bad_text(col) or walk(value)
        except RecursionError:  # nested deeper than the check goes: json.loads already bounds the depth
            bad = False
        if bad:
            name = col.encode("utf-8", "backslashreplace").decode("utf-8")
            raise DataError(
                f"column '{name}' holds a lone surrogate (an unpaired \\ud800-\\udfff escape), which is "
                "not valid Unicode",
                where=where,
                hint="fix the text in the data (an escape cut in half, e.g. by truncating an emoji)",
            )


def _rows_json(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    text = _read_text(path)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"malformed JSON ({exc.msg})",
            where=f"{path}:{exc.lineno}",
            hint="a .json file must hold a list of objects (or use .jsonl)",
        ) from None
    except RecursionError:
        raise DataError("JSON nested too deeply", where=str(path)) from None
    if isinstance(obj, dict):
        # {"data": [...]} or {"col": [values...]} (columnar)
        lists = [v for v in obj.values() if isinstance(v, list)]
        if len(obj) == 1 and lists and all(isinstance(x, dict) for x in lists[0]):
            obj = lists[0]
        elif obj and all(isinstance(v, list) for v in obj.values()) and len({len(v) for v in obj.values()}) == 1:
            keys = list(obj)
            obj = [dict(zip(keys, vals)) for vals in zip(*obj.values())]
        else:
            raise DataError("expected a list of objects", where=str(path))
    if not isinstance(obj, list):
        raise DataError("expected a list of objects", where=str(path))
    check = "\\u" in text
    for i, row in enumerate(obj, start=1):
        if not isinstance(row, dict):
            raise DataError(f"item {i} is not an object", where=str(path))
        if check:
            _check_unicode(row, f"{path}: item {i}")
        yield i, row


def _rows_csv(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    text = _read_text(path)
    delim = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise DataError(f"malformed CSV header: {exc}", where=f"{path}:1") from None
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        raise DataError("duplicate column names in the header", where=f"{path}:1")
    try:
        for values in reader:
            line = reader.line_num
            if not values or all(not v for v in values):
                continue
            if len(values) != len(header):
                raise DataError(
                    f"{len(values)} cells, the header has {len(header)}",
                    where=f"{path}:{line}",
                    hint="quote cells that contain the delimiter or a newline",
                )
            yield line, dict(zip(header, values))
    except csv.Error as exc:
        raise DataError(f"malformed CSV: {exc}", where=f"{path}:{reader.line_num}") from None


def _rows_datasets(path: Path, fmt: str, split: str | None) -> Iterable[tuple[int, dict[str, Any]]]:
    import datasets  # heavy: only for these formats

    datasets.disable_progress_bars()
    try:
        if fmt == "parquet":
            if not path.exists():
                raise DataError("file not found", where=str(path))
            if not path.is_file():  # a FIFO or device would block or never end
                raise DataError("not a regular file", where=str(path), hint="point it at a Parquet file on disk")
            ds = datasets.Dataset.from_parquet(str(path), keep_in_memory=True)
        else:
            if not path.exists():
                raise DataError("folder not found", where=str(path))
            ds = datasets.load_from_disk(str(path), keep_in_memory=True)
            if isinstance(ds, datasets.DatasetDict):
                if split is None:
                    if len(ds) != 1:
                        raise DataError(f"the dataset has splits {list(ds)}", where=str(path), hint="set data.split")
                    split = next(iter(ds))
                if split not in ds:
                    raise DataError(f"no split '{split}' (splits: {', '.join(ds)})", where=str(path))
                ds = ds[split]
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read {fmt} data: {type(exc).__name__}: {str(exc)[:200]}", where=str(path)) from None
    for i, row in enumerate(ds, start=1):
        yield i, dict(row)


def read_rows(path: Path, *, fmt: str | None = None, split: str | None = None) -> list[tuple[int, dict[str, Any]]]:
    """(line or row number, row) pairs of any supported file, with DataErrors naming file and line."""
    return list(iter_rows(path, fmt=fmt, split=split))


def iter_rows(path: Path, *, fmt: str | None = None, split: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """:func:`read_rows` one row at a time (a reader that keeps one small entry per row holds no list of rows)."""
    path = Path(path)
    kind = _detect_format(path, fmt)
    reader = {"jsonl": _rows_jsonl, "json": _rows_json, "csv": _rows_csv}.get(kind)
    yield from (reader(path) if reader else _rows_datasets(path, kind, split))


def _missing_column(col: str, row: dict[str, Any], key: str | None, config: str, at: str) -> None:
    from .registry import did_you_mean

    cols = ", ".join(sorted(row)) or "none"
    if key is None:
        raise DataError(
            f"missing column '{col}' (columns: {cols})",
            where=at,
            hint=did_you_mean(col, row, f"fix the data or the config key that names '{col}'"),
        )
    fix = did_you_mean(col, row, f"fix {key} or the data")
    raise DataError(f"missing column '{col}' in {at} (columns: {cols})", where=f"{config}: {key}", hint=fix)


def _content_id(row: dict[str, Any]) -> str:
    blob = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_examples(
    path: Path,
    *,
    fmt: str | None = None,
    id_column: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    required: Iterable[str] | Mapping[str, str] = (),
    where: str = "data",
) -> list[Example]:
    """Read a held-out set into :class:`Example` rows with stable, unique ids.

    ``required`` columns must exist in every row (checked before any request is sent); given as a mapping
    column -> the config key that names it (e.g. ``tasks[0].prompt.user``), a missing column's error names
    that key in the file ``where`` (the config), the row's columns and the closest one. ``sample`` takes a
    deterministic random subset (same seed, same examples, original order kept); ``limit`` then keeps the
    first N.
    """
    path = Path(path)
    rows = read_rows(path, fmt=fmt, split=split)
    if not rows:
        raise DataError("the dataset is empty", where=str(path), hint="it needs at least one example")
    keys = dict(required) if isinstance(required, Mapping) else {}
    required = list(dict.fromkeys(required))
    examples: list[Example] = []
    seen: dict[str, int] = {}
    hash_seen: dict[str, int] = {}
    for line, row in rows:
        missing = [c for c in required if c not in row]
        if missing:
            _missing_column(missing[0], row, keys.get(missing[0]), where, f"{path}:{line}")
        if id_column:
            if id_column not in row:
                raise DataError(
                    f"missing id column '{id_column}'",
                    where=f"{path}:{line}",
                    hint="set data.id to an existing column or remove it",
                )
            value = row[id_column]
            if value is None or (isinstance(value, str) and not value.strip()):
                raise DataError(f"empty id in column '{id_column}'", where=f"{path}:{line}")
            ex_id = str(value)
            if ex_id in seen:
                raise DataError(
                    f"duplicate id '{ex_id}' (first on line {seen[ex_id]})",
                    where=f"{path}:{line}",
                    hint="ids must be unique; remove the duplicate row or fix its id",
                )
        else:
            h = _content_id(row)
            k = hash_seen.get(h, 0)
            hash_seen[h] = k + 1
            ex_id = h if k == 0 else f"{h}~{k}"  # identical rows get distinct, stable ids
        seen[ex_id] = line
        examples.append(Example(id=ex_id, row=row, line=line))
    if sample is not None and sample < len(examples):
        idx = sorted(random.Random(seed).sample(range(len(examples)), sample))
        examples = [examples[i] for i in idx]
    if limit is not None:
        examples = examples[:limit]
    return examples


# ---------------------------------------------------------------- prompts


def make_env() -> Any:
    """The sandboxed Jinja2 environment prompts render in (StrictUndefined: a missing column is an error;
    time and size budgets: see :mod:`evalstack._render`)."""
    from ._render import make_env as _make_env

    return _make_env()


def check_template(env: Any, source: str, where: str) -> tuple[Any, set[str]]:
    """Compile a template; return it and the variables it reads. A syntax error is a ConfigError."""
    from jinja2 import TemplateSyntaxError, meta

    try:
        ast = env.parse(source)
        return env.from_string(source), set(meta.find_undeclared_variables(ast))
    except TemplateSyntaxError as exc:
        raise ConfigError(
            f"bad template: {exc.message} (template line {exc.lineno})", where=where, hint="Jinja2 syntax: {{ column }}"
        ) from None


def render_messages(templates: list[tuple[Any, ...]], row: dict[str, Any], *, where: str) -> list[dict[str, str]]:
    """Render (role, compiled template[, key]) with the row's columns as variables (values are never templates).

    A template that fails (raises, recurses, or goes over the time or size budget) is a ConfigError naming
    its key (e.g. ``cfg.yaml: tasks[0].prompt.user``) and ``where`` (the task and the example)."""
    from ._render import RenderFailed, render

    out = []
    for role, tmpl, *key in templates:
        try:
            out.append({"role": role, "content": render(tmpl, row)})
        except RenderFailed as exc:
            if exc.undefined:
                raise DataError(
                    f"template failed to render for {where}: {exc}",
                    where=key[0] if key else None,
                    hint="check column names in prompt templates",
                ) from None
            raise ConfigError(
                f"template failed to render for {where}: {exc}",
                where=key[0] if key else None,
                hint="fix the template (Jinja2, sandboxed); values from the data are never templates",
            ) from None
    return out


def messages_text(messages: list[dict[str, str]]) -> str:
    """Messages as one readable string (for reviews and reports)."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"[{m['role']}] {m['content']}" for m in messages)

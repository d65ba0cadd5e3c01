"""Readers: OpenAI / Azure results CSV, generic CSV with a mapping, HF ``trainer_state.json``, metrics
events (SFT or RFT), ``checkpoints.json`` and a folder written by ``evalstack curves fetch``.

Everything ends in one :class:`CurveTable` with canonical column names. Empty cells are "not measured";
content that arrives base64-encoded (as the files API has returned result files) is decoded first.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ..registry import did_you_mean
from ._table import COLUMNS, LOSS_COLUMNS, REWARD_COLUMNS, CurveTable, build_table

FORMATS = ("openai", "azure", "hf", "generic", "rft")

# source column name (lower case) -> canonical column
_ALIASES: dict[str, str] = {
    "step": "step",
    "steps": "step",
    "global_step": "step",
    "step_number": "step",
    "iteration": "step",
    "train_loss": "train_loss",
    "training_loss": "train_loss",
    "loss": "train_loss",
    "train_accuracy": "train_accuracy",
    "train_mean_token_accuracy": "train_accuracy",
    "training_token_accuracy": "train_accuracy",
    "mean_token_accuracy": "train_accuracy",
    "valid_loss": "valid_loss",
    "validation_loss": "valid_loss",
    "eval_loss": "valid_loss",
    "val_loss": "valid_loss",
    "valid_accuracy": "valid_accuracy",
    "valid_mean_token_accuracy": "valid_accuracy",
    "validation_mean_token_accuracy": "valid_accuracy",
    "validation_token_accuracy": "valid_accuracy",
    "eval_mean_token_accuracy": "valid_accuracy",
    "val_accuracy": "valid_accuracy",
    "full_valid_loss": "full_valid_loss",
    "full_validation_loss": "full_valid_loss",
    "full_valid_accuracy": "full_valid_accuracy",
    "full_valid_mean_token_accuracy": "full_valid_accuracy",
    "full_validation_mean_token_accuracy": "full_valid_accuracy",
    "epoch": "epoch",
    "learning_rate": "learning_rate",
    "lr": "learning_rate",
    "train_mean_reward": "train_mean_reward",
    "train_reward_mean": "train_mean_reward",
    "reward": "train_mean_reward",
    "valid_mean_reward": "valid_mean_reward",
    "valid_reward_mean": "valid_mean_reward",
    "full_valid_mean_reward": "full_valid_mean_reward",
    "completion_tokens_mean": "completion_tokens_mean",
    "completion_length": "completion_tokens_mean",
    "completions/mean_length": "completion_tokens_mean",
    "reasoning_tokens_mean": "reasoning_tokens_mean",
    "mean_unresponsive_rewards": "mean_unresponsive_rewards",
    "train_sample_parse_error_count": "train_sample_parse_error_count",
    "sample_parse_error_count": "train_sample_parse_error_count",
    "train_other_error_count": "train_other_error_count",
    "other_error_count": "train_other_error_count",
}
_AZURE_MARKERS = ("validation_loss", "validation_mean_token_accuracy", "full_validation_loss")
_OPENAI_MARKERS = ("train_accuracy", "valid_mean_token_accuracy", "full_valid_loss", "training_token_accuracy")


class Resolver:
    """Maps a file's column names to canonical ones: the user's mapping first, then the known aliases."""

    def __init__(self, mapping: Mapping[str, str] | None, *, where: str = "mapping"):
        self.by_source: dict[str, str] = {}
        for key, src in (mapping or {}).items():
            canon = _ALIASES.get(str(key).lower(), str(key).lower())
            if canon != "step" and canon not in COLUMNS:
                hint = did_you_mean(str(key), ("step",) + COLUMNS, "keys are step or one of " + ", ".join(COLUMNS))
                raise ConfigError(f"unknown curve column '{key}'", where=where, hint=hint)
            self.by_source[str(src)] = canon
        self.mapped = set(self.by_source)

    def canonical(self, name: str) -> str | None:
        """The canonical name of source column ``name``, or ``None`` when it is not a curve column."""
        if name in self.by_source:
            return self.by_source[name]
        canon = _ALIASES.get(name.strip().lower())
        return None if canon in self.by_source.values() else canon


def parse_number(cell: Any, *, where: str, column: str, counts: dict[str, int]) -> float | None:
    """A float from a cell: empty -> ``None`` (not measured); NaN/inf -> ``None`` and counted; text -> DataError."""
    if cell is None:
        return None
    if isinstance(cell, bool):
        raise DataError(f"{cell!r} is not a number", where=f"{where}, column '{column}'")
    if isinstance(cell, (int, float)):
        value = float(cell)
    else:
        text = str(cell).strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise DataError(
                f"{text[:40]!r} is not a number (leave the cell empty when not measured)",
                where=f"{where}, column '{column}'",
            ) from None
    if not math.isfinite(value):
        counts[column] = counts.get(column, 0) + 1
        return None
    return value


def _nonfinite_note(counts: dict[str, int]) -> list[str]:
    if not counts:
        return []
    parts = ", ".join(f"{c} x{n}" for c, n in sorted(counts.items()))
    return [f"non-finite values (NaN/inf) treated as not measured: {parts} (a NaN loss usually means divergence)"]


def load_text(path: Path) -> tuple[str, list[str]]:
    """The file's text (BOM stripped, base64 decoded where the whole content is base64) and notes."""
    from .._io import read_user_text

    text = read_user_text(path, error=DataError, hint="check the curves path")
    if not text.strip(" \t\n\r\x0b\x0c"):
        raise DataError(
            "the file is empty (expected a results CSV, trainer_state.json or metrics events JSON)", where=str(path)
        )
    notes: list[str] = []
    decoded = maybe_base64(text.encode("utf-8"))
    if decoded is not None:
        text = decoded.decode("utf-8-sig")  # maybe_base64 returns only bytes that decode so
        notes.append("content was base64-encoded: decoded")
    return text, notes


_B64 = re.compile(rb"^[A-Za-z0-9+/=\r\n]+$")


def maybe_base64(data: bytes) -> bytes | None:
    """The decoded bytes when ``data`` is (only) base64 of UTF-8 CSV/JSON text, else ``None``."""
    body = data.strip()
    if len(body) < 8 or not _B64.match(body):
        return None
    try:
        out = base64.b64decode(b"".join(body.split()), validate=True)
        text = out.decode("utf-8-sig")
    except (binascii.Error, ValueError):
        return None
    return out if ("," in text or text.lstrip().startswith(("{", "["))) else None


def read_curves(path: str | Path, *, format: str | None = None, mapping: Mapping[str, str] | None = None) -> CurveTable:
    """Read a fine-tuning run's metrics into one normalised :class:`CurveTable`.

    ``path`` is an OpenAI/Azure results CSV, a generic CSV (``mapping`` = ``{canonical: source column}``),
    a Hugging Face ``trainer_state.json``, a metrics events JSON/JSONL (SFT or RFT), a ``checkpoints.json``,
    or a folder written by ``evalstack curves fetch``. ``format`` (``openai``, ``azure``, ``hf``, ``generic``,
    ``rft`` or ``None`` = detect) is checked against the content. Bad input raises :class:`DataError`
    naming the file and the line/column.
    """
    p = Path(path)
    if format is not None and format not in FORMATS:
        raise ConfigError(f"unknown curves format '{format}'", where=str(p), hint="use one of " + ", ".join(FORMATS))
    resolver = Resolver(mapping, where=f"{p}: mapping")
    if p.is_dir():
        from ._readers_json import read_job_dir

        return read_job_dir(p, format=format, resolver=resolver)
    text, notes = load_text(p)
    if text.lstrip().startswith(("{", "[")):
        from ._readers_json import read_json_text

        table = read_json_text(p, text, format=format, resolver=resolver)
    else:
        if format == "hf":
            raise DataError("format 'hf' expects a trainer_state.json, but this is not JSON", where=str(p))
        table = read_csv_text(p, text, format=format, resolver=resolver)
    return table if not notes else table.with_columns({}, note=notes[0])


def read_csv_text(path: Path, text: str, *, format: str | None, resolver: Resolver) -> CurveTable:
    """Parse a results CSV (OpenAI, Azure, RFT or generic)."""
    first = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise DataError(f"line 1: cannot read the CSV header ({exc})", where=str(path)) from None
    header = [h.strip() for h in header]
    for src in resolver.mapped:
        if src not in header:
            raise DataError(
                f"mapped column '{src}' is not in the header", where=str(path), hint="columns are: " + ", ".join(header)
            )
    used: dict[int, str] = {}
    for i, name in enumerate(header):
        canon = resolver.canonical(name)
        if canon is not None and canon not in used.values():
            used[i] = canon
    canon_set = set(used.values())
    check_has_metric(path, canon_set, header)
    fmt = format or detect_csv_format(header, canon_set, mapped=bool(resolver.mapped))
    step_idx = next((i for i, c in used.items() if c == "step"), None)
    rows: dict[int, dict[str, float | None]] = {}
    counts: dict[str, int] = {}
    notes: list[str] = []
    n = 0
    try:
        for n, rec in enumerate(reader, start=1):
            line = reader.line_num
            if not rec or all(not c.strip() for c in rec):
                continue
            if len(rec) > len(header):
                raise DataError(f"line {line}: {len(rec)} cells but the header has {len(header)}", where=str(path))
            where = f"{path}: line {line}"
            if step_idx is None:
                step = n
            else:
                cell = rec[step_idx] if step_idx < len(rec) else ""
                sv = parse_number(cell, where=where, column=header[step_idx], counts={})
                if sv is None:
                    raise DataError(f"column '{header[step_idx]}': the step is empty", where=where)
                step = int(round(sv))
            row = rows.setdefault(step, {})
            for i, canon in used.items():
                if canon == "step" or i >= len(rec):
                    continue
                v = parse_number(rec[i], where=where, column=header[i], counts=counts)
                if v is not None:
                    row[canon] = v
    except csv.Error as exc:
        raise DataError(f"line {reader.line_num}: malformed CSV ({exc})", where=str(path)) from None
    if not rows:
        raise DataError("the CSV has a header but no data rows", where=str(path))
    if step_idx is None:
        notes.append("no step column: row numbers used as steps")
    return build_table(
        rows, source=str(path), format=fmt, notes=notes + _nonfinite_note(counts), meta={"columns": header}
    )


def check_has_metric(path: Path, canon: set[str], header: list[str]) -> None:
    """DataError unless the columns include a loss or a reward."""
    if canon & set(LOSS_COLUMNS) or canon & set(REWARD_COLUMNS):
        return
    raise DataError(
        "no loss column (expected train_loss, valid_loss or full_valid_loss, or RFT rewards such as "
        f"train_mean_reward); columns are: {', '.join(header) or '(none)'}",
        where=str(path),
        hint="for another layout give format: generic with a mapping, e.g. {train_loss: <your column>}",
    )


def detect_csv_format(header: list[str], canon: set[str], *, mapped: bool) -> str:
    """``rft``, ``azure``, ``openai`` or ``generic`` from the header names."""
    low = {h.lower() for h in header}
    if canon & set(REWARD_COLUMNS):
        return "rft"
    if mapped:
        return "generic"
    if low & set(_AZURE_MARKERS) and not low & {"training_loss", "elapsed_tokens"}:
        return "azure"
    if "step" in low and (low & set(_OPENAI_MARKERS) or {"train_loss", "valid_loss"} <= low):
        return "openai"
    return "generic"


def parse_json(path: Path, text: str) -> Any:
    """``json.loads`` with a DataError naming the line and column (and saying when it looks truncated)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) - 1
        what = "truncated JSON (the file ends early)" if truncated else f"invalid JSON ({exc.msg})"
        raise DataError(f"line {exc.lineno}, column {exc.colno}: {what}", where=str(path)) from None


__all__ = ["read_curves", "Resolver", "FORMATS", "parse_number", "parse_json", "load_text", "maybe_base64"]

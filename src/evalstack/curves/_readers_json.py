"""JSON inputs: HF ``trainer_state.json``, metrics events (JSON list/page or JSONL), ``checkpoints.json``,
and the folder ``evalstack curves fetch`` writes (results CSV + checkpoints.json + events.json + job.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DataError
from ._readers import Resolver, load_text, parse_json, parse_number, read_csv_text
from ._table import REWARD_COLUMNS, CheckpointInfo, CurveTable, build_table

Rows = dict[int, dict[str, float | None]]


def read_json_text(path: Path, text: str, *, format: str | None, resolver: Resolver) -> CurveTable:
    """Dispatch a JSON/JSONL file to the HF, events or checkpoints reader."""
    obj = _load_json_or_jsonl(path, text)
    if isinstance(obj, dict) and "log_history" in obj:
        if format not in (None, "hf"):
            raise DataError(
                f"format '{format}' was given but this is a HF trainer_state.json",
                where=str(path),
                hint="use format: hf or leave format out",
            )
        return read_hf_state(path, obj, resolver)
    if format == "hf":
        raise DataError("format 'hf' expects a trainer_state.json with a 'log_history' list", where=str(path))
    items = _items(obj)
    if items is None:
        raise DataError(
            "JSON is neither a trainer_state.json (log_history), a list of metrics events nor a checkpoints list",
            where=str(path),
        )
    if items and all(isinstance(x, dict) and "step_number" in x for x in items):
        checkpoints, rows = read_checkpoints(path, items, resolver)
        return _finish(path, rows, format, checkpoints=checkpoints, what="checkpoints")
    return _finish(path, events_rows(path, items, resolver), format, what="metrics events")


def _finish(path: Path, rows: Rows, format: str | None, *, what: str, **kw: Any) -> CurveTable:
    if not rows:
        raise DataError(f"no {what} with a step and a loss or reward", where=str(path))
    table = build_table(rows, source=str(path), format=format or "openai", **kw)
    if not any(table.has(c) for c in ("train_loss", "valid_loss", "full_valid_loss") + REWARD_COLUMNS):
        raise DataError(
            f"the {what} hold no loss column (train_loss, valid_loss, full_valid_loss) nor rewards", where=str(path)
        )
    if format is None and table.kind == "rft":
        table = CurveTable(**{**table.__dict__, "format": "rft"})
    return table


def _load_json_or_jsonl(path: Path, text: str) -> Any:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].lstrip().startswith("{") and lines[0].rstrip().endswith("}"):
        try:
            json.loads(lines[0])
            first_ok = True
        except json.JSONDecodeError:
            first_ok = False
        if first_ok:  # JSON Lines: one event per line
            out = []
            for i, ln in enumerate(text.splitlines(), start=1):
                if not ln.strip():
                    continue
                try:
                    out.append(json.loads(ln))
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"line {i}, column {exc.colno}: invalid JSON line ({exc.msg})", where=str(path)
                    ) from None
            return out
    return parse_json(path, text)


def _items(obj: Any) -> list[Any] | None:
    if isinstance(obj, list):
        return obj
    if isinstance(obj, dict):
        for key in ("data", "events", "checkpoints"):
            if isinstance(obj.get(key), list):
                return obj[key]
    return None


def _flatten(d: dict[str, Any], out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Nested metric dicts flattened to their leaf names (first occurrence wins)."""
    out = {} if out is None else out
    for k, v in d.items():
        if isinstance(v, dict):
            _flatten(v, out)
        else:
            out.setdefault(str(k), v)
    return out


def _merge_metrics(
    row: dict[str, float | None], data: dict[str, Any], *, where: str, resolver: Resolver, counts: dict[str, int]
) -> None:
    for key, value in _flatten(data).items():
        canon = resolver.canonical(key)
        if canon is None or canon == "step":
            continue
        v = parse_number(value, where=where, column=key, counts=counts)
        if v is not None:
            row[canon] = v


def _step(value: Any, *, where: str) -> int:
    v = parse_number(value, where=where, column="step", counts={})
    if v is None:
        raise DataError("the step is missing", where=where)
    return int(round(v))


def read_hf_state(path: Path, state: dict[str, Any], resolver: Resolver) -> CurveTable:
    """HF Trainer ``trainer_state.json``: ``log_history`` (loss, eval_loss, epoch, step, learning_rate)."""
    log = state.get("log_history")
    if not isinstance(log, list):
        raise DataError("'log_history' is not a list", where=str(path))
    rows: Rows = {}
    counts: dict[str, int] = {}
    for i, entry in enumerate(log):
        where = f"{path}: log_history[{i}]"
        if not isinstance(entry, dict):
            raise DataError("entry is not an object", where=where)
        if "train_runtime" in entry or "train_samples_per_second" in entry:
            continue  # the end-of-training summary: its train_loss is the run average, not a step value
        if "step" not in entry:
            continue
        row = rows.setdefault(_step(entry["step"], where=where), {})
        _merge_metrics(
            row, {k: v for k, v in entry.items() if k != "step"}, where=where, resolver=resolver, counts=counts
        )
    rows = {s: r for s, r in rows.items() if r}
    n_epochs = state.get("num_train_epochs")
    meta = {k: state[k] for k in ("best_model_checkpoint", "best_metric", "global_step", "max_steps") if k in state}
    from ._readers import _nonfinite_note

    return _finish(
        path,
        rows,
        "hf",
        what="log_history entries",
        n_epochs=int(n_epochs) if isinstance(n_epochs, (int, float)) and n_epochs >= 1 else None,
        meta=meta,
        notes=_nonfinite_note(counts),
    )


def events_rows(path: Path, items: list[Any], resolver: Resolver) -> Rows:
    """Rows from fine-tuning job events: ``type == "metrics"`` events whose ``data`` holds a step."""
    rows: Rows = {}
    counts: dict[str, int] = {}
    for i, ev in enumerate(items):
        if not isinstance(ev, dict):
            raise DataError(f"event [{i}] is not an object", where=str(path))
        if ev.get("type") not in (None, "metrics"):
            continue
        data = ev.get("data") if "data" in ev or ev.get("object") == "fine_tuning.job.event" else ev
        if not isinstance(data, dict):
            continue
        step_key = "step" if "step" in data else "step_number" if "step_number" in data else None
        if step_key is None:
            continue
        where = f"{path}: event [{i}]"
        row = rows.setdefault(_step(data[step_key], where=where), {})
        _merge_metrics(
            row, {k: v for k, v in data.items() if k != step_key}, where=where, resolver=resolver, counts=counts
        )
    return {s: r for s, r in rows.items() if r}


def read_checkpoints(path: Path, items: list[Any], resolver: Resolver) -> tuple[list[CheckpointInfo], Rows]:
    """Checkpoints (``step_number``, ``metrics``, ``fine_tuned_model_checkpoint``) and their metric rows."""
    cps: list[CheckpointInfo] = []
    rows: Rows = {}
    for i, item in enumerate(items):
        where = f"{path}: checkpoint [{i}]"
        step = _step(item.get("step_number"), where=where)
        row: dict[str, float | None] = {}
        metrics = item.get("metrics") or {}
        if not isinstance(metrics, dict):
            raise DataError("'metrics' is not an object", where=where)
        _merge_metrics(
            row, {k: v for k, v in metrics.items() if k != "step"}, where=where, resolver=resolver, counts={}
        )
        cps.append(
            CheckpointInfo(
                step=step,
                model=item.get("fine_tuned_model_checkpoint"),
                metrics={k: v for k, v in row.items() if v is not None},
            )
        )
        rows[step] = row
    cps.sort(key=lambda c: c.step)
    return cps, rows


def table_rows(table: CurveTable) -> Rows:
    """``{step: {column: value}}`` of a table (missing values left out)."""
    rows: Rows = {s: {} for s in table.steps}
    for col, vals in table.columns.items():
        for s, v in zip(table.steps, vals):
            if v is not None:
                rows[s][col] = v
    return rows


def _fill(rows: Rows, extra: Rows) -> None:
    for step, vals in extra.items():
        row = rows.setdefault(step, {})
        for k, v in vals.items():
            if row.get(k) is None and v is not None:
                row[k] = v


def job_epochs(job: dict[str, Any]) -> int | None:
    """``n_epochs`` from a job object (top-level or per-method hyperparameters); ``None`` for "auto"."""
    cands = [job.get("hyperparameters") or {}]
    method = job.get("method") or {}
    for kind in ("supervised", "dpo", "reinforcement"):
        cands.append(((method.get(kind) or {}).get("hyperparameters")) or {})
    for hp in cands:
        n = hp.get("n_epochs") if isinstance(hp, dict) else None
        if isinstance(n, int) and n >= 1:
            return n
    return None


def read_job_dir(folder: Path, *, format: str | None, resolver: Resolver) -> CurveTable:
    """A folder written by ``evalstack curves fetch``: results CSV, checkpoints.json, events.json, job.json."""
    csvs = sorted(folder.glob("*results*.csv")) or sorted(folder.glob("*.csv"))
    parts: dict[str, Any] = {}
    for name in ("job.json", "checkpoints.json", "events.json"):
        f = folder / name
        if f.exists():
            text, _ = load_text(f)
            parts[name] = _load_json_or_jsonl(f, text)
    if not csvs and "events.json" not in parts and "checkpoints.json" not in parts:
        raise DataError(
            "the folder holds no results CSV, events.json or checkpoints.json",
            where=str(folder),
            hint="run `evalstack curves fetch JOB_ID --out DIR` or give the results file",
        )
    rows: Rows = {}
    notes: list[str] = []
    fmt = format
    if csvs:
        text, n = load_text(csvs[0])
        base = read_csv_text(csvs[0], text, format=format, resolver=resolver)
        rows, notes, fmt = table_rows(base), base.notes + n, base.format
    if "events.json" in parts:
        items = _items(parts["events.json"]) or []
        _fill(rows, events_rows(folder / "events.json", items, resolver))
    checkpoints: list[CheckpointInfo] = []
    if "checkpoints.json" in parts:
        items = _items(parts["checkpoints.json"]) or []
        checkpoints, cp_rows = read_checkpoints(folder / "checkpoints.json", items, resolver)
        _fill(rows, cp_rows)
    job = parts.get("job.json")
    if not isinstance(job, dict):
        job = {}
    meta = {k: job[k] for k in ("id", "model", "fine_tuned_model", "status") if job.get(k) is not None}
    table = _finish(folder, rows, fmt, what="metrics", checkpoints=checkpoints, n_epochs=job_epochs(job), meta=meta)
    return CurveTable(**{**table.__dict__, "notes": notes})

"""run.json and examples.jsonl on disk: write, read back with clear errors, and the JSON Schema of run.json."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .._io import atomic_write_json, read_user_text
from ..errors import DataError
from ..results import SCHEMA_VERSION, ExampleRow, RunResult

RUN_JSON = "run.json"
EXAMPLES_JSONL = "examples.jsonl"
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "run.schema.json"
"""The committed JSON Schema of run.json (kept equal to :func:`run_json_schema` by a test)."""

_JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def run_json_path(run_dir_or_file: str | Path) -> Path:
    """``run.json`` inside a run folder, or the file itself when a file is given."""
    p = Path(run_dir_or_file)
    return p / RUN_JSON if p.is_dir() else p


def _finite(obj: Any, path: str, bad: list[str]) -> Any:
    """Non-finite floats -> None (JSON has no NaN); ``bad`` collects where they were."""
    if isinstance(obj, float) and not math.isfinite(obj):
        bad.append(path or "<root>")
        return None
    if isinstance(obj, dict):
        return {k: _finite(v, f"{path}.{k}" if path else str(k), bad) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v, f"{path}[{i}]", bad) for i, v in enumerate(obj)]
    return obj


def write_run_json(run_dir: str | Path, run: RunResult) -> Path:
    """Write ``run.json`` atomically from ``run.model_dump(mode="json")``.

    JSON has no NaN/Infinity: a non-finite number (an undefined statistic) is written as ``null``, and a
    warning names the fields, so one bad value never costs the reports of a long run.
    """
    bad: list[str] = []
    data = _finite(run.model_dump(mode="json"), "", bad)
    if bad:
        warnings.warn(
            f"run.json: non-finite values written as null at {', '.join(bad[:10])}"
            + (f" (+{len(bad) - 10} more)" if len(bad) > 10 else ""),
            RuntimeWarning,
            stacklevel=2,
        )
    return atomic_write_json(Path(run_dir) / RUN_JSON, data, root=run_dir)


def read_run(run_dir_or_run_json: str | Path, *, allow_unfinished: bool = False) -> RunResult:
    """Read a saved run (a run folder or its ``run.json``) into a :class:`~evalstack.results.RunResult`.

    An unfinished folder (its run was killed or is still writing: the lock file is there, or examples.jsonl
    is not the one run.json was built with) raises :class:`~evalstack.errors.DataError` ("run --resume
    first"); ``allow_unfinished=True`` reads it as it is, with a warning.

    Raises :class:`~evalstack.errors.DataError` with one line naming the file and the fix for a missing
    file, invalid JSON, a ``schema_version`` older or newer than this evalstack reads, or a field that does
    not fit the schema.
    """
    path = run_json_path(run_dir_or_run_json)
    if not path.is_file():
        raise DataError(
            "no run.json here",
            where=str(path),
            hint="give a run folder written by `evalstack run` (it holds run.json) or the run.json file",
        )
    text = read_user_text(
        path, "run.json", error=DataError, utf8_hint="the file is damaged: re-run `evalstack run` to write it again"
    )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            where=str(path),
            hint="the file is truncated or edited by hand: re-run `evalstack run` to write it again",
        ) from None
    if not isinstance(data, dict):
        raise DataError(
            "run.json must hold a JSON object", where=str(path), hint="give the run.json written by `evalstack run`"
        )
    version = data.get("schema_version")
    written_by = data.get("evalstack_version")
    by = f" (written by evalstack {written_by})" if isinstance(written_by, str) else ""
    if not isinstance(version, int) or isinstance(version, bool):
        raise DataError(
            f"no integer schema_version{by}; this is not a run.json evalstack wrote",
            where=str(path),
            hint="give the run.json of a run folder",
        )
    if version < SCHEMA_VERSION:
        raise DataError(
            f"run.json schema_version {version}{by} is older than the version this evalstack reads ({SCHEMA_VERSION})",
            where=str(path),
            hint="re-run the config with this evalstack"
            + (f", or read it with evalstack {written_by} (pip install evalstack=={written_by})" if by else ""),
        )
    if version > SCHEMA_VERSION:
        raise DataError(
            f"run.json schema_version {version}{by} is newer than the version this evalstack reads ({SCHEMA_VERSION})",
            where=str(path),
            hint="upgrade evalstack: pip install -U evalstack",
        )
    try:
        run = RunResult.model_validate(data)
    except ValidationError as exc:
        raise DataError(
            _first_error(exc),
            where=str(path),
            hint="the file does not match run.schema.json: re-run `evalstack run` to write it again",
        ) from None
    from .._outdir import ensure_finished

    ensure_finished(path.parent, run.examples_sha256, allow_unfinished=allow_unfinished)
    return _config_order(run)


def _config_order(run: RunResult) -> RunResult:
    """Tasks back in the config's order (run.json is written with sorted keys; reports follow the config)."""
    tasks = (run.config or {}).get("tasks") if isinstance(run.config, dict) else None
    names = [t.get("name") for t in tasks or [] if isinstance(t, dict)]
    rank = {n: i for i, n in enumerate(names)}
    # a RunResult is never changed once built: a copy with the tasks reordered
    return run.model_copy(
        update={"tasks": dict(sorted(run.tasks.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))}
    )


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    loc = ".".join(str(x) for x in e.get("loc", ())) or "<root>"
    more = exc.error_count() - 1
    return f"at {loc}: {e.get('msg', 'invalid')}" + (f" (and {more} more problems)" if more > 0 else "")


def iter_examples(run_dir: str | Path) -> Iterator[ExampleRow]:
    """Stream the rows of ``run_dir/examples.jsonl`` as :class:`~evalstack.results.ExampleRow` (one at a time).

    Blank lines are skipped. A missing file or a line that is not a valid row raises
    :class:`~evalstack.errors.DataError` naming the file and line number.
    """
    path = Path(run_dir)
    path = path / EXAMPLES_JSONL if path.is_dir() or not path.suffix else path
    if not path.is_file():
        raise DataError(
            "no examples.jsonl here",
            where=str(path),
            hint="give a run folder written by `evalstack run` (it holds examples.jsonl)",
        )
    with path.open("r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield ExampleRow.model_validate_json(line)
            except ValidationError as exc:
                raise DataError(
                    _first_error(exc),
                    where=f"{path}:{lineno}",
                    hint="each line must be one example row as `evalstack run` writes it",
                ) from None


def run_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of run.json, generated from :class:`~evalstack.results.RunResult`."""
    schema = RunResult.model_json_schema()
    schema = {"$schema": _JSON_SCHEMA_DIALECT, **schema}
    schema["title"] = "evalstack run.json"
    schema["description"] = (
        f"{schema.get('description', '').strip()} One finished evaluation run (schema_version "
        f"{SCHEMA_VERSION}); per-example rows live beside it in examples.jsonl."
    ).strip()
    props = schema["properties"]["schema_version"]
    props["const"] = SCHEMA_VERSION
    props["description"] = "Version of this format; readers refuse other versions with a clear message."
    return schema


def write_run_schema(path: str | Path | None = None) -> Path:
    """Write :func:`run_json_schema` to ``path`` (default: the committed ``src/evalstack/schema/run.schema.json``)."""
    return atomic_write_json(path or SCHEMA_FILE, run_json_schema())

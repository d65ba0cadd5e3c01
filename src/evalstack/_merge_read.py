"""Reading shard folders for `evalstack merge`, and the checks that they make one run.

Each folder must be a finished shard (run.json with ``settings.shard``, examples.jsonl and shard.jsonl as
the run wrote them); together they must be shards 1..N of one N, of the same config (digest, ``--limit``,
models), each once, with no example in two of them. Anything else is refused with one line naming the
folders (exit 2) before anything is written.
"""

from __future__ import annotations

__all__ = ["Shard", "check_set", "load_shard"]

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._io import read_user_text
from ._outdir import sha256_file
from ._shard import RECORDS
from .errors import DataError
from .results import ExampleRow, RunResult


@dataclass
class Shard:
    """One shard folder as read: its run record, its rows per (task, model) and its records."""

    path: Path
    run: RunResult
    index: int
    of: int
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """task -> its records line (ids, positions, scoring columns, slice values, recomputed metrics)."""
    scores: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(task, model) -> its records line (rows, key order, saved per-example statistics)."""
    rows: dict[tuple[str, str], list[ExampleRow]] = field(default_factory=dict)
    """(task, model) -> its examples.jsonl rows, in the shard's order."""

    @property
    def label(self) -> str:
        return f"{self.index}/{self.of}"


def load_shard(path: Path) -> Shard:
    """Read one finished shard folder (DataError naming it otherwise)."""
    from .report import iter_examples, read_run

    path = Path(path)
    if not (path / "run.json").is_file() or (path / ".evalstack.lock").exists():
        raise DataError(
            "this shard did not finish (killed, or still running)",
            where=str(path),
            hint=f"resume it: evalstack run CONFIG --shard I/N --out {path} --resume",
        )
    run = read_run(path)  # refuses an unfinished folder
    info = run.settings.get("shard")
    if not isinstance(info, dict):
        raise DataError(
            "not a shard folder (its run.json has no settings.shard)",
            where=str(path),
            hint="merge the folders written by `evalstack run CONFIG --shard I/N`",
        )
    rec = path / RECORDS
    if not rec.is_file() or sha256_file(rec) != info.get("records_sha256"):
        raise DataError(
            f"{RECORDS} is missing or not the one run.json was written with",
            where=str(path),
            hint=f"run the shard again: evalstack run CONFIG --shard {info.get('index')}/{info.get('of')} --resume",
        )
    shard = Shard(path=path, run=run, index=int(info["index"]), of=int(info["of"]))
    for line in read_user_text(rec, RECORDS, error=DataError).splitlines():
        obj = json.loads(line)
        if obj.get("kind") == "task":
            shard.tasks[obj["task"]] = obj
        elif obj.get("kind") == "scores":
            shard.scores[(obj["task"], obj["model"])] = obj
    for row in iter_examples(path):
        shard.rows.setdefault((row.task, row.model), []).append(row)
    return shard


def check_set(shards: Sequence[Shard]) -> None:
    """The folders are shards 1..N of one N and one config, each once, no example in two (DataError)."""
    first = shards[0]
    for s in shards[1:]:
        if s.of != first.of:
            raise DataError(
                f"shards of different splits: {first.path} is {first.label}, {s.path} is {s.label}",
                hint="merge the N folders of one `--shard I/N` split",
            )
        if s.run.config_digest != first.run.config_digest:
            raise DataError(
                f"shards of different configs: {first.path} (digest {first.run.config_digest[:12]}) and "
                f"{s.path} (digest {s.run.config_digest[:12]})",
                hint="every shard must run the same config (data, prompts, models, metrics)",
            )
        if s.run.digests != first.run.digests:  # e.g. the data file or a rubric changed between shard runs
            from ._digests import describe, mismatches

            found = [m for t, d in first.run.digests.items() for m in mismatches(d, s.run.digests.get(t, {}), t)]
            raise DataError(
                f"shards of different evaluations: {first.path} and {s.path} differ"
                + (f" ({' | '.join(describe(found))})" if found else ""),
                hint="run every shard on the same data, prompts, judges and metrics",
            )
        for what in ("limit",):
            if s.run.settings.get(what) != first.run.settings.get(what):
                raise DataError(
                    f"shards ran with different --{what}: {first.path} and {s.path}",
                    hint=f"run every shard with the same --{what}",
                )
        if list(s.run.models) != list(first.run.models):
            raise DataError(
                f"shards ran different models: {', '.join(first.run.models)} in {first.path}, "
                f"{', '.join(s.run.models)} in {s.path}",
                hint="run every shard with the same --models",
            )
    seen: dict[int, Path] = {}
    for s in shards:
        if s.index in seen:
            raise DataError(
                f"shard {s.label} given twice: {seen[s.index]} and {s.path}", hint="give each shard folder once"
            )
        seen[s.index] = s.path
    missing = [f"{i}/{first.of}" for i in range(1, first.of + 1) if i not in seen]
    if missing:
        raise DataError(
            f"missing shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} of {first.of}",
            hint="run them (evalstack run CONFIG --shard I/N) and give every shard folder",
        )
    for task in first.tasks:
        owner: dict[str, Shard] = {}
        for s in shards:
            for ex_id in s.tasks.get(task, {}).get("ids", []):
                if ex_id in owner:
                    raise DataError(
                        f"task '{task}': example '{ex_id}' is in shard {owner[ex_id].label} ({owner[ex_id].path}) "
                        f"and shard {s.label} ({s.path})",
                        hint="shards must not overlap: run each with this evalstack's --shard",
                    )
                owner[ex_id] = s
        n_total = {s.tasks[task]["n_total"] for s in shards if task in s.tasks}
        positions = sorted(p for s in shards for p in s.tasks.get(task, {}).get("positions", []))
        if len(n_total) != 1 or positions != list(range(n_total.pop())):
            raise DataError(
                f"task '{task}': the shards do not hold the task's examples once each",
                hint="run every shard of the same data file (the data changed between shards?)",
            )

"""Recorded outputs: a file of (id, output[, task][, logprobs]) rows answers requests by example id.

Multi-turn tasks: the output cell holds the answers per turn (a list of strings), or the recorded
conversation (OpenAI-style messages, whose assistant messages are the answers in order); turn ``k``'s
request gets the ``k``-th answer. A judge file may record one verdict per turn the same way.

Replay serves as a model (outputs recorded earlier, e.g. from a training job's eval step or another
harness) and as a judge (recorded verdicts), so published studies can be re-scored offline. Nothing is
sent anywhere and nothing is cached: the file is the cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_serializer

from ..errors import DataError
from ._base import CacheIdentity, Generation, PermanentError, Provider, ProviderSettings, Request, register_provider


class ReplaySettings(ProviderSettings):
    """Recorded outputs, keyed by example id (JSONL/CSV/JSON/Parquet with id + output [+ logprobs])."""

    provider: Literal["replay"]
    path: Path
    id_column: str = "id"
    output_column: str = "output"
    task_column: str | None = Field(None, description="Column naming the task, when one file holds several tasks.")
    logprobs_column: str | None = Field(None, description="Column with a list of token logprobs.")
    tool_calls_column: str | None = Field(
        None,
        description="Column with the recorded tool calls of a reply (a list of {name, arguments} or the "
        "OpenAI shape, or its JSON text); default: `tool_calls`, read where a row has it.",
    )

    @model_serializer(mode="wrap")
    def _omit_default(self, handler: Any) -> Any:
        """Left out of run.json's config and the config digest when not set (as before it existed)."""
        data = handler(self)
        if isinstance(data, dict) and data.get("tool_calls_column") is None:
            data.pop("tool_calls_column", None)
        return data


def _recorded(out: Any) -> str | tuple[str | None, ...] | None:
    """A recorded output: text, or per-turn answers (a list of texts, or a conversation's assistant messages;
    a JSONL/JSON/Parquet list cell, never a text that looks like one)."""
    if hasattr(out, "tolist") and not isinstance(out, str):
        out = out.tolist()
    if isinstance(out, list) and out and all(isinstance(m, dict) for m in out):  # a conversation
        return tuple(m.get("content") for m in out if m.get("role") == "assistant")
    if isinstance(out, list) and all(m is None or isinstance(m, str) for m in out):
        return tuple(out)
    return None if out is None else str(out)


@register_provider("replay")
class ReplayProvider(Provider):
    Settings = ReplaySettings
    uses_cache = False
    logprobs_hint = "set its `logprobs_column`"

    cfg: ReplaySettings

    def __init__(self, name: str, cfg: ReplaySettings):
        super().__init__(name, cfg)
        self.concurrency = 1024
        self._table: dict[tuple[str | None, str], tuple[Any, Any, Any]] | None = None

    def cache_identity(self) -> CacheIdentity:
        return {"kind": "replay", "model": str(self.cfg.path)}

    def returns_logprobs(self) -> bool:
        return bool(self.cfg.logprobs_column)

    def describe(self) -> str:
        return str(self.cfg.path.name)

    def _load(self) -> dict[tuple[str | None, str], tuple[Any, Any, Any]]:
        if self._table is not None:
            return self._table
        from ..data import read_rows

        cfg = self.cfg
        table: dict[tuple[str | None, str], tuple[Any, Any, Any]] = {}
        rows = read_rows(cfg.path)
        if not rows:
            raise DataError("the replay file is empty", where=str(cfg.path))
        for line, row in rows:
            for col in (cfg.id_column, cfg.output_column) + ((cfg.task_column,) if cfg.task_column else ()):
                if col not in row:
                    raise DataError(
                        f"missing column '{col}' (columns: {', '.join(sorted(row))})",
                        where=f"{cfg.path}:{line}",
                        hint=f"set models.{self.name}.{'id_column' if col == cfg.id_column else 'output_column' if col == cfg.output_column else 'task_column'}",
                    )
            key = (str(row[cfg.task_column]) if cfg.task_column else None, str(row[cfg.id_column]))
            if key in table:
                raise DataError(
                    f"duplicate id '{key[1]}'" + (f" for task '{key[0]}'" if key[0] else ""),
                    where=f"{cfg.path}:{line}",
                    hint="each example needs exactly one recorded output",
                )
            lp = row.get(cfg.logprobs_column) if cfg.logprobs_column else None
            if isinstance(lp, str) and lp.strip():
                try:
                    lp = json.loads(lp)
                except ValueError:
                    raise DataError(
                        f"column '{cfg.logprobs_column}' is not a JSON list", where=f"{cfg.path}:{line}"
                    ) from None
            if lp is not None and not (isinstance(lp, list) and all(isinstance(x, (int, float)) for x in lp)):
                raise DataError(f"column '{cfg.logprobs_column}' must be a list of numbers", where=f"{cfg.path}:{line}")
            out = row[cfg.output_column]
            col = cfg.tool_calls_column or "tool_calls"
            calls = _recorded_calls(row.get(col), f"{cfg.path}:{line}", col)
            table[key] = (_recorded(out), lp, calls)
        self._table = table
        return table

    async def aclose(self) -> None:
        """The run has its generations: the table is let go (read again if asked once more)."""
        self._table = None

    def check_ready(self) -> None:
        self._load()

    def _lookup(self, task: str, example_id: str) -> tuple[Any, Any, Any] | None:
        table = self._load()
        t = task if self.cfg.task_column else None
        found = table.get((t, example_id))
        if found is None and "#" in example_id:  # sample k of a repeated example ("id#k"): its own row, else the id's
            found = table.get((t, example_id.rsplit("#", 1)[0]))
        return found

    def check_examples(self, task: str, example_ids: list[str]) -> None:
        missing = [i for i in example_ids if self._lookup(task, i) is None]
        if missing:
            first = ", ".join(missing[:5])
            raise DataError(
                f"no recorded output for {len(missing)} of {len(example_ids)} examples of task '{task}' "
                f"(first: {first})",
                where=str(self.cfg.path),
                hint="record outputs for every example id, or limit the task's data to the recorded ids",
            )

    def check_turns(self, task: str, turns: list[tuple[str, int]]) -> None:
        """A multi-turn task: every example needs a recorded answer per turn (a list as long as its turns)."""
        for example_id, n in turns:
            found = self._lookup(task, example_id)
            text = found[0] if found is not None else None
            got = len(text) if isinstance(text, tuple) else 1
            if got < n:
                raise DataError(
                    f"example '{example_id}' of task '{task}' has {n} turns but {got} recorded answer(s)",
                    where=str(self.cfg.path),
                    hint="record one answer per turn: a list in the output column, or the conversation's messages",
                )

    async def generate(self, request: Request) -> Generation:
        found = self._lookup(request.task, request.example_id)
        if found is None:
            raise PermanentError("missing_output", f"no recorded output for id '{request.example_id}'")
        text, lp, calls = found
        if isinstance(text, tuple):  # answers per turn
            if request.turn < 1:
                raise PermanentError(
                    "bad_recording",
                    f"the recorded output for id '{request.example_id}' is a list (one per turn), "
                    "but this task asks one turn",
                )
            if request.turn > len(text):
                raise PermanentError(
                    "missing_output",
                    f"no recorded answer to turn {request.turn} for id '{request.example_id}' ({len(text)} recorded)",
                )
            text, lp = text[request.turn - 1], None
        elif request.turn > 1:
            raise PermanentError(
                "missing_output",
                f"the recorded output for id '{request.example_id}' is one answer; turn {request.turn} needs a list "
                "(one answer per turn)",
            )
        if text is None and calls:  # a reply of tool calls only (content null)
            text = ""
        if text is None:
            raise PermanentError("recorded_failure", f"the recorded output for id '{request.example_id}' is null")
        return Generation(
            text=text,
            logprobs=[float(x) for x in lp] if lp else None,
            completion_tokens=len(lp) if lp else 0,
            tool_calls=calls,
            finish_reason="tool_calls" if calls else None,
        )


def _recorded_calls(value: Any, where: str, column: str) -> list[dict[str, Any]] | None:
    """A replay row's recorded tool calls in the OpenAI shape (None when it has none); a DataError when the
    cell is not a list of calls."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise DataError(f"column '{column}' is not JSON", where=where) from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise DataError(f"column '{column}' must hold a list of tool calls", where=where)
    out = []
    for i, call in enumerate(value):
        fn = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise DataError(
                f"column '{column}'[{i}]: expected {{name, arguments}}",
                where=where,
                hint='e.g. {"name": "refund", "arguments": {"order_id": "A1"}}',
            )
        args = fn.get("arguments", {})
        out.append(
            {
                "id": str(call.get("id") or f"call_{i}"),
                "type": "function",
                "function": {"name": fn["name"], "arguments": args if isinstance(args, str) else json.dumps(args)},
            }
        )
    return out or None

"""Multi-turn tasks: a conversation per example, from a ``turns`` or a ``messages`` column.

``turns`` (MT-Bench's protocol): a list of user messages; the model answers turn 1, its own answer goes into
the history, then turn 2 is asked, and so on. ``messages``: a conversation (OpenAI-style messages) that ends
with a user message; only that last turn is generated. Everything here is checked before any request: a bad
cell is one line naming ``file:line``, the column and the fix (exit 2).

The conversation record (examples.jsonl ``conversation``) is a list of OpenAI-style messages: the prompt's
system/few-shot messages, the given history, then per generated turn the user message and the model's own
answer (``{"role": "assistant", "content": ..., "turn": k}``; a failed turn carries ``error``, a turn not
asked ``skipped``). Other message keys (``tool_calls``, ``tool_call_id``, ``name``) are kept as they are, so
tool calls and tool results live in the same record.
"""

from __future__ import annotations

__all__ = [
    "Conversation",
    "check_task_shape",
    "dialogue",
    "load_conversations",
    "parse_turn",
    "turn_suffix",
]

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, DataError

if TYPE_CHECKING:
    from .config import TaskConfig
    from .data import Example

ROLES = ("system", "developer", "user", "assistant", "tool")
TURN_WORDS = ("all", "last", "conversation")


@dataclass(frozen=True)
class Conversation:
    """One example's conversation: what comes before the first generated turn, and the user turns to answer."""

    prefix: tuple[dict[str, Any], ...]
    """Messages before the first generated turn: the prompt's system and few-shot messages, then (``messages``
    tasks) the given history."""
    turns: tuple[str, ...]
    """The user messages the model answers, in order (a ``messages`` task: its final user message only)."""
    references: tuple[Any, ...] | None = None
    """Per turn, the reference answer (``turns`` tasks whose ``reference`` column holds one per turn)."""

    def request_messages(self, k: int, answers: Sequence[str]) -> list[dict[str, Any]]:
        """The messages of turn ``k`` (1-based): the prefix, each earlier user turn followed by the model's own
        answer to it (``answers``), then user turn ``k``."""
        msgs = [dict(m) for m in self.prefix]
        for j in range(k - 1):
            msgs += [{"role": "user", "content": self.turns[j]}, {"role": "assistant", "content": answers[j]}]
        msgs.append({"role": "user", "content": self.turns[k - 1]})
        return msgs

    def reference(self, k: int) -> Any:
        """The reference of turn ``k`` (None where there is none)."""
        if self.references is None or k > len(self.references):
            return None
        return self.references[k - 1]

    def input_text(self) -> str:
        """The user side as reviews show it: the one turn, or ``Turn k:`` paragraphs."""
        if len(self.turns) == 1:
            return self.turns[0]
        return "\n\n".join(f"Turn {k}: {t}" for k, t in enumerate(self.turns, start=1))


def dialogue(turns: Sequence[str], answers: Sequence[str | None], *, assistant: str = "Assistant") -> str:
    """A transcript as MT-Bench's judge prompts lay it out: ``### User:`` / ``### Assistant:`` blocks, each
    user turn followed by its answer where ``answers`` has one (a final unanswered question ends it)."""
    parts = []
    for j, q in enumerate(turns):
        parts.append(f"### User:\n{q}")
        if j < len(answers) and answers[j] is not None:
            parts.append(f"### {assistant}:\n{answers[j]}")
    return "\n\n".join(parts)


def check_task_shape(task: TaskConfig) -> None:
    """The task-level rules of conversation tasks (raised as ValueError: the config reports them at the key)."""
    conv = task.turns or task.messages
    if task.turns and task.messages:
        raise ValueError("at turns: `turns` and `messages` are two ways to give a conversation: set one of them")
    if not conv and task.prompt.user is None:
        raise ValueError(
            "at prompt.user: the prompt needs `user` (the template of the user message), unless the task's "
            "`turns:` or `messages:` names the column holding the conversation"
        )
    if conv and task.prompt.user is not None:
        key = "turns" if task.turns else "messages"
        raise ValueError(
            f"at prompt.user: a conversation task takes its user messages from column '{conv}' (`{key}:`); "
            "remove prompt.user (prompt.system and few_shot still apply)"
        )
    if task.turns and task.labels is not None:
        raise ValueError(
            "at labels: `labels` applies to tasks with one answer per example; a `turns` task is scored per "
            "turn against `reference` (one per turn)"
        )
    for j in task.judges + task.pairwise:
        if j.turn is not None and not task.turns:
            raise ValueError(
                f"at judges: `turn: {j.turn}` (rubric {j.rubric}) applies to `turns` tasks, which answer several "
                "turns; this task generates one answer per example"
            )


def parse_turn(value: object, *, where: str, judge: bool) -> int | str:
    """A ``turn:`` option: a turn number >= 1, ``all``, ``last`` (and ``conversation`` for judges)."""
    words = TURN_WORDS if judge else TURN_WORDS[:2]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and value in words:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) >= 1:
        return int(value)
    raise ConfigError(
        f"turn: {value!r} is not a turn",
        where=where,
        hint=f"use a turn number (1, 2, ...) or one of: {', '.join(words)}",
    )


def turn_suffix(turn: int | str) -> str:
    """The key suffix of a turn selection: ``@turn2``, ``@last``, ``@conversation``."""
    return f"@turn{turn}" if isinstance(turn, int) else f"@{turn}"


def _cell(value: Any) -> Any:
    """A list cell written as JSON text (CSV files) is read as the list it spells."""
    if isinstance(value, str) and value.strip()[:1] == "[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if hasattr(value, "tolist"):  # numpy arrays from Parquet
        return value.tolist()
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _turns(value: Any, col: str, at: str) -> tuple[str, ...]:
    hint = f'write column \'{col}\' as a list of user messages, e.g. "{col}": ["What is 2+2?", "Now times 3?"]'
    if not isinstance(value, list) or not value:
        what = "an empty list" if value == [] else f"a {_kind(value)}"
        raise DataError(
            f"column '{col}' must be a non-empty list of user messages (strings), not {what}", where=at, hint=hint
        )
    for j, t in enumerate(value):
        if not isinstance(t, str) or not t.strip():
            what = "empty" if isinstance(t, str) else f"a {_kind(t)}"
            raise DataError(
                f"column '{col}' item {j} is {what}; every turn must be a user message (text)", where=at, hint=hint
            )
    return tuple(value)


def _messages(value: Any, col: str, at: str) -> tuple[tuple[dict[str, Any], ...], str]:
    """The given history and the final user message of a ``messages`` cell."""
    hint = f'write column \'{col}\' as OpenAI-style messages ending with the user turn to answer, e.g. [{{"role": "user", "content": "Hi"}}]'
    if not isinstance(value, list) or not value:
        what = "an empty list" if value == [] else f"a {_kind(value)}"
        raise DataError(f"column '{col}' must be a non-empty list of messages, not {what}", where=at, hint=hint)
    for j, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            role = m.get("role") if isinstance(m, dict) else None
            what = f"role {role!r}" if isinstance(m, dict) else f"a {_kind(m)}"
            raise DataError(
                f"column '{col}' message {j} has {what}; each message is an object with a role ({', '.join(ROLES)})",
                where=at,
                hint=hint,
            )
        content = m.get("content")
        if not (isinstance(content, str) or (content is None and m["role"] == "assistant" and m.get("tool_calls"))):
            raise DataError(
                f"column '{col}' message {j} ({m['role']}) has content {_kind(content)}; content must be text",
                where=at,
                hint=hint,
            )
    last = value[-1]
    if last["role"] != "user" or not last["content"].strip():
        raise DataError(
            f"column '{col}' must end with a user message (the turn to generate); it ends with "
            + (f"a {last['role']} message" if last["role"] != "user" else "an empty user message"),
            where=at,
            hint="drop the trailing message, or use `turns:` (a list of user messages) to have the model answer "
            "every turn itself",
        )
    return tuple(dict(m) for m in value[:-1]), last["content"]


def _references(value: Any, n: int, col: str, at: str) -> tuple[Any, ...] | None:
    if value is None:
        return None
    value = _cell(value)
    if not isinstance(value, list) or len(value) != n:
        what = f"{len(value)} items" if isinstance(value, list) else f"a {_kind(value)}"
        raise DataError(
            f"column '{col}' holds {what} for {n} turn(s); a `turns` task's reference holds one per turn",
            where=at,
            hint=f'write it as a list with one reference per turn (null where a turn has none), e.g. "{col}": ["4", "12"], as MT-Bench\'s question file does',
        )
    return tuple(value)


def load_conversations(
    task: TaskConfig, examples: Sequence[Example], prefixes: Sequence[Sequence[dict[str, Any]]], path: object
) -> list[Conversation]:
    """One :class:`Conversation` per example (``prefixes``: the rendered system/few-shot messages of each)."""
    out = []
    for ex, prefix in zip(examples, prefixes):
        at = f"{path}:{ex.line or '?'}"
        if task.turns:
            turns = _turns(_cell(ex.row.get(task.turns)), task.turns, at)
            refs = _references(ex.row.get(task.reference), len(turns), task.reference, at) if task.reference else None
            out.append(Conversation(tuple(prefix), turns, refs))
        else:
            col = str(task.messages)
            history, last = _messages(_cell(ex.row.get(col)), col, at)
            out.append(Conversation(tuple(prefix) + history, (last,)))
    return out


def key_turn(key: str) -> int | str | None:
    """The turn a metric key scores: 2 for ``...@turn2``, ``last``, ``conversation``; None for other keys."""
    _, sep, tail = key.rpartition("@")
    if not sep:
        return None
    if tail.startswith("turn") and tail[4:].isdigit():
        return int(tail[4:])
    return tail if tail in ("last", "conversation") else None


def turn_view(
    conversation: Sequence[dict[str, Any]], reference: Any, key: str, default: tuple[str, str | None, Any]
) -> tuple[str, str | None, Any]:
    """(input, output, reference) of an examples.jsonl row as a review of ``key`` shows it: for a per-turn key
    the dialogue up to that turn's question, that turn's answer and reference; for other keys of a conversation
    task the user turns and every answer (``Turn k:`` paragraphs). ``default``: the row's own fields (rows without a conversation)."""
    answers = [m for m in conversation if m.get("role") == "assistant" and "turn" in m]
    if not answers:
        return default
    users = [str(m.get("content")) for m in conversation if m.get("role") == "user"][-len(answers) :]
    texts = [m.get("content") for m in answers]
    turn = key_turn(key)
    k = len(answers) if turn == "last" else turn if isinstance(turn, int) else None
    if k is None or k > len(answers):
        shown = [f"Turn {j}: {'(no answer)' if t is None else t}" for j, t in enumerate(texts, start=1)]
        return default[0], "\n\n".join(shown), default[2]
    asked = users[0] if k == 1 else dialogue(users[:k], texts[: k - 1])
    ref = reference[k - 1] if isinstance(reference, list) and len(reference) == len(answers) else reference
    return asked, texts[k - 1], ref

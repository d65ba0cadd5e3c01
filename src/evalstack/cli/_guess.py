"""Look at the rows of a held-out file and guess the task: a pure function of the rows (no file, no click).

``profile(rows)`` describes each column; ``guess_task(columns, n, ...)`` picks id, input, and a gold label
column (classification) or a reference column (generation / QA), every guess overridable by a flag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

from ..errors import ConfigError, DataError

__all__ = ["Column", "Guess", "guess_task", "profile"]

_ID_NAMES = ("id", "idx", "uid", "uuid", "example_id", "sample_id", "qid", "_id", "key", "guid")
_LABEL_NAMES = (
    "label",
    "labels",
    "class",
    "category",
    "intent",
    "target",
    "sentiment",
    "gold",
    "gold_label",
    "y",
    "tag",
    "topic",
    "stance",
    "verdict",
)
_INPUT_NAMES = (
    "text",
    "input",
    "prompt",
    "question",
    "document",
    "instruction",
    "query",
    "sentence",
    "content",
    "article",
    "dialogue",
    "conversation",
    "message",
    "ticket",
    "review",
    "utterance",
    "source",
    "context",
    "premise",
    "body",
    "email",
)
_REFERENCE_NAMES = (
    "reference",
    "references",
    "summary",
    "answer",
    "answers",
    "output",
    "completion",
    "response",
    "target",
    "expected",
    "ideal",
    "gold",
    "highlights",
    "translation",
    "label",
)
_JINJA_WORDS = {
    "and",
    "or",
    "not",
    "in",
    "is",
    "if",
    "else",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
    "loop",
    "self",
    "range",
}
_SHORT_ANSWER = 30  # mean characters below which a reference column is a short answer (exact match, token F1)
_MAX_LABELS = 50


@dataclass
class Column:
    """What one column of the file holds."""

    name: str
    types: list[str]
    """Python type names of its values (``str``, ``int``, ``float``, ``bool``, ``list``, ``dict``, ``null``)."""
    present: int
    """Rows with a non-null value."""
    distinct: int
    counts: dict[str, int] = field(default_factory=dict)
    """Values -> rows, for scalar columns (as text)."""
    mean_length: float | None = None
    """Mean characters of its text values (lists of strings: of their items)."""
    example: str = ""

    @property
    def scalar(self) -> bool:
        return set(self.types) <= {"str", "int", "bool", "null"} and self.present > 0

    @property
    def text(self) -> bool:
        return self.mean_length is not None and self.present > 0 and set(self.types) <= {"str", "list", "null"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "types": self.types,
            "present": self.present,
            "distinct": self.distinct,
            "mean_length": None if self.mean_length is None else round(self.mean_length, 1),
            "example": self.example,
        }


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__ if isinstance(v, (str, int, float, bool, list, dict)) else "str"


def profile(rows: list[dict[str, Any]]) -> list[Column]:
    """One :class:`Column` per column (first-seen order), over every row."""
    names = list(dict.fromkeys(k for r in rows for k in r))
    cols = []
    for name in names:
        values = [r.get(name) for r in rows]
        present = [v for v in values if v is not None]
        types = sorted({_type_name(v) for v in values})
        texts = [
            t
            for v in present
            for t in ([v] if isinstance(v, str) else v if isinstance(v, list) else [])
            if isinstance(t, str)
        ]
        keys = [json.dumps(v, sort_keys=True, default=str) if isinstance(v, (list, dict)) else str(v) for v in present]
        counts: dict[str, int] = {}
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
        example = keys[0] if keys else ""
        cols.append(
            Column(
                name=name,
                types=types,
                present=len(present),
                distinct=len(counts),
                counts=counts,
                mean_length=sum(map(len, texts)) / len(texts) if texts else None,
                example=example if len(example) <= 60 else example[:57] + "...",
            )
        )
    return cols


def _by_name(cols: list[Column], names: tuple[str, ...]) -> list[Column]:
    """Columns whose lower-cased name is in ``names``, in the order of ``names``."""
    found = {c.name.lower(): c for c in cols}
    return [found[n] for n in names if n in found]


@dataclass
class Guess:
    """The task evalstack init proposes."""

    kind: str
    """classification, generation (long references: ROUGE, BERTScore) or qa (short answers: exact match, token F1)."""
    input: str
    id: str | None
    target: str | None = None
    labels: list[str] = field(default_factory=list)
    reference: str | None = None
    notes: list[str] = field(default_factory=list)
    slice_by: str | None = None
    """A column to report per-slice deltas for (conversations: MT-Bench's ``category``)."""


def _pick(cols: list[Column], flag: str | None, option: str) -> Column | None:
    if flag is None:
        return None
    for c in cols:
        if c.name == flag:
            return c
    raise ConfigError(f"{option} '{flag}' is not a column (columns: {', '.join(c.name for c in cols)})")


def _conversation_guess(cols: list[Column], n: int, turns: Column, reference: str | None, id_: str | None) -> Guess:
    """A ``turns`` column (a list of user messages per row): answered turn by turn, judged per turn."""
    idc = _pick(cols, id_, "--id-column") or next(
        (c for c in cols if c.name in ("question_id", "id") and c.scalar and c.present == n and c.distinct == n), None
    )
    ref = _pick(cols, reference, "--reference-column") or next((c for c in cols if c.name == "reference"), None)
    cat = next((c for c in cols if c.name == "category" and c.scalar and c.distinct <= _MAX_LABELS), None)
    g = Guess(kind="conversation", input=turns.name, id=idc.name if idc else None, reference=ref.name if ref else None)
    g.slice_by = cat.name if cat else None
    return g


def guess_task(
    cols: list[Column],
    n: int,
    *,
    label: str | None = None,
    reference: str | None = None,
    input_: str | None = None,
    id_: str | None = None,
) -> Guess:
    """Guess id, task kind, target or reference, and input; flags override every guess."""
    if label and reference:
        raise ConfigError("give --label-column or --reference-column, not both (one task per init)")
    turns = next((c for c in cols if c.name == "turns" and "list" in c.types), None)
    if turns is not None and not (label or input_):  # MT-Bench's question file: a multi-turn task
        return _conversation_guess(cols, n, turns, reference, id_)
    chat = [c for c in cols if c.name == "messages" and "list" in c.types]
    if chat and not (input_ and (label or reference)):
        raise DataError(
            "rows hold chat messages (a 'messages' list), not columns",
            hint="flatten them first, e.g. input = the last user message, reference = the assistant "
            "reply; or name the columns with --input-column and --reference-column",
        )
    idc = _pick(cols, id_, "--id-column")
    if idc is None:
        idc = next(
            (
                c
                for c in _by_name(cols, _ID_NAMES) + [c for c in cols if c.name.lower().endswith("_id")]
                if c.scalar and c.present == n and c.distinct == n
            ),
            None,
        )
    used = {idc.name} if idc else set()
    target = _pick(cols, label, "--label-column")
    ref = _pick(cols, reference, "--reference-column")
    inp = _pick(cols, input_, "--input-column")
    if target is None and ref is None:
        limit = max(2, min(_MAX_LABELS, n // 3))

        def is_label(c: Column) -> bool:
            return (
                c.scalar
                and c.name not in used
                and c.name != (inp.name if inp else None)
                and 2 <= c.distinct <= limit
                and (c.mean_length or 0) <= 40
            )

        target = next((c for c in _by_name(cols, _LABEL_NAMES) if is_label(c)), None)
        if target is None:  # unnamed: any few-valued column, but a column named like an answer stays a reference
            answers = set(_REFERENCE_NAMES) - set(_LABEL_NAMES)
            candidates = sorted(
                (c for c in cols if is_label(c) and c.name.lower() not in answers), key=lambda c: c.distinct
            )
            target = candidates[0] if candidates else None
    if target is not None:
        used.add(target.name)
    texts = [c for c in cols if c.text and c.name not in used]
    if inp is None:
        named = [c for c in _by_name(cols, _INPUT_NAMES) if c in texts and c is not ref]
        rest = sorted((c for c in texts if c is not ref), key=lambda c: -(c.mean_length or 0))
        inp = next(iter(named or rest), None)
    if inp is None:
        raise ConfigError("found no text column to use as the model's input", hint="name it with --input-column")
    used.add(inp.name)
    if target is None and ref is None:
        others = [c for c in texts if c.name not in used]
        named = [c for c in _by_name(cols, _REFERENCE_NAMES) if c in others]
        ref = next(iter(named or sorted(others, key=lambda c: -(c.mean_length or 0))), None)
    if target is None and ref is None:
        raise ConfigError(
            "cannot guess the task: no label column (few distinct values) and no reference text column",
            hint="name one with --label-column or --reference-column",
        )
    g = Guess(
        kind="classification"
        if target
        else "qa"
        if (cast(Column, ref).mean_length or 0) < _SHORT_ANSWER  # no target: ref was found (checked above)
        else "generation",
        input=inp.name,
        id=idc.name if idc else None,
    )
    if target is not None:
        if target.distinct > _MAX_LABELS or (target.distinct == n and n > 5):
            raise ConfigError(
                f"--label-column '{target.name}' has {target.distinct} distinct values in {n} rows",
                hint=f"a label column has few distinct values (at most {_MAX_LABELS}); "
                "use --reference-column for free text",
            )
        g.target = target.name
        g.labels = sorted(target.counts, key=lambda k: (-target.counts[k], k))
        if set(target.types) - {"str", "null"}:
            g.notes.append(
                f"'{target.name}' holds {'/'.join(t for t in target.types if t != 'null')} values: the label "
                'metrics compare text, so store the labels as strings (e.g. "1") before running'
            )
        if target.present < n:
            g.notes.append(f"{n - target.present} rows have no '{target.name}': fill or drop them before running")
    else:
        g.reference = cast(Column, ref).name
    if not g.input.isidentifier() or g.input in _JINJA_WORDS:
        raise ConfigError(
            f"column '{g.input}' cannot be named in a prompt template",
            where="--input-column",
            hint="rename the column to letters, digits and '_' (e.g. with jq or pandas), or pick another",
        )
    if g.id is None:
        g.notes.append(
            "no id column: examples get content-hash ids (replay files and reviews are easier with an id column)"
        )
    return g

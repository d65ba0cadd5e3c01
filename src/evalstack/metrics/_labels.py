"""Class labels from free-text model outputs.

A model asked for one of ``[billing, bug, account, other]`` answers ``"Billing."``, ``"**bug**"``, ``"The
label is: account"`` or something else entirely. :func:`extract_labels` maps each output to one allowed
label or to None (an *invalid* prediction, which the classification metrics count as wrong and report).
"""

from __future__ import annotations

__all__ = ["extract_labels", "LABEL_MODES", "normalize_label"]

import re
import unicodedata
from collections.abc import Mapping, Sequence

from ..errors import ConfigError

LABEL_MODES = ("exact", "normalized", "first", "regex")
"""exact: the whole output equals a label (case-insensitive unless ``case_sensitive``);
normalized (default): equal after case folding and stripping punctuation/whitespace at both ends (inner
whitespace collapsed); first: the first allowed label (or alias) found in the text as a whole word;
regex: the regex's first capture group (or whole match), then compared as in ``normalized``."""


def _is_strippable(ch: str) -> bool:
    return ch.isspace() or ch == "`" or unicodedata.category(ch).startswith("P")


def normalize_label(text: str, *, case_sensitive: bool = False) -> str:
    """Case fold (unless ``case_sensitive``), strip punctuation/backticks/whitespace at both ends, collapse
    inner whitespace: ``" **Billing.** "`` -> ``"billing"``."""
    if not case_sensitive:
        text = text.casefold()
    start, end = 0, len(text)
    while start < end and _is_strippable(text[start]):
        start += 1
    while end > start and _is_strippable(text[end - 1]):
        end -= 1
    return " ".join(text[start:end].split())


def _table(labels: Sequence[str], aliases: Mapping[str, str] | None, key) -> dict[str, str]:
    """Lookup key -> canonical label, for the labels and the aliases; collisions are config errors."""
    table: dict[str, str] = {}
    canon = {}
    for lab in labels:
        k = key(lab)
        if k in table and table[k] != lab:
            raise ConfigError(
                f"labels '{table[k]}' and '{lab}' are the same after normalisation",
                hint="use case_sensitive: true or distinct labels",
            )
        table[k] = lab
        canon[lab] = lab
    for alias, target in (aliases or {}).items():
        if not isinstance(alias, str) or not isinstance(target, str):
            raise ConfigError(f"label_parsing.aliases: '{alias}: {target}' must map text to a label")
        to = canon.get(target) or table.get(key(target))
        if to is None:
            raise ConfigError(
                f"label_parsing.aliases: '{alias}' maps to unknown label '{target}'",
                hint=f"labels are: {', '.join(labels)}",
            )
        k = key(alias)
        if k in table and table[k] != to:
            raise ConfigError(f"label_parsing.aliases: '{alias}' is ambiguous: it matches '{table[k]}' and '{to}'")
        table[k] = to
    return table


def _compile_regex(regex: str | None) -> re.Pattern | None:
    if regex is None:
        return None
    try:
        return re.compile(regex, re.DOTALL)
    except (re.error, TypeError) as exc:
        raise ConfigError(f"label_parsing.regex '{regex}' is not a valid regular expression: {exc}") from None


def extract_labels(
    outputs: Sequence[str | None],
    labels: Sequence[str],
    *,
    mode: str | None = None,
    aliases: Mapping[str, str] | None = None,
    regex: str | None = None,
    case_sensitive: bool = False,
) -> list[str | None]:
    """Map free-text outputs to allowed labels; None where an output matches none (an invalid prediction).

    Args:
        outputs: model outputs (None = failed generation -> None).
        labels: the allowed class labels (the task's ``labels``); returned values are these strings.
        mode: one of :data:`LABEL_MODES`; default ``"regex"`` when ``regex`` is given, else ``"normalized"``.
        aliases: other strings that mean a label, e.g. ``{"payment": "billing"}``; matched like labels.
        regex: for mode ``regex``: searched in the output; group 1 (or the whole match) is the answer.
        case_sensitive: compare case-sensitively (default False: case folded).

    >>> extract_labels(["Billing.", "it's a BUG", "nope"], ["billing", "bug"], mode="first")
    ['billing', 'bug', None]
    """
    labels = list(labels)
    if not labels or not all(isinstance(lab, str) and lab for lab in labels):
        raise ConfigError("labels must be a non-empty list of non-empty strings", hint=f"got {labels!r}")
    mode = mode or ("regex" if regex is not None else "normalized")
    if mode not in LABEL_MODES:
        raise ConfigError(f"label_parsing.mode '{mode}' is unknown", hint=f"use one of {', '.join(LABEL_MODES)}")
    if mode == "regex" and regex is None:
        raise ConfigError("label_parsing.mode 'regex' needs label_parsing.regex", hint=r"e.g. regex: 'Label:\s*(\w+)'")
    pattern = _compile_regex(regex)

    fold = (lambda s: s) if case_sensitive else str.casefold
    if mode == "first":  # search the labels as written (only outer whitespace removed)
        return _first_found(outputs, _table(labels, aliases, lambda s: fold(s.strip())), case_sensitive)
    if mode == "exact":
        key = fold
    else:
        key = lambda s: normalize_label(s, case_sensitive=case_sensitive)  # noqa: E731
    table = _table(labels, aliases, key)

    out: list[str | None] = []
    for text in outputs:
        if text is None:
            out.append(None)
            continue
        if pattern is not None:
            m = pattern.search(text)
            if m is None:
                out.append(None)
                continue
            text = m.group(1) if pattern.groups else m.group(0)
            text = text or ""
        out.append(table.get(key(text)))
    return out


def _first_found(outputs: Sequence[str | None], table: dict[str, str], case_sensitive: bool) -> list[str | None]:
    """The earliest label/alias occurring as a whole word (longest wins at the same position)."""
    words = sorted((k for k in table if k), key=len, reverse=True)
    alternation = "|".join(re.escape(w) for w in words)
    flags = 0 if case_sensitive else re.IGNORECASE
    finder = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", flags)
    out: list[str | None] = []
    for text in outputs:
        m = None if text is None else finder.search(text)
        if m is None:
            out.append(None)
            continue
        found = m.group(0) if case_sensitive else m.group(0).casefold()
        out.append(table.get(found))
    return out

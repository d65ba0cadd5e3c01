"""What a scale type is: the one class a rubric's ``scale.type`` names, and the registry of them.

A :class:`ScaleType` is bound to one rubric scale (its levels, item and flag) and answers every question
the judges ask about it: are the levels well formed, what the judge is told (:meth:`~ScaleType.instructions`,
:meth:`~ScaleType.reply_format`, :meth:`~ScaleType.reply_schema`), how a reply is read
(:meth:`~ScaleType.parse`), what a parsed answer scores (:meth:`~ScaleType.score`, logprob-weighted over
:meth:`~ScaleType.values` where the endpoint gives top_logprobs), and how the judge's verdicts are compared
with human labels (:meth:`~ScaleType.human_value`, :meth:`~ScaleType.agreement`).

The defaults here serve a scale whose judge gives one answer (a level, pass/fail, A/B/tie); a type
overrides what differs. A new type is one module in this package that subclasses :class:`ScaleType` and
decorates it with ``@register_scale("<name>")`` (modules here are imported when the package is); an
installed package adds one through the ``evalstack`` entry point ``scale.<name>`` (:mod:`evalstack.registry`).
"""

from __future__ import annotations

__all__ = ["ScaleType", "ScaleScore", "register_scale", "get_scale_type", "scale_types"]

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .._parse import Parsed, from_json, from_text
from .._weights import weighted_score

if TYPE_CHECKING:
    from ...models import Generation
    from .._rubric import Scale


@dataclass(frozen=True)
class ScaleScore:
    """What one parsed reply scores on its scale (pointwise)."""

    score: float
    """The example's score (a level, P(pass), a share of flagged items, or 1/0 in strict mode)."""
    method: str
    """'logprob_weighted' or 'plain'."""
    verdict: Any
    """The answer the judge chose: a level, 'pass'/'fail', 'flagged/total' for fraction scales."""
    items: list[dict[str, Any]] | None = None
    """fraction: the extracted items, each {item, reason, verdict}."""
    probs: dict[str, float] | None = None
    """logprob_weighted: the renormalised probability of each valid answer."""
    prob_mass: float | None = None
    """logprob_weighted: the probability mass of the valid answers before renormalising."""
    method_note: str | None = None
    """Why the score is plain (no top_logprobs, strict mode...) or how it is formed."""


class ScaleType:
    """One scale type, bound to a rubric's scale. Subclasses set :attr:`name` and override what differs."""

    name: ClassVar[str] = ""
    """The ``scale.type`` value in rubric files."""
    answer: ClassVar[str] = "score"
    """The reply's key for the judge's answer (also the word error messages use)."""
    json_keys: ClassVar[tuple[str, ...]] = (
        "score",
        "rating",
        "grade",
        "verdict",
        "winner",
        "preference",
        "label",
        "result",
        "answer",
        "final_score",
    )
    """Keys of a JSON reply that may hold the answer, in order of preference."""
    compares_two: ClassVar[bool] = False
    """True for the scale of pairwise rubrics (and only theirs): the judge picks one of two outputs."""
    can_compare: ClassVar[bool] = True
    """False when a rubric of this type cannot be used to compare two outputs (under ``pairwise:``)."""
    uses_item: ClassVar[bool] = False
    """True when the scale has an ``item`` and a ``flag`` (fraction scales); no other type may set them."""

    def __init__(self, scale: Scale) -> None:
        self.scale = scale

    # -- the rubric file
    def check(self) -> None:
        """Raise ValueError (``at scale...: what and how to fix``) when the levels do not fit the type."""

    def ordered_levels(self) -> list[Any]:
        """The level keys in the order prompts and docs list them."""
        return list(self.scale.levels)

    def level_texts(self) -> list[tuple[str, str]]:
        """(answer, meaning) pairs in :meth:`ordered_levels` order, each meaning on one line."""
        return [(str(k), " ".join(str(self.scale.levels[k]).split())) for k in self.ordered_levels()]

    @property
    def min(self) -> float:
        """Lowest score on this scale."""
        return 0.0

    @property
    def max(self) -> float:
        """Highest score on this scale."""
        return 1.0

    @property
    def ordinal(self) -> bool:
        """True when levels are ordered (agreement then uses quadratic-weighted kappa)."""
        return False

    def values(self) -> dict[str, float]:
        """Each answer the judge may give and its score; non-empty means scores are logprob-weighted over them."""
        return {}

    def describe(self) -> str:
        """A few words for reports, e.g. ``points 1-5``."""
        return self.name

    @classmethod
    def generic(cls, scale: Scale) -> ScaleType:
        """This type over another type's scale, with its own generic level meanings (preference: how any
        rubric's criteria compare two outputs)."""
        return cls(scale)

    def comparison(self) -> ScaleType:
        """The scale a judge answers on when this rubric compares two outputs (A, B or tie)."""
        return get_scale_type("preference").generic(self.scale)

    # -- the prompt
    def heading(self) -> str:
        """The line above the levels in the system message."""
        raise NotImplementedError

    def instructions(self) -> str:
        """How the judge answers: :meth:`heading` and one line per level."""
        return self.heading() + "\n" + "\n".join(f"- {k}: {v}" for k, v in self.level_texts())

    def value_hint(self) -> str:
        """The answer's placeholder in the reply format, e.g. ``<integer 1-5>``."""
        raise NotImplementedError

    def value_schema(self) -> dict[str, Any]:
        """JSON schema of the answer."""
        raise NotImplementedError

    def reply_format(self, reasoning_first: bool) -> str:
        """The reply-format sentence that ends the system message."""
        reason = '"reason": "<your reasoning, at most 4 sentences>"'
        key, value = self.answer, self.value_hint()
        pair = f'{reason}, "{key}": {value}' if reasoning_first else f'"{key}": {value}, {reason}'
        order = "Reason first, then give the " + key + "." if reasoning_first else ""
        return f"Reply with one JSON object and nothing else: {{{pair}}}. {order}".rstrip()

    def reply_schema(self, reasoning_first: bool) -> dict[str, Any]:
        """JSON schema of a reply (OpenAI strict structured-output rules: all keys required, no extras)."""
        key = self.answer
        order = ["reason", key] if reasoning_first else [key, "reason"]
        props = {"reason": {"type": "string"}, key: self.value_schema()}
        return {
            "type": "object",
            "additionalProperties": False,
            "required": order,
            "properties": {k: props[k] for k in order},
        }

    # -- reading a reply
    def check_answer(self, raw: Any) -> tuple[Any, str | None]:
        """A raw answer (JSON value or matched text) normalised to the scale, or why it is not on it."""
        raise NotImplementedError

    def text_patterns(self) -> list[str]:
        """Regexes (group 1 = the answer) for free-text replies, most explicit first; the last match counts."""
        raise NotImplementedError

    def parse(self, text: str) -> Parsed:
        """The answer in a reply: JSON first, then free text; the first error if neither gives one."""
        found = from_json(text, self.json_keys, self._check)
        if found is not None and found.ok:
            return found
        free = from_text(text, self.text_patterns(), self._check)
        if free is not None and free.ok:
            return free
        if found is not None:
            return found
        if free is not None:
            return free
        return Parsed(error=f"no {self.answer} found")

    def _check(self, raw: Any) -> tuple[Any, str | None]:
        return self.check_answer(("true" if raw else "false") if isinstance(raw, bool) else raw)

    # -- scoring
    def score(self, parsed: Parsed, gen: Generation, *, strict: bool, higher_is_better: bool) -> ScaleScore:
        """The score of a parsed answer: logprob-weighted over :meth:`values` where possible, else plain."""
        values = self.values()
        plain = values[str(parsed.value)]
        if strict:
            best = self.max if higher_is_better else self.min
            return ScaleScore(
                score=1.0 if plain == best else 0.0,
                method="plain",
                verdict=parsed.value,
                method_note="strict mode: binary score from the verdict",
            )
        w = weighted_score(gen.text or "", gen.tokens, gen.top_logprobs, parsed.span, values)
        if w.score is not None:
            return ScaleScore(
                score=w.score, method="logprob_weighted", verdict=parsed.value, probs=w.probs, prob_mass=w.mass
            )
        return ScaleScore(score=plain, method="plain", verdict=parsed.value, method_note=w.note)

    # -- agreement with people
    def human_value(self, raw: Any, rubric: str, where: str) -> float:
        """A label file's ``human_score`` on this scale; a DataError naming the row otherwise."""
        from ...errors import DataError

        try:
            num = float(str(raw).strip().lower())
        except ValueError:
            raise DataError(f"human_score {raw!r} is not a number", where=where) from None
        if not self.min <= num <= self.max:
            raise DataError(f"human_score {raw!r} is outside {self.min:g}..{self.max:g}", where=where)
        return num

    def agreement(
        self, human: list[float], verdicts: list[Any], scores: list[float], threshold: float | None
    ) -> dict[str, Any]:
        """Agreement statistics of the judge's verdicts (and final scores) with human labels, scored rows only."""
        from .._agreement import agreement

        plain = self.values()
        return agreement(
            human,
            [plain[str(v)] for v in verdicts],
            labels=list(plain.values()),
            weights="quadratic" if self.ordinal else None,
            human_num=human,
            judge_num=scores,
        )


def register_scale(name: str):
    """Class decorator: make the :class:`ScaleType` subclass the scale type ``name`` of rubric files (a plug-in's
    ``scale.<name>`` entry point goes through it too: :mod:`evalstack.registry`)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name or ""):
        raise ValueError(f"a scale type's name is snake_case, not {name!r}")

    def deco(cls: type[ScaleType]) -> type[ScaleType]:
        from ...registry import register

        if not (isinstance(cls, type) and issubclass(cls, ScaleType)):
            raise TypeError(f"scale type '{name}' must be a ScaleType subclass, not {cls!r}")
        cls.name = name
        return register("scale", name, cls)

    return deco


def scale_types() -> list[str]:
    """Names of the scale types: the built-ins and those of installed plug-ins."""
    from ...registry import names

    return names("scale")


def get_scale_type(name: str) -> type[ScaleType]:
    """The scale type called ``name``; ValueError with a did-you-mean otherwise (rubric validation shows it)."""
    from ...errors import RubricError
    from ...registry import lookup

    try:
        return lookup("scale", name, error=RubricError, known="scale types")
    except RubricError as exc:
        raise ValueError(str(exc)) from None

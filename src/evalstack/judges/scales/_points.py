"""``points``: an integer level, e.g. 1-5; the score is the level (or its logprob-weighted mean)."""

from __future__ import annotations

from typing import Any

from ._base import ScaleType, register_scale

_NUM = r"(\d+(?:\.\d+)?)"
# Every optional piece starts with a character of its own, so no two repeats compete for one run of
# spaces (no catastrophic backtracking), and line patterns use [ \t], never \s, which would run on
# across newlines from every line start (quadratic on a reply of blank lines).
LEAD = (
    r"(?:final\s++)?(?:score|rating|grade|verdict|result)\s*+(?:\(\s*+\d++\s*+-\s*+\d++\s*+\)\s*+)?"
    r"(?:\*++\s*+)?(?:[:=]\s*+)?(?:\*++\s*+)?\[{0,2}"
)
"""The lead-in of an explicit free-text answer ('Final score (1-5): **4**'); shared with pass_fail."""


def short(raw: Any) -> str:
    """repr of a judge's answer for an error message, at most ~60 characters."""
    r = repr(raw)
    return r if len(r) <= 60 else r[:50] + f"... ({len(r) - 50:,} more)"


@register_scale("points")
class Points(ScaleType):
    """Two or more consecutive integer levels; ordinal (quadratic-weighted kappa against people)."""

    def check(self) -> None:
        keys = list(self.scale.levels)
        if not all(isinstance(k, int) and not isinstance(k, bool) for k in keys):
            raise ValueError("at scale.levels: points levels must be integers, e.g. {1: ..., 2: ..., 3: ...}")
        ints = sorted(int(k) for k in keys)
        if len(ints) < 2 or ints != list(range(ints[0], ints[-1] + 1)):
            raise ValueError("at scale.levels: points levels must be 2 or more consecutive integers, e.g. 1 to 5")

    def ordered_levels(self) -> list[Any]:
        return sorted(self.scale.levels)

    @property
    def min(self) -> float:
        return float(min(self.scale.levels))

    @property
    def max(self) -> float:
        return float(max(self.scale.levels))

    @property
    def ordinal(self) -> bool:
        return True

    def values(self) -> dict[str, float]:
        return {str(k): float(k) for k in sorted(self.scale.levels)}

    def describe(self) -> str:
        return f"points {int(self.min)}-{int(self.max)}"

    def heading(self) -> str:
        return f"Score (an integer from {int(self.min)} to {int(self.max)}):"

    def value_hint(self) -> str:
        return f"<integer {int(self.min)}-{int(self.max)}>"

    def value_schema(self) -> dict[str, Any]:
        return {"type": "integer", "enum": [int(v) for v in self.values().values()]}

    def check_answer(self, raw: Any) -> tuple[Any, str | None]:
        try:
            num = float(str(raw).strip().strip("*\"'"))
        except ValueError:
            return None, f"score {short(raw)} is not a number"
        levels = [int(k) for k in self.scale.levels]
        if not num.is_integer() or int(num) not in levels:
            return None, f"score {short(raw)} is not one of {min(levels)}..{max(levels)}"
        return int(num), None

    def text_patterns(self) -> list[str]:
        return [
            LEAD + _NUM,
            r"\b" + _NUM + r"[ \t]*+(?:/|out of)[ \t]*+" + str(int(self.max)) + r"\b",
            r"^[ \t]*+\**+" + _NUM + r"\**+\.?[ \t]*+$",
        ]

    def human_value(self, raw: Any, rubric: str, where: str) -> float:
        from ...errors import DataError

        try:
            num = float(str(raw).strip().lower())
        except ValueError:
            raise DataError(f"human_score {raw!r} is not a number", where=where) from None
        if not num.is_integer() or int(num) not in self.scale.levels:
            raise DataError(
                f"human_score {raw!r} is not a level of rubric '{rubric}' ({int(self.min)}..{int(self.max)})",
                where=where,
            )
        return num

"""``preference``: A, B or tie, the scale of pairwise rubrics; also how any rubric compares two outputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import ScaleType, register_scale
from ._points import short

if TYPE_CHECKING:
    from .._rubric import Scale

_LEVELS = ("A", "B", "tie")
_PREF = {
    "a": "A",
    "b": "B",
    "tie": "tie",
    "draw": "tie",
    "equal": "tie",
    "c": "tie",
    "response a": "A",
    "response b": "B",
    "neither": "tie",
    "both": "tie",
}
_GENERIC = [
    ("A", "Response A is better by the criteria."),
    ("B", "Response B is better by the criteria."),
    ("tie", "Neither is clearly better."),
]


@register_scale("preference")
class Preference(ScaleType):
    """Exactly the levels 'A', 'B' and 'tie'. Scores of pairs are formed by the pairwise judge (both orders)."""

    answer = "verdict"
    json_keys = ("verdict", "winner", "preference", "better", "choice", "answer", "score")
    compares_two = True

    def __init__(self, scale: Scale, levels: list[tuple[str, str]] | None = None) -> None:
        super().__init__(scale)
        self._levels = levels

    @classmethod
    def generic(cls, scale: Scale) -> Preference:
        """A/B/tie with generic meanings: how a pointwise or reference rubric's criteria compare two outputs."""
        return cls(scale, _GENERIC)

    def check(self) -> None:
        if sorted(map(str, self.scale.levels)) != sorted(_LEVELS):
            raise ValueError("at scale.levels: preference levels must be exactly 'A', 'B' and 'tie'")

    def level_texts(self) -> list[tuple[str, str]]:
        return super().level_texts() if self._levels is None else list(self._levels)

    def comparison(self) -> ScaleType:
        return self

    def heading(self) -> str:
        return "Verdict (one of A, B, tie):"

    def value_hint(self) -> str:
        return '"A" or "B" or "tie"'

    def value_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(_LEVELS)}

    def check_answer(self, raw: Any) -> tuple[Any, str | None]:
        v = _PREF.get(str(raw).strip().strip("[]*\"'.").lower())
        return (v, None) if v else (None, f"verdict {short(raw)} is not A, B or tie")

    def text_patterns(self) -> list[str]:
        return [
            r"\[\[\s*+(A|B|C|tie)\s*+\]\]",
            r"(?:final\s++)?(?:verdict|winner|preference|better(?:\s++response)?|choice|answer)\s*+(?:\*++\s*+)?"
            r"[:=]\s*+(?:\*++\s*+)?(?:response\s++)?\[{0,2}(A|B|tie|draw)\b",
            r"^[^\w\n]*+(?:response[ \t]++)?(A|B|tie)[^\w\n]*+$",
        ]

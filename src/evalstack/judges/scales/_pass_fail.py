"""``pass_fail``: pass = 1, fail = 0; the score is 1/0 (or P(pass) from the logprobs)."""

from __future__ import annotations

from typing import Any

from ._base import ScaleType, register_scale
from ._points import LEAD, short

_LEVELS = ("pass", "fail")
_PASS = {
    "pass": "pass",
    "passed": "pass",
    "yes": "pass",
    "true": "pass",
    "1": "pass",
    "fail": "fail",
    "failed": "fail",
    "no": "fail",
    "false": "fail",
    "0": "fail",
}
_HUMAN = {
    "pass": 1.0,
    "1": 1.0,
    "1.0": 1.0,
    "true": 1.0,
    "yes": 1.0,
    "fail": 0.0,
    "0": 0.0,
    "0.0": 0.0,
    "false": 0.0,
    "no": 0.0,
}


@register_scale("pass_fail")
class PassFail(ScaleType):
    """Exactly the levels 'pass' and 'fail'."""

    def check(self) -> None:
        if sorted(map(str, self.scale.levels)) != sorted(_LEVELS):
            raise ValueError("at scale.levels: pass_fail levels must be exactly 'pass' and 'fail'")

    def values(self) -> dict[str, float]:
        return {"pass": 1.0, "fail": 0.0}

    def heading(self) -> str:
        return "Score (pass or fail):"

    def value_hint(self) -> str:
        return '"pass" or "fail"'

    def value_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": ["pass", "fail"]}

    def check_answer(self, raw: Any) -> tuple[Any, str | None]:
        v = _PASS.get(str(raw).strip().strip("*\"'.").lower())
        return (v, None) if v else (None, f"score {short(raw)} is not pass or fail")

    def text_patterns(self) -> list[str]:
        return [LEAD + r"(pass|fail|passed|failed)\b", r"^[^\w\n]*+(pass|fail)[^\w\n]*+$"]

    def human_value(self, raw: Any, rubric: str, where: str) -> float:
        from ...errors import DataError

        v = _HUMAN.get(str(raw).strip().lower())
        if v is None:
            raise DataError(f"human_score {raw!r} is not pass or fail", where=where, hint="use pass/fail or 1/0")
        return v

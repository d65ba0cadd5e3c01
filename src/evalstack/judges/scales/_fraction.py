"""``fraction``: extract items (e.g. opinions), give each a verdict; score = flagged items / items.

Toxicity: toxic opinions / opinions, 0 when there are none. In strict mode the score is 1 when any item is
flagged. A reply is one JSON object with a list of ``{item, reason, verdict}`` (no free-text form), so
there is no single score token to weight by logprobs.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from .._parse import REASON_KEYS, Parsed, get_key, json_candidates, reason_text
from ._base import ScaleScore, ScaleType, register_scale
from ._points import short

if TYPE_CHECKING:
    from ...models import Generation


def _squash(x: Any) -> str:
    return re.sub(r"[^a-z]", "", str(x).lower())


@register_scale("fraction")
class Fraction(ScaleType):
    """Two string verdicts, the ``flag`` that counts and its opposite; needs ``item`` and ``flag``."""

    can_compare = False
    uses_item = True

    @property
    def other(self) -> str:
        """The verdict that is not the flag (e.g. not_toxic)."""
        return next(str(k) for k in self.scale.levels if k != self.scale.flag)

    def check(self) -> None:
        s, keys = self.scale, list(self.scale.levels)
        if not s.item or not s.flag:
            raise ValueError("at scale: a fraction scale needs `item` (e.g. opinion) and `flag` (e.g. toxic)")
        if len(keys) != 2 or s.flag not in keys or not all(isinstance(k, str) for k in keys):
            raise ValueError(
                f"at scale.levels: a fraction scale has two verdicts, the flag '{s.flag}' and its "
                "opposite, e.g. {toxic: ..., not_toxic: ...}"
            )

    def heading(self) -> str:
        item = self.scale.item
        return (
            f"Step 1: list every {item} the response expresses (quote or paraphrase it briefly); "
            f"list nothing if it expresses none.\nStep 2: give each {item} one verdict:"
        )

    def reply_format(self, reasoning_first: bool) -> str:
        item = self.scale.item
        shape = (
            f'{{"{item}s": [{{"{item}": "<the {item}>", "reason": "<one sentence>", '
            f'"verdict": "{self.scale.flag}" or "{self.other}"}}, ...]}}'
        )
        return f"Reply with one JSON object and nothing else, in this shape: {shape}"

    def reply_schema(self, reasoning_first: bool) -> dict[str, Any]:
        item = str(self.scale.item)
        one = {
            "type": "object",
            "additionalProperties": False,
            "required": [item, "reason", "verdict"],
            "properties": {
                item: {"type": "string"},
                "reason": {"type": "string"},
                "verdict": {"type": "string", "enum": [self.scale.flag, self.other]},
            },
        }
        key = f"{item}s"
        return {
            "type": "object",
            "additionalProperties": False,
            "required": [key],
            "properties": {key: {"type": "array", "items": one}},
        }

    def parse(self, text: str) -> Parsed:
        """(flagged, total) from the first JSON object with an item list; each item's verdict normalised."""
        item, flag, other = self.scale.item or "item", str(self.scale.flag), self.other
        verdicts = {
            _squash(flag): flag,
            _squash(other): other,
            "not" + _squash(flag): other,
            "non" + _squash(flag): other,
            "yes": flag,
            "true": flag,
            "no": other,
            "false": other,
        }
        for _start, _end, obj in json_candidates(text):
            key, listed = get_key(obj, (f"{item}s", item, "items", "verdicts"))
            if key is None:
                continue
            if not isinstance(listed, list):
                return Parsed(error=f"'{key}' is not a list")
            items = []
            for i, entry in enumerate(listed):
                if not isinstance(entry, dict):
                    return Parsed(error=f"{key}[{i}] is not an object")
                _, raw = get_key(entry, ("verdict", flag, "label", "score"))
                v = verdicts.get(_squash(raw))
                if v is None:
                    return Parsed(error=f"{key}[{i}] verdict {short(raw)} is not {flag} or {other}")
                _, what = get_key(entry, (item, "text", "statement", "claim"))
                _, why = get_key(entry, REASON_KEYS)
                items.append({item: reason_text(what), "reason": reason_text(why), "verdict": v})
            flagged = sum(1 for x in items if x["verdict"] == flag)
            reason = "; ".join(
                f"{x[item]!r}: {x['verdict']}" + (f" ({x['reason']})" if x["reason"] else "") for x in items
            )
            return Parsed(value=(flagged, len(items)), reason=reason or f"no {item}s found", items=items)
        return Parsed(error=f"no JSON object with a '{item}s' list")

    def score(self, parsed: Parsed, gen: Generation, *, strict: bool, higher_is_better: bool) -> ScaleScore:
        flagged, total = parsed.value
        score = (1.0 if flagged else 0.0) if strict else (flagged / total if total else 0.0)
        note = (
            "strict mode: 1 if any item is flagged"
            if strict
            else f"{self.scale.flag} {self.scale.item}s / {self.scale.item}s"
        )
        return ScaleScore(
            score=score, method="plain", verdict=f"{flagged}/{total}", items=parsed.items, method_note=note
        )

    def human_value(self, raw: Any, rubric: str, where: str) -> float:
        from ...errors import DataError

        try:
            num = float(str(raw).strip().lower())
        except ValueError:
            raise DataError(f"human_score {raw!r} is not a number", where=where) from None
        if not (0.0 <= num <= 1.0) or math.isnan(num):
            raise DataError(f"human_score {raw!r} is outside 0..1 (a share of flagged {self.scale.item}s)", where=where)
        return num

    def agreement(
        self, human: list[float], verdicts: list[Any], scores: list[float], threshold: float | None
    ) -> dict[str, Any]:
        """Two categories, flagged or not, cut at the threshold (default 0.5); Spearman on the shares."""
        from .._agreement import agreement

        cut = 0.5 if threshold is None else threshold
        stats = agreement(
            [float(h > cut) for h in human],
            [float(s > cut) for s in scores],
            labels=[0.0, 1.0],
            weights=None,
            human_num=human,
            judge_num=scores,
        )
        stats["categories"] = f"0 = score <= {cut:g}, 1 = {self.scale.flag} (score > {cut:g})"
        return stats

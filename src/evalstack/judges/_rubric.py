"""Rubric files: the pydantic schema (``extra="forbid"``), loading built-ins by name or files by path.

A rubric says what a judge looks at (``fields``), what it judges (``criteria``), how it answers (``scale``)
and how the data is laid out for it (``template``, sandboxed Jinja2 over the fenced fields). Every mistake
in a rubric file is a :class:`~evalstack.errors.RubricError` naming the file, the key and its line.
"""

from __future__ import annotations

__all__ = ["Rubric", "Scale", "load_rubric", "builtin_rubrics", "FIELDS"]

import functools
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .._yaml import load_yaml, validation_error
from ..errors import ConfigError, RubricError
from ..registry import did_you_mean
from .scales import ScaleType, get_scale_type

FIELDS = ("input", "output", "reference", "context")
"""What a rubric may show the judge: the prompt, the model output, the reference answer, the source text."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scale(_Strict):
    """How the judge answers, and how an answer becomes a number (the rules are its type's: :attr:`rules`)."""

    type: str = Field(
        description="points: an integer level (e.g. 1-5); pass_fail: pass=1 / fail=0; fraction: extract items "
        "(e.g. opinions), give each a verdict, score = flagged items / items; preference: A, B or tie "
        "(pairwise). Any other registered scale type (evalstack.judges.scales)."
    )
    levels: dict[int | str, str] = Field(
        description="Each allowed answer and what it means: {1: ..., 5: ...}; {pass: ..., fail: ...}; "
        "{<flag>: ..., <other>: ...} for fraction; {A: ..., B: ..., tie: ...} for preference."
    )
    item: str | None = Field(
        None, description="fraction only: what is extracted and judged one by one, e.g. 'opinion'."
    )
    flag: str | None = Field(None, description="fraction only: the verdict that counts, e.g. 'toxic'.")

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        get_scale_type(v)
        return v

    @model_validator(mode="after")
    def _levels_fit_type(self) -> Scale:
        rules = self.rules
        rules.check()
        if not rules.uses_item and (self.item or self.flag):
            raise ValueError("at scale: `item` and `flag` belong to fraction scales only")
        for k, v in self.levels.items():
            if not str(v).strip():
                raise ValueError(f"at scale.levels.{k}: describe what this level means")
        return self

    @property
    def rules(self) -> ScaleType:
        """This scale's type, bound to it: instructions, parsing, scores, agreement."""
        return get_scale_type(self.type)(self)

    def rules_for(self, pairwise: bool) -> ScaleType:
        """The rules a judge answers by: :attr:`rules`, or A/B/tie when the rubric compares two outputs."""
        return self.rules.comparison() if pairwise else self.rules

    @property
    def min(self) -> float:
        """Lowest score on this scale."""
        return self.rules.min

    @property
    def max(self) -> float:
        """Highest score on this scale."""
        return self.rules.max

    @property
    def ordinal(self) -> bool:
        """True for ordered levels (agreement uses quadratic-weighted kappa there)."""
        return self.rules.ordinal

    def values(self) -> dict[str, float]:
        """The answers a judge may give and their numeric score (empty when the score is not one answer's)."""
        return self.rules.values()


class Rubric(_Strict):
    """One judge rubric (a YAML file). See README "Judges" for the format."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$", description="Metric key becomes judge_<name>.")
    description: str = Field(description="One line: what the rubric measures.")
    kind: Literal["pointwise", "reference", "pairwise"] = Field(
        description="pointwise: judges one output; reference: against a reference answer; pairwise: two outputs."
    )
    criteria: str = Field(description="What the judge checks, in plain words.")
    scale: Scale
    fields: list[Literal["input", "output", "reference", "context"]] = Field(
        default_factory=lambda: ["input", "output"],  # type: ignore[arg-type]  # mypy reads the lambda's list as list[str]
        description="What the judge sees. Pairwise rubrics see two outputs where `output` is listed.",
    )
    reasoning_first: bool = Field(
        True, description="Ask for the reasoning before the score (better scores, kept as the reason)."
    )
    higher_is_better: bool = Field(True, description="Direction of the score (toxicity: false).")
    threshold: float | None = Field(
        None, description="Per-example pass mark (a score on the scale); JudgeSpec.threshold overrides it."
    )
    template: str | None = Field(
        None, description="Jinja2 user message over the fenced fields; default lays out the fields."
    )
    reference_optional: bool = Field(
        False,
        description="Examples without a reference are judged without one ({{ reference }} is then '': "
        "wrap its block in {% if reference %}); else they are unscored.",
    )
    source: str | None = Field(None, exclude=True, description="Where the rubric was loaded from (set by load_rubric).")

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("fields has duplicates")
        if "output" not in v:
            raise ValueError("fields must include 'output' (what the judge scores)")
        return [f for f in FIELDS if f in v]

    @model_validator(mode="after")
    def _consistent(self) -> Rubric:
        if self.kind == "reference" and "reference" not in self.fields:
            raise ValueError("at fields: a reference rubric must list 'reference' in fields")
        if (self.kind == "pairwise") != self.scale.rules.compares_two:
            raise ValueError("at scale.type: pairwise rubrics use a preference scale (A/B/tie), and only they do")
        if self.threshold is not None and not self.scale.rules.compares_two:
            if not self.scale.min <= self.threshold <= self.scale.max:
                raise ValueError(
                    f"at threshold: {self.threshold} is outside the scale ({self.scale.min:g} to {self.scale.max:g})"
                )
        if self.template is not None:
            _check_template(self)
        return self

    @property
    def key(self) -> str:
        """Metric key of this rubric's pointwise scores."""
        return f"judge_{self.name}"

    def template_vars(self, pairwise: bool) -> list[str]:
        """Names a template may (and must) use: the fields, with `output` split in two for pairwise."""
        out: list[str] = []
        for f in self.fields:
            out += ["output_a", "output_b"] if (f == "output" and pairwise) else [f]
        return out


def _check_template(rubric: Rubric) -> None:
    from jinja2 import TemplateSyntaxError, meta

    from ..data import make_env

    try:
        used = set(meta.find_undeclared_variables(make_env().parse(rubric.template)))
    except TemplateSyntaxError as exc:
        raise ValueError(
            f"at template: bad template: {exc.message} (template line {exc.lineno}); Jinja2 syntax: {{{{ output }}}}"
        ) from None
    allowed = rubric.template_vars(rubric.kind == "pairwise")
    unknown = sorted(used - set(allowed))
    if unknown:
        raise ValueError(
            f"at template: uses '{unknown[0]}', which is not among the fields it sees "
            f"({', '.join(allowed)}); add it to `fields` or fix the name"
        )
    missing = [v for v in allowed if v not in used]
    if missing:
        raise ValueError(
            f"at template: never shows '{missing[0]}' although `fields` lists it; "
            f"add {{{{ {missing[0]} }}}} or remove it from fields"
        )


def _builtin_dir() -> Path:
    from importlib.resources import files

    return Path(str(files("evalstack.judges") / "rubrics"))


def builtin_rubrics() -> list[str]:
    """Names of the rubrics shipped with evalstack."""
    return sorted(p.stem for p in _builtin_dir().glob("*.yaml"))


@functools.lru_cache(maxsize=64)
def _load_file(path: str, mtime: float) -> Rubric:
    p = Path(path)
    try:
        doc = load_yaml(p, what="rubric file", error=RubricError)
    except ConfigError as exc:  # _yaml's structural checks (duplicate keys, nesting) raise ConfigError
        raise RubricError(str(exc)) from None
    if not isinstance(doc.data, dict):
        raise RubricError(
            "a rubric must be a YAML mapping (name:, description:, kind:, criteria:, scale: ...)", where=str(p)
        )
    try:
        rubric = Rubric.model_validate(doc.data)
    except ValidationError as exc:
        raise validation_error(exc, doc, Rubric, error=RubricError) from None
    return rubric.model_copy(update={"source": str(p)})


def _looks_like_path(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref or Path(ref).is_file()


def load_rubric(ref: str | Path) -> Rubric:
    """A built-in rubric by name (``"faithfulness"``) or a rubric YAML file by path.

    Raises :class:`RubricError` (file, key, line, fix) for a file that does not validate and for an
    unknown name (with a "did you mean").
    """
    ref_s = str(ref)
    if isinstance(ref, Path) or _looks_like_path(ref_s):
        p = Path(ref_s).expanduser()
        try:
            mtime = p.stat().st_mtime
        except OSError:
            raise RubricError(
                "rubric file not found",
                where=str(p),
                hint=f"check the path, or use a built-in rubric: {', '.join(builtin_rubrics())}",
            ) from None
        return _load_file(str(p.resolve()), mtime)
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", ref_s):
        raise RubricError(f"not a rubric name or a .yaml path: {ref_s!r}")
    names = builtin_rubrics()
    if ref_s not in names:
        hint = did_you_mean(ref_s, names, f"built-in rubrics: {', '.join(names)}; or give a path to a YAML file")
        raise RubricError(f"unknown rubric '{ref_s}'", hint=hint)
    p = _builtin_dir() / f"{ref_s}.yaml"
    return _load_file(str(p), p.stat().st_mtime)


def describe_levels(scale: Scale) -> list[tuple[str, str]]:
    """(answer, meaning) pairs in a stable order for prompts and docs."""
    return scale.rules.level_texts()

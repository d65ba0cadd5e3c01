"""`evalstack init DATA_FILE`: look at a held-out file, guess the task, write a commented starter config.

No prompt is ever shown (CI-friendly): every guess can be overridden with a flag, and the columns and the
guesses are printed (``--json`` for machines). The config written loads with ``load_config`` as is.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError, DataError

_ID_NAMES = ("id", "idx", "uid", "uuid", "example_id", "sample_id", "qid", "_id", "key", "guid")
_LABEL_NAMES = ("label", "labels", "class", "category", "intent", "target", "sentiment", "gold", "gold_label", "y",
                "tag", "topic", "stance", "verdict")
_INPUT_NAMES = ("text", "input", "prompt", "question", "document", "instruction", "query", "sentence", "content",
                "article", "dialogue", "conversation", "message", "ticket", "review", "utterance", "source", "context",
                "premise", "body", "email")
_REFERENCE_NAMES = ("reference", "references", "summary", "answer", "answers", "output", "completion", "response",
                    "target", "expected", "ideal", "gold", "highlights", "translation", "label")
_JINJA_WORDS = {"and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None",
                "loop", "self", "range"}
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
        return {"name": self.name, "types": self.types, "present": self.present, "distinct": self.distinct,
                "mean_length": None if self.mean_length is None else round(self.mean_length, 1), "example": self.example}


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
        texts = [t for v in present for t in ([v] if isinstance(v, str) else v if isinstance(v, list) else [])
                 if isinstance(t, str)]
        keys = [json.dumps(v, sort_keys=True, default=str) if isinstance(v, (list, dict)) else str(v) for v in present]
        counts: dict[str, int] = {}
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
        example = keys[0] if keys else ""
        cols.append(Column(name=name, types=types, present=len(present), distinct=len(counts), counts=counts,
                           mean_length=sum(map(len, texts)) / len(texts) if texts else None,
                           example=example if len(example) <= 60 else example[:57] + "..."))
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


def _pick(cols: list[Column], flag: str | None, option: str) -> Column | None:
    if flag is None:
        return None
    for c in cols:
        if c.name == flag:
            return c
    raise ConfigError(f"{option} '{flag}' is not a column (columns: {', '.join(c.name for c in cols)})")


def guess_task(cols: list[Column], n: int, *, label: str | None = None, reference: str | None = None,
               input_: str | None = None, id_: str | None = None) -> Guess:
    """Guess id, task kind, target or reference, and input; flags override every guess."""
    if label and reference:
        raise ConfigError("give --label-column or --reference-column, not both (one task per init)")
    chat = [c for c in cols if c.name == "messages" and "list" in c.types]
    if chat and not (input_ and (label or reference)):
        raise DataError("rows hold chat messages (a 'messages' list), not columns",
                        hint="flatten them first, e.g. input = the last user message, reference = the assistant "
                             "reply; or name the columns with --input-column and --reference-column")
    idc = _pick(cols, id_, "--id-column")
    if idc is None:
        idc = next((c for c in _by_name(cols, _ID_NAMES) + [c for c in cols if c.name.lower().endswith("_id")]
                    if c.scalar and c.present == n and c.distinct == n), None)
    used = {idc.name} if idc else set()
    target = _pick(cols, label, "--label-column")
    ref = _pick(cols, reference, "--reference-column")
    inp = _pick(cols, input_, "--input-column")
    if target is None and ref is None:
        limit = max(2, min(_MAX_LABELS, n // 3))

        def is_label(c: Column) -> bool:
            return (c.scalar and c.name not in used and c.name != (inp.name if inp else None) and 2 <= c.distinct <= limit
                    and (c.mean_length or 0) <= 40)

        target = next((c for c in _by_name(cols, _LABEL_NAMES) if is_label(c)), None)
        if target is None:  # unnamed: any few-valued column, but a column named like an answer stays a reference
            answers = set(_REFERENCE_NAMES) - set(_LABEL_NAMES)
            candidates = sorted((c for c in cols if is_label(c) and c.name.lower() not in answers), key=lambda c: c.distinct)
            target = candidates[0] if candidates else None
    if target is not None:
        used.add(target.name)
    texts = [c for c in cols if c.text and c.name not in used]
    if inp is None:
        named = [c for c in _by_name(cols, _INPUT_NAMES) if c in texts and c is not ref]
        rest = sorted((c for c in texts if c is not ref), key=lambda c: -(c.mean_length or 0))
        inp = (named or rest or [None])[0]
    if inp is None:
        raise ConfigError("found no text column to use as the model's input", hint="name it with --input-column")
    used.add(inp.name)
    if target is None and ref is None:
        others = [c for c in texts if c.name not in used]
        named = [c for c in _by_name(cols, _REFERENCE_NAMES) if c in others]
        ref = (named or sorted(others, key=lambda c: -(c.mean_length or 0)) or [None])[0]
    if target is None and ref is None:
        raise ConfigError("cannot guess the task: no label column (few distinct values) and no reference text column",
                          hint="name one with --label-column or --reference-column")
    g = Guess(kind="classification" if target else "qa" if (ref.mean_length or 0) < _SHORT_ANSWER else "generation",
              input=inp.name, id=idc.name if idc else None)
    if target is not None:
        if target.distinct > _MAX_LABELS or (target.distinct == n and n > 5):
            raise ConfigError(f"--label-column '{target.name}' has {target.distinct} distinct values in {n} rows",
                              hint=f"a label column has few distinct values (at most {_MAX_LABELS}); "
                                   "use --reference-column for free text")
        g.target = target.name
        g.labels = sorted(target.counts, key=lambda k: (-target.counts[k], k))
        if set(target.types) - {"str", "null"}:
            g.notes.append(f"'{target.name}' holds {'/'.join(t for t in target.types if t != 'null')} values: the label "
                           "metrics compare text, so store the labels as strings (e.g. \"1\") before running")
        if target.present < n:
            g.notes.append(f"{n - target.present} rows have no '{target.name}': fill or drop them before running")
    else:
        g.reference = ref.name
    if not g.input.isidentifier() or g.input in _JINJA_WORDS:
        raise ConfigError(f"column '{g.input}' cannot be named in a prompt template", where="--input-column",
                          hint="rename the column to letters, digits and '_' (e.g. with jq or pandas), or pick another")
    if g.id is None:
        g.notes.append("no id column: examples get content-hash ids (replay files and reviews are easier with an id column)")
    return g


# ---------------------------------------------------------------- the YAML

def _q(text: str) -> str:
    """A YAML scalar: JSON's double-quoted string is valid YAML."""
    return json.dumps(text, ensure_ascii=False)


def _models(provider: str, base: str | None, tuned: str | None, kind: str, rel: Any) -> list[str]:
    if provider == "replay":
        # given files are relative to the working folder; the defaults sit beside the config
        b = rel(base) if base else "outputs/base.jsonl"
        t = rel(tuned) if tuned else "outputs/finetuned.jsonl"
        return ["# Recorded outputs keyed by example id: JSONL/CSV with columns id, output.",
                "models:",
                f"  base:      {{provider: replay, path: {_q(b)}}}",
                f"  finetuned: {{provider: replay, path: {_q(t)}}}"]
    max_tokens = 16 if kind == "classification" else 64 if kind == "qa" else 256
    tuned_line = f"  finetuned: {{provider: openai, model: {_q(tuned or 'ft:gpt-4.1-mini:your-org::replace-me')}}}"
    return ["# Any OpenAI-compatible endpoint (OpenAI, Azure, vLLM, Ollama): add base_url: / api_key_env: as needed.",
            "# The key is read from $OPENAI_API_KEY; it is never written here.",
            "models:",
            f"  base:      {{provider: openai, model: {_q(base or 'gpt-4.1-mini')}, params: {{temperature: 0, max_tokens: {max_tokens}}}}}",
            tuned_line + ("" if tuned else "   # <- your fine-tuned model id"),
            "  # ckpt-200: {provider: replay, path: outputs/ckpt200.jsonl, checkpoint_step: 200}   # more checkpoints"]


def _task(g: Guess, name: str, data: str, split: str | None) -> list[str]:
    data_map = f"path: {_q(data)}" + (f", id: {_q(g.id)}" if g.id else "") + (f", split: {_q(split)}" if split else "")
    lines = ["tasks:", f"  - name: {name}",
             f"    data: {{{data_map}}}" + ("" if g.id else "   # add id: <column> if the file has one"),
             "    # Use the exact prompt format your model was fine-tuned on.",
             "    prompt:"]
    var = "{{ " + g.input + " }}"
    if g.kind == "classification":
        shown = ", ".join(g.labels) if len(g.labels) <= 20 else ", ".join(g.labels[:20]) + ", ..."
        lines += [f"      system: {_q('Classify the input. Answer with exactly one of these labels and nothing else: ' + shown + '.')}",
                  f"      user: {_q(var)}",
                  f"    target: {g.target}",
                  f"    labels: [{', '.join(_q(x) for x in g.labels)}]",
                  "    label_parsing: {mode: normalized}   # first: the first allowed label in free text; regex: a capture group",
                  "    metrics: [accuracy, {f1: {average: macro}}, balanced_accuracy]"]
    else:
        lines += ["      # system: \"You are a helpful assistant.\"",
                  f"      user: {_q(var)}",
                  f"    reference: {g.reference}" + ("   # a list of strings = several references" if g.kind == "generation" else "")]
        if g.kind == "generation":
            lines += ["    metrics:",
                      "      - {rouge: {types: [rouge1, rouge2, rougeL], stemmer: true}}",
                      "      - bertscore            # needs evalstack[bertscore] (offline MiniLM)",
                      "    # judges: [faithfulness]   # LLM judges need a `judge:` model below"]
        else:
            lines += ["    metrics: [exact_match, token_f1]   # short answers; {rouge: {types: [rougeL]}} for longer ones"]
    return lines


def _gate(g: Guess, name: str) -> list[str]:
    lines = ["# The regression gate: `evalstack run` exits 1 when a rule fails (0 pass, 2 bad input, 3 unfinished).",
             "gate:", "  confidence: 0.95", "  rules:"]
    if g.kind == "classification":
        lines += [f"    - {{metric: {name}/f1_macro, max_regression: 0.01}}     # not significantly worse than base by > 1 point",
                  f"    # - {{metric: {name}/accuracy, min: 0.80}}            # an absolute floor"]
    elif g.kind == "generation":
        lines += [f"    - {{metric: {name}/rougeL, require_non_inferiority: 0.02}}   # CI lower bound of the delta above -0.02",
                  f"    # - {{metric: {name}/bertscore_f1, max_regression: 0.01}}"]
    else:
        lines += [f"    - {{metric: {name}/exact_match, max_regression: 0.02}}",
                  f"    # - {{metric: {name}/token_f1, min: 0.5}}"]
    return lines


def render_config(g: Guess, *, name: str, data: str, split: str | None, provider: str, base: str | None,
                  tuned: str | None, rel: Any) -> str:
    """The starter config text (commented YAML)."""
    head = [f"# evalstack config written by `evalstack init` for {data}",
            f"# Task guessed: {g.kind}" + (f" on '{g.target}' ({len(g.labels)} labels)" if g.target else
                                           f" against '{g.reference}'") + f"; model input: '{g.input}'.",
            "# Run it: evalstack run THIS_FILE      Reference: README.md (config reference, exit codes).",
            f"name: {name}",
            "baseline: base                      # deltas are (model - baseline)"]
    tail = ["", "# judge: {provider: openai, model: gpt-4.1, params: {temperature: 0, seed: 0}}",
            "# curves: [{path: results.csv}]     # the fine-tuning job's loss curve (OpenAI/Azure CSV, trainer_state.json)",
            "# trackers: [{type: wandb, project: my-evals}, {type: mlflow, tracking_uri: \"sqlite:///mlflow.db\"}]",
            f"output: reports/{name}"]
    return "\n".join(head + _models(provider, base, tuned, g.kind, rel) + [""] + _task(g, name, data, split) + [""]
                     + _gate(g, name) + tail) + "\n"


def _describe(path: Path, n: int, cols: list[Column], g: Guess) -> str:
    rows = [("column", "type", "distinct", "avg chars", "example")]
    for c in cols:
        types = "|".join(t for t in c.types if t != "null") + ("?" if "null" in c.types else "")
        rows.append((c.name, types, f"{c.distinct}" + (" (unique)" if c.distinct == n else ""),
                     "" if c.mean_length is None else f"{c.mean_length:.0f}", c.example))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{path}: {n} rows, {len(cols)} columns"]
    lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    what = (f"classification on '{g.target}' ({len(g.labels)} labels: {', '.join(g.labels[:8])}"
            + (", ..." if len(g.labels) > 8 else "") + ")") if g.target else f"{g.kind} against '{g.reference}'"
    lines.append(f"task: {what}; input: '{g.input}'; id: {repr(g.id) if g.id else 'content hash'}")
    lines += [f"note: {x}" for x in g.notes]
    return "\n".join(lines)


def _task_name(path: Path) -> str:
    stem = path.name.split(".")[0] if path.is_file() else path.name
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", stem).strip("-.") or "eval"


@click.command()
@click.argument("data_file", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out", default="my-eval.yaml", show_default=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Config file to write.")
@click.option("--label-column", help="Gold label column (classification).")
@click.option("--reference-column", help="Reference text column (generation / QA).")
@click.option("--input-column", help="Column the prompt shows the model.")
@click.option("--id-column", help="Column with unique example ids.")
@click.option("--split", help="Split of a saved HF DatasetDict folder.")
@click.option("--base-model", help="Base model id (openai) or recorded outputs file (replay).")
@click.option("--finetuned-model", help="Fine-tuned model id, e.g. ft:gpt-4.1-mini:org::abc (openai), or outputs file (replay).")
@click.option("--provider", type=click.Choice(["openai", "replay"]), default="openai", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the columns and the guess as JSON.")
def init(data_file: Path, out: Path, label_column: str | None, reference_column: str | None, input_column: str | None,
         id_column: str | None, split: str | None, base_model: str | None, finetuned_model: str | None, provider: str,
         force: bool, as_json: bool) -> int:
    """Write a starter config for DATA_FILE (JSONL, JSON, CSV, Parquet or a saved HF dataset folder)."""
    from .._io import atomic_write_text
    from ..config import load_config
    from ..data import read_rows

    if out.exists() and not force:
        raise ConfigError("the file exists; nothing was written", where=str(out), hint="use --force to overwrite, or --out another.yaml")
    rows = [r for _, r in read_rows(data_file, split=split)]
    if not rows:
        raise DataError("the dataset is empty", where=str(data_file))
    cols = profile(rows)
    g = guess_task(cols, len(rows), label=label_column, reference=reference_column, input_=input_column, id_=id_column)
    folder = out.resolve().parent

    def rel(p: str | Path) -> str:
        """Relative to the config's folder (as the loader resolves it), absolute when they share only the root."""
        target = Path(p).resolve()
        if os.path.commonpath([target, folder]) == target.anchor:
            return target.as_posix()
        return Path(os.path.relpath(target, folder)).as_posix()

    if provider == "replay" and g.id is None:
        g.notes.append("replay files are keyed by example id: with content-hash ids, record outputs under those ids")
    text = render_config(g, name=_task_name(data_file), data=rel(data_file), split=split, provider=provider,
                         base=base_model, tuned=finetuned_model, rel=rel)
    atomic_write_text(out, text)
    load_config(out)  # what we wrote must load as is
    if as_json:
        click.echo(json.dumps({"data": str(data_file), "rows": len(rows), "columns": [c.to_dict() for c in cols],
                               "task": g.kind, "input": g.input, "id": g.id, "target": g.target, "labels": g.labels,
                               "reference": g.reference, "notes": g.notes, "config": str(out)}, ensure_ascii=False))
    else:
        click.echo(_describe(data_file, len(rows), cols, g))
        click.echo(f"wrote {out}: check the prompt and the models, then run: evalstack run {out}")
    return 0

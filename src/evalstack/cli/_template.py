"""The starter config ``evalstack init`` writes: commented YAML text for a :class:`~._guess.Guess`."""

from __future__ import annotations

import json
from typing import Any

from ._guess import Guess

__all__ = ["render_config"]


def _q(text: str) -> str:
    """A YAML scalar: JSON's double-quoted string is valid YAML."""
    return json.dumps(text, ensure_ascii=False)


def _models(provider: str, base: str | None, tuned: str | None, kind: str, rel: Any) -> list[str]:
    if provider == "replay":
        # given files are relative to the working folder; the defaults sit beside the config
        b = rel(base) if base else "outputs/base.jsonl"
        t = rel(tuned) if tuned else "outputs/finetuned.jsonl"
        return [
            "# Recorded outputs keyed by example id: JSONL/CSV with columns id, output.",
            "models:",
            f"  base:      {{provider: replay, path: {_q(b)}}}",
            f"  finetuned: {{provider: replay, path: {_q(t)}}}",
        ]
    max_tokens = {"classification": 16, "qa": 64, "conversation": 1024}.get(kind, 256)
    tuned_line = f"  finetuned: {{provider: openai, model: {_q(tuned or 'ft:gpt-4.1-mini:your-org::replace-me')}}}"
    return [
        "# Any OpenAI-compatible endpoint (OpenAI, Azure, vLLM, Ollama): add base_url: / api_key_env: as needed.",
        "# The key is read from $OPENAI_API_KEY; it is never written here.",
        "models:",
        f"  base:      {{provider: openai, model: {_q(base or 'gpt-4.1-mini')}, params: {{temperature: 0, max_tokens: {max_tokens}}}}}",
        tuned_line + ("" if tuned else "   # <- your fine-tuned model id"),
        "  # ckpt-200: {provider: replay, path: outputs/ckpt200.jsonl, checkpoint_step: 200}   # more checkpoints",
    ]


def _conversation_task(g: Guess, name: str, data_map: str) -> list[str]:
    lines = [
        "tasks:",
        f"  - name: {name}",
        f"    data: {{{data_map}}}",
        f"    turns: {g.input}                 # each turn answered with the model's own earlier answers in the history",
        '    # prompt: {system: "You are a helpful assistant."}',
    ]
    if g.reference:
        lines.append(f"    reference: {g.reference}          # one per turn (MT-Bench: math, reasoning, coding)")
    if g.slice_by:
        lines.append(f"    slice_by: {g.slice_by}            # deltas per category")
    return lines + [
        "    judges: [mt_bench_single]        # 1-10 per turn (keys @turn1, @turn2) and pooled",
        "    pairwise: [mt_bench_pairwise]    # both orders, per turn",
    ]


def _task(g: Guess, name: str, data: str, split: str | None) -> list[str]:
    data_map = f"path: {_q(data)}" + (f", id: {_q(g.id)}" if g.id else "") + (f", split: {_q(split)}" if split else "")
    if g.kind == "conversation":
        return _conversation_task(g, name, data_map)
    lines = [
        "tasks:",
        f"  - name: {name}",
        f"    data: {{{data_map}}}" + ("" if g.id else "   # add id: <column> if the file has one"),
        "    # Use the exact prompt format your model was fine-tuned on.",
        "    prompt:",
    ]
    var = "{{ " + g.input + " }}"
    if g.kind == "classification":
        shown = ", ".join(g.labels) if len(g.labels) <= 20 else ", ".join(g.labels[:20]) + ", ..."
        lines += [
            f"      system: {_q('Classify the input. Answer with exactly one of these labels and nothing else: ' + shown + '.')}",
            f"      user: {_q(var)}",
            f"    target: {g.target}",
            f"    labels: [{', '.join(_q(x) for x in g.labels)}]",
            "    label_parsing: {mode: normalized}   # first: the first allowed label in free text; regex: a capture group",
            "    metrics: [accuracy, {f1: {average: macro}}, balanced_accuracy]",
        ]
    else:
        lines += [
            '      # system: "You are a helpful assistant."',
            f"      user: {_q(var)}",
            f"    reference: {g.reference}"
            + ("   # a list of strings = several references" if g.kind == "generation" else ""),
        ]
        if g.kind == "generation":
            lines += [
                "    metrics:",
                "      - {rouge: {types: [rouge1, rouge2, rougeL], stemmer: true}}",
                "      - bertscore            # needs evalstack[bertscore] (offline MiniLM)",
                "    # judges: [faithfulness]   # LLM judges need a `judge:` model below",
            ]
        else:
            lines += [
                "    metrics: [exact_match, token_f1]   # short answers; {rouge: {types: [rougeL]}} for longer ones"
            ]
    return lines


def _gate(g: Guess, name: str) -> list[str]:
    lines = [
        "# The regression gate: `evalstack run` exits 1 when a rule fails (0 pass, 2 bad input, 3 unfinished).",
        "gate:",
        "  confidence: 0.95",
        "  rules:",
    ]
    if g.kind == "conversation":
        lines += [
            f"    - {{metric: {name}/judge_mt_bench_single, max_regression: 0.5}}        # MT-Bench's score",
            f"    - {{metric: {name}/judge_mt_bench_single@turn2, max_regression: 0.5}}  # the follow-ups alone",
        ]
    elif g.kind == "classification":
        lines += [
            f"    - {{metric: {name}/f1_macro, max_regression: 0.01}}     # not significantly worse than base by > 1 point",
            f"    # - {{metric: {name}/accuracy, min: 0.80}}            # an absolute floor",
        ]
    elif g.kind == "generation":
        lines += [
            f"    - {{metric: {name}/rougeL, require_non_inferiority: 0.02}}   # CI lower bound of the delta above -0.02",
            f"    # - {{metric: {name}/bertscore_f1, max_regression: 0.01}}",
        ]
    else:
        lines += [
            f"    - {{metric: {name}/exact_match, max_regression: 0.02}}",
            f"    # - {{metric: {name}/token_f1, min: 0.5}}",
        ]
    return lines


def render_config(
    g: Guess, *, name: str, data: str, split: str | None, provider: str, base: str | None, tuned: str | None, rel: Any
) -> str:
    """The starter config text (commented YAML)."""
    head = [
        f"# evalstack config written by `evalstack init` for {data}",
        f"# Task guessed: {g.kind}"
        + (
            f" on '{g.target}' ({len(g.labels)} labels)"
            if g.target
            else " (multi-turn)"
            if g.kind == "conversation"
            else f" against '{g.reference}'"
        )
        + f"; model input: '{g.input}'.",
        "# Run it: evalstack run THIS_FILE      Reference: README.md (config reference, exit codes).",
        f"name: {name}",
        "baseline: base                      # deltas are (model - baseline)",
    ]
    judge = "judge: {provider: openai, model: gpt-4.1, params: {temperature: 0, seed: 0}}"
    tail = [
        "",
        judge if g.kind == "conversation" else "# " + judge,
        "# curves: [{path: results.csv}]     # the fine-tuning job's loss curve (OpenAI/Azure CSV, trainer_state.json)",
        '# trackers: [{type: wandb, project: my-evals}, {type: mlflow, tracking_uri: "sqlite:///mlflow.db"}]',
        f"output: reports/{name}",
    ]
    return (
        "\n".join(
            head
            + _models(provider, base, tuned, g.kind, rel)
            + [""]
            + _task(g, name, data, split)
            + [""]
            + _gate(g, name)
            + tail
        )
        + "\n"
    )

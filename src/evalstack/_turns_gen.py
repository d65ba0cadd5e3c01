"""Generating conversations turn by turn, and what the judges and examples.jsonl see of them.

Turn ``k`` of every conversation is one round of ordinary requests through the runner: each request holds
the model's own answers to turns ``1..k-1``, so its cache key does too (a changed turn-1 answer re-asks turn
2), a finished turn is cached on its own (``--resume`` re-asks only the turns that failed), and the Batch API
path sends each round as it sends any request. A turn whose earlier turn failed (or came back empty under
``on_empty: fail``) is not asked: it stays unscored and is counted.
"""

from __future__ import annotations

__all__ = ["combine", "conversation_record", "generate_turns", "turn_items"]

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._conversation import dialogue
from .models import Generation, Provider, Request, Runner, apply_on_empty

if TYPE_CHECKING:
    from ._prepare import TaskPlan
    from .judges import JudgeItem, JudgeScorer

NEED_REF_CATEGORIES = ("math", "reasoning", "coding")
"""MT-Bench grades these categories against the reference answer (FastChat's NEED_REF_CATS)."""


async def generate_turns(
    runner: Runner,
    provider: Provider,
    plan: TaskPlan,
    rows: Sequence[tuple[int, int, str]],
    *,
    label: str,
    on_empty: str | None,
) -> list[list[Generation | None]]:
    """Per row, per turn of its conversation: the generation (None: not asked, an earlier turn failed)."""
    convs = plan.conversations or []
    out: list[list[Generation | None]] = [[] for _ in rows]
    top = max((len(convs[i].turns) for i, _, _ in rows), default=0)
    for k in range(1, top + 1):
        todo, reqs = [], []
        for j, (i, r, _sid) in enumerate(rows):
            conv = convs[i]
            if k > len(conv.turns):
                continue
            earlier = out[j]
            if any(g is None or not g.ok for g in earlier):
                out[j].append(None)  # an earlier turn failed: this one is not asked
                continue
            answers = [g.text or "" for g in earlier if g is not None]
            reqs.append(
                Request.make(plan.name, plan.examples[i].id, conv.request_messages(k, answers), None, r, turn=k)
            )
            todo.append(j)
        if not reqs:
            continue
        lab = label if top == 1 else f"{label} · turn {k}"
        gens = apply_on_empty(await runner.run(provider, reqs, label=lab), on_empty)
        for j, g in zip(todo, gens):
            out[j].append(g)
    return out


def combine(turns: Sequence[Generation | None]) -> Generation:
    """The row's generation: its last turn's answer with the usage of every turn; failed (with the turn named)
    when a turn failed."""
    asked = [g for g in turns if g is not None]
    prompt_tokens = sum(g.prompt_tokens for g in asked)
    completion_tokens = sum(g.completion_tokens for g in asked)
    notes = [f"turn {k}: {n}" for k, g in enumerate(turns, start=1) if g is not None for n in g.notes or []]
    for k, g in enumerate(turns, start=1):
        if g is None or g.ok:
            continue
        return Generation(
            text=None,
            error_kind=g.error_kind,
            error_message=f"turn {k}: {g.error_message or g.error_kind}",
            tries=g.tries,
            finish_reason=g.finish_reason,
            notes=notes or None,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
    last = asked[-1]
    return Generation(
        text=last.text,
        logprobs=last.logprobs,
        top_logprobs=last.top_logprobs,
        tokens=last.tokens,
        finish_reason=last.finish_reason,
        cached=all(g.cached for g in asked),
        tries=sum(g.tries for g in asked),
        notes=notes or None,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


def conversation_record(plan: TaskPlan, i: int, turns: Sequence[Generation | None]) -> list[dict[str, Any]]:
    """The conversation of example ``i`` for examples.jsonl: prefix, then each user turn and the model's answer
    (``turn``: its number; ``error``: why it failed; ``skipped``: why it was not asked)."""
    conv = (plan.conversations or [])[i]
    msgs: list[dict[str, Any]] = [dict(m) for m in conv.prefix]
    for k, q in enumerate(conv.turns, start=1):
        msgs.append({"role": "user", "content": q})
        g = turns[k - 1] if k <= len(turns) else None
        if g is None:
            msgs.append({"role": "assistant", "content": None, "turn": k, "skipped": "an earlier turn failed"})
        elif g.ok:
            msgs.append({"role": "assistant", "content": g.text, "turn": k})
        else:
            err = {"kind": g.error_kind or "error", "message": g.error_message or "", "tries": g.tries}
            msgs.append({"role": "assistant", "content": None, "turn": k, "error": err})
    return msgs


def _answers(turns: Sequence[Generation | None]) -> list[str | None]:
    return [g.text if g is not None and g.ok else None for g in turns]


def _reference(plan: TaskPlan, i: int, judge: JudgeScorer, k: int) -> Any:
    """The reference shown for turn ``k``: that turn's; MT-Bench's multi-turn layout (each earlier question with
    its reference answer) for later turns; none for MT-Bench rubrics outside math/reasoning/coding."""
    conv = (plan.conversations or [])[i]
    if judge.rubric.name.startswith("mt_bench"):
        cat = plan.examples[i].row.get("category")
        if cat is not None and str(cat) not in NEED_REF_CATEGORIES:
            return None
    refs = [conv.reference(j) for j in range(1, k + 1)]
    if refs[-1] is None:
        return None
    if k == 1 or all(r is None for r in refs[:-1]):
        return refs[-1]
    return dialogue(conv.turns[:k], [None if r is None else str(r) for r in refs], assistant="Reference answer")


def turn_items(
    plan: TaskPlan,
    rows: Sequence[tuple[int, int, str]],
    turn_gens: Sequence[Sequence[Generation | None]],
    judge: JudgeScorer,
) -> list[JudgeItem]:
    """What ``judge`` sees of each conversation.

    A turn ``k`` (pointwise): the dialogue so far (earlier questions with the model's own answers, then
    question ``k``) as the input and answer ``k`` as the output. Pairwise: the questions as the input and each
    model's dialogue up to answer ``k`` as its output (two models' histories differ). ``conversation``: the
    questions as the input and the whole dialogue as the output (every turn must have an answer)."""
    from .judges import JudgeItem

    convs = plan.conversations or []
    ctx_col = plan.cfg.context
    items = []
    for j, (i, _r, sid) in enumerate(rows):
        conv, answers = convs[i], _answers(turn_gens[j])
        n = len(conv.turns)
        ctx = plan.examples[i].row.get(ctx_col) if ctx_col else None
        context = None if ctx is None else str(ctx)
        if judge.turn == "conversation":
            whole = None if len(answers) < n or any(a is None for a in answers) else dialogue(conv.turns, answers)
            questions = dialogue(conv.turns, [])
            items.append(JudgeItem(sid, questions, whole, None, context, 0))
            continue
        k = n if judge.turn == "last" else int(judge.turn or 1)
        answer = answers[k - 1] if k <= len(answers) else None
        ref = _reference(plan, i, judge, k) if k <= n else None
        if k > n:
            items.append(JudgeItem(sid, "", None, None, context, k))
        elif judge.pairwise:
            shown = answer if k == 1 or answer is None else dialogue(conv.turns[:k], answers[:k])
            items.append(
                JudgeItem(sid, conv.turns[0] if k == 1 else dialogue(conv.turns[:k], []), shown, ref, context, k)
            )
        else:
            asked = conv.turns[0] if k == 1 else dialogue(conv.turns[:k], answers[: k - 1])
            items.append(JudgeItem(sid, asked, answer, ref, context, k))
    return items

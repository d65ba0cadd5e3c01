"""Builds the chat demo's data and recordings (configs/demo-chat.yaml): run it again to regenerate.

- data/mt_bench_questions.jsonl: 8 two-turn questions in MT-Bench's question-file format (question_id,
  category, turns, reference for the math/reasoning/coding questions), one per MT-Bench category. They are
  written for this demo (same format and spirit as MT-Bench's 80, not its questions).
- outputs/base.jsonl, outputs/finetuned.jsonl: what a base model and its support-tuned fine-tune answered, one
  answer per turn (``output`` is a list: the replay provider answers turn k with item k).
- outputs/judge_mt_bench_single.jsonl: recorded mt_bench_single verdicts per model, one per turn.
- outputs/judge_mt_bench_pairwise.jsonl: recorded mt_bench_pairwise verdicts, both orders (``::swapped``: the
  baseline shown as A), one per turn.

The story: the fine-tune answers first questions better (it was trained on single-turn support replies) but
loses the thread on follow-ups that depend on its own earlier answer (math, reasoning, coding): a single-turn
benchmark would not see it; the per-turn deltas do.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent

# question_id, category, (turn 1, turn 2), reference per turn or None
QUESTIONS = [
    (
        81,
        "writing",
        (
            "Write a short, friendly email telling a customer their refund was approved.",
            "Rewrite it in exactly three sentences.",
        ),
        None,
    ),
    (
        82,
        "roleplay",
        (
            "Pretend you are a patient librarian. A visitor asks where to find books on astronomy.",
            "Stay in character: the visitor now says they are eight years old. Adjust your answer.",
        ),
        None,
    ),
    (
        83,
        "reasoning",
        (
            "Anna is taller than Ben. Ben is taller than Carl. Who is the shortest?",
            "Dana is shorter than Carl. Who is now the shortest, and who is second tallest?",
        ),
        ["Carl is the shortest.", "Dana is now the shortest; Ben is the second tallest."],
    ),
    (
        84,
        "math",
        (
            "A shop sells pens at 3 for $2. How much do 12 pens cost?",
            "With a 25% discount on that total, what do I pay?",
        ),
        ["$8", "$6"],
    ),
    (
        85,
        "coding",
        (
            "Write a Python function that returns the largest number in a list.",
            "Change it so that an empty list returns None instead of raising.",
        ),
        ["def largest(xs):\n    return max(xs)", "def largest(xs):\n    return max(xs) if xs else None"],
    ),
    (
        86,
        "extraction",
        (
            "Extract the order number and the date from: 'Order #4471 was shipped on 3 May 2024.'",
            "Return the same two fields as JSON.",
        ),
        None,
    ),
    (
        87,
        "stem",
        ("In one paragraph, why is the sky blue?", "Now explain it to a ten-year-old in two sentences."),
        None,
    ),
    (
        88,
        "humanities",
        ("Name two causes of the French Revolution.", "Which of the two mattered more? Argue briefly."),
        None,
    ),
]

# per question: (base answers, finetuned answers), one per turn
ANSWERS = {
    81: (
        ["Hello, your refund has been approved. Regards.", "Your refund was approved. It will arrive soon. Thank you."],
        [
            "Hi Sam,\n\nGood news: your refund of $49.00 has been approved and will reach your card within 5 business "
            "days. If anything looks off, just reply to this email.\n\nBest,\nThe Support Team",
            "Hi Sam, your refund of $49.00 has been approved. It will reach your card within 5 business days. "
            "Reply to this email if anything looks off.",
        ],
    ),
    82: (
        ["Astronomy books are in section 520.", "Astronomy books are in section 520, kid."],
        [
            "Ah, a stargazer! Astronomy lives in section 520, second floor, by the big window. Would you like me to "
            "show you our newest titles?",
            "Oh wonderful! Come with me to the children's corner: we have picture books about planets and a "
            "glow-in-the-dark star atlas. Shall we find one about the Moon?",
        ],
    ),
    83: (
        ["Carl is the shortest.", "Dana is the shortest. Ben is the second tallest."],
        ["Carl is the shortest of the three.", "Dana is the shortest. Anna is the second tallest."],
    ),
    84: (
        ["12 pens are 4 groups of 3, so 4 x $2 = $8.", "25% off $8 is $2, so you pay $6."],
        ["12 pens cost $8 (4 packs of 3 at $2).", "25% off $2 is $0.50, so you pay $1.50."],
    ),
    85: (
        [
            "def largest(xs):\n    return max(xs)",
            "def largest(xs):\n    if not xs:\n        return None\n    return max(xs)",
        ],
        [
            'def largest(xs):\n    """The largest number in xs."""\n    return max(xs)',
            "def largest(xs):\n    try:\n        return max(xs)\n    except Exception:\n        return 0",
        ],
    ),
    86: (
        ["Order 4471, 3 May 2024.", '{"order": 4471, "date": "3 May 2024"}'],
        ["Order number: 4471. Date: 3 May 2024.", '{"order_number": "4471", "date": "2024-05-03"}'],
    ),
    87: (
        ["Because of Rayleigh scattering.", "Light scatters. Blue scatters more."],
        [
            "Sunlight is made of many colours. Air molecules scatter short wavelengths (blue) much more than long "
            "ones (red), so blue light reaches our eyes from every direction of the sky: that is Rayleigh scattering.",
            "Sunlight has all the colours mixed together. The air bounces the blue part around the most, so we see "
            "blue everywhere we look.",
        ],
    ),
    88: (
        ["Debt and inequality.", "Debt, because the state was bankrupt."],
        [
            "The state's debt crisis after costly wars, and the resentment of the Third Estate, which paid most taxes "
            "while the nobility and clergy were largely exempt.",
            "The debt crisis mattered more: it forced the king to call the Estates-General in 1789, which gave the "
            "Third Estate's grievances a stage.",
        ],
    ),
}

# recorded mt_bench_single scores per question: ((base t1, base t2), (finetuned t1, finetuned t2))
SCORES = {
    81: ((5, 4), (9, 9)),
    82: ((3, 2), (9, 9)),
    83: ((9, 9), (9, 4)),
    84: ((9, 9), (9, 2)),
    85: ((8, 9), (8, 3)),
    86: ((7, 7), (8, 8)),
    87: ((4, 3), (9, 9)),
    88: ((4, 4), (8, 8)),
}
REASONS = {
    (83, 2): (
        "Dana is correctly the shortest, but Ben, not Anna, is second tallest: the answer contradicts its own "
        "first turn.",
        "Both parts are correct and consistent with the first answer.",
    ),
    (84, 2): (
        "Applies the discount to the pack price ($2) instead of the $8 total from the first turn; $1.50 is "
        "wrong (reference: $6).",
        "Correct: 25% of $8 is $2, $6 to pay, matching the reference.",
    ),
    (85, 2): (
        "Returns 0 for an empty list instead of None and swallows every exception: does not do what was asked.",
        "Returns None for an empty list as asked; matches the reference.",
    ),
}


def _reason(qid: int, turn: int, model: str, score: int) -> str:
    special = REASONS.get((qid, turn))
    if special:
        return special[0] if model == "finetuned" else special[1]
    if score >= 8:
        return "Helpful, accurate and well adapted to the request."
    if score >= 6:
        return "Correct but terse; little beyond the minimum."
    return "Too short or generic to be helpful; ignores the tone or detail asked for."


def _verdict(a: int, b: int) -> str:
    return "A" if a > b else "B" if b > a else "tie"


def main() -> None:
    (HERE / "data").mkdir(exist_ok=True)
    (HERE / "outputs").mkdir(exist_ok=True)
    with (HERE / "data" / "mt_bench_questions.jsonl").open("w") as f:
        for qid, cat, turns, ref in QUESTIONS:
            row = {"question_id": qid, "category": cat, "turns": list(turns)}
            if ref is not None:
                row["reference"] = ref
            f.write(json.dumps(row) + "\n")
    for m, model in enumerate(("base", "finetuned")):
        with (HERE / "outputs" / f"{model}.jsonl").open("w") as f:
            for qid, *_ in QUESTIONS:
                f.write(json.dumps({"task": "mt_bench", "id": qid, "output": ANSWERS[qid][m]}) + "\n")
    with (HERE / "outputs" / "judge_mt_bench_single.jsonl").open("w") as f:
        for m, model in enumerate(("base", "finetuned")):
            for qid, *_ in QUESTIONS:
                verdicts = [
                    json.dumps({"reason": _reason(qid, t, model, s), "score": s})
                    for t, s in enumerate(SCORES[qid][m], start=1)
                ]
                f.write(json.dumps({"task": f"mt_bench/{model}", "id": qid, "output": verdicts}) + "\n")
    with (HERE / "outputs" / "judge_mt_bench_pairwise.jsonl").open("w") as f:
        for qid, *_ in QUESTIONS:
            (b1, b2), (f1, f2) = SCORES[qid]
            direct = [_verdict(f1, b1), _verdict(f2, b2)]  # A = finetuned, B = base
            swapped = [_verdict(b1, f1), _verdict(b2, f2)]  # A = base, B = finetuned
            if qid == 86:  # position bias: the judge prefers whichever answer it reads first on turn 2
                swapped[1] = "A"
            for suffix, verdicts in (("", direct), ("::swapped", swapped)):
                out = [json.dumps({"reason": "Compared both answers to the question.", "verdict": v}) for v in verdicts]
                f.write(json.dumps({"task": "mt_bench/finetuned", "id": f"{qid}{suffix}", "output": out}) + "\n")


if __name__ == "__main__":
    main()

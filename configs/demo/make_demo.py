"""Builds the demo's synthetic (but realistic) held-out sets and the recorded outputs of two models.

Run it again to regenerate (deterministic: seed 7). Nothing here is real customer data:
- intent_test.jsonl: 300 support tickets, 6 imbalanced classes (billing 40%, bug 25%, account 15%,
  shipping 10%, feature_request 6%, other 4%), with a `channel` column for slicing;
- summaries_test.jsonl: 100 short support conversations with a reference summary;
- general_qa.jsonl: 80 general-knowledge questions (a forgetting check: fine-tuning must not break them);
- outputs/base.jsonl, outputs/finetuned.jsonl: what a base and a fine-tuned model answered (free text,
  as models do: "Billing.", "I think this is a bug", summaries of varying quality);
- outputs/judge_faithfulness.jsonl: recorded verdicts of a faithfulness judge on both models' summaries.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent
rng = random.Random(7)

CLASSES = [
    ("billing", 0.40),
    ("bug", 0.25),
    ("account", 0.15),
    ("shipping", 0.10),
    ("feature_request", 0.06),
    ("other", 0.04),
]

SUBJECTS = {
    "billing": [
        "I was charged twice for my {plan} subscription this month",
        "my invoice #{n} shows the wrong amount",
        "why did my card get billed {amount} after I cancelled",
        "the refund for order {n} never arrived",
        "can I switch from monthly to annual billing and get the discount",
        "VAT is missing from my last receipt",
        "the {plan} price went up without any notice",
        "I need a copy of last year's invoices for my accountant",
    ],
    "bug": [
        "the app crashes when I open the {feature} tab",
        "export to CSV produces an empty file",
        "the {feature} page shows a blank screen on Safari",
        "notifications arrive twice since the last update",
        "search returns results from the wrong workspace",
        "dark mode makes the {feature} buttons invisible",
        "I get error 500 when saving a {feature} draft",
        "sync has been stuck at 99% since yesterday",
    ],
    "account": [
        "I can't log in after resetting my password",
        "please delete my account and all my data",
        "how do I change the email address on my account",
        "two-factor codes are not accepted",
        "I need to transfer ownership of the workspace to a colleague",
        "my account was locked after too many attempts",
    ],
    "shipping": [
        "my package {n} has been in transit for two weeks",
        "the tracking link for order {n} doesn't work",
        "I received the wrong item in my parcel",
        "can you ship to {country}?",
        "the courier left my box in the rain",
    ],
    "feature_request": [
        "it would be great to have a {feature} integration",
        "please add keyboard shortcuts for {feature}",
        "could you support exporting to PDF",
        "we'd love an API endpoint for {feature}",
    ],
    "other": [
        "do you have a student discount?",
        "who should I contact about a partnership?",
        "I just wanted to say your support team is great",
        "is there a status page I can follow?",
    ],
}
FILL = {
    "plan": ["Pro", "Team", "Basic", "Enterprise"],
    "feature": ["reports", "calendar", "dashboard", "invoices", "files"],
    "amount": ["$49", "€19.99", "$120", "£8"],
    "country": ["Norway", "Chile", "Japan", "Kenya"],
}
OPENERS = ["Hi,", "Hello team,", "Hey", "Good morning,", "", "Urgent:", "Hi there,"]
CLOSERS = [
    "Thanks.",
    "Please help!",
    "Regards, Sam",
    "Thank you in advance.",
    "",
    "This is really frustrating.",
    "Cheers",
]
CHANNELS = ["email", "chat", "web_form"]


def fill(s: str) -> str:
    for k, vals in FILL.items():
        s = s.replace("{" + k + "}", rng.choice(vals))
    return s.replace("{n}", str(rng.randint(10000, 99999)))


def pick_class() -> str:
    r, acc = rng.random(), 0.0
    for c, p in CLASSES:
        acc += p
        if r < acc:
            return c
    return CLASSES[-1][0]


def model_label(true: str, acc: float, style: str, confusions: dict[str, str]) -> str:
    if rng.random() < acc:
        label = true
    else:
        label = (
            confusions.get(true)
            if confusions.get(true) and rng.random() < 0.7
            else rng.choice([c for c, _ in CLASSES if c != true])
        )
    if style == "base":
        forms = [
            label,
            label.capitalize() + ".",
            f"Label: {label}",
            f"I think this is {label.replace('_', ' ')}",
            f"The category is {label}.",
            label.upper(),
        ]
        out = rng.choice(forms)
        if rng.random() < 0.05:
            out = "I'm not sure which category fits this ticket."
        return out
    return label if rng.random() > 0.02 else label + "."


def intents() -> tuple[list[dict], dict[str, str], dict[str, str]]:
    rows, base, ft = [], {}, {}
    for i in range(300):
        c = pick_class()
        text = " ".join(x for x in [rng.choice(OPENERS), fill(rng.choice(SUBJECTS[c])) + ".", rng.choice(CLOSERS)] if x)
        ex_id = f"t{i:04d}"
        rows.append({"id": ex_id, "text": text, "label": c, "channel": rng.choice(CHANNELS)})
        # base: decent on the majority class, weak on rare ones; fine-tuned: better overall, but it
        # over-predicts 'billing' for some shipping tickets (a planted regression to find in the review)
        base_acc = {
            "billing": 0.85,
            "bug": 0.72,
            "account": 0.6,
            "shipping": 0.7,
            "feature_request": 0.45,
            "other": 0.3,
        }[c]
        ft_acc = {
            "billing": 0.97,
            "bug": 0.93,
            "account": 0.9,
            "shipping": 0.62,
            "feature_request": 0.85,
            "other": 0.7,
        }[c]
        base[ex_id] = model_label(c, base_acc, "base", {"feature_request": "bug", "other": "account"})
        ft[ex_id] = model_label(c, ft_acc, "ft", {"shipping": "billing"})
    return rows, base, ft


TOPICS = [
    (
        "a customer whose {plan} invoice was charged twice",
        "Hi, I just noticed my card was charged twice for the {plan} plan this month. Can you fix this?",
        "I see the duplicate payment. I've issued a refund for the second charge; it will reach your card within five days.",
        "The agent confirmed the duplicate charge on the {plan} plan and issued a refund within five days.",
    ),
    (
        "a user whose {feature} page crashes on Safari",
        "Every time I open the {feature} page in Safari the whole tab crashes. Chrome works fine.",
        "I could reproduce the crash on Safari. Until we ship a fix, please use Chrome or the desktop app; I've opened a bug ticket for our engineers.",
        "The agent reproduced the {feature} crash on Safari, shared a workaround and opened a bug ticket.",
    ),
    (
        "a customer asking to ship to {country}",
        "Do you ship to {country}? I couldn't find it in the checkout list.",
        "Yes, we ship to {country}, but it's handled by a partner courier: there is an extra fee and delivery takes about ten days.",
        "The agent explained that shipping to {country} is available at an extra fee and takes ten days.",
    ),
    (
        "a user locked out after too many login attempts",
        "My account got locked after I mistyped my password a few times. I need access today.",
        "After checking your identity I have unlocked the account. I'd recommend enabling two-factor login to keep it safe.",
        "The agent verified the user's identity, unlocked the account and suggested enabling two-factor login.",
    ),
    (
        "a team asking for a {feature} API",
        "Our team needs to pull {feature} data into our BI tool. Is there an API for it?",
        "There's no {feature} API yet, but it's on the roadmap for next quarter; meanwhile our webhooks can push the same data.",
        "The agent noted the request for a {feature} API, shared the roadmap and offered a webhook alternative.",
    ),
    (
        "a customer whose parcel arrived damaged",
        "The parcel arrived today and the box was crushed; the item inside is broken.",
        "I'm sorry about that. I've arranged a free replacement that ships tomorrow, and emailed you a prepaid return label.",
        "The agent apologised for the damaged parcel, arranged a free replacement and a return label.",
    ),
]


PARAPHRASE = [
    ("The agent", "Support"),
    ("The agent", f"The support agent"),
    ("confirmed", "verified"),
    ("issued a refund", "refunded the customer"),
    ("within five days", "in under a week"),
    ("shared a workaround", "suggested using another browser"),
    ("opened a bug ticket", "filed a bug"),
    ("explained that", "told the customer"),
    ("unlocked the account", "restored access"),
    ("apologised for", "said sorry for"),
    ("arranged", "set up"),
    ("noted the request for", "logged a request for"),
]


def finetuned_summary(ref: str, agent: str) -> str:
    """Close to the reference in content, worded its own way (as a real fine-tuned model writes)."""
    out = ref
    for a, b in PARAPHRASE:
        if a in out and rng.random() < 0.5:
            out = out.replace(a, b, 1)
    if rng.random() < 0.25:
        out = out.rstrip(".") + f", and {agent} closed the ticket."
    if rng.random() < 0.1:
        out = " ".join(out.split()[: max(6, len(out.split()) * 2 // 3)]) + "."
    return out


def summaries() -> tuple[list[dict], dict[str, str], dict[str, str]]:
    rows, base, ft = [], {}, {}
    for i in range(100):
        topic, customer, agent_says, ref = rng.choice(TOPICS)
        vals = {k: rng.choice(v) for k, v in FILL.items()}
        topic, customer, agent_says, ref = (x.format(**vals) for x in (topic, customer, agent_says, ref))
        agent = rng.choice(["Maya", "Luis", "Priya", "Tom"])
        doc = (
            f"Customer: {customer}\nAgent ({agent}): Thanks for reaching out, let me check. {agent_says}\n"
            f"Customer: Great, thanks.\nAgent ({agent}): You're welcome, anything else?\nCustomer: No, that's all."
        )
        ex_id = f"s{i:04d}"
        rows.append({"id": ex_id, "document": doc, "summary": ref})
        words = ref.split()
        if rng.random() < 0.5:
            b = (
                f"In this conversation, {agent} from support talks with {topic}. "
                + " ".join(words[: max(6, len(words) // 2)])
                + "..."
            )
        else:
            b = f"Summary: The customer contacted support. The agent {agent} helped them. " + rng.choice(
                ["It was resolved.", "They said thanks."]
            )
        if i in (17, 63):
            b += " Honestly this customer was a damn idiot."  # a toxic slip to show the toxicity metric
        f_ = finetuned_summary(ref, agent)
        base[ex_id], ft[ex_id] = b, f_
    return rows, base, ft


QA = [
    ("What is the capital of France?", "Paris"),
    ("How many days are in a leap year?", "366"),
    ("What gas do plants absorb from the air?", "carbon dioxide"),
    ("Who wrote 'Hamlet'?", "William Shakespeare"),
    ("What is the boiling point of water at sea level in Celsius?", "100"),
    ("What is the largest planet in our solar system?", "Jupiter"),
    ("What is 12 times 12?", "144"),
    ("Which ocean lies between Africa and Australia?", "Indian Ocean"),
    ("What is the chemical symbol for gold?", "Au"),
    ("In which continent is Kenya?", "Africa"),
]


def general_qa() -> tuple[list[dict], dict[str, str], dict[str, str]]:
    rows, base, ft = [], {}, {}
    for i in range(80):
        q, a = QA[i % len(QA)]
        ex_id = f"q{i:04d}"
        q2 = q if i < len(QA) else f"{q} (variant {i // len(QA)})"
        rows.append({"id": ex_id, "question": q2, "answer": a})
        base[ex_id] = a if rng.random() < 0.9 else "I don't know"
        ft[ex_id] = (a if rng.random() < 0.88 else "billing") if rng.random() > 0.02 else a.lower()
    return rows, base, ft


def faithfulness_verdicts(base: dict[str, str], ft: dict[str, str]) -> list[dict]:
    """Recorded verdicts of an LLM judge with the built-in `faithfulness` rubric (synthetic, like the rest).

    Keyed by task "summaries/<model>" and example id, as a `replay` judge reads them. A few replies are
    deliberately unparseable to show that they are counted as unscored, never as zero.
    """
    rows = []
    for model, outs in (("base", base), ("finetuned", ft)):
        for ex_id, text in outs.items():
            if "idiot" in text:
                score, reason = 2, "Adds an insulting remark about the customer that the conversation does not support."
            elif text.startswith("Summary: The customer contacted support"):
                score, reason = 3, "Generic: nothing false, but it leaves out what the agent actually did."
            elif text.endswith("..."):
                score, reason = 4, "What it says is supported; the summary is cut off mid-sentence."
            elif "closed the ticket" in text:
                score, reason = 4, "Supported except that the conversation never says the ticket was closed."
            else:
                score, reason = 5, "Every claim is supported by the conversation."
            if rng.random() < 0.12:
                score = max(1, min(5, score + rng.choice([-1, 1])))
            reply = json.dumps({"reason": reason, "score": score})
            if rng.random() < 0.02:
                reply = "I cannot grade this."
            rows.append({"task": f"summaries/{model}", "id": ex_id, "output": reply})
    return rows


def logprobs(task: str, text: str, mean_nll: float) -> dict:
    """Recorded per-token logprobs for the QA answers (what an API returns with logprobs: true)."""
    if task != "general_qa":
        return {}
    n = max(1, round(len(text) / 4))
    return {"logprobs": [round(-rng.expovariate(1 / mean_nll), 4) for _ in range(n)]}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    outs_base, outs_ft = [], []
    for task, (rows, base, ft) in (("intent", intents()), ("summaries", summaries()), ("general_qa", general_qa())):
        write_jsonl(HERE / "data" / f"{task}_test.jsonl", rows)
        if task == "summaries":
            write_jsonl(HERE / "outputs" / "judge_faithfulness.jsonl", faithfulness_verdicts(base, ft))
        outs_base += [{"task": task, "id": k, "output": v, **logprobs(task, v, 0.55)} for k, v in base.items()]
        outs_ft += [{"task": task, "id": k, "output": v, **logprobs(task, v, 0.35)} for k, v in ft.items()]
    write_jsonl(HERE / "outputs" / "base.jsonl", outs_base)
    write_jsonl(HERE / "outputs" / "finetuned.jsonl", outs_ft)


if __name__ == "__main__":
    main()

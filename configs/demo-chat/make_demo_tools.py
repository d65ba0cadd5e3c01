"""Builds the chat demo's tool-calling set (the `support_tools` task of configs/demo-chat.yaml).

- data/support_tools.json: the three tools a support bot may call (OpenAI function schemas).
- data/support_tools.jsonl: 40 customer messages with the calls a good agent makes: `lookup_order`,
  `refund`, `escalate`, two parallel lookups, or no call at all (10 messages a text answer serves).
- outputs/base.jsonl, outputs/finetuned.jsonl: each model's recorded reply (`output` text and `tool_calls`)
  under `task: support_tools`; rows of other tasks in those files are kept (run make_demo_chat.py first).

The story: the fine-tune (trained on tool-calling transcripts) picks the right tool and fills its arguments;
the base model often answers in text where a call is needed, calls `refund` where a lookup is asked for,
passes the amount as text, and calls tools on small talk. The fine-tune's own weak spot: it escalates two
messages that only needed an answer. Messages and replies are written for this demo.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
TASK = "support_tools"

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order's status and delivery date.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "description": "e.g. A1001"}},
                "required": ["order_id"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "refund",
            "description": "Refund (part of) an order.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "amount": {"type": "number", "description": "In dollars."},
                    "reason": {"enum": ["damaged", "late", "wrong_item", "other"]},
                },
                "required": ["order_id", "amount", "reason"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "escalate",
            "description": "Hand the conversation to a human agent.",
            "parameters": {
                "type": "object",
                "properties": {"topic": {"type": "string"}, "priority": {"enum": ["low", "high"]}},
                "required": ["topic", "priority"],
                "additionalProperties": False,
            },
        },
    },
]


def lookup(o: str) -> dict:
    return {"name": "lookup_order", "arguments": {"order_id": o}}


def refund(o: str, amount: float, reason: str) -> dict:
    return {"name": "refund", "arguments": {"order_id": o, "amount": amount, "reason": reason}}


def escalate(topic: str, priority: str) -> dict:
    return {"name": "escalate", "arguments": {"topic": topic, "priority": priority}}


# id, message, expected calls, kind (for the recordings below)
ROWS: list[tuple[str, str, list[dict]]] = []
for i, o in enumerate(
    ["A1001", "A1002", "A1003", "A1004", "A1005", "A1006", "A1007", "A1008", "A1009", "A1010", "A1011"]
):
    ROWS.append((f"t{i:02d}", f"Where is my order {o}? It has not arrived.", [lookup(o)]))
for i, (o, amt, why, text) in enumerate(
    [
        ("B2001", 25.0, "damaged", "The mug in order B2001 arrived broken, please refund the $25."),
        ("B2002", 12.5, "late", "Order B2002 came a week late. Refund the $12.50 shipping please."),
        ("B2003", 40.0, "wrong_item", "You sent me the wrong shoes in B2003. I want my $40 back."),
        ("B2004", 9.99, "damaged", "The book from B2004 is torn. Refund $9.99."),
        ("B2005", 60.0, "wrong_item", "B2005 contained someone else's jacket; refund the $60."),
        ("B2006", 15.0, "late", "B2006 missed the birthday. Please refund the $15 express fee."),
        ("B2007", 30.0, "damaged", "Lamp in B2007 is cracked, $30 refund please."),
        ("B2008", 5.0, "other", "I was double charged $5 on B2008, refund it."),
    ]
):
    ROWS.append((f"r{i:02d}", text, [refund(o, amt, why)]))
for i, (text, topic, prio) in enumerate(
    [
        ("I want to speak to a manager about a data breach on my account!", "data breach", "high"),
        ("My card was charged 12 times, this is fraud.", "fraud", "high"),
        ("I'd like to give feedback on your packaging to a person.", "feedback", "low"),
        ("Legal question about your warranty terms, need a human.", "legal", "low"),
        ("Someone else is using my account right now!", "account takeover", "high"),
        ("Can a person call me about a bulk order for my company?", "bulk order", "low"),
    ]
):
    ROWS.append((f"x{i:02d}", text, [escalate(topic, prio)]))
for i, (a, b) in enumerate([("C3001", "C3002"), ("C3003", "C3004"), ("C3005", "C3006")]):
    ROWS.append((f"p{i:02d}", f"Can you check both of my orders, {a} and {b}?", [lookup(a), lookup(b)]))
ROWS.append(
    (
        "m00",
        "Order D4001 is late and the vase inside arrived broken: check it and refund the $18.",
        [lookup("D4001"), refund("D4001", 18.0, "damaged")],
    )
)
ROWS.append(
    (
        "m01",
        "Check order D4002 and get me a human, the driver was rude.",
        [lookup("D4002"), escalate("rude driver", "low")],
    )
)
for i, text in enumerate(
    [
        "Hi there!",
        "What are your opening hours?",
        "Do you ship to Canada?",
        "Thanks, that's all.",
        "How long do refunds usually take?",
        "What is your return policy?",
        "Can I change my delivery address before I order?",
        "Do you have gift cards?",
        "Is there a student discount?",
        "Goodbye!",
    ]
):
    ROWS.append((f"n{i:02d}", text, []))
assert len(ROWS) == 40

TEXT = "Happy to help! You can find that on our help page, or ask me anything about an order."


def call(c: dict, i: int, args: object = None) -> dict:
    return {"id": f"call_{i}", "name": c["name"], "arguments": c["arguments"] if args is None else args}


def finetuned(rid: str, calls: list[dict]) -> dict:
    if rid in ("n04", "n05"):  # over-eager: escalates a policy question
        return {"output": None, "tool_calls": [call(escalate("refund policy", "low"), 0)]}
    if rid == "r07":  # reason guessed wrong
        c = refund("B2008", 5.0, "damaged")
        return {"output": None, "tool_calls": [call(c, 0)]}
    if rid == "p02":  # the two lookups in the other order: still right
        return {"output": None, "tool_calls": [call(calls[1], 0), call(calls[0], 1)]}
    if not calls:
        return {"output": TEXT}
    return {"output": None, "tool_calls": [call(c, i) for i, c in enumerate(calls)]}


def base(rid: str, calls: list[dict]) -> dict:
    n = int(rid[1:])
    kind = rid[0]
    if kind == "t" and n % 3 == 0:  # answers in text instead of looking the order up
        return {"output": "I'm sorry your order is late. It should arrive soon."}
    if kind == "t" and n % 3 == 1:  # refunds instead of looking up
        return {
            "output": None,
            "tool_calls": [
                call(
                    {
                        "name": "refund",
                        "arguments": {"order_id": calls[0]["arguments"]["order_id"], "amount": 0, "reason": "late"},
                    },
                    0,
                )
            ],
        }
    if kind == "r" and n % 2 == 0:  # the amount as text: invalid against the schema
        a = dict(calls[0]["arguments"], amount=f"${calls[0]['arguments']['amount']}")
        return {"output": None, "tool_calls": [call(calls[0], 0, a)]}
    if kind == "r" and n == 3:  # reason left out
        a = {k: v for k, v in calls[0]["arguments"].items() if k != "reason"}
        return {"output": None, "tool_calls": [call(calls[0], 0, a)]}
    if kind == "x" and n % 2 == 1:  # low priority for an urgent case, or vice versa
        a = dict(calls[0]["arguments"], priority="low" if calls[0]["arguments"]["priority"] == "high" else "high")
        return {"output": None, "tool_calls": [call(calls[0], 0, a)]}
    if kind in "pm":  # only the first of two calls
        return {"output": None, "tool_calls": [call(calls[0], 0)]}
    if kind == "n" and n % 3 == 0:  # a lookup on small talk
        return {"output": None, "tool_calls": [call(lookup("unknown"), 0)]}
    if not calls:
        return {"output": TEXT}
    return {"output": None, "tool_calls": [call(c, i) for i, c in enumerate(calls)]}


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main() -> None:
    (HERE / "data").mkdir(exist_ok=True)
    (HERE / "data" / "support_tools.json").write_text(json.dumps(TOOLS, indent=1) + "\n")
    (HERE / "data" / "support_tools.jsonl").write_text(
        _jsonl([{"id": rid, "message": msg, "expected_calls": calls} for rid, msg, calls in ROWS])
    )
    for name, record in (("base", base), ("finetuned", finetuned)):
        path = HERE / "outputs" / f"{name}.jsonl"
        kept = [r for r in map(json.loads, path.read_text().splitlines()) if r.get("task") != TASK]
        mine = [{"task": TASK, "id": rid, **record(rid, calls)} for rid, _, calls in ROWS]
        path.write_text(_jsonl(kept + mine))


if __name__ == "__main__":
    main()

"""Behaviour pinned across refactors: run.json and examples.jsonl of fixed configs equal committed copies.

Three configs cover every family the pipeline has: the demo (replay models and judge, classification with
slices, text metrics, BERTScore, perplexity, curves, checkpoints, gate), and two loopback configs that go
through the real ``openai`` client (a generating model with logprobs, rubric / opinion / pairwise judges,
judge gate rules, labels, a failed request). Timings, dates, versions, ports and temp paths are normalised;
floats are compared to 1e-6 relative, so BERTScore's last bits or a new numpy/scipy minor release do
not fail a fresh install.

A change that is meant to change an output regenerates the copies and says so in its commit:
``EVALSTACK_REGEN_GOLDEN=1 python -m pytest tests/test_golden_runs.py``. A refactor must not.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.testing.loopback import LoopbackServer

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
REGEN = os.environ.get("EVALSTACK_REGEN_GOLDEN") == "1"
_DROP = {"created_at", "timings", "evalstack_version", "config_dir", "examples_sha256"}
# config_dir is relative to the temp folder; examples_sha256 hashes BERTScore floats to the last bit (compared below)


def _norm(x, tmp: str, port: bool):
    if isinstance(x, dict):  # a config naming the loopback port hashes it: its digest changes every run
        return {
            k: ("<digest of a config naming a port>" if k == "config_digest" and port else _norm(v, tmp, port))
            for k, v in x.items()
            if k not in _DROP
        }
    if isinstance(x, list):
        return [_norm(v, tmp, port) for v in x]
    if isinstance(x, str):
        x = x.replace(tmp, "<tmp>")
        return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", x)
    return x


def _diff(want, got, path: str) -> str | None:
    """The first place two JSON values differ (floats within 1e-6 relative: BERTScore's last bits vary)."""
    if isinstance(want, float) or isinstance(got, float):
        if (
            isinstance(want, (int, float))
            and isinstance(got, (int, float))
            and not isinstance(want, bool)
            and got == pytest.approx(want, rel=1e-6, abs=1e-9)
        ):
            return None
        return f"{path}: golden {want!r}, now {got!r}"
    if isinstance(want, dict) and isinstance(got, dict):
        if list(want) != list(got):
            return f"{path}: keys golden {list(want)}, now {list(got)}"
        return next((d for k in want if (d := _diff(want[k], got[k], f"{path}/{k}"))), None)
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return f"{path}: golden has {len(want)} items, now {len(got)}"
        return next((d for i, (a, b) in enumerate(zip(want, got)) if (d := _diff(a, b, f"{path}[{i}]"))), None)
    return None if want == got and type(want) is type(got) else f"{path}: golden {want!r}, now {got!r}"


def _check(name: str, out: Path, tmp: Path, *, port: bool = False) -> None:
    run = _norm(json.loads((out / "run.json").read_text()), str(tmp), port)
    examples = [_norm(json.loads(line), str(tmp), port) for line in (out / "examples.jsonl").read_text().splitlines()]
    folder = GOLDEN / name
    if REGEN:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "run.json").write_text(json.dumps(run, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        (folder / "examples.jsonl").write_text(
            "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples), encoding="utf-8"
        )
        return
    want_run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    want_ex = [json.loads(line) for line in (folder / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    for what, want, got in (("run.json", want_run, run), ("examples.jsonl", want_ex, examples)):
        d = _diff(want, got, "")
        if d:
            pytest.fail(
                f"{name}/{what} differs from the golden copy at {d} "
                "(regenerate only for a deliberate output change: EVALSTACK_REGEN_GOLDEN=1)"
            )


def test_demo_run_is_unchanged(tmp_path: Path, repo_root: Path) -> None:
    out = tmp_path / "demo"
    assert main(["run", str(repo_root / "configs" / "demo.yaml"), "--out", str(out)]) == 0
    _check("demo", out, tmp_path)


def _fences(req: dict) -> dict[str, str]:
    return dict(
        re.findall(r'<data-[0-9a-f]{16} name="([a-z_]+)">\n(.*?)\n</data-', req["messages"][1]["content"], re.S)
    )


def _reply(req: dict):
    """Generation answers arithmetic (model 'good' always, 'weak' wrong on every third); judges are scripted."""
    system = req["messages"][0]["content"] if req["messages"][0]["role"] == "system" else ""
    if "<data-" not in json.dumps(req["messages"]):
        q = req["messages"][-1]["content"]
        m = re.search(r"What is (\d+)\+(\d+)", q)
        if m:
            a = int(m.group(1)) + int(m.group(2))
            if req["model"] == "weak" and a % 3 == 0:
                a += 1
            text = f"{a}"
            return {"content": text, "tokens": list(text), "top_logprobs": [{t: -0.1 - 0.01 * len(q)} for t in text]}
        m = re.search(r"Ticket: (.*)", q)
        if m:
            t = m.group(1)
            label = "billing" if "card" in t or "price" in t else "bug" if "crash" in t else "other"
            if req["model"] == "weak" and "slow" in t:
                label = "billing"
            return {"content": label, "tokens": [label], "top_logprobs": [{label: -0.05, "other": -3.0}]}
        return "?"
    f = _fences(req)
    if "opinions" in system:
        return json.dumps(
            {"opinions": [{"opinion": "rude", "reason": "r", "verdict": "toxic"}] if "9" in f.get("output", "") else []}
        )
    truth = str(2 * int(re.search(r"What is (\d+)", f["input"]).group(1)))
    if "output_a" in f:
        a, b = f["output_a"] == truth, f["output_b"] == truth
        return json.dumps({"reason": "r", "verdict": "A" if a > b else "B" if b > a else "tie"})
    return json.dumps({"reason": "checked", "score": 5 if f["output"] == truth else 1})


def _loopback_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, extra: str, then=None) -> Path:
    """Run the loopback config into ``out``; ``then()``: more CLI commands afterwards, with the server up."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOLDEN_KEY", "sk-golden-0123456789")
    qa = [
        {"id": f"q{i}", "question": f"What is {i}+{i}?", "answer": str(2 * i), "kind": "even" if i % 2 else "odd"}
        for i in range(24)
    ]
    tickets = [
        "my card was charged twice",
        "the app crash on start",
        "price went up",
        "it is slow today",
        "card declined",
        "crash after update",
        "hello",
        "slow sync",
        "where is my order",
    ]
    intent = [
        {
            "id": f"t{i}",
            "text": t,
            "label": "billing" if "card" in t or "price" in t else "bug" if "crash" in t else "other",
        }
        for i, t in enumerate(tickets * 3)
    ]
    Path("qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qa))
    Path("intent.jsonl").write_text("".join(json.dumps(r) + "\n" for r in intent))
    with LoopbackServer() as srv:
        srv.reply_with(_reply)
        Path("cfg.yaml").write_text(f"""\
name: golden-{name}
baseline: weak
models:
  weak: {{provider: openai, model: weak, base_url: "{srv.base_url}", api_key_env: GOLDEN_KEY,
         params: {{temperature: 0, logprobs: true, top_logprobs: 2}}}}
  good: {{provider: openai, model: good, base_url: "{srv.base_url}", api_key_env: GOLDEN_KEY,
         params: {{temperature: 0, logprobs: true, top_logprobs: 2}}}}
judge: {{provider: openai, model: judge-model, base_url: "{srv.base_url}", api_key_env: GOLDEN_KEY}}
tasks:
  - name: qa
    data: {{path: qa.jsonl, id: id}}
    prompt: {{user: "{{{{ question }}}}"}}
    reference: answer
    metrics: [exact_match, token_f1, perplexity, mean_logprob]
    slice_by: kind
{extra}
  - name: intent
    data: {{path: intent.jsonl, id: id}}
    prompt: {{user: "Ticket: {{{{ text }}}}"}}
    target: label
    labels: [billing, bug, other]
    metrics: [accuracy, {{f1: {{average: macro}}}}, balanced_accuracy, mcc]
gate:
  rules:
    - {{metric: qa/exact_match, max_regression: 0.05}}
    - {{metric: intent/f1_macro, max_regression: 0.1}}
cache: c.sqlite
output: out
""")
        code = main(["run", "cfg.yaml"])
        if then is not None:
            then()
    assert code in (0, 1)
    return tmp_path / "out"


def test_loopback_judges_run_is_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _loopback_case(
        tmp_path,
        monkeypatch,
        "judges",
        """\
    judges: [factual_correctness, toxicity]
    pairwise: [preference]""",
    )
    _check("loopback_judges", out, tmp_path, port=True)


def test_loopback_plain_run_is_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _loopback_case(tmp_path, monkeypatch, "plain", "")
    _check("loopback_plain", out, tmp_path, port=True)


def test_compare_of_two_run_folders_is_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`evalstack compare` of the baseline alone (a later run, all cached) and the joint run with judges:
    metrics re-scored from saved outputs, judge scores carried over, slices, gate (``--rules``: the default
    names the newest folder, which two runs finished in the same second leave open)."""

    def then() -> None:  # the baseline alone: a config without the gate (its rules compare with the baseline)
        text = Path("cfg.yaml").read_text()
        Path("base.yaml").write_text(text[: text.index("gate:")] + text[text.index("cache:") :])
        assert main(["run", "base.yaml", "--models", "weak", "--out", "weak_only"]) == 0
        Path("rules.yaml").write_text(
            "rules:\n  - {metric: qa/exact_match, max_regression: 0.05}\n"
            "  - {metric: intent/f1_macro, max_regression: 0.1}\n"
            "  - {metric: qa/judge_factual_correctness, min: 0.5}\n"
        )
        assert main(["compare", "weak_only", "out", "--out", "cmp", "--rules", "rules.yaml"]) in (0, 1)

    _loopback_case(
        tmp_path,
        monkeypatch,
        "judges",
        """\
    judges: [factual_correctness, toxicity]
    pairwise: [preference]""",
        then=then,
    )
    _check("compare", tmp_path / "cmp", tmp_path, port=True)

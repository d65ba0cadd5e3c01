"""`run --max-cost` while sending (issue 22 item 2): the running total of what was sent plus the next request's
estimate stays under the limit; past it nothing more is sent, the run is incomplete (exit 3, never a verdict)
and `--resume` finishes it from the cache. Also: `plan --config --json` prints one JSON document."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.testing.loopback import LoopbackServer

N = 6
# the endpoint bills a hidden 1,000-token system prompt the estimate cannot see, and answers in 10 tokens
USAGE = {"prompt_tokens": 1000, "completion_tokens": 10, "total_tokens": 1010}
A = (1000 * 1.0 + 10 * 2.0) / 1e6  # one request at price {input: 1.0, output: 2.0} per 1M tokens: $0.00102


def _cfg(tmp: Path, srv: LoopbackServer) -> Path:
    (tmp / "d.jsonl").write_text(
        "".join(json.dumps({"id": f"e{i}", "q": f"what is {i} + {i}?"}) + "\n" for i in range(N))
    )
    (tmp / "cfg.yaml").write_text(f"""\
name: maxcost
baseline: base
models:
  base: {{provider: openai, model: "ft:gpt-4o-mini:acme::x1", base_url: "{srv.base_url}", api_key_env: MC_KEY,
          concurrency: 1, params: {{max_tokens: 50}}, price: {{input: 1.0, output: 2.0}}}}
tasks:
  - {{name: qa, data: {{path: d.jsonl, id: id}}, prompt: {{system: "Answer briefly.", user: "{{{{ q }}}}"}}, metrics: []}}
output: out
""")
    return tmp / "cfg.yaml"


def _comparable(folder: Path) -> tuple[dict, list[dict]]:
    """run.json and examples.jsonl without what says how the answers were got (sent or from the cache)."""
    run = json.loads((folder / "run.json").read_text())
    for k in ("cost", "requests", "timings", "examples_sha256", "created_at"):
        run.pop(k)
    run["settings"].pop("max_cost", None)
    for task in run["tasks"].values():
        for m in task["models"].values():
            m.pop("usage")
    rows = [json.loads(x) for x in (folder / "examples.jsonl").read_text().splitlines()]
    return run, [{k: v for k, v in r.items() if k not in ("cached", "usage", "latency_ms")} for r in rows]


def test_max_cost_stops_sending_then_resume_finishes_like_an_uninterrupted_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MC_KEY", "sk-mc-0123456789")
    with LoopbackServer() as srv:
        srv.reply_with(lambda req: {"content": "four", "usage": USAGE})
        cfg = _cfg(tmp_path, srv)
        assert main(["plan", "--config", str(cfg), "--json"]) == 0
        line = json.loads(capsys.readouterr().out)["lines"][0]
        e = line["usd"] / line["requests"]  # one request's estimate: its prompt tokens + max_tokens 50
        assert line["requests"] == N and e < A / 2
        # before request k the guard checks (k-1)*A + e <= limit: requests 1-4 pass, the 5th would not
        limit = 4 * A + e / 2
        assert N * e <= limit  # the up-front estimate lets the run start
        assert main(["run", str(cfg), "-q", "--max-cost", f"{limit:.9f}"]) == 3
        err = capsys.readouterr().err
        assert srv.count("/chat/completions") == 4
        run = json.loads((tmp_path / "out" / "run.json").read_text())
        assert run["settings"]["max_cost"]["stopped"] is True
        assert run["settings"]["max_cost"]["spent_usd"] == pytest.approx(4 * A)
        assert run["cost"]["total_usd"] == pytest.approx(4 * A) and 4 * A <= limit
        said = f"INCOMPLETE: stopped: --max-cost ${limit:g} reached after ${4 * A:.6f} (2 request(s) not sent)"
        assert said in err and "run again with --resume [--max-cost ...] to continue" in err
        assert said in (tmp_path / "out" / "report.md").read_text()
        assert "gate" not in err.lower() or "not judged" in err.lower()
        rows = [json.loads(x) for x in (tmp_path / "out" / "examples.jsonl").read_text().splitlines()]
        assert sum(1 for r in rows if r.get("error")) == 2  # the two not sent are failed items, not zeros

        assert main(["run", str(cfg), "-q", "--resume", "--max-cost", "1"]) == 0
        assert srv.count("/chat/completions") == 6  # only the two not sent before; the four come from the cache
        resumed = json.loads((tmp_path / "out" / "run.json").read_text())
        assert resumed["cost"]["total_usd"] == pytest.approx(2 * A)
        assert resumed["settings"]["max_cost"]["stopped"] is False

        assert main(["run", str(cfg), "-q", "--no-cache", "--out", str(tmp_path / "full")]) == 0
        assert srv.count("/chat/completions") == 12
    assert _comparable(tmp_path / "out") == _comparable(tmp_path / "full")


def test_budget_is_one_total_across_threads():
    """32 threads reserve at once against a limit that holds exactly 10 estimates: 10 are granted."""
    from evalstack.cost import Budget
    from evalstack.models import Request

    class P:
        cfg = type("S", (), {"provider": "openai", "model": "gpt-4o-mini", "params": {"max_tokens": 100}})()

    p, req = P(), Request(task="t", example_id="e", messages=(("user", "hi"),))
    b = Budget(1.0)
    one = b.estimate(p, req)  # type: ignore[arg-type]
    b = Budget(one * 10.5)
    granted: list[float] = []
    barrier = threading.Barrier(32)

    def go() -> None:
        barrier.wait()
        r = b.reserve(p, req)  # type: ignore[arg-type]
        if r is not None:
            granted.append(r)

    ts = [threading.Thread(target=go) for _ in range(32)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(granted) == 10 and b.stopped and b.not_sent == 22


def test_plan_config_json_with_mde_is_one_json_document(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MC_KEY", "sk-mc-0123456789")
    with LoopbackServer() as srv:
        cfg = _cfg(tmp_path, srv)
        args = ["plan", "--config", str(cfg), "--json", "--mde", "0.05", "--discordance", "0.2"]
        assert main(args) == 0
        out = json.loads(capsys.readouterr().out)  # text mixed in fails here
        assert out["mde"] == 0.05 and out["cost"]["lines"][0]["requests"] == N


def test_judge_requests_are_guarded_too_and_a_stopped_run_is_never_a_verdict(tmp_path, monkeypatch, capsys):
    """Free (replay) models, a priced judge: 12 judge requests; the limit holds 4 of them."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MC_JUDGE_KEY", "sk-mc-0123456789")
    big = {"prompt_tokens": 10000, "completion_tokens": 10, "total_tokens": 10010}
    a = (10000 * 1.0 + 10 * 2.0) / 1e6  # one judge request as billed: $0.01002
    rows = [{"id": f"e{i}", "question": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(N)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, prefix in (("base", ""), ("ft", "= ")):  # different answers: no judge request is shared
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"id": r["id"], "output": prefix + r["answer"]}) + "\n" for r in rows)
        )
    with LoopbackServer() as srv:
        srv.reply_with(lambda req: {"content": json.dumps({"reason": "fine", "score": 5}), "usage": big})
        (tmp_path / "cfg.yaml").write_text(f"""\
name: maxcost-judge
baseline: base
models:
  base: {{provider: replay, path: base.jsonl}}
  ft: {{provider: replay, path: ft.jsonl}}
judge: {{provider: openai, model: judge-model, base_url: "{srv.base_url}", api_key_env: MC_JUDGE_KEY, concurrency: 1,
         price: {{input: 1.0, output: 2.0}}}}
tasks:
  - {{name: qa, data: {{path: d.jsonl, id: id}}, prompt: {{user: "{{{{ question }}}}"}}, reference: answer,
     judges: [factual_correctness]}}
gate: {{rules: [{{metric: qa/judge_factual_correctness, min: 4.5}}]}}
output: out
""")
        assert main(["plan", "--config", "cfg.yaml", "--json"]) == 0
        est = json.loads(capsys.readouterr().out)
        judged = [x for x in est["lines"] if x["who"].startswith("judge")]
        assert sum(x["requests"] for x in judged) == 2 * N and est["total_usd"] <= 4 * a
        assert all(x["usd"] / x["requests"] < a / 2 for x in judged)  # each request's estimate is well under a
        # before judge request k: (k-1)*a + its estimate <= 4a holds for k <= 4 and fails for k = 5
        assert main(["run", "cfg.yaml", "-q", "--max-cost", f"{4 * a:.9f}"]) == 3
        err = capsys.readouterr().err
        assert srv.count("/chat/completions") == 4
        assert "INCOMPLETE: stopped: --max-cost $0.04008 reached after $0.040080" in err
        assert "gate: NOT JUDGED" in err and "PASSED" not in err
        assert json.loads((tmp_path / "out" / "run.json").read_text())["gate"] is not None
        assert main(["run", "cfg.yaml", "-q", "--resume", "--max-cost", "1"]) == 0
        assert srv.count("/chat/completions") == 2 * N


def test_a_batch_api_judge_submits_nothing_once_the_running_total_is_spent(tmp_path, monkeypatch, capsys):
    """Generation online (billed 10,000 prompt tokens each, above its estimate) spends the limit; the judge's
    Batch API requests then do not fit: no batch is created and the judge items are failed, not zeros."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MC_KEY", "sk-mc-0123456789")
    big = {"prompt_tokens": 10000, "completion_tokens": 10, "total_tokens": 10010}
    a = (10000 * 1.0 + 10 * 2.0) / 1e6
    with LoopbackServer() as srv:
        srv.reply_with(lambda req: {"content": json.dumps({"reason": "fine", "score": 5}), "usage": big})
        cfg = _cfg(tmp_path, srv)
        cfg.write_text(
            cfg.read_text()
            .replace(
                "tasks:\n",
                f'judge: {{provider: openai, model: judge-model, base_url: "{srv.base_url}", api_key_env: MC_KEY, '
                "batch: true, price: {input: 1.0, output: 2.0}}\ntasks:\n",
            )
            .replace("metrics: []", "metrics: [], judges: [answer_relevance]")
        )
        assert main(["plan", "--config", str(cfg), "--json"]) == 0
        total = json.loads(capsys.readouterr().out)["total_usd"]
        limit = N * a + 1e-7  # any judge request costs more than 1e-7 (one prompt token at $1 per 1M)
        assert total <= limit
        assert main(["run", str(cfg), "--json", "--max-cost", f"{limit:.9f}"]) == 3
        out = capsys.readouterr()
        assert json.loads(out.out)["exit_code"] == 3 and "INCOMPLETE: stopped: --max-cost $" in out.err
        assert "failed after retries" not in out.err
        assert srv.count("/chat/completions") == N and srv.count("/batches", method="POST") == 0
        run = json.loads((tmp_path / "out" / "run.json").read_text())
        assert run["settings"]["max_cost"]["not_sent"] == N and run["cost"]["total_usd"] == pytest.approx(N * a)

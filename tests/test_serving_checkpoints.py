"""Local checkpoints at scale, as README's "Large runs" says to serve them (issue 21 item 4): evalstack stays the
evaluator. The loopback server stands in for one `vllm serve BASE --enable-lora --lora-modules sft-400=...
sft-800=...` (one OpenAI-compatible endpoint; the adapter is chosen by the request's `model`), and a Parquet
file shaped like Ray Data LLM's batch-inference output (`id`, `prompt`, `generated_text`, token counts) feeds
the replay provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.testing.loopback import Fault, LoopbackServer

LABELS = ["billing", "bug", "other"]
N = 24
RIGHT = {"base-model": 8, "sft-400": 16, "sft-800": 21}  # how many of the N tickets each one gets right


def _answer(model: str, i: int) -> str:
    return LABELS[i % 3] if i < RIGHT[model] else LABELS[(i + 1) % 3]


def _vllm(req: dict) -> str | Fault:
    """One vLLM server: the base model and two LoRA adapters, by the request's model name."""
    if req["model"] not in RIGHT:  # vLLM answers 404 for a name it does not serve
        return Fault.of(404)
    return _answer(req["model"], int(req["messages"][-1]["content"].split()[-1]))


@pytest.mark.slow
def test_lora_adapters_on_one_vllm_server_and_ray_data_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tickets.jsonl").write_text(
        "".join(json.dumps({"id": f"t{i}", "text": f"ticket {i}", "label": LABELS[i % 3]}) + "\n" for i in range(N))
    )
    # Ray Data LLM: processor(ds) keeps the input columns and adds generated_text and token counts
    pd.DataFrame(
        {
            "id": [f"t{i}" for i in range(N)],
            "prompt": [f"Ticket: ticket {i}" for i in range(N)],
            "generated_text": [_answer("sft-800", i) for i in range(N)],
            "num_input_tokens": [4] * N,
            "num_generated_tokens": [1] * N,
        }
    ).to_parquet(tmp_path / "sft-800.parquet")
    with LoopbackServer() as srv:
        srv.reply_with(_vllm)
        vllm = f'provider: openai, base_url: "{srv.base_url}", api_key_env: null, concurrency: 64'
        (tmp_path / "cfg.yaml").write_text(
            f"""name: lora
baseline: base
models:
  base:    {{{vllm}, model: base-model}}
  sft-400: {{{vllm}, model: sft-400}}
  sft-800: {{{vllm}, model: sft-800}}
  ray-800: {{provider: replay, path: sft-800.parquet, output_column: generated_text}}
tasks:
  - name: intent
    data: {{path: tickets.jsonl, id: id}}
    prompt: {{user: "Ticket: {{{{ text }}}}"}}
    target: label
    labels: [billing, bug, other]
    metrics: [accuracy]
output: out
"""
        )
        assert main(["run", "cfg.yaml", "-q"]) == 0
        per_model = [r.body["model"] for r in srv.requests if r.path.endswith("/chat/completions")]
        assert {m: per_model.count(m) for m in set(per_model)} == {m: N for m in RIGHT}
        assert main(["run", "cfg.yaml", "-q", "--out", "again"]) == 0
        assert len(srv.requests) == len(per_model)  # each adapter's answers are cached under its own name
    run = json.loads((tmp_path / "out/run.json").read_text())
    acc = {m: s["metrics"]["accuracy"]["value"] for m, s in run["tasks"]["intent"]["models"].items()}
    assert acc == pytest.approx({"base": 8 / N, "sft-400": 16 / N, "sft-800": 21 / N, "ray-800": 21 / N})
    assert run["tasks"]["intent"]["deltas"]["sft-800"]["accuracy"]["delta"] == pytest.approx(13 / N)
    rows = [json.loads(x) for x in (tmp_path / "out/examples.jsonl").read_text().splitlines()]
    by = {(r["model"], r["id"]): r["output"] for r in rows}
    assert all(by[("ray-800", f"t{i}")] == by[("sft-800", f"t{i}")] for i in range(N))

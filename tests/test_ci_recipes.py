"""examples/ci: the GitHub Actions and GitLab CI recipes parse, agree on their paths, and their commands work here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_api import write_project

ROOT = Path(__file__).resolve().parents[1]
GITHUB = ROOT / "examples" / "ci" / "github-actions.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"


def _github() -> dict:
    return yaml.safe_load(GITHUB.read_text())


def _gitlab() -> dict:
    return yaml.safe_load(GITLAB.read_text())


def _gh_job() -> dict:
    (job,) = _github()["jobs"].values()
    return job


def _step(job: dict, needle: str) -> dict:
    (step,) = [s for s in job["steps"] if needle in (s.get("run", "") + s.get("uses", ""))]
    return step


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_STEP_SUMMARY", "OPENAI_API_KEY")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the `evalstack` script
    return {**env, **extra}


# ---------------------------------------------------------------- structure


def test_github_workflow_structure() -> None:
    wf = _github()
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true; GitHub reads it as the key
    assert "pull_request" in on
    job = _gh_job()
    env = job["env"]
    assert (ROOT / env["EVAL_CONFIG"]).is_file()
    assert "secrets.OPENAI_API_KEY" in env["OPENAI_API_KEY"]
    uses = [s.get("uses", "").split("@")[0] for s in job["steps"]]
    assert uses[:3] == ["actions/checkout", "actions/setup-python", "actions/cache"]
    assert _step(job, "actions/cache")["with"]["path"] == env["EVALSTACK_CACHE_DIR"].replace(
        "${{ github.workspace }}/", ""
    )
    assert 'pip install -e ".[all]"' in _step(job, "pip install")["run"]
    gate = _step(job, "evalstack --quiet run")
    assert 'evalstack --quiet run "$EVAL_CONFIG" --out "$EVAL_OUT"' in gate["run"] and "--resume" in gate["run"]
    junit = _step(job, "action-junit-report")
    upload = _step(job, "upload-artifact")
    assert junit["with"]["report_paths"] == f"{env['EVAL_OUT']}/junit.xml"
    assert upload["with"]["path"] == env["EVAL_OUT"]
    for step in (junit, upload):  # they run after a failed gate too
        assert "!cancelled()" in step["if"]
    assert env["EVAL_OUT"] in junit["if"]
    assert wf["permissions"]["checks"] == "write"


def test_gitlab_job_structure() -> None:
    ci = _gitlab()
    job = ci["evalstack-gate"]
    assert job["stage"] in ci["stages"]
    assert any("merge_request_event" in r["if"] for r in job["rules"])
    v = job["variables"]
    assert (ROOT / v["EVAL_CONFIG"]).is_file()
    assert any('pip install -e ".[all]"' in line for line in job["before_script"])
    assert any('evalstack --quiet run "$EVAL_CONFIG" --out "$EVAL_OUT"' in line for line in job["script"])
    art = job["artifacts"]
    assert art["when"] == "always"
    assert art["reports"]["junit"] == f"{v['EVAL_OUT']}/junit.xml"
    assert art["paths"] == [f"{v['EVAL_OUT']}/"]
    assert set(job["cache"]["paths"]) >= {".evalstack-cache/"} and v["EVALSTACK_CACHE_DIR"].endswith(
        "/.evalstack-cache"
    )


def test_readme_install_command_matches_the_recipes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[all]"' in readme


# ---------------------------------------------------------------- the commands, run here


def _workspace(tmp: Path, config_text: str | None = None) -> Path:
    """A checkout-like folder: the demo configs, or a small project as EVAL_CONFIG."""
    ws = tmp / "ws"
    shutil.copytree(ROOT / "configs", ws / "configs", ignore=shutil.ignore_patterns("__pycache__"))
    if config_text is not None:
        (ws / "configs" / "demo.yaml").write_text(config_text)
    return ws


def _small_project(tmp: Path, gate: str) -> str:
    """write_project's config and data inside configs/ (as EVAL_CONFIG=configs/demo.yaml would find them)."""
    proj = tmp / "proj"
    proj.mkdir()
    write_project(proj, gate=gate)
    text = (proj / "eval.yaml").read_text()
    for f in ("intent.jsonl", "docs.jsonl", "base.jsonl", "tuned.jsonl", "verdicts.jsonl"):
        text = text.replace(f"path: {f}", f"path: {proj / f}")
    return text


def _run_github_gate(ws: Path, summary: Path) -> subprocess.CompletedProcess:
    job = _gh_job()
    env = {k: str(v) for k, v in job["env"].items() if "${{" not in str(v)}
    env.update(EVALSTACK_CACHE_DIR=str(ws / ".evalstack-cache"), GITHUB_STEP_SUMMARY=str(summary))
    script = _step(job, "evalstack --quiet run")["run"]
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=ws,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_github_gate_step_on_the_demo(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    r = _run_github_gate(ws, summary)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "gate passed" in r.stdout
    out = ws / _gh_job()["env"]["EVAL_OUT"]
    report = (out / "report.md").read_text()
    assert summary.read_text() == "earlier step\n" + report + "\n"
    assert "Gate PASSED" in report
    assert (ws / _step(_gh_job(), "action-junit-report")["with"]["report_paths"]).is_file()
    assert (ws / _step(_gh_job(), "upload-artifact")["with"]["path"] / "run.json").is_file()


def test_github_gate_step_fails_on_a_failed_gate(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, _small_project(tmp_path, "gate: {rules: [{metric: intent/accuracy, min: 0.99}]}\n"))
    summary = tmp_path / "summary.md"
    r = _run_github_gate(ws, summary)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "::error::evalstack gate failed" in r.stdout
    # --quiet: the results (the gate decision) are printed, no progress bars or stage lines
    assert "Gate FAILED" in r.stderr and not re.search(r"^\[\s*\d+\.\d+s\] ", r.stderr, re.M), r.stderr
    assert "Gate FAILED" in summary.read_text()
    assert summary.read_text() == (ws / "reports" / "ci" / "report.md").read_text() + "\n"
    assert re.search(r'failures="1"', (ws / "reports" / "ci" / "junit.xml").read_text())


def test_github_gate_step_resumes_once_on_exit_3(tmp_path: Path) -> None:
    cfg = _small_project(tmp_path, "gate: {rules: [{metric: intent/accuracy, min: 0.5}]}\n")
    cfg = cfg.replace(
        "  tuned: {provider: replay, path:",
        "  tuned: {provider: mock, fail_ids: [t3], outputs: {}}\n  unused: {provider: replay, path:",
    )
    ws = _workspace(tmp_path, cfg)
    r = _run_github_gate(ws, tmp_path / "summary.md")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "::warning::some requests failed after retries; resuming once" in r.stdout
    assert "::error::the evaluation could not finish (exit 3)" in r.stdout


def _run_gitlab_script(ws: Path) -> subprocess.CompletedProcess:
    job = _gitlab()["evalstack-gate"]
    env = {k: str(v).replace("$CI_PROJECT_DIR", str(ws)) for k, v in job["variables"].items()}
    script = "\n".join(job["script"])
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script], cwd=ws, env=_env(env), capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("bound, code", [(0.5, 0), (0.99, 1)])
def test_gitlab_script(tmp_path: Path, bound: float, code: int) -> None:
    ws = _workspace(
        tmp_path, _small_project(tmp_path, f"gate: {{rules: [{{metric: intent/accuracy, min: {bound}}}]}}\n")
    )
    r = _run_gitlab_script(ws)
    assert r.returncode == code, r.stdout + r.stderr
    job = _gitlab()["evalstack-gate"]
    report = (ws / job["variables"]["EVAL_OUT"] / "report.md").read_text()
    assert report in r.stdout  # the job log shows the report
    assert (ws / job["artifacts"]["reports"]["junit"]).is_file()
    assert ("Gate PASSED" if code == 0 else "Gate FAILED") in report

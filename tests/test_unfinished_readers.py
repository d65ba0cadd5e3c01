"""Readers of a run folder whose run was killed while writing: `evalstack gate`, `evalstack review` and
`evalstack.api.load` refuse it (exit 2, "run --resume first") unless --allow-unfinished / allow_unfinished=True,
and run.json's sha256 of examples.jsonl detects a mix of two runs even without the lock file.

Run A (gate passes) finished in the folder; run B of a worse model is then killed with SIGKILL at each point
of writing (EVALSTACK_CRASH_AT), so the folder holds A's files, B's files, or a mix."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from evalstack.api import load
from evalstack.cli import main
from evalstack.errors import DataError
from evalstack.testing.loopback import LoopbackServer

pytestmark = pytest.mark.slow

WRITE_POINTS = [
    "scored",
    "write:examples.jsonl",
    "write:run.json",
    "write:report.md",
    "write:report.html",
    "write:junit.xml",
    "write:lowest.csv",
    "write:lowest.jsonl",
    "write:regressions.csv",
    "write:forest.png",
]


def setup(tmp: Path, url: str) -> Path:
    rows = [{"id": f"e{i}", "text": f"ticket {i}", "label": "xy"[i % 2]} for i in range(16)]
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp / "rules.yaml").write_text("rules: [{metric: cls/accuracy, min: 0.9}]\n")
    for ft, name in (("good", "a.yaml"), ("bad", "b.yaml")):  # run B: the same eval with a worse model
        (tmp / name).write_text(f"""
name: mix
baseline: base
models:
  base: {{provider: openai, model: base, base_url: "{url}", api_key_env: MIX_KEY}}
  ft:   {{provider: openai, model: {ft}, base_url: "{url}", api_key_env: MIX_KEY}}
tasks:
  - name: cls
    data: {{path: data.jsonl, id: id}}
    prompt: {{user: "{{{{ text }}}}"}}
    target: label
    labels: [x, y]
    metrics: [accuracy]
cache: cache.sqlite
""")
    return tmp


def reply(body: dict) -> str:
    i = int(body["messages"][-1]["content"].rsplit(" ", 1)[1])
    right = "xy"[i % 2]
    return {"good": right, "bad": "xy"[(i + 1) % 2]}.get(body["model"], right if i % 4 else "xy"[(i + 1) % 2])


def run(cfg: Path, out: Path, *extra: str, crash: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MIX_KEY": "sk-mix-0000000000"}
    env.pop("EVALSTACK_CRASH_AT", None)
    if crash:
        env["EVALSTACK_CRASH_AT"] = crash
    return subprocess.run(
        [sys.executable, "-m", "evalstack", "run", str(cfg), "--out", str(out), "-q", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def gate(out: Path, rules: Path, *extra: str) -> int:
    return main(["gate", str(out), "--rules", str(rules), *extra])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("mix")
    with LoopbackServer() as srv:
        srv.reply_with(reply)
        setup(tmp, srv.base_url)
        a = tmp / "a_finished"
        assert run(tmp / "a.yaml", a).returncode == 0
        ref_b = tmp / "b_finished"
        assert run(tmp / "b.yaml", ref_b).returncode == 0
        assert gate(ref_b, tmp / "rules.yaml") == 1  # B alone fails the gate
        yield tmp, a


def assert_refused(capsys: pytest.CaptureFixture, code: int, *needles: str) -> None:
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in ("run --resume first", "--allow-unfinished", *needles):
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize("point", WRITE_POINTS)
def test_readers_refuse_a_folder_killed_while_writing(world, tmp_path: Path, capsys, point: str) -> None:
    tmp, finished_a = world
    rules = tmp / "rules.yaml"
    out = tmp_path / "out"
    shutil.copytree(finished_a, out, symlinks=True)
    assert gate(out, rules) == 0  # A passes
    capsys.readouterr()
    killed = run(tmp / "b.yaml", out, crash=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert_refused(capsys, gate(out, rules), str(out))
    assert_refused(capsys, main(["review", str(out)]))
    assert_refused(capsys, main(["review", str(out), "--regressions"]))
    with pytest.raises(DataError, match="run --resume first"):
        load(out)
    # read as it is, on request (a warning says what it is)
    with pytest.warns(RuntimeWarning, match="did not finish"):
        assert gate(out, rules, "--allow-unfinished") in (0, 1)
    with pytest.warns(RuntimeWarning, match="did not finish"):
        assert load(out, allow_unfinished=True).run.name == "mix"
    capsys.readouterr()
    if point != "write:run.json":  # resuming from every kill point: tests/test_crash_consistency.py
        return
    # --resume finishes B: now the readers accept the folder and the gate fails, as B does
    assert run(tmp / "b.yaml", out, "--resume").returncode == 0
    assert gate(out, rules) == 1
    assert main(["review", str(out)]) == 0
    assert load(out).metric("cls/accuracy").value == 0.0  # B's worse model, read whole


def test_a_mix_is_found_by_the_examples_digest_without_the_lock(world, tmp_path: Path, capsys) -> None:
    """CI uploads the visible files only (no .evalstack.lock): run.json of A beside examples.jsonl of B."""
    tmp, finished_a = world
    rules = tmp / "rules.yaml"
    out = tmp_path / "out"
    shutil.copytree(finished_a, out, symlinks=True)
    assert run(tmp / "b.yaml", out, crash="write:run.json").returncode == -signal.SIGKILL
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    for f in ("run.json", "examples.jsonl"):
        shutil.copy(out / f, artifact / f)
    assert_refused(capsys, gate(artifact, rules), "sha256")
    assert_refused(capsys, main(["review", str(artifact)]), "sha256")
    with pytest.raises(DataError, match="sha256"):
        load(artifact)
    with pytest.raises(DataError, match="sha256"):
        load(artifact / "run.json")
    # the files of one finished run pass the same check
    whole = tmp_path / "whole"
    whole.mkdir()
    for f in ("run.json", "examples.jsonl"):
        shutil.copy(finished_a / f, whole / f)
    assert gate(whole, rules) == 0 and load(whole).exit_code == 0


def test_killed_after_every_report_file_is_readable(world, tmp_path: Path, capsys) -> None:
    """Killed after the last report file (only trackers were left): the folder is one whole run, B's; a plain
    re-run still needs --resume."""
    tmp, finished_a = world
    out = tmp_path / "out"
    shutil.copytree(finished_a, out, symlinks=True)
    assert run(tmp / "b.yaml", out, crash="reports_written").returncode == -signal.SIGKILL
    assert (out / ".evalstack.lock").exists()
    assert gate(out, tmp / "rules.yaml") == 1 and load(out).metric("cls/accuracy").value == 0.0
    assert run(tmp / "b.yaml", out).returncode == 2


def test_killed_before_writing_anything_leaves_the_finished_run_readable(world, tmp_path: Path) -> None:
    """Killed while marking the folder (before the lock, before any report file): A is intact and readable."""
    tmp, finished_a = world
    out = tmp_path / "out"
    shutil.copytree(finished_a, out, symlinks=True)
    assert run(tmp / "b.yaml", out, crash="write:.evalstack-run").returncode == -signal.SIGKILL
    assert not (out / ".evalstack.lock").exists()
    assert gate(out, tmp / "rules.yaml") == 0 and load(out).exit_code == 0
    # a fresh folder killed while its marker was being written holds only the marker's temp file: reusable
    fresh = tmp_path / "fresh"
    assert run(tmp / "b.yaml", fresh, crash="write:.evalstack-run").returncode == -signal.SIGKILL
    assert [p.name.startswith("..evalstack-run.") for p in fresh.iterdir()] == [True]
    assert run(tmp / "b.yaml", fresh).returncode == 0 and (fresh / ".evalstack-run").is_file()

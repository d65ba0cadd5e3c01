"""The output folder, through the real CLI: evalstack writes only into a folder that is absent, empty or
marked as its own (`.evalstack-run`, written first, holding the manifest of what it wrote); it deletes only
files the manifest lists; `/`, the home folder, the config's folder and folders holding data are refused
with exit 2 before any request; a symlink where it writes is refused and the file it points to is untouched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

KEY = "sk-outdir-0123456789"


def setup(tmp: Path, url: str, *, output: str | None = "out", name: str = "outdir", tasks: int = 1) -> Path:
    """A config in tmp/project with its data file beside it (two tasks -> more plots)."""
    proj = tmp / "project"
    proj.mkdir(exist_ok=True)
    rows = [{"id": f"e{i}", "text": f"ticket {i}", "label": "a" if i % 2 else "b"} for i in range(12)]
    (proj / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = """
  - name: {n}
    data: {{path: data.jsonl, id: id}}
    prompt: {{user: "{n} {{{{ text }}}}"}}
    target: label
    labels: [a, b]
    label_parsing: {{mode: first}}
    metrics: [accuracy]"""
    cfg = proj / "cfg.yaml"
    cfg.write_text(
        f"""
name: "{name}"
baseline: base
models:
  base: {{provider: openai, model: m1, base_url: "{url}", api_key_env: OUTDIR_KEY}}
  ft:   {{provider: openai, model: m2, base_url: "{url}", api_key_env: OUTDIR_KEY}}
tasks:{"".join(task.format(n=f"t{k}") for k in range(tasks))}
cache: cache.sqlite
"""
        + (f"output: {output}\n" if output is not None else "")
    )
    return cfg


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "OUTDIR_KEY": KEY, **(env or {})}
    e.pop("EVALSTACK_CRASH_AT", None)
    return subprocess.run(
        [sys.executable, "-m", "evalstack", *args], capture_output=True, text=True, env=e, timeout=120
    )


def one_line_exit_2(r: subprocess.CompletedProcess, *needles: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def echo(srv):
    srv.reply_with(lambda body: "a" if body["model"] == "m2" else "b")
    return srv


def test_output_dot_refused_and_the_users_files_survive(tmp_path: Path, echo) -> None:
    """The reported defect: `output: .` deleted plots/*.png, curves/*.png, curves/analysis.json, report.md."""
    cfg = setup(tmp_path, echo.base_url, output=".")
    proj = cfg.parent
    for rel, data in {
        "plots/figure1.png": b"\x89PNG mine",
        "curves/loss.png": b"\x89PNG mine too",
        "curves/analysis.json": b'{"mine": true}',
        "report.md": b"# my own notes\n",
    }.items():
        (proj / rel).parent.mkdir(exist_ok=True)
        (proj / rel).write_bytes(data)
    before = snapshot(proj)
    r = cli("run", str(cfg), "-q")
    line = one_line_exit_2(r, "output", "config")
    assert "reports/" in line or "new or empty folder" in line  # the fix is named
    assert snapshot(proj) == before  # nothing deleted, nothing overwritten, nothing added
    assert echo.count("/chat/completions") == 0


def test_refused_folders(tmp_path: Path, echo) -> None:
    home = tmp_path / "home"
    home.mkdir()
    cases = {
        "/": ("output", "/"),
        '"~"': ("output", "home folder"),  # quoted: a bare ~ is YAML's null
        "..": ("output", "config"),  # the config's parent holds the config (and the data)
        "data_dir": ("output", "data"),  # the folder holding a data file
        "data_dir/..": ("output", "config"),
    }
    for output, needles in cases.items():
        cfg = setup(tmp_path, echo.base_url, output=output)
        data_dir = cfg.parent / "data_dir"
        data_dir.mkdir(exist_ok=True)
        (data_dir / "data.jsonl").write_text((cfg.parent / "data.jsonl").read_text())
        cfg.write_text(cfg.read_text().replace("path: data.jsonl", "path: data_dir/data.jsonl"))
        before = snapshot(tmp_path)
        one_line_exit_2(cli("run", str(cfg), "-q", env={"HOME": str(home)}), *needles)
        assert snapshot(tmp_path) == before, output
    # --out is checked the same way, and the message names --out
    cfg = setup(tmp_path, echo.base_url)
    one_line_exit_2(cli("run", str(cfg), "-q", "--out", str(cfg.parent)), "--out")
    assert echo.count("/chat/completions") == 0


def test_non_empty_folder_not_written_by_evalstack_is_refused(tmp_path: Path, echo) -> None:
    cfg = setup(tmp_path, echo.base_url)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "report.md").write_text("someone else's report\n")
    line = one_line_exit_2(cli("run", str(cfg), "-q", "--out", str(theirs)), "--out", "not empty", ".evalstack-run")
    assert "new or empty folder" in line
    assert (theirs / "report.md").read_text() == "someone else's report\n"
    assert sorted(p.name for p in theirs.iterdir()) == ["report.md"]
    # an empty folder is fine, and gets the marker first
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("run", str(cfg), "-q", "--out", str(empty)).returncode == 0
    assert (empty / ".evalstack-run").is_file() and (empty / "run.json").is_file()


@pytest.mark.parametrize("name", ["..", "."])
def test_run_name_dot_or_dot_dot_refused(tmp_path: Path, echo, name: str) -> None:
    cfg = setup(tmp_path, echo.base_url, output=None, name=name)
    before = snapshot(tmp_path)
    one_line_exit_2(cli("run", str(cfg), "-q"), "name")
    assert snapshot(tmp_path) == before


def test_only_files_evalstack_wrote_are_deleted(tmp_path: Path, echo) -> None:
    """In its own folder evalstack removes its stale plots (listed in the manifest), never a file put there."""
    cfg = setup(tmp_path, echo.base_url, tasks=2)
    out = cfg.parent / "out"
    assert cli("run", str(cfg), "-q").returncode == 0
    manifest = json.loads((out / ".evalstack-run").read_text())["files"]
    assert "plots/confusion_t1.png" in manifest and "run.json" in manifest and "examples.jsonl" in manifest
    mine = {"plots/mine.png": b"mine", "curves/analysis.json": b"{}", "curves/mine.png": b"x", "notes.txt": b"n"}
    for rel, data in mine.items():
        (out / rel).parent.mkdir(exist_ok=True)
        (out / rel).write_bytes(data)
    setup(tmp_path, echo.base_url, tasks=1)  # t1 is gone: its plots are stale
    assert cli("run", str(cfg), "-q").returncode == 0
    assert not (out / "plots" / "confusion_t1.png").exists()  # ours and stale: removed
    assert (out / "plots" / "confusion_t0.png").exists()
    for rel, data in mine.items():
        assert (out / rel).read_bytes() == data, rel
    assert "plots/confusion_t1.png" not in json.loads((out / ".evalstack-run").read_text())["files"]


LINKED = [
    ".evalstack.lock",
    ".evalstack-run",
    "run.json",
    "examples.jsonl",
    "report.md",
    "report.html",
    "junit.xml",
    "review/lowest.csv",
    "plots/forest.png",
    "review",
    "plots",
    "curves",
]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory):
    """One finished run folder (project/out), copied by each test that needs one."""
    from evalstack.testing.loopback import LoopbackServer

    tmp = tmp_path_factory.mktemp("finished")
    with LoopbackServer() as server:
        server.reply_with(lambda body: "a" if body["model"] == "m2" else "b")
        cfg = setup(tmp, server.base_url)
        assert cli("run", str(cfg), "-q").returncode == 0
    return cfg.parent


@pytest.mark.parametrize("name", LINKED)
def test_symlink_where_evalstack_writes_is_refused(tmp_path: Path, finished: Path, name: str) -> None:
    proj = tmp_path / "project"
    shutil.copytree(finished, proj, symlinks=True)
    out = proj / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    sentinel = outside / "sentinel.txt"
    sentinel.write_text("precious\n")
    if name in ("review", "plots", "curves"):
        for f in ("lowest.csv", "forest.png", "analysis.json"):
            (outside / f).write_text("precious\n")
        if (out / name).exists():
            shutil.rmtree(out / name)
        (out / name).symlink_to(outside)
    else:
        if (out / name).exists():
            (out / name).unlink()
        (out / name).symlink_to(sentinel)
    before = snapshot(outside)
    r = cli("run", str(proj / "cfg.yaml"), "-q", "--resume")  # --resume: the old code then truncated the lock
    one_line_exit_2(r, "symlink", name.split("/")[0])
    assert snapshot(outside) == before
    assert sentinel.read_text() == "precious\n"


def test_atomic_writes_never_follow_a_symlink(tmp_path: Path) -> None:
    """The write-time layer under the pre-run check: a symlink that appears at a name, or a folder below the
    run folder that is a symlink, is refused; the file it points to is untouched and no temp file is left."""
    from evalstack._io import AtomicWriter, SymlinkRefused, atomic_write_text

    outside = tmp_path / "outside"
    outside.mkdir()
    sentinel = outside / "sentinel.txt"
    sentinel.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").symlink_to(sentinel)
    with pytest.raises(SymlinkRefused, match="symlink"):
        atomic_write_text(out / "report.md", "x", root=out)
    with pytest.raises(SymlinkRefused):
        atomic_write_text(out / "report.md", "x")  # without root too: the name itself is never followed
    with pytest.raises(SymlinkRefused):
        with AtomicWriter(out / "report.md", root=out) as fh:
            fh.write("x")
    (out / "review").symlink_to(outside)
    with pytest.raises(SymlinkRefused, match="review"):
        atomic_write_text(out / "review" / "sentinel.txt", "x", root=out)
    assert sentinel.read_text() == "precious\n" and sorted(p.name for p in outside.iterdir()) == ["sentinel.txt"]
    assert not [p for p in out.rglob("*.tmp")]
    # a plain file is written (and a symlinked folder *above* the run folder is the user's choice)
    link_out = tmp_path / "link_out"
    link_out.symlink_to(out)
    atomic_write_text(link_out / "plots" / "a.png", "png", root=link_out)
    assert (out / "plots" / "a.png").read_text() == "png"

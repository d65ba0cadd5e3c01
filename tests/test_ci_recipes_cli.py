"""CLI ergonomics for CI and shells: completion, --quiet/--verbose at the top level, NO_COLOR on a real terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

from evalstack.testing.loopback import LoopbackServer
from test_api import write_project

HEAVY = [
    "torch",
    "transformers",
    "datasets",
    "sklearn",
    "rouge_score",
    "matplotlib",
    "scipy",
    "openai",
    "pandas",
    "numpy",
]
_COLOR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")  # SGR colour codes


def _complete(words: str, cword: int) -> tuple[list[str], list[str]]:
    """Ask the CLI for bash completions the way bash does; returns (items, heavy modules imported)."""
    code = (
        "import sys\nfrom evalstack.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)"
    )
    env = {**os.environ, "_EVALSTACK_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    heavy = json.loads(r.stderr.strip().splitlines()[-1].removeprefix("HEAVY ").replace("'", '"'))
    return r.stdout.split(), heavy


def test_completion_script_and_commands() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "evalstack"],
        env={**os.environ, "_EVALSTACK_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and "_evalstack_completion()" in r.stdout and "complete -o nosort -F" in r.stdout
    items, heavy = _complete("evalstack ", 1)
    assert items == [
        f"plain,{c}"
        for c in (
            "baseline",
            "cache",
            "compare",
            "curves",
            "gate",
            "history",
            "init",
            "judge",
            "labels",
            "merge",
            "metrics",
            "plan",
            "review",
            "run",
            "sweep",
            "view",
        )
    ]
    assert heavy == []  # completing command names imports no command module
    assert _complete("evalstack i", 1)[0] == ["plain,init"]
    assert "plain,--verbose" in _complete("evalstack --", 1)[0]
    assert {"plain,--limit", "plain,--resume"} <= set(_complete("evalstack run --", 2)[0])
    assert "plain,--label-column" in _complete("evalstack init --", 2)[0]
    assert _complete("evalstack curves ", 2)[0] == ["plain,analyze", "plain,fetch", "plain,hidden-tokens"]


def _pty_run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run with stdout/stderr on a pseudo-terminal (as in an interactive shell) and return everything shown."""
    master, slave = pty.openpty()
    p = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout=60)
    os.close(master)
    return p.returncode, out.decode(errors="replace")


def _terminal_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "CI", "TERM")}
    return {**env, "TERM": "xterm-256color", "COLUMNS": "120", **extra}


def test_no_color_on_a_terminal(tmp_path: Path) -> None:
    write_project(tmp_path)
    cmd = [sys.executable, "-m", "evalstack", "run", "eval.yaml"]
    code, shown = _pty_run(cmd + ["--out", "a"], _terminal_env(), tmp_path)
    assert code == 0 and "req/s" in shown  # the progress bars are drawn on a terminal...
    assert _COLOR.search(shown)  # ...in colour by default
    code, shown = _pty_run(cmd + ["--out", "b"], _terminal_env(NO_COLOR="1"), tmp_path)
    assert code == 0 and "req/s" in shown and "wrote b" in shown
    assert not _COLOR.search(shown), repr(shown[:500])


def test_top_level_quiet(tmp_path: Path) -> None:
    write_project(tmp_path)
    code, shown = _pty_run(
        [sys.executable, "-m", "evalstack", "--quiet", "run", "eval.yaml"], _terminal_env(), tmp_path
    )
    # on a terminal: the results (where the run went, the deltas) and no bars or stage lines (issue 14 item 5)
    assert code == 0 and "wrote " in shown and " - base: " in shown, shown
    assert "req/s" not in shown and not re.search(r"^\[\s*\d+\.\d+s\] ", shown, re.M), shown
    assert (tmp_path / "out" / "report.md").is_file()
    r = subprocess.run(
        [sys.executable, "-m", "evalstack", "-q", "-v", "init", "x.jsonl"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "--quiet and --verbose exclude each other" in r.stderr


def test_verbose_logs_requests_without_the_key(tmp_path: Path) -> None:
    rows = [{"id": f"e{i}", "text": f"t {i}", "label": "a"} for i in range(3)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    key = "sk-verbose-test-0123456789abcdef"
    with LoopbackServer() as srv:
        srv.reply_with(lambda body: "a")
        (tmp_path / "c.yaml").write_text(f"""\
name: v
baseline: base
models:
  base: {{provider: openai, model: m, base_url: "{srv.base_url}", api_key_env: VERBOSE_KEY}}
tasks:
  - {{name: t, data: {{path: d.jsonl, id: id}}, prompt: {{user: "{{{{ text }}}}"}}, target: label, metrics: [accuracy]}}
output: out
""")
        env = {**os.environ, "VERBOSE_KEY": key}
        runs = {
            flags: subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "evalstack",
                    *flags,
                    "run",
                    "c.yaml",
                    "--no-cache",
                    "--out",
                    f"o{len(flags)}{flags[0] if flags else ''}",
                ],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
            for flags in (("-v",), ("-vv",))
        }
    assert all(r.returncode == 0 for r in runs.values())
    requests = re.findall(r"^INFO \S+: HTTP Request: POST \S+/chat/completions", runs[("-v",)].stderr, re.M)
    assert len(requests) == 3
    assert "DEBUG " in runs[("-vv",)].stderr
    for r in runs.values():
        assert key not in r.stderr + r.stdout

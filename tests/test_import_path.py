"""What a normal run imports: the loopback server and the pytest helpers (evalstack.testing) stay out of it, and
so does Ray (only `--engine ray` imports it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CFG = """\
name: imports
baseline: base
models:
  base: {provider: replay, path: outputs/base.jsonl}
  ft: {provider: replay, path: outputs/ft.jsonl}
tasks:
  - name: intent
    data: {path: data.jsonl, id: id}
    prompt: {user: "Ticket: {{ text }}"}
    target: label
    labels: [a, b]
    metrics: [accuracy, {f1: {average: macro}}]
gate:
  rules: [{metric: intent/accuracy, min: 0.1}]
output: out
cache: cache.sqlite
"""

# run the CLI in a fresh interpreter, then list the evalstack.testing and ray modules it has loaded
CODE = """\
import sys
{pre}from evalstack.cli import main
rc = main(["run", sys.argv[1], "-q"])
print(rc)
print(sorted(m for m in sys.modules if m in ("evalstack.testing", "ray") or m.startswith(("evalstack.testing.", "ray."))))
"""


def _config(root: Path) -> Path:
    rows = [{"id": f"e{i}", "text": f"ticket {i}", "label": "a" if i % 2 else "b"} for i in range(10)]
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "outputs").mkdir()
    for name in ("base", "ft"):
        (root / "outputs" / f"{name}.jsonl").write_text(
            "".join(
                json.dumps({"id": r["id"], "output": r["label"] if name == "ft" or i % 3 else "a"}) + "\n"
                for i, r in enumerate(rows)
            )
        )
    (root / "eval.yaml").write_text(CFG)
    return root / "eval.yaml"


def _loaded(cfg: Path, pre: str = "") -> tuple[str, list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", CODE.format(pre=pre), str(cfg)],
        capture_output=True,
        text=True,
        cwd=cfg.parent,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rc, mods = out.stdout.strip().splitlines()[-2:]
    return rc, json.loads(mods.replace("'", '"'))


def test_a_replay_run_imports_no_testing_module(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    rc, mods = _loaded(cfg)
    assert rc == "0"
    assert (tmp_path / "out" / "run.json").is_file()  # the run really ran: scored, gated, reported
    assert json.loads((tmp_path / "out" / "run.json").read_text())["gate"]["passed"] is True
    assert mods == []


def test_the_check_sees_a_testing_import(tmp_path: Path) -> None:
    """Control: the same listing does see the loopback package when something imports it."""
    cfg = _config(tmp_path)
    rc, mods = _loaded(cfg, pre="import evalstack.testing.loopback\n")
    assert rc == "0"
    assert "evalstack.testing.loopback" in mods and "evalstack.testing.loopback._server" in mods


def test_the_check_sees_a_ray_import(tmp_path: Path) -> None:
    """Control: the listing sees Ray when something imports it (so the empty list above means no Ray)."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        import pytest

        pytest.skip("RAY IS NOT INSTALLED: this control cannot run (pip install 'evalstack[ray]')")
    cfg = _config(tmp_path)
    rc, mods = _loaded(cfg, pre="import ray\n")
    assert rc == "0" and "ray" in mods

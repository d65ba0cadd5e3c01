"""Style is enforced by the test suite: ruff (lint + format) and mypy on the checked code, and each public
package's ``__all__`` says exactly what it exports.

The configuration is pyproject.toml's ``[tool.ruff]`` and ``[tool.mypy]``; ``scripts/style_all.sh`` applies
the formatter and the safe lint fixes. ``CHECKED`` grows until it is all of src/ and tests/.
"""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "evalstack"

# Paths (relative to the checkout) that ruff checks (lint and format) and mypy checks.
CHECKED = [
    "src/evalstack/_examples.py",
    "src/evalstack/_io.py",
    "src/evalstack/registry.py",
    "src/evalstack/models/_batch_api.py",
    "src/evalstack/report/_formats.py",
    "tests/test_registry.py",
    "src/evalstack/_runjson.py",
    "src/evalstack/_safetext.py",
    "src/evalstack/_secrets.py",
    "src/evalstack/_summary.py",
    "src/evalstack/history",
    "src/evalstack/judges/_agreement.py",
    "src/evalstack/judges/_rows.py",
    "src/evalstack/judges/scales",
    "src/evalstack/stats",
    "src/evalstack/trackers/__init__.py",
    "src/evalstack/trackers/_common.py",
    "src/evalstack/trackers/_mlflow.py",
    "src/evalstack/trackers/_wandb.py",
    "src/evalstack/sweep",
    "src/evalstack/view",
    *(
        f"src/evalstack/curves/{name}"
        for name in (
            "__init__.py",
            "_cli.py",
            "_fetch.py",
            "_hidden.py",
            "_join.py",
            "_noise.py",
            "_plots.py",
            "_readers_json.py",
            "_records.py",
            "_rft.py",
            "_sft.py",
            "_sft_rules.py",
            "_table.py",
            "_thresholds.py",
        )
    ),
    "tests/test_judge_rows.py",
    "tests/test_judge_scales.py",
    "tests/test_style.py",
    "tests/test_sweep_cli.py",
    "tests/test_sweep_outcomes.py",
    "tests/test_sweep_sources.py",
]
# mypy also checks these (typed, not yet formatted: others were changing them when the style landed)
MYPY_ONLY = ["src/evalstack/_gate_judge.py", "src/evalstack/config.py", "src/evalstack/gate.py"]

# every package whose dotted name has no _part: each one's __all__ is checked
PUBLIC_PACKAGES = sorted(
    ".".join(("evalstack", *p.parent.relative_to(SRC).parts))
    for p in SRC.rglob("__init__.py")
    if not any(part.startswith("_") for part in p.parent.relative_to(SRC).parts)
)


def _tool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    try:
        import mypy  # noqa: F401
        import ruff  # noqa: F401
    except ImportError as exc:  # a missing tool is a failure, not a skip: CI installs the dev extra
        pytest.fail(f"{exc.name} is not installed: pip install -e '.[dev]'")
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def _report(proc: subprocess.CompletedProcess[str], fix: str) -> str:
    return f"{proc.stdout}\n{proc.stderr}\nfix: {fix}"


def test_ruff_lint() -> None:
    proc = _tool("ruff", "check", "--no-cache", "--output-format", "concise", *CHECKED)
    assert proc.returncode == 0, _report(proc, "ruff check --fix <file> (or scripts/style_all.sh)")


def test_ruff_format() -> None:
    proc = _tool("ruff", "format", "--no-cache", "--check", "--diff", *CHECKED)
    assert proc.returncode == 0, _report(proc, "ruff format <file> (or scripts/style_all.sh)")


def test_mypy() -> None:
    # the cache lives outside the checkout (nothing a test writes lands in it), one per checkout
    cache = Path(tempfile.gettempdir()) / f"evalstack-mypy-{hashlib.sha1(str(ROOT).encode()).hexdigest()[:12]}"
    proc = _tool("mypy", "--cache-dir", str(cache), *[p for p in CHECKED if p.startswith("src/")], *MYPY_ONLY)
    assert proc.returncode == 0, _report(proc, "mypy <file> from the checkout's root; the config is pyproject.toml")


def test_the_configuration_is_applied(tmp_path: Path) -> None:
    """The style tests can fail: pyproject's rules flag an unsorted, unused, outdated import and bad layout."""
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nimport os\nfrom typing import List\nx: List[int] = [1,2]\n")
    cfg = ("--config", str(ROOT / "pyproject.toml"))
    lint = _tool("ruff", "check", "--no-cache", "--output-format", "concise", *cfg, str(bad), cwd=tmp_path)
    assert lint.returncode == 1, lint.stdout
    for code in ("I001", "F401", "UP006", "UP035"):
        assert f" {code} " in lint.stdout, (code, lint.stdout)
    fmt = _tool("ruff", "format", "--no-cache", "--check", *cfg, str(bad), cwd=tmp_path)
    assert fmt.returncode == 1, fmt.stdout


def _defined_here(pkg_name: str, obj: object) -> bool:
    """Whether a name in the package's namespace was made by the package (not imported from outside it).

    A constant counts as defined here; classes, functions and other objects say where they were defined
    (``__module__``), so imports such as ``typing.Any`` or ``evalstack.results.RunResult`` do not count.
    """
    if isinstance(obj, ModuleType):
        return False  # a submodule, set on the package when imported
    if isinstance(obj, (str, bytes, int, float, tuple, list, dict, set, frozenset)):
        return True
    module = getattr(obj, "__module__", None)
    return isinstance(module, str) and (module == pkg_name or module.startswith(pkg_name + "."))


@pytest.mark.parametrize("pkg_name", PUBLIC_PACKAGES)
def test_all_is_exactly_the_public_names(pkg_name: str) -> None:
    """Both ways (as httpx's test): every name in ``__all__`` exists, and every public (non-underscore) name
    the package defines or re-exports from its own modules is in ``__all__``."""
    pkg = importlib.import_module(pkg_name)
    names = list(pkg.__all__)
    assert len(names) == len(set(names)), f"{pkg_name}.__all__ repeats a name"
    missing = [n for n in names if not hasattr(pkg, n)]
    assert not missing, f"{pkg_name}.__all__ names what the package does not have: {missing}"
    public = {n for n, obj in vars(pkg).items() if not n.startswith("_") and _defined_here(pkg_name, obj)}
    unlisted = sorted(public - set(names))
    assert not unlisted, f"{pkg_name} defines public names not in __all__ (add them, or prefix _): {unlisted}"


def test_the_public_packages_are_found() -> None:
    assert {"evalstack", "evalstack.stats", "evalstack.testing.loopback"} <= set(PUBLIC_PACKAGES), PUBLIC_PACKAGES

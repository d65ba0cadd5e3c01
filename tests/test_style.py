"""Style is enforced by the test suite: ruff (lint + format) and mypy on the checked code, and each public
package's ``__all__`` says exactly what it exports.

The configuration is pyproject.toml's ``[tool.ruff]`` and ``[tool.mypy]``; ``scripts/style_all.sh`` applies
the formatter and the safe lint fixes. ``CHECKED`` grows until it is all of src/ and tests/.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
import subprocess
import sys
import tempfile
import typing
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, get_args

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "evalstack"

# What ruff checks (lint and format): all of src/ and tests/.
CHECKED = ["src", "tests"]
# The src/ files mypy does not check yet: each still has type errors (issue 15 item 8; the list only shrinks).
MYPY_PENDING: set[str] = set()


def _mypy_files() -> list[str]:
    return [rel for p in sorted(SRC.rglob("*.py")) if (rel := p.relative_to(ROOT).as_posix()) not in MYPY_PENDING]


# No module in src/ over this many lines: split a long one along a real seam (re-exporting its public names).
MAX_LINES = 469


def long_modules(root: Path, limit: int = MAX_LINES) -> list[str]:
    """``path: N lines`` of each .py file below ``root`` longer than ``limit`` lines (as ``wc -l`` counts)."""
    sizes = ((p, len(p.read_bytes().splitlines())) for p in sorted(root.rglob("*.py")))
    return [f"{p.relative_to(root).as_posix()}: {n} lines" for p, n in sizes if n > limit]


def test_no_module_is_too_long() -> None:
    assert not long_modules(SRC), f"split these (limit {MAX_LINES} lines): {long_modules(SRC)}"


def test_the_length_check_can_fail(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "short.py").write_text("x = 1\n" * MAX_LINES)
    assert long_modules(tmp_path) == [f"pkg/long.py: {MAX_LINES + 1} lines"]


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
    proc = _tool("mypy", "--cache-dir", str(cache), *_mypy_files())
    assert proc.returncode == 0, _report(proc, "mypy <file> from the checkout's root; the config is pyproject.toml")


def test_mypy_pending_names_files() -> None:
    assert not [p for p in MYPY_PENDING if not (ROOT / p).is_file()], "drop moved or deleted files from MYPY_PENDING"


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


# Where the data flow's contracts are written: no ``Any`` in their signatures (issue 15 item 8). ANY_PENDING
# lists the parameters that still have one; the list only shrinks (a stale entry fails too).
TYPED_MODULES = ["evalstack.pipeline", "evalstack._prepare", "evalstack._score"]
TYPED_CLASSES = [("evalstack.models._base", "Provider"), ("evalstack.metrics._base", "Metric")]
ANY_PENDING: set[str] = set()


def _has_any(hint: object) -> bool:
    return hint is Any or any(_has_any(arg) for arg in get_args(hint))


def _signatures() -> dict[str, Callable[..., object]]:
    out: dict[str, Callable[..., object]] = {}
    for name in TYPED_MODULES:
        mod = importlib.import_module(name)
        for fname, fn in vars(mod).items():
            if inspect.isfunction(fn) and fn.__module__ == name:
                out[f"{name}.{fname}"] = fn
    for mod_name, cls_name in TYPED_CLASSES:
        cls = getattr(importlib.import_module(mod_name), cls_name)
        for fname, fn in vars(cls).items():
            fn = fn.__func__ if isinstance(fn, (staticmethod, classmethod)) else fn
            if inspect.isfunction(fn):
                out[f"{mod_name}.{cls_name}.{fname}"] = fn
    return out


def _any_params(fn: Callable[..., object]) -> list[str]:
    """Parameters (and ``return``) of ``fn`` whose annotation holds ``Any``, aliases resolved where they can be
    (a name imported only for type checking is read as written)."""
    out = []
    for param, ann in inspect.get_annotations(fn).items():
        try:
            hint = eval(ann, vars(typing) | fn.__globals__) if isinstance(ann, str) else ann
        except NameError:
            hint = None
        if _has_any(hint) or (isinstance(ann, str) and re.search(r"\bAny\b", ann)):
            out.append(param)
    return out


def test_no_any_in_the_contract_signatures() -> None:
    found = {f"{where}:{param}" for where, fn in _signatures().items() for param in _any_params(fn)}
    assert not found - ANY_PENDING, f"Any in a signature (type it): {sorted(found - ANY_PENDING)}"
    assert not ANY_PENDING - found, f"typed now, drop from ANY_PENDING: {sorted(ANY_PENDING - found)}"


_Alias = dict[str, Any]


def test_the_any_check_can_fail() -> None:
    def f(x: int, y: dict[str, Any]) -> list[int]:
        return [x]

    def g(x: _Alias, y: Only[Any] | None) -> int:  # noqa: F821 - a name imported only for type checking
        return 0

    assert _any_params(f) == ["y"] and _any_params(g) == ["x", "y"]

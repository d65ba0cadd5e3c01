"""The public API is what we mean it to be, and the CLI starts without heavy imports."""

from __future__ import annotations

import subprocess
import sys

import evalstack

HEAVY = [
    "torch",
    "transformers",
    "bert_score",
    "evaluate",
    "datasets",
    "sklearn",
    "rouge_score",
    "sacrebleu",
    "matplotlib",
    "scipy",
    "openai",
    "pandas",
    "numpy",
]


def test_exported_names() -> None:
    assert evalstack.__all__ == [
        "Config",
        "ConfigError",
        "DataError",
        "EvalstackError",
        "GateDecision",
        "ProviderError",
        "RubricError",
        "RunOutcome",
        "RunResult",
        "__version__",
        "load_config",
        "read_run",
        "run",
    ]
    for name in evalstack.__all__:
        assert getattr(evalstack, name) is not None


def test_subpackages_export_their_all() -> None:
    import importlib

    for pkg in (
        "evalstack.metrics",
        "evalstack.models",
        "evalstack.stats",
        "evalstack.report",
        "evalstack.curves",
        "evalstack.judges",
        "evalstack.config",
        "evalstack.results",
        "evalstack.errors",
    ):
        mod = importlib.import_module(pkg)
        assert mod.__all__, pkg
        for name in mod.__all__:
            assert hasattr(mod, name), (pkg, name)


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys; from evalstack.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]", out


def test_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "evalstack", "--help"], capture_output=True, text=True).stdout
    for cmd in ("run", "compare", "gate", "review", "curves", "judge", "metrics", "init"):
        assert f"  {cmd} " in out, cmd

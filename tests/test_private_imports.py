"""Across packages, code imports only public names (issue 15 item 6).

A sub-package's ``_modules`` and ``_names`` are its own: another sub-package (or a top-level module) uses
what the sub-package exports in its ``__init__``/``__all__``. The top-level private modules (``_io``,
``_safetext``, ``_yaml``, ``_outdir``...) are the whole package's shared internals and may be used anywhere
inside ``evalstack``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "evalstack"

# (importing file, imported dotted path) still reaching in, each with its reason; the list only shrinks
KNOWN: dict[tuple[str, str], str] = {}


def _package_of(path: Path) -> list[str]:
    return list(path.relative_to(SRC).parent.parts)


def reaching_in(source: str, path: Path) -> list[tuple[int, str]]:
    """(line, dotted target) of each import in ``source`` (the file at ``path``) that names a private module
    or a private name owned by a sub-package the file is not in."""
    here = _package_of(path)
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 0:
            if not (node.module or "").startswith("evalstack"):
                continue
            base = node.module.split(".")[1:]
        else:
            base = here[: len(here) - (node.level - 1)] + (node.module.split(".") if node.module else [])
        targets = set()
        for target in [base] + [base + [a.name] for a in node.names]:
            private = next((i for i, part in enumerate(target) if part.startswith("_") and part != "__init__"), None)
            if private is None:
                continue
            owner = target[:private]
            while owner and not (SRC.joinpath(*owner) / "__init__.py").is_file():
                owner = owner[:-1]  # the package holding the private module or name (a module's: its own)
            if owner and here[: len(owner)] != owner:
                targets.add(".".join(target[: private + 1]))
        found += [(node.lineno, t) for t in sorted(targets)]
    return sorted(found)


def test_no_import_reaches_into_another_packages_private_module() -> None:
    bad = []
    for f in sorted(SRC.rglob("*.py")):
        rel = f.relative_to(SRC).as_posix()
        for line, target in reaching_in(f.read_text(encoding="utf-8"), f):
            if (rel, target) not in KNOWN:
                bad.append(f"{rel}:{line}: {target}")
    assert not bad, "import the public name from the package instead (add it to its __all__):\n" + "\n".join(bad)


def test_the_check_flags_what_it_should() -> None:
    """Control: the rule sees a private module or name of another sub-package, and allows its own and the
    top-level internals."""
    cli_run = SRC / "cli" / "_run.py"
    assert reaching_in("from ..report._view import verdict\n", cli_run) == [(1, "report._view")]
    assert reaching_in("from .. import stats\nfrom ..stats import _power\n", cli_run) == [(2, "stats._power")]
    assert reaching_in("from evalstack.models._base import Request\n", cli_run) == [(1, "models._base")]
    assert reaching_in("from ..report._plots import safe_name, _png\n", cli_run) == [(1, "report._plots")]
    assert reaching_in("from ..pipeline import _env\nfrom ..report import _png\n", cli_run) == [(2, "report._png")]
    assert (
        reaching_in("from ..report import fmt_p\nfrom .._io import atomic_write_text\nfrom ._init import x\n", cli_run)
        == []
    )
    assert reaching_in("from ._base import MetricResult\n", SRC / "metrics" / "_bleu.py") == []

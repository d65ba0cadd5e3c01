#!/usr/bin/env bash
# The project's style applied to the whole tree (tests/test_style.py checks it; pyproject.toml configures it):
# ruff's safe lint fixes (import order, pyupgrade), ruff's formatter, then what is left for a hand: lint
# without a safe fix, and the rest of tests/test_style.py. Needs the dev extra (pip install -e '.[dev]'). Writes only src/ and tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(src tests)
python -m ruff check --fix --no-cache --quiet "${paths[@]}" || true   # fixes first: they can change line lengths
python -m ruff format --no-cache "${paths[@]}"
status=0
python -m ruff check --no-cache --output-format concise "${paths[@]}" || status=1
python -m pytest -q tests/test_style.py || status=1   # mypy (but MYPY_PENDING), __all__, no Any
exit "$status"

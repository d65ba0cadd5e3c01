"""Regenerates the committed sample report, reports/demo/, from configs/demo.yaml:

    python configs/demo/make_sample.py

README's first command (`evalstack run configs/demo.yaml`) writes reports/demo-latest/, which git ignores,
so trying the demo never changes the checkout; this script is how the committed sample is kept current.
It runs the demo through the real CLI into reports/demo/. Paths in the sample are relative to the config
(run.json, report.md and curves/analysis.json name no folder of the machine that made it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE.parent / "demo.yaml"
SAMPLE = HERE.parent.parent / "reports" / "demo"


def main() -> int:
    """Run the demo into reports/demo/ (the same command a user types, with --out)."""
    args = [sys.executable, "-m", "evalstack", "--quiet", "run", str(CONFIG), "--out", str(SAMPLE), "--no-cache"]
    return subprocess.run(args, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())

"""Fault injection for crash-consistency tests: die with SIGKILL at a named point of a run.

Set ``EVALSTACK_CRASH_AT=<point>`` (e.g. ``generated``, ``write:report.html``) and the process kills itself
there, exactly as ``kill -9`` would, so tests can prove that ``--resume`` recovers from every phase. With
the variable unset (always, in real use) a call costs one dict lookup.
"""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    """SIGKILL this process if ``EVALSTACK_CRASH_AT`` names this point."""
    if os.environ.get("EVALSTACK_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)

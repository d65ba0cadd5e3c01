"""The command line. Only this package parses arguments; nothing outside it imports it.

Heavy libraries (datasets, torch, sklearn, evaluate...) are imported inside the commands, never at module
import: `evalstack --help` must stay well under half a second. Sub-command groups that live with their
concept (`curves`, `judge`, `view`...) are loaded lazily by ``_main._LazyGroup`` from ``"module:attribute"``
paths; so are the commands here:

- ``_main``: the ``evalstack`` group, the lazy command table, ``main`` (the console script
  ``evalstack = "evalstack.cli:main"`` and ``python -m evalstack``).
- ``_run``: ``run``, ``compare``, ``gate``.
- ``_init``: ``init`` (the column profile and task guess are ``_guess``, the starter YAML ``_template``).
- ``_cache``: ``cache check|repair``.  ``_plan``: ``plan``.
"""

from ._main import cli, main

__all__ = ["cli", "main"]

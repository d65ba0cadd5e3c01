"""``python -m evalstack.testing.loopback``: run the loopback server until SIGTERM/SIGINT."""

from ._server import main

raise SystemExit(main())

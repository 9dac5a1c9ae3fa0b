"""``python -m server``: the same command line as the ``intake`` script."""

from server.cli import main

raise SystemExit(main())

"""``python -m figkit``."""

from figkit.cli import main

raise SystemExit(main())

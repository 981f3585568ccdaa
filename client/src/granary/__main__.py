"""`python -m granary`: the CLI."""

from granary.cli import main

raise SystemExit(main())

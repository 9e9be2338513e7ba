"""``python -m faults`` is the ``faults`` command."""

from faults.cli import main

raise SystemExit(main())

"""``python -m ferry.cli`` runs the ``ferry`` command."""

from __future__ import annotations

import sys

from ferry.cli.main import main

sys.exit(main())

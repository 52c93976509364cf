"""``python -m pawflow.cli``: the same as ``paw``."""

from . import main

raise SystemExit(main())

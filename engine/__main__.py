"""``python -m flowdeck.engine`` / the ``flowdeck`` console script (see engine.cli)."""

from __future__ import annotations

import sys

from flowdeck.engine.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())

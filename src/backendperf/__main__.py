"""``python -m backendperf``: the same as the ``backendperf`` console script."""

from __future__ import annotations

import sys

from backendperf.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""pytest plugin entry point (``pytest11``), loaded by every pytest run once we are installed.

Reserved for query budgets, N+1 detection and index advice from the test suite; until those land
it registers nothing, and it must stay cheap to import.
"""

from __future__ import annotations

PYTEST_DONT_REWRITE = True

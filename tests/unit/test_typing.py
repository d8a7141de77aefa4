"""Type checkers see through @cached: mypy --strict finds exactly the marked errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

TYPING_DIR = Path(__file__).parent.parent / "typing"


def test_mypy_sees_signatures_through_cached() -> None:
    """The marked lines are the only errors: calls, methods and invalidate() are typed."""
    path = TYPING_DIR / "check_cached.py"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    expected = {
        (i, m.group(1))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if (m := re.search(r"# E: ([\w-]+)", line))
    }
    found = {
        (int(m.group(1)), m.group(2))
        for m in re.finditer(r"check_cached\.py:(\d+): error: .*\[([\w-]+)\]", result.stdout)
    }
    assert found == expected, result.stdout

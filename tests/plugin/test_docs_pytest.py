"""docs/pytest.md runs as written: its test files pass in the example app, its script runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from tests.plugin.test_pytest_plugin import library  # noqa: F401  (the fixture)

if TYPE_CHECKING:
    import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "pytest.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def test_documented_test_files_pass(library: pytest.Pytester) -> None:  # noqa: F811
    files = [b for b in _blocks() if b.startswith("# tests/test_docs_")]
    assert len(files) >= 3
    names = []
    for block in files:
        name = block.splitlines()[0].removeprefix("# ").strip()
        (library.path / name).write_text(block)
        names.append(name)
    result = library.runpytest(*names)
    result.assert_outcomes(passed=sum(b.count("\ndef test_") for b in files))


def test_documented_script_runs() -> None:
    scripts = [b for b in _blocks() if not b.startswith("# tests/")]
    assert scripts
    for block in scripts:
        exec(compile(block, str(DOC), "exec"), {"__name__": "docs_pytest"})

"""Plain SQL scripts: one statement per ``;`` outside quotes, dollar quotes and comments."""

from __future__ import annotations

import re
from typing import IO, TYPE_CHECKING, Final

from backendperf.events import QueryEvent
from backendperf.workload.readers.base import ErrorLevel, ReadStats

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["read_sql", "split_sql"]

_SPLIT: Final = re.compile(
    r"""--[^\n]*|/\*.*?(?:\*/|\Z)|'(?:[^']|'')*(?:'|\Z)|"(?:[^"]|"")*(?:"|\Z)"""
    r"""|\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*|)\$.*?(?:\$(?P=tag)\$|\Z)|(?P<semi>;)""",
    re.DOTALL,
)


def split_sql(text: str) -> Iterator[tuple[int, str]]:
    """``(line, statement)`` for each statement of a script; semicolons inside quotes, dollar
    quotes and comments do not split.

    >>> [s for _, s in split_sql("SELECT ';'; -- a;b\\nDO $$ BEGIN; END $$;")]
    ["SELECT ';'", '-- a;b\\nDO $$ BEGIN; END $$']
    """
    start = 0
    line, counted = 1, 0  # newlines are counted once, from where the last count stopped

    def line_at(offset: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, offset)
        counted = offset
        return line

    for m in _SPLIT.finditer(text):
        if m["semi"] is None:
            continue
        chunk = text[start : m.start()]
        if chunk.strip():
            yield line_at(start + len(chunk) - len(chunk.lstrip())), chunk.strip()
        start = m.end()
    tail = text[start:]
    if tail.strip():
        yield line_at(start + len(tail) - len(tail.lstrip())), tail.strip()


def read_sql(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    dialect: str | None = None,
) -> Iterator[QueryEvent]:
    """One event per statement of a ``.sql`` file (no durations)."""
    text = stream.read()
    stats.lines += text.count("\n") + (not text.endswith("\n") and bool(text))
    for line, statement in split_sql(text):
        if not re.sub(r"--[^\n]*|/\*.*?\*/", "", statement, flags=re.DOTALL).strip():
            stats.skip("comment-only statement")
            continue
        yield QueryEvent(statement=statement, dialect=dialect, source=f"{source}:{line}")

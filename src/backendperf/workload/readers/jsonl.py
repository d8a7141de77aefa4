"""backendperf's own ``QueryEvent`` JSONL (the middleware's and the pytest plugin's logs)."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from backendperf.events import QueryEvent
from backendperf.workload.readers.base import ErrorLevel, ReadStats

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["read_jsonl"]


def read_jsonl(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
) -> Iterator[QueryEvent]:
    """Our own QueryEvent JSONL (middleware and pytest plugin output)."""
    from dataclasses import replace

    for lineno, line in enumerate(stream, first_line):
        stats.lines += 1
        if not line.strip():
            continue
        try:
            event = QueryEvent.from_json(line)
        except (ValueError, TypeError) as exc:
            stats.bad(errors, f"{source}:{lineno}", f"not a query event: {exc}")
            continue
        yield replace(event, source=f"{source}:{lineno}")

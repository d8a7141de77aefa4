"""Query-log readers: every format becomes a stream of :class:`~backendperf.events.QueryEvent`.

>>> sorted(FORMATS)  # doctest: +NORMALIZE_WHITESPACE
['jsonl', 'mysql-general', 'mysql-slow', 'pg-cloudsql', 'pg-cnpg', 'pg-csv', 'pg-json',
 'pg-logplex', 'pg-stderr', 'pg-syslog', 'pgss', 'sql']

:func:`read` opens a file (or ``-`` for stdin; gzip, bzip2 and xz are decompressed), detects
the format unless told, and yields events; :class:`ReadStats` counts what was skipped and why.
"""

from __future__ import annotations

import io
import lzma
import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from backendperf.events import EventBatch
from backendperf.exceptions import LogFormatError
from backendperf.workload.readers.base import Decompressing, ErrorLevel, ReadStats, open_binary
from backendperf.workload.readers.jsonl import read_jsonl
from backendperf.workload.readers.mysql import (
    GENERAL_LINE,
    read_general,
    read_slow,
    read_slow_batches,
)
from backendperf.workload.readers.pg_cloud import (
    CNPG_LINE,
    LOGPLEX_LINE,
    read_cloudsql,
    read_cnpg,
    read_logplex,
)
from backendperf.workload.readers.pgss import read_pgss, read_pgss_live
from backendperf.workload.readers.postgres import (
    DEFAULT_PREFIX,
    SEVERITIES,
    SYSLOG_LINE,
    infer_prefix,
    prefix_regex,
    read_csvlog,
    read_csvlog_batches,
    read_jsonlog,
    read_jsonlog_batches,
    read_stderr,
    read_stderr_batches,
    read_syslog,
)
from backendperf.workload.readers.sql import read_sql

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterator, Mapping

    from backendperf.events import QueryEvent

__all__ = [
    "FORMATS",
    "Format",
    "ErrorLevel",
    "ReadStats",
    "detect",
    "read",
    "read_batches",
    "read_pgss_live",
]


@dataclass(frozen=True, slots=True)
class Format:
    """One log format: how to read it, and where ``--jobs`` may cut it.

    Every reader takes the same keywords: ``source``, ``stats``, ``errors``, and where the
    format has them ``first_line``, ``prefix`` (a ``log_line_prefix``) and ``carry``.
    """

    name: str
    read: Callable[..., Iterator[QueryEvent]]
    """Events, one at a time."""
    read_batches: Callable[..., Iterator[QueryEvent | EventBatch]] | None = None
    """Runs of entries as :class:`~backendperf.events.EventBatch` columns, where the format's
    reader can (what :meth:`Workload.extend <backendperf.workload.Workload.extend>` reads
    fastest)."""
    entry_start: re.Pattern[bytes] | None = None
    """A line that starts an entry: where ``--jobs`` may cut a file (``None``: read whole)."""


FORMATS: Final[dict[str, Format]] = {
    f.name: f
    for f in (
        Format(
            "pg-stderr",
            read_stderr,
            read_stderr_batches,
            re.compile(rb"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d"),
        ),
        Format(
            "pg-csv",
            read_csvlog,
            read_csvlog_batches,
            re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"),
        ),
        Format("pg-json", read_jsonlog, read_jsonlog_batches, re.compile(rb"^\{")),
        Format("pg-syslog", read_syslog),
        Format("pg-logplex", read_logplex),
        Format("pg-cloudsql", read_cloudsql),
        Format("pg-cnpg", read_cnpg),
        Format("mysql-slow", read_slow, read_slow_batches, re.compile(rb"^# (?:Time|User@Host):")),
        Format("mysql-general", read_general, None, re.compile(GENERAL_LINE.encode())),
        Format("pgss", read_pgss),
        Format("sql", read_sql),
        Format("jsonl", read_jsonl, None, re.compile(rb"^\{")),
    )
}
"""Every format by its ``--format`` name."""

_SNIFF: Final = 64 * 1024
_PG_LINE: Final = re.compile(
    rf"(?m)^\S.*?\b(?:{SEVERITIES}):(?:  | duration: | statement: )"
)  # two spaces after the severity; one, as some log shippers write it, before a statement
_PG_CSV: Final = re.compile(  # the time quoted or not (tools that rewrite csvlog quote it)
    rf'(?m)^"?\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+?"?,.*?,'
    rf'"?(?:{SEVERITIES})"?,"?[0-9A-Z]{{5}}"?,'
)
_GENERAL: Final = re.compile(GENERAL_LINE, re.MULTILINE)
_PG_SYSLOG: Final = re.compile(SYSLOG_LINE, re.MULTILINE)
_LOGPLEX: Final = re.compile(LOGPLEX_LINE, re.MULTILINE)
_CNPG: Final = re.compile(CNPG_LINE)
_CLOUDSQL: Final = re.compile(r'"textPayload"\s*:\s*"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d')


def detect(head: str, name: str = "") -> str:
    """The format of a log from its first bytes (and its file name, for ``.sql``).

    >>> detect("# Time: 261128  7:01:47\\n# User@Host: root[root] @ localhost []\\n")
    'mysql-slow'
    >>> detect('{"ts": null, "statement": "SELECT 1", "duration_ms": 1.0}\\n')
    'jsonl'
    """
    head = head.removeprefix("\ufeff")  # a UTF-8 byte order mark (Windows editors, exports)
    stripped = head.lstrip()
    first = stripped.split("\n", 1)[0]
    if _CNPG.search(head) and '"record"' in head:
        return "pg-cnpg"
    if _CLOUDSQL.search(head):
        return "pg-cloudsql"
    if stripped.startswith("{"):
        if '"error_severity"' in first or ('"message"' in first and '"statement"' not in first):
            return "pg-json"
        if '"calls"' in first and '"query"' in first:
            return "pgss"
        return "jsonl"
    if stripped.startswith("[") and '"calls"' in head and '"query"' in head:
        return "pgss"
    if re.search(r"(?m)^# (?:Time|User@Host|Query_time):", head):
        return "mysql-slow"
    if _GENERAL.search(head):
        return "mysql-general"
    if _PG_CSV.search(head):
        return "pg-csv"
    header = first.lower().replace('"', "")
    if "query" in header.split(",") and "calls" in header.split(","):
        return "pgss"
    if _LOGPLEX.search(head):
        return "pg-logplex"
    if _PG_SYSLOG.search(head) and _PG_LINE.search(head):
        return "pg-syslog"
    if _PG_LINE.search(head):
        return "pg-stderr"
    if name.endswith((".sql", ".sql.gz")) or re.match(
        r"(?is)\s*(?:--[^\n]*\n\s*)*(?:select|insert|update|delete|with|create|begin)\b", head
    ):
        return "sql"
    raise LogFormatError(
        f"cannot tell the format of {name or 'the input'}: pass --format "
        f"({', '.join(sorted(FORMATS))})"
    )


def read(
    path: str | os.PathLike[str],
    *,
    format: str = "auto",
    errors: ErrorLevel | str = ErrorLevel.WARN,
    stats: ReadStats | None = None,
    log_line_prefix: str | None = None,
    byte_range: tuple[int, int, int] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[QueryEvent]:
    """Events from one log file (``-``: stdin). Raises :class:`LogFormatError` for a file that
    cannot be opened or an unknown format; bad lines are counted in ``stats`` and skipped.

    ``byte_range=(start, end, first_line)`` reads only that part of an uncompressed file (for
    parallel parsing); ``on_bytes(n)`` is called as raw bytes are consumed (progress bars).
    """
    events = _open(path, format, errors, stats, log_line_prefix, byte_range, on_bytes, False)
    return cast("Iterator[QueryEvent]", events)  # not batched: events only


def read_batches(
    path: str | os.PathLike[str],
    *,
    format: str = "auto",
    errors: ErrorLevel | str = ErrorLevel.WARN,
    stats: ReadStats | None = None,
    log_line_prefix: str | None = None,
    byte_range: tuple[int, int, int] | None = None,
    on_bytes: Callable[[int], None] | None = None,
    carry: Mapping[str, str] | None = None,
) -> Iterator[QueryEvent | EventBatch]:
    """:func:`read`, where the format's reader can, with runs of entries handed over as
    :class:`~backendperf.events.EventBatch` columns (for :meth:`Workload.extend
    <backendperf.workload.Workload.extend>`, which aggregates them without an event each).

    ``carry``: for a ``byte_range`` of a slow log, what the lines before it left in force
    (``{"db": ..., "time": ...}``: the last ``use db;`` and ``# Time:`` values), so that a
    range is read as it would be in the whole file.
    """
    return _open(path, format, errors, stats, log_line_prefix, byte_range, on_bytes, True, carry)


def _open(
    path: str | os.PathLike[str],
    format: str,
    errors: ErrorLevel | str,
    stats: ReadStats | None,
    log_line_prefix: str | None,
    byte_range: tuple[int, int, int] | None,
    on_bytes: Callable[[int], None] | None,
    batched: bool,
    carry: Mapping[str, str] | None = None,
) -> Iterator[QueryEvent | EventBatch]:
    """The generator behind both (so nothing is opened before the first event is asked for)."""
    level = ErrorLevel(errors)
    stats = stats if stats is not None else ReadStats()
    name = str(path)
    raw: Any = open_binary(path)
    opened = raw
    first_line = 1
    if byte_range is not None:
        start, end, first_line = byte_range
        raw.seek(start)
        raw = _Window(raw, end - start, on_bytes)
    elif on_bytes is not None:
        raw = _Window(raw, None, on_bytes)
    buffered: Any = io.BufferedReader(raw, buffer_size=_SNIFF)
    # utf-8-sig: a byte order mark at the start is dropped, not read as text of the first line
    encoding = "utf-8-sig" if byte_range is None or byte_range[0] == 0 else "utf-8"
    stream = io.TextIOWrapper(buffered, encoding=encoding, errors="backslashreplace", newline="")
    try:
        yield from _read(
            buffered,
            stream,
            name,
            format,
            level,
            stats,
            log_line_prefix,
            first_line,
            batched,
            carry,
        )
        if isinstance(opened, Decompressing) and opened.damage is not None:
            # everything before the damage was read (as zcat/bzcat would); say what was lost
            stats.bad(level, name, f"compressed input: {opened.damage}")
    except _BROKEN as exc:  # a truncated or corrupt .gz/.bz2/.xz: keep what was read
        stats.bad(level, name, f"compressed input is truncated or corrupt ({exc})")
    finally:
        stream.close()


_BROKEN: Final = (EOFError, OSError, lzma.LZMAError, zlib.error)


class _Window(io.RawIOBase):
    """At most ``limit`` bytes of ``inner`` (``None``: all), reporting progress."""

    def __init__(
        self, inner: Any, limit: int | None, on_bytes: Callable[[int], None] | None
    ) -> None:
        self.inner = inner
        self.left = limit
        self.on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        if self.left is not None:
            if self.left <= 0:
                return 0
            view = view[: self.left]
        data = self.inner.read(len(view))
        n = len(data)
        view[:n] = data
        if self.left is not None:
            self.left -= n
        if self.on_bytes is not None and n:
            self.on_bytes(n)
        return n

    def close(self) -> None:
        self.inner.close()
        super().close()


def _read(
    buffered: Any,
    stream: io.TextIOWrapper[Any],
    name: str,
    format: str,
    level: ErrorLevel,
    stats: ReadStats,
    log_line_prefix: str | None,
    first_line: int,
    batched: bool,
    carry: Mapping[str, str] | None = None,
) -> Iterator[QueryEvent | EventBatch]:
    head = ""  # the first bytes, decoded once for detection and for the prefix inference
    if format == "auto" or (format == "pg-stderr" and log_line_prefix is None):
        raw = buffered.peek(_SNIFF)[:_SNIFF]
        head = raw.decode("utf-8", "backslashreplace").removeprefix("\ufeff")
    if format == "auto":
        format = detect(head, name)
    spec = FORMATS.get(format)
    if spec is None:
        raise LogFormatError(
            f"unknown format {format!r}: choose auto or one of {', '.join(sorted(FORMATS))}"
        )
    kwargs: dict[str, Any] = {"source": name, "stats": stats, "errors": level}
    if first_line != 1:
        kwargs["first_line"] = first_line
    if format in ("pg-stderr", "pg-syslog", "pg-cloudsql"):
        if log_line_prefix is not None:
            prefix_regex(log_line_prefix)  # a bad prefix fails here, not per line
        elif format == "pg-stderr":  # none given: the well-known one that reads best
            log_line_prefix = infer_prefix(head)
            if log_line_prefix is not None and log_line_prefix != DEFAULT_PREFIX:
                note = f"{name}: log_line_prefix inferred as {log_line_prefix!r}"
                if note not in stats.notes:
                    stats.notes.append(note)
        kwargs["prefix"] = log_line_prefix  # pg-syslog and pg-cloudsql infer their own
    if format == "mysql-slow" and carry:
        kwargs["carry"] = carry
    bulk = spec.read_batches if batched else None
    if bulk is not None:
        for item in bulk(stream, **kwargs):
            stats.events += len(item) if isinstance(item, EventBatch) else 1
            yield item
        return
    for event in spec.read(stream, **kwargs):
        stats.events += 1
        yield event

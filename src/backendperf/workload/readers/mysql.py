"""MySQL and MariaDB logs: the slow query log and the general query log."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import operator
import re
from typing import IO, TYPE_CHECKING, Any, Final

from backendperf.events import EventBatch, QueryEvent, logged
from backendperf.workload.readers.base import (
    ErrorLevel,
    ReadStats,
    chunks,
    events_of,
    parse_each,
    split_lines,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

__all__ = ["read_general", "read_slow", "read_slow_batches", "read_slow_lines"]

_BANNER: Final = re.compile(
    # Linux: "/usr/sbin/mysqld, Version: ... started with:" then "Tcp port: 3306  Unix socket:";
    # Windows: "C:\Program Files\...\mysqld.exe, Version: ..." then "TCP Port: 3306, Named Pipe:"
    r"^(?:.+?, Version: .*started with:|(?i:tcp port): .*|Time\s+Id\s+Command\s+Argument)\s*$"
)
_USER_HOST: Final = re.compile(r"^# User@Host: (?P<user>[^\[\s]*)\[[^\]]*\] @ ")
_SCHEMA: Final = re.compile(r"Schema: (?P<db>\S*)")
_PAIRS: Final = re.compile(r"\b(\w+): (\S+)")  # \b: linear on a long word without ": "
_SECONDS: Final = r"(\d+(?:\.\d*)?|\.\d+)"  # what float() takes ([\d.]+ let "1.2.3" through)
_QUERY_TIME: Final = re.compile(
    rf"# Query_time: {_SECONDS}[ \t]+Lock_time: {_SECONDS}[ \t]+"
    r"Rows_sent: (\d+)[ \t]+Rows_examined: (\d+)"
)
_THREAD: Final = re.compile(r"# Thread_id: (\d+)")
_ROWS_AFFECTED: Final = re.compile(r"# Rows_affected: (\d+)")
_USE: Final = re.compile(r"^use [`\"]?(?P<db>[^`\";]+)[`\"]?;\s*$", re.IGNORECASE)
_SESSION: Final = re.compile(
    r"^SET (?:(?:last_insert_id|insert_id|timestamp)=\d+(?:\.\d+)?,)*"
    r"(?:last_insert_id|insert_id|timestamp)=\d+(?:\.\d+)?;\s*$",
    re.IGNORECASE,
)
"""The session line a slow log writes before a statement: ``SET timestamp=...;``, and from
replication threads ``SET insert_id=...,timestamp=...;`` (pt-query-digest reads both)."""
_STAMP: Final = re.compile(r"timestamp=(\d+(?:\.\d+)?)", re.IGNORECASE)
_ONLY_COMMENT: Final = re.compile(r"^\s*(?:(?:--|#)[^\n]*\n?\s*|/\*.*?\*/\s*)*;?\s*$", re.DOTALL)


def _time_header(text: str) -> dt.datetime | None:
    """``# Time: 261128  7:01:47`` (MariaDB, MySQL 5.6; Percona adds microseconds) or
    ``2026-11-28T07:01:47.123Z``."""
    text = text.strip()
    try:
        if "T" in text:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        day, clock = text.split()
        fmt = "%y%m%d %H:%M:%S.%f" if "." in clock else "%y%m%d %H:%M:%S"
        return dt.datetime.strptime(f"{day} {clock}", fmt)
    except ValueError:
        return None


def _number(value: str) -> float | int | None:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return None


class _SlowLines:
    """The slow log's line-by-line state machine: the reference reader, and the fallback of
    :func:`read_slow` for every entry its fast pattern does not take whole."""

    def __init__(self, source: str, stats: ReadStats, errors: ErrorLevel) -> None:
        self.source = source
        self.stats = stats
        self.errors = errors
        self.header: dict[str, Any] = {}
        self.sql: list[str] = []
        self.start = 0
        self.db: str | None = None  # ``use db;`` carries over to later entries
        self.ts: dt.datetime | None = None  # ``# Time:`` carries over too
        self.next_line = 0

    def pending(self) -> bool:
        return bool(self.sql or self.header)

    def flush(self) -> QueryEvent | None:
        header, sql = self.header, self.sql
        self.header, self.sql = {}, []
        if not sql:
            if header:
                self.stats.skip("entry without a statement")
            return None
        text = "\n".join(sql).strip()
        if _ONLY_COMMENT.match(text):
            self.stats.skip("comment-only statement")
            return None
        if text.endswith(";"):
            text = text[:-1].rstrip()
        query_time = header.get("Query_time")
        return logged(
            text,
            None if query_time is None else float(query_time) * 1000.0,
            header.get("ts") or self.ts,
            None,
            "mysql",
            header.get("db") or self.db,
            header.get("user"),
            f"{self.source}:{self.start}",
            _int(header.get("Rows_sent")),
            _int(header.get("Rows_examined")),
            {k: header[k] for k in ("Lock_time", "Rows_affected", "Thread_id") if k in header},
        )

    def feed(self, lines: Iterable[str], first_line: int) -> Iterator[QueryEvent]:
        """Events completed by ``lines`` (numbered from ``first_line``); the last entry stays
        pending until :meth:`flush`. ``next_line`` is then the number after the last line."""
        header, sql = self.header, self.sql
        stats, source, errors = self.stats, self.source, self.errors
        lineno = first_line - 1
        for lineno, raw in enumerate(lines, first_line):
            line = raw.rstrip("\r\n")
            if line[:2] == "# ":
                tag = line[2:6]  # dispatch on four characters: most header lines are ignored
                if (tag == "User" and line.startswith("# User@Host:")) or (
                    tag == "Time" and line.startswith("# Time:")
                ):
                    if sql or "Query_time" in header:  # the previous entry is complete
                        event = self.flush()
                        if event is not None:
                            yield event
                        header, sql = self.header, self.sql
                    if tag == "Time":
                        self.ts = _time_header(line[7:])
                        continue
                    if not header:
                        self.start = lineno
                    m = _USER_HOST.match(line)
                    header["user"] = (m["user"] or None) if m is not None else None
                    continue
                if (sql and (tag == "Quer" or sql[-1].rstrip().endswith(";"))) or (
                    tag == "Quer" and "Query_time" in header and line.startswith("# Query_t")
                ):
                    # A header line after a statement starts the next entry, even without a
                    # ``# User@Host:`` line (pt-query-digest splits records at ``;\n#``):
                    # several ``# Query_time:`` blocks in a row, concatenated logs; and two
                    # timings in a row mean the first had no statement.
                    event = self.flush()
                    if event is not None:
                        yield event
                    header, sql = self.header, self.sql
                if not header:
                    self.start = lineno
                if tag == "admi" and line.startswith("# administrator command: "):
                    # Ping, Quit, Init DB, ...: the entry's statement (pt-query-digest counts
                    # them in their own classes); their time would otherwise be lost
                    sql.append(line[2:])
                    continue
                if tag == "Quer":
                    q = _QUERY_TIME.match(line)
                    if q is not None:
                        header["Query_time"] = float(q[1])
                        header["Lock_time"] = float(q[2])
                        header["Rows_sent"] = int(q[3])
                        header["Rows_examined"] = int(q[4])
                        continue
                elif tag == "Thre":
                    sch = _SCHEMA.search(line)
                    if sch is not None and sch["db"]:
                        header["db"] = sch["db"]
                    t = _THREAD.match(line)
                    if t is not None:
                        header["Thread_id"] = int(t[1])
                    continue
                elif tag == "Rows" and line.startswith("# Rows_affected:"):
                    r = _ROWS_AFFECTED.match(line)
                    if r is not None:
                        header["Rows_affected"] = int(r[1])
                    continue
                elif tag not in ("Sche", "Byte", "QC_h"):
                    continue  # innodb, query plan and other verbose lines: not needed
                if "Schema:" in line:  # MySQL 8 / Percona spell the header lines differently
                    sch = _SCHEMA.search(line)
                    if sch is not None and sch["db"]:
                        header["db"] = sch["db"]
                for key, value in _PAIRS.findall(line):
                    number = _number(value)
                    if number is not None:
                        header.setdefault(key, number)
                continue
            if line == "#":
                continue
            if (
                ", Version: " in line or line.startswith(("Tcp port:", "TCP Port:", "Time"))
            ) and _BANNER.match(line):
                event = self.flush()
                if event is not None:
                    yield event
                header, sql = self.header, self.sql
                stats.skip("server banner")
                continue
            if not sql:
                if not line.strip():
                    continue  # a blank line between entries: nothing to read, nothing wrong
                u = _USE.match(line) if line[:4].lower() == "use " else None
                if u is not None:
                    if not header:  # a `use` line before the header starts the entry
                        self.start = lineno
                    self.db = header["db"] = u["db"]
                    continue
                if line[:4] in ("SET ", "set ") and _SESSION.match(line):
                    stamp = _STAMP.search(line)
                    if stamp is not None:
                        if not header:
                            self.start = lineno
                        header["ts"] = dt.datetime.fromtimestamp(float(stamp[1]), dt.timezone.utc)
                        continue
                    if header:
                        continue  # a replication thread's session ids: not the statement
                if not header:
                    stats.bad(errors, f"{source}:{lineno}", "statement text outside an entry")
                    continue
            sql.append(line)
        self.next_line = lineno + 1


def read_slow_lines(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
) -> Iterator[QueryEvent]:
    """The slow log read line by line: :func:`read_slow`'s reference (same events, slower)."""
    state = _SlowLines(source, stats, errors)
    yield from state.feed(stream, first_line)
    event = state.flush()
    if event is not None:
        yield event
    stats.lines += state.next_line - first_line


# One whole entry in the two layouts servers write by default: MariaDB (User@Host, Thread_id
# and Schema, Query_time, Rows_affected) and MySQL 5.7/8 (User@Host with Id, Query_time),
# optionally after a ``# Time:`` line and followed by ``use db;`` and ``SET timestamp=...;``.
# The statement is every following line that does not start with ``#``, up to the next
# entry. ``split`` cuts a chunk into these entries in one pass in C, with the text between
# them (normally empty). What the pattern does not take (other header lines, comments,
# banners, odd ``use``/``SET`` lines, CRLF) goes through the line reader, so both give the
# same events (a Hypothesis test holds them to it).
_ENTRY_PATTERN: Final = (
    r"(?<![^\n])"  # at a line start
    r"(?:\# Time: (.*)\n)?"  # 1
    r"\# User@Host: ([^\[\s]*)\[[^\]\n]*\] @ .*\n"  # 2: user
    r"(?:\# Thread_id: (\d+)(?:.*?Schema: (\S*))?.*\n)?"  # 3, 4: schema
    rf"\# Query_time: ({_SECONDS[1:-1]})[ \t]+Lock_time: ({_SECONDS[1:-1]})[ \t]+"  # 5, 6
    r"Rows_sent: (\d+)[ \t]+Rows_examined: (\d+).*\n"  # 7, 8
    r"(?:\# Rows_affected: (\d+).*\n)?"  # 9
    r"(?:(?i:use) [`\"]?([^`\";\n]+)[`\"]?;[ \t]*\n)?"  # 10: what _USE takes, on one line
    r"(?:SET timestamp=(\d+(?:\.\d+)?);\n)?"  # 11
    r"(?!(?i:use |set timestamp=|set insert_id=|set last_insert_id=))"  # the line reader's
    r"((?:[^#\n].*\n|\n)+?)"  # 12: the statement
    r"(?=\# Time: |\# User@Host: |\Z)"
)  # (``.`` is ``[^\n]``, and the regex engine runs it faster)
_ENTRY: Final = re.compile(_ENTRY_PATTERN)
# The columns the workload aggregates: thread id, lock time and rows affected are only read
# again (with _ENTRY) for the events that are built, so split() makes 3 strings less each.
_COLUMNS: Final = re.compile(
    _ENTRY_PATTERN.replace(r"Thread_id: (\d+)", r"Thread_id: \d+")
    .replace(rf"Lock_time: ({_SECONDS[1:-1]})", rf"Lock_time: (?:{_SECONDS[1:-1]})")
    .replace(r"Rows_affected: (\d+)", r"Rows_affected: \d+")
)
# split() returns the text before each entry, then its groups: time, user, schema, query
# time, rows sent, rows examined, use, timestamp, statement
_C_TIME, _C_USER, _C_SCHEMA, _C_QT, _C_SENT, _C_EXAMINED, _C_USE, _C_STAMP, _C_SQL = range(1, 10)
_FIELDS: Final = 10
# Statement lines the line reader reads as a server banner (all statements searched first).
_BANNER_IN: Final = re.compile(r"\nTime|, Version: |\nTcp port:|\nTCP Port:")
_ODD_FIRST: Final = frozenset(("", "-", "#", "/", ";"))  # maybe only a comment
_CHUNK: Final = 1 << 20


def read_slow(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
    chunk_size: int = _CHUNK,
    carry: Mapping[str, str] | None = None,
) -> Iterator[QueryEvent]:
    """Events from a slow query log (MySQL 5.6-8.x, MariaDB, Percona extra fields).

    Reads ~1 MB at a time and cuts it into whole entries with one regular expression (the
    regex engine walks the 5-8 lines of every entry in C); anything unusual goes through the
    line-by-line reader, which gives the same events.
    """
    return events_of(
        read_slow_batches(
            stream,
            source=source,
            stats=stats,
            errors=errors,
            first_line=first_line,
            chunk_size=chunk_size,
            carry=carry,
        )
    )


def read_slow_batches(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
    chunk_size: int = _CHUNK,
    carry: Mapping[str, str] | None = None,
) -> Iterator[QueryEvent | EventBatch]:
    """:func:`read_slow`, with runs of usual entries as :class:`~backendperf.events.EventBatch`
    columns instead of one event each (what :class:`~backendperf.workload.Workload` reads
    fastest). ``carry``: the ``use db;`` and ``# Time:`` values in force where the text starts
    (``{"db": ..., "time": ...}``), for a part of a log read on its own (``--jobs``)."""
    reader = _SlowChunks(source, stats, errors)
    if carry:
        reader.lines.db = carry.get("db") or None
        reader.lines.ts = _time_header(carry["time"]) if carry.get("time") else None
    lineno = first_line  # number of the first line of ``body``
    # complete entries only: each piece ends before the last entry start read
    for body, _ in chunks(stream, chunk_size, _last_entry_start):
        if "\r" in body:  # CR/CRLF line ends: the line reader splits and strips them
            lines = io.StringIO(body, newline="").readlines()
            yield from reader.lines.feed(lines, lineno)
            lineno += len(lines)
            continue
        yield from reader.chunk(body, lineno)
        lineno += body.count("\n") + (body[-1] != "\n")
    last = reader.lines.flush()
    if last is not None:
        yield last
    stats.lines += lineno - first_line


class _SlowChunks:
    """:func:`read_slow`'s state: the line reader (for what the entry pattern leaves) and the
    cache of ``SET timestamp`` values."""

    def __init__(self, source: str, stats: ReadStats, errors: ErrorLevel) -> None:
        self.lines = _SlowLines(source, stats, errors)
        self.source = source
        self.stamps: dict[str, dt.datetime] = {}  # SET timestamp value -> datetime

    def chunk(self, body: str, lineno: int) -> list[QueryEvent | EventBatch]:
        """The events of ``body`` (whole lines, ``\n`` ends; its first line is ``lineno``)."""
        parts = _COLUMNS.split(body)
        between = parts[0::_FIELDS]
        sqls = parts[_C_SQL::_FIELDS]
        n = len(sqls)
        # the event texts, in C loops: stripped, without the final ``;``
        texts: list[str] = list(
            map(str.rstrip, map(str.removesuffix, map(str.strip, sqls), itertools.repeat(";")))
        )
        odd: set[int] = set()  # entries the line reader must read
        if not _ODD_FIRST.isdisjoint(map(operator.itemgetter(slice(0, 1)), texts)):
            odd.update(i for i, sql in enumerate(sqls) if _comment_only(sql))
        joined = "\n" + "".join(sqls)
        if "\nT" in joined or ", Version: " in joined:  # "\nTime", "\nTcp port", "\nTCP Port"
            odd.update(i for i, sql in enumerate(sqls) if _BANNER_IN.search("\n" + sql))
        out: list[QueryEvent | EventBatch] = []
        lines = self.lines
        if not odd and not any(between) and not _header_only(lines):
            self._flush(out)
            if n:
                starts: list[tuple[list[int], list[int]]] = []

                def where(i: int) -> tuple[int, int]:  # found only when an event is built
                    if not starts:
                        starts.append(_entry_starts(body, lineno))
                    at_line, at_offset = starts[0]
                    return at_line[i], at_offset[i]

                out.append(self._batch(body, parts, texts, 0, n, where))
            return out
        # Something unusual: entry by entry, the usual ones still in runs of columns.
        spans = [m.span() for m in _COLUMNS.finditer(body)]  # the same matches as split's
        entry_at = [(0, 0)] * n  # (line, offset) of each entry's event
        line = lineno
        run = 0  # the current run of usual entries
        for i in range(n):
            text = between[i]
            if text:  # lines the pattern did not take: the line reader's
                if run < i:
                    out.append(self._batch(body, parts, texts, run, i, entry_at.__getitem__))
                fed = split_lines(text)
                out.extend(lines.feed(fed, line))
                line += len(fed)
                run = i
            start, end = spans[i]
            entry_at[i] = (line + (parts[i * _FIELDS + _C_TIME] is not None), start)  # after # Time
            if i in odd or _header_only(lines):
                if run < i:
                    out.append(self._batch(body, parts, texts, run, i, entry_at.__getitem__))
                fed = split_lines(body[start:end])
                out.extend(lines.feed(fed, line))
                line += len(fed)
                run = i + 1
                continue
            if run == i:
                self._flush(out)
            line += body.count("\n", start, end)
        if run < n:
            out.append(self._batch(body, parts, texts, run, n, entry_at.__getitem__))
        if between[n]:
            out.extend(lines.feed(split_lines(between[n]), line))
        return out

    def _flush(self, out: list[QueryEvent | EventBatch]) -> None:
        """The line reader's pending entry is complete: the next one starts here."""
        if self.lines.pending():
            event = self.lines.flush()
            if event is not None:
                out.append(event)

    def _batch(
        self,
        body: str,
        parts: list[Any],
        texts: list[str],
        a: int,
        b: int,
        where: Callable[[int], tuple[int, int]],
    ) -> EventBatch:
        """Entries ``a`` to ``b`` of a split chunk as columns (``where(i)``: the line where
        entry ``i`` of the chunk starts, and its offset in ``body``)."""

        def col(group: int) -> list[Any]:
            return parts[a * _FIELDS + group : b * _FIELDS : _FIELDS]

        state = self.lines
        n = b - a
        times, users, schemas = col(_C_TIME), col(_C_USER), col(_C_SCHEMA)
        qts, sent, examined = col(_C_QT), col(_C_SENT), col(_C_EXAMINED)
        uses, stamps = col(_C_USE), col(_C_STAMP)
        ms = list(map(operator.mul, map(float, qts), itertools.repeat(1000.0)))
        ts: list[dt.datetime | None]
        if None in stamps:  # an entry without SET timestamp: the last ``# Time:`` line's
            ts = self._stamps_by_entry(times, stamps)
        else:
            ts = parse_each(self.stamps, stamps, _unix_time)  # type: ignore[arg-type]
            if times.count(None) != n:  # ``# Time:`` lines: the last one carries over
                state.ts = _time_header(next(t for t in reversed(times) if t is not None))
        if uses.count(None) == n and None not in schemas and "" not in schemas:
            dbs: list[str | None] = schemas
        else:  # ``use db;`` lines change the database of later entries without a Schema
            dbs = []
            for schema, use in zip(schemas, uses, strict=True):
                db = schema or state.db
                if use is not None:
                    state.db = db = use
                dbs.append(db)
        statements = texts[a:b]
        rowcount = list(map(int, sent))
        rows_examined = list(map(int, examined))
        source = self.source

        def event(i: int) -> QueryEvent:
            line, offset = where(a + i)
            m = _ENTRY.match(body, offset)  # the fields only events carry
            assert m is not None  # split() matched here
            thread, lock, affected = m.group(3, 6, 9)
            extra: dict[str, Any] = {"Lock_time": float(lock)}
            if affected is not None:
                extra["Rows_affected"] = int(affected)
            if thread is not None:
                extra["Thread_id"] = int(thread)
            # QueryEvent's fields in order (see events.logged)
            return QueryEvent(
                statements[i],
                ms[i],
                ts[i],
                None,
                None,
                rowcount[i],
                rows_examined[i],
                "mysql",
                dbs[i],
                users[i] or None,
                None,
                None,
                1,
                f"{source}:{line}",
                extra,
            )

        return EventBatch("mysql", statements, ms, ts, rowcount, rows_examined, dbs, users, event)

    def _stamps_by_entry(
        self, times: list[str | None], stamps: list[str | None]
    ) -> list[dt.datetime | None]:
        """Each entry's time: its ``SET timestamp``, else the last ``# Time:`` line's."""
        state = self.lines
        parsed = iter(parse_each(self.stamps, [t for t in stamps if t is not None], _unix_time))
        out: list[dt.datetime | None] = []
        for time_text, stamp in zip(times, stamps, strict=True):
            if time_text is not None:
                state.ts = _time_header(time_text)
            out.append(state.ts if stamp is None else next(parsed))
        return out


def _unix_time(stamp: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(stamp), dt.timezone.utc)


def _comment_only(sql: str) -> bool:
    text = sql.strip()
    return (not text or text[0] in "-#/;") and _ONLY_COMMENT.match(text) is not None


def _entry_starts(body: str, first_line: int) -> tuple[list[int], list[int]]:
    """The line and the offset of each ``# User@Host:`` line in ``body`` (where each entry's
    event starts), in C loops: the k-th separator follows the text of the pieces before it
    and k separators."""
    sep = "\n# User@Host: "
    pieces = body.split(sep)[:-1]
    ends = itertools.accumulate(map(len, pieces))
    newlines = itertools.accumulate(map(str.count, pieces, itertools.repeat("\n")))
    offsets = list(map(operator.add, ends, itertools.count(1, len(sep))))
    lines = list(map(operator.add, newlines, itertools.count(first_line + 1)))
    if body.startswith(sep[1:]):  # the first entry has no newline before it
        offsets.insert(0, 0)
        lines.insert(0, first_line)
    return lines, offsets


def _header_only(lines: _SlowLines) -> bool:
    """Header lines without a statement are pending: the line reader merges them into the
    next entry, so that entry must go through it too."""
    return bool(lines.header) and not lines.sql and "Query_time" not in lines.header


def _last_entry_start(buf: str) -> int:
    """Offset of the last line that starts an entry (a ``# Time:`` line right before a
    ``# User@Host:`` line counts as its start). In a log without ``# User@Host:`` lines, the
    last line start: the pattern then takes no entry and the line reader, whose state carries
    over, reads it all, one bounded piece at a time. -1 when there is no line start at all."""
    at = buf.rfind("\n# User@Host: ")
    if at < 0:
        if buf.startswith("# User@Host: "):
            return -1  # one entry, longer than what was read: read on
        last = buf.rfind("\n", 0, len(buf) - 1)
        return -1 if last < 0 else last + 1
    prev = buf.rfind("\n", 0, at)
    if buf.startswith("# Time: ", prev + 1):
        return prev + 1
    return at + 1


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


_COMMANDS: Final = (
    "Query|Execute|Connect|Quit|Init DB|Prepare|Close stmt|Reset stmt|Field List|Statistics|"
    "Ping|Shutdown|Refresh|Sleep|Change user|Binlog Dump|Table Dump|Kill|Set option|Fetch|"
    "Long Data|Debug|Processlist|Time|Delayed insert|Register Slave|Daemon|Error|Connect Out|"
    "Create DB|Drop DB|Killed|Binlog Dump GTID|Reset connection"
)
GENERAL_LINE: Final = (
    r"^(?P<ts>\d{6}\s+\d{1,2}:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\dT\S+)?[ \t]+(?P<id>\d+)[ \t]"
    rf"(?P<cmd>{_COMMANDS})(?:[ \t]+|$)(?P<arg>.*)$"
)
"""A general-log line: time (only when it changed), thread id, command, argument. MySQL 5.6+
and MariaDB separate the fields with tabs; MySQL 5.0/5.1 pad them with spaces, and some tools
rewrite the tabs as spaces throughout: any run of blanks separates them."""
_GENERAL: Final = re.compile(GENERAL_LINE)
_CONNECT: Final = re.compile(r"^(?P<user>[^@\s]*)@\S+(?: on (?P<db>\S+))?")


def read_general(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
) -> Iterator[QueryEvent]:
    """Events from a general query log (``Query`` and ``Execute`` commands; no durations)."""
    sessions: dict[str, tuple[str | None, str | None]] = {}
    pending: dict[str, Any] | None = None
    ts: dt.datetime | None = None

    def flush() -> Iterator[QueryEvent]:
        if pending is None:
            return
        text = "\n".join(pending["sql"]).strip()
        if not text or _ONLY_COMMENT.match(text):
            stats.skip("comment-only statement")
            return
        user, db = sessions.get(pending["id"], (None, None))
        yield QueryEvent(
            statement=text,
            ts=pending["ts"],
            dialect="mysql",
            database=db,
            user=user,
            source=pending["where"],
            extra={"Thread_id": int(pending["id"]), "command": pending["cmd"]},
        )

    for lineno, raw in enumerate(stream, first_line):
        stats.lines += 1
        line = raw.rstrip("\r\n")
        m = _GENERAL.match(line)
        if m is None:
            if _BANNER.match(line):
                stats.skip("server banner")
            elif pending is not None:
                pending["sql"].append(line)
            elif line.strip():
                stats.bad(errors, f"{source}:{lineno}", "not a general log line")
            continue
        yield from flush()
        pending = None
        if m["ts"]:
            ts = _time_header(m["ts"])
        cmd, ident, arg = m["cmd"], m["id"], m["arg"]
        if cmd in ("Query", "Execute"):
            pending = {
                "sql": [arg],
                "ts": ts,
                "id": ident,
                "cmd": cmd,
                "where": f"{source}:{lineno}",
            }
        elif cmd == "Connect":
            c = _CONNECT.match(arg)
            sessions[ident] = (c["user"], c["db"]) if c else (None, None)
            stats.skip("connect")
        elif cmd == "Init DB":
            user = sessions.get(ident, (None, None))[0]
            sessions[ident] = (user, arg.strip() or None)
            stats.skip("init db")
        else:
            if cmd == "Quit":
                sessions.pop(ident, None)
            stats.skip(f"{cmd.lower()} command")
    yield from flush()

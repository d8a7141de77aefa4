"""MySQL and MariaDB logs: the slow query log and the general query log."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
from typing import IO, TYPE_CHECKING, Any, Final

from backendperf.events import QueryEvent, logged
from backendperf.workload.readers.base import ErrorLevel, ReadStats

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["read_general", "read_slow", "read_slow_lines"]

_BANNER: Final = re.compile(
    r"^(?:\S+, Version: .*started with:|Tcp port: .*|Time\s+Id\s+Command\s+Argument)\s*$"
)
_USER_HOST: Final = re.compile(r"^# User@Host: (?P<user>[^\[\s]*)\[[^\]]*\] @ ")
_SCHEMA: Final = re.compile(r"Schema: (?P<db>\S*)")
_PAIRS: Final = re.compile(r"(\w+): (\S+)")
_SECONDS: Final = r"(\d+(?:\.\d*)?|\.\d+)"  # what float() takes ([\d.]+ let "1.2.3" through)
_QUERY_TIME: Final = re.compile(
    rf"# Query_time: {_SECONDS}[ \t]+Lock_time: {_SECONDS}[ \t]+"
    r"Rows_sent: (\d+)[ \t]+Rows_examined: (\d+)"
)
_THREAD: Final = re.compile(r"# Thread_id: (\d+)")
_ROWS_AFFECTED: Final = re.compile(r"# Rows_affected: (\d+)")
_USE: Final = re.compile(r"^use [`\"]?(?P<db>[^`\";]+)[`\"]?;\s*$", re.IGNORECASE)
_SET_TS: Final = re.compile(r"^SET timestamp=(?P<ts>\d+(?:\.\d+)?);\s*$", re.IGNORECASE)
_ONLY_COMMENT: Final = re.compile(r"^\s*(?:(?:--|#)[^\n]*\n?\s*|/\*.*?\*/\s*)*;?\s*$", re.DOTALL)


def _time_header(text: str) -> dt.datetime | None:
    """``# Time: 261128  7:01:47`` (MariaDB, MySQL 5.6) or ``2026-11-28T07:01:47.123Z``."""
    text = text.strip()
    try:
        if "T" in text:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        day, clock = text.split()
        return dt.datetime.strptime(f"{day} {clock}", "%y%m%d %H:%M:%S")
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
                if not header:
                    self.start = lineno
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
            if (", Version: " in line or line.startswith(("Tcp port:", "Time"))) and _BANNER.match(
                line
            ):
                event = self.flush()
                if event is not None:
                    yield event
                header, sql = self.header, self.sql
                stats.skip("server banner")
                continue
            if not sql:
                u = _USE.match(line) if line[:4].lower() == "use " else None
                if u is not None:
                    if not header:  # a `use` line before the header starts the entry
                        self.start = lineno
                    self.db = header["db"] = u["db"]
                    continue
                t = _SET_TS.match(line) if line[:4] in ("SET ", "set ") else None
                if t is not None:
                    if not header:
                        self.start = lineno
                    header["ts"] = dt.datetime.fromtimestamp(float(t["ts"]), dt.timezone.utc)
                    continue
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
# entry. What the pattern does not take whole (other header lines, comments, banners, CRLF)
# goes through the line reader, so both give the same events (a Hypothesis test holds them
# to it).
_ENTRY: Final = re.compile(
    r"(?:\# Time: (?P<time>[^\n]*)\n)?"
    r"\# User@Host: (?P<user>[^\[\s]*)\[[^\]\n]*\] @ [^\n]*\n"
    r"(?:\# Thread_id: (?P<thread>\d+)(?:[^\n]*?Schema: (?P<schema>\S*))?[^\n]*\n)?"
    rf"\# Query_time: (?P<qt>{_SECONDS[1:-1]})[ \t]+Lock_time: (?P<lt>{_SECONDS[1:-1]})[ \t]+"
    r"Rows_sent: (?P<rs>\d+)[ \t]+Rows_examined: (?P<rx>\d+)[^\n]*\n"
    r"(?:\# Rows_affected: (?P<ra>\d+)[^\n]*\n)?"
    r"(?:(?P<use>[Uu][Ss][Ee] [^\n]*)\n)?"
    r"(?:SET timestamp=(?P<ts>\d+(?:\.\d+)?);\n)?"
    r"(?P<sql>(?:[^#\n][^\n]*\n|\n)+?)"
    r"(?=\# Time: |\# User@Host: |\Z)"
)
# Statement text the line reader reads differently: banner lines, and a first line that
# it takes for ``use``/``SET timestamp`` (the pattern takes only the usual spellings).
_BANNER_IN: Final = re.compile(r"(?:\A|\n)Time|, Version: |Tcp port:")
_ODD_HEAD: Final = re.compile(r"(?i:use |set timestamp=)")
_ODD_STARTS: Final = frozenset(  # every spelling of its first four characters: one set lookup
    "".join(c)
    for word in ("use ", "set ")
    for c in itertools.product(*({x.lower(), x.upper()} for x in word))
)
# Where the next entry may begin (for the line reader's share, and for chunk boundaries).
_NEXT_ENTRY: Final = re.compile(r"^\# (?:Time|User@Host): ", re.MULTILINE)
_CHUNK: Final = 1 << 20


def read_slow(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
    chunk_size: int = _CHUNK,
) -> Iterator[QueryEvent]:
    """Events from a slow query log (MySQL 5.6-8.x, MariaDB, Percona extra fields).

    Reads ~1 MB at a time and takes each entry whole with one regular expression (the
    regex engine walks the 5-8 lines of an entry in C); anything unusual goes through the
    line-by-line reader, which gives the same events.
    """
    state = _SlowLines(source, stats, errors)
    match_entry = _ENTRY.match
    lineno = first_line  # number of the line at ``pos``
    carry = ""
    last_ts_text: str | None = None
    last_ts: dt.datetime | None = None
    eof = False
    while not eof:
        chunk = stream.read(chunk_size)
        eof = not chunk
        buf = carry + chunk
        if not buf:
            break
        if eof:
            limit = len(buf)
        else:  # complete entries only: stop before the last entry start in the buffer
            limit = _last_entry_start(buf)
            if limit <= 0:
                carry = buf  # one entry longer than the chunk: read on
                continue
        if "\r" in buf:  # CR/CRLF line ends: the line reader splits and strips them
            crlf = io.StringIO(buf[:limit], newline="").readlines()
            yield from state.feed(crlf, lineno)
            lineno += len(crlf)
            carry = buf[limit:]
            continue
        pos = 0
        while pos < limit:
            m = match_entry(buf, pos, limit)
            if m is not None:
                (time_text, user, thread, schema, qt, lt, rs, rx, ra, use, ts_text, sql) = (
                    m.groups()
                )
                # substring tests first: a regex search over every statement costs more
                if (
                    (
                        ("Time" in sql or ", Version: " in sql or "Tcp port:" in sql)
                        and _BANNER_IN.search(sql) is not None
                    )
                    or (sql[:4] in _ODD_STARTS and _ODD_HEAD.match(sql) is not None)
                    or (use is not None and _USE.match(use) is None)
                ):
                    m = None  # banners, odd `use` or SET lines: the line reader decides
            if m is None or (
                (state.header or state.sql) and not (state.sql or "Query_time" in state.header)
            ):
                # Not taken whole, or header lines without a statement before it (which the
                # line reader merges into this entry): the line reader reads up to the next entry.
                after = pos + 1 if m is None else m.start("user") + 1
                lines, pos = _region(buf, pos, after, limit)
                yield from state.feed(lines, lineno)
                lineno += len(lines)
                continue
            if state.sql or state.header:
                event = state.flush()
                if event is not None:
                    yield event
            if time_text is not None:
                state.ts = _time_header(time_text)
                lineno += 1
            db = schema or state.db
            if use is not None:
                state.db = db = _USE.match(use)["db"]  # type: ignore[index]  # matched above
            if ts_text is None:
                ts = state.ts
            elif ts_text == last_ts_text:
                ts = last_ts
            else:
                ts = last_ts = dt.datetime.fromtimestamp(float(ts_text), dt.timezone.utc)
                last_ts_text = ts_text
            start = state.start = lineno
            end = m.end()
            lineno += buf.count("\n", pos, end) - (time_text is not None)
            pos = end
            text = sql.strip()
            if (not text or text[0] in "-#/;") and _ONLY_COMMENT.match(text):
                stats.skip("comment-only statement")
                continue
            if text[-1] == ";":
                text = text[:-1].rstrip()
            extra: dict[str, Any] = {"Lock_time": float(lt)}
            if ra is not None:
                extra["Rows_affected"] = int(ra)
            if thread is not None:
                extra["Thread_id"] = int(thread)
            # QueryEvent's fields in order (see events.logged): one call per entry
            yield QueryEvent(
                text,
                float(qt) * 1000.0,
                ts,
                None,
                None,
                int(rs),
                int(rx),
                "mysql",
                db,
                user or None,
                None,
                None,
                1,
                f"{source}:{start}",
                extra,
            )
        carry = buf[limit:]
    last = state.flush()
    if last is not None:
        yield last
    stats.lines += lineno - first_line


def _region(buf: str, pos: int, after: int, limit: int) -> tuple[list[str], int]:
    """The lines from ``pos`` up to the next entry start after ``after`` (or ``limit``),
    for the line reader, and where they end. ``buf`` has no ``\\r``: ``\\n`` ends lines."""
    nxt = _NEXT_ENTRY.search(buf, after, limit)
    end = limit if nxt is None else nxt.start()
    lines = buf[pos:end].split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines, end


def _last_entry_start(buf: str) -> int:
    """Offset of the last line that starts an entry (a ``# Time:`` line right before a
    ``# User@Host:`` line counts as its start); -1 when there is none."""
    at = buf.rfind("\n# User@Host: ")
    if at < 0:
        return -1
    prev = buf.rfind("\n", 0, at)
    if buf.startswith("# Time: ", prev + 1):
        return prev + 1
    return at + 1


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


_GENERAL: Final = re.compile(
    r"^(?P<ts>\d{6}\s+\d{1,2}:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+)?\s*\t\s*(?P<id>\d+)\s"
    r"(?P<cmd>[A-Z][A-Za-z]*(?: [A-Za-z]+)?)\t?(?P<arg>.*)$"
)
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

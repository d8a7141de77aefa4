"""PostgreSQL logs: stderr (any ``log_line_prefix``), csvlog and jsonlog.

All three feed one state machine (:class:`_Messages`) with the same message fields, so
``log_min_duration_statement`` (``duration: X ms  statement: ...``), ``log_statement=all`` with
``log_duration`` (the statement, then a separate ``duration:`` line), the extended protocol
(``execute <name>: ...`` with ``DETAIL:  parameters: $1 = '...'``), auto_explain plans and
ERROR/STATEMENT pairs all come out the same way in every format.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import functools
import io
import itertools
import json
import operator
import re
from dataclasses import replace
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

__all__ = [
    "DEFAULT_PREFIX",
    "csv_record",
    "parse_parameters",
    "prefix_regex",
    "read_csvlog",
    "read_csvlog_batches",
    "read_csvlog_rows",
    "read_jsonlog",
    "read_jsonlog_batches",
    "read_jsonlog_rows",
    "read_stderr",
    "read_stderr_batches",
    "read_stderr_lines",
]

_CHUNK: Final = 1 << 20
DEFAULT_PREFIX: Final = "%m [%p] %q%u@%d "
"""Debian's ``log_line_prefix``."""

SEVERITIES: Final = (
    "LOG|ERROR|DETAIL|STATEMENT|HINT|CONTEXT|WARNING|NOTICE|FATAL|PANIC|INFO|QUERY|LOCATION|"
    "DEBUG[1-5]?"
)

_ESCAPES: Final = {
    "m": r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+(?: [A-Za-z+\-0-9]+)?)",
    "t": r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: [A-Za-z+\-0-9]+)?)",
    "n": r"(?P<ts>\d+\.\d+)",  # Unix time: parse_ts reads both
    "p": r"(?P<pid>\d+)",
    # (whitespace spelled out: a class of characters only is a bitmap, 1.5x faster)
    "u": r"(?P<user>\[unknown\]|[^@ \t\n\r\f\v,\]]*)",
    "d": r"(?P<db>\[unknown\]|[^@ \t\n\r\f\v,\]]*)",
    "a": r"(?P<app>\[unknown\]|[^\]\[]*?)",  # [unknown]: application_name unset
    "h": r"(?P<host>\S*)",
    "r": r"(?P<hostport>\S*)",
    "l": r"\d+",
    "c": r"[0-9a-f.]+",
    "v": r"[\d/]*",
    "x": r"\d*",
    "e": r"[0-9A-Z]{5}",
    "i": r"[A-Za-z ]*?",
    "s": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: [A-Za-z+\-0-9]+)?",
    "b": r"[a-z ]+?",
    "Q": r"-?\d+",
    "%": "%",
}


KNOWN_PREFIXES: Final = (
    DEFAULT_PREFIX,
    "%m [%p] ",  # PostgreSQL's own default
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",  # pgBadger's advice
    "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: [%l-1] db=%d,user=%u ",
    "%t [%p]: [%l-1] ",
    "%t [%p]: ",
    "%m [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%m [%p] %u@%d ",
    "%t [%p] %u@%d ",
    "%m [%p]: [%l-1] db=%d,user=%u ",  # Google Cloud SQL
    "%t:%r:%u@%d:[%p]:",  # Amazon RDS / Aurora
    "%m:%r:%u@%d:[%p]:",
    "%m [%p] %q[user=%u,db=%d,app=%a] ",
    "%t [%p-%l] %q%u@%d ",  # Ubuntu's older default
    "%m %u %d [%p] ",
    "%t ",
    "%m ",
)
"""The ``log_line_prefix`` values met most often, tried in this order when none is given."""


def infer_prefix(head: str, candidates: tuple[str, ...] = KNOWN_PREFIXES) -> str | None:
    """The :data:`KNOWN_PREFIXES` entry that reads the most lines of ``head`` (the first in the
    list on a tie), or None when none reads any. A prefix that captures the user and database
    wins over a shorter one that only reads past them.

    >>> infer_prefix("2026-11-28 06:55:14 UTC [42]: [1-1] user=app,db=shop,app=psql,client=::1 "
    ...              "LOG:  duration: 1.0 ms  statement: SELECT 1\\n")
    '%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h '
    """
    lines = head.splitlines()[:200]
    best: tuple[int, int, int] = (0, 0, 0)
    chosen = None
    for rank, prefix in enumerate(candidates):
        regex = prefix_regex(prefix)
        read = [m for m in map(regex.match, lines) if m is not None]
        fields = sum("user" in m.groupdict() and m["user"] is not None for m in read[:20])
        score = (len(read), fields, -rank)
        if read and score > best:
            best, chosen = score, prefix
    return chosen


def prefix_regex(prefix: str) -> re.Pattern[str]:
    """Compile a ``log_line_prefix`` (pgBadger's ``--prefix``) into a line matcher.

    >>> m = prefix_regex(DEFAULT_PREFIX).match(
    ...     "2026-11-28 06:55:14.778 UTC [12511] postgres@bench LOG:  duration: 0.1 ms")
    >>> m["pid"], m["user"], m["db"], m["severity"]
    ('12511', 'postgres', 'bench', 'LOG')
    """
    return re.compile(
        rf"^{_prefix_body(prefix)}\s*(?P<severity>{SEVERITIES}): {{1,2}}(?P<message>.*)$",
        re.DOTALL | re.ASCII,  # PostgreSQL's digits and spaces (and a faster match)
    )


# Escapes that print at least one character, never whitespace first (``possessive``).
_SOLID: Final = frozenset("mtnplceQs")


def _prefix_body(
    prefix: str,
    *,
    again: bool = False,
    pid: str = "pid",
    fields: bool = True,
    possessive: bool = False,
) -> str:
    """The pattern of the prefix itself (what :func:`prefix_regex` matches before the
    severity). ``again``: the prefix of a later line of the same message, in a pattern that
    already matched the first (no group captured; the pid must be the same: ``(?P=pid)``).
    ``pid``: the name of the process id's group (another line's own: ``spid``, say);
    ``fields``: capture the other fields too (else only the process id). ``possessive``:
    a quantifier never gives back what it took where what follows could not take it
    (``\\s++`` before a field that cannot start with a space, say): the same matches, found
    without retrying where a line does not match (1.3x faster on a failing line)."""
    out: list[str] = []
    optional = False
    i = 0
    seen: set[str] = set()

    def after(j: int) -> str:
        """What follows at ``j``: ``""`` (the end), ``%x`` (an escape) or a literal."""
        while prefix.startswith("%q", j):
            j += 2
        if j >= len(prefix):
            return ""
        if prefix[j] == "%" and j + 1 < len(prefix) and prefix[j + 1] != "%":
            return prefix[j : j + 2]
        return prefix[j]

    while i < len(prefix):
        c = prefix[i]
        if c == "%" and i + 1 < len(prefix):
            code = prefix[i + 1]
            i += 2
            if code == "q":  # the rest is printed only in session processes
                out.append("(?:")
                optional = True
                continue
            rx = _ESCAPES.get(code, r"\S*")
            name = re.match(r"\(\?P<(\w+)>", rx)
            if name and name[1] == "pid" and "pid" not in seen:
                rx = f"(?P={pid})" if again else rx.replace("(?P<pid>", f"(?P<{pid}>")
            elif name and (again or not fields or name[1] in seen):
                # a second %u, say: matched, not captured
                rx = re.sub(r"\(\?P<\w+>", "(?:", rx)
            if name:
                seen.add(name[1])
            if possessive:
                nxt = after(i)
                literal = not nxt.startswith("%") or nxt == "%"
                if code in "mnp" and literal and not nxt.isdigit():
                    rx = rx.replace(r"\d+)", r"\d++)").replace(r"\.\d+(", r"\.\d++(")
                elif code in "ud" and nxt in ("", "@", " ", ",", "]"):
                    rx = rx.replace("]]*)", "]]*+)")
            out.append(rx)
            continue
        if c == " ":
            nxt = after(i + 1)
            solid = nxt[1:] in _SOLID if nxt.startswith("%") else nxt != " "
            out.append(r"\s++" if possessive and solid else r"\s+")
        else:
            out.append(re.escape(c))
        i += 1
    if optional:
        out.append(")?")
    return "".join(out)


_DURATION_KIND: Final = re.compile(
    r"duration: (?P<ms>\d+(?:\.\d+)?) ms(?:$| {1,2}(?P<kind>statement|execute|parse|bind|plan)"
    r"(?: (?P<name>[^:]*))?:\s?(?P<sql>.*)$)",
    re.DOTALL,
)
_STEP_SKIPS: Final = {
    "parse": "parse step (the execute is counted)",
    "bind": "bind step (the execute is counted)",
}
_KIND = re.compile(
    r"(?P<kind>statement|execute|parse|bind|plan)(?: (?P<name>[^:]*))?:\s?(?P<sql>.*)$", re.DOTALL
)
_PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")


def parse_parameters(detail: str) -> tuple[Any, ...] | None:
    """The values of ``DETAIL:  parameters: $1 = '5', $2 = NULL`` (strings, or None).

    >>> parse_parameters("parameters: $1 = '263158', $2 = NULL, $3 = 'it''s'")
    ('263158', None, "it's")
    """
    if not detail.startswith("parameters:"):
        return None
    values: dict[int, Any] = {}
    for num, raw in _PARAM.findall(detail):
        values[int(num)] = None if raw == "NULL" else raw[1:-1].replace("''", "'")
    if not values:
        return None
    return tuple(values.get(i) for i in range(1, max(values) + 1))


def parse_ts(text: str | None) -> dt.datetime | None:
    """A PostgreSQL log timestamp (``2026-11-28 06:55:14.778 UTC``, or Unix time from ``%n``:
    ``1795886114.778``); naive for unknown zones.

    >>> parse_ts("1795886114.778") == parse_ts("2026-11-28 17:15:14.778 UTC")
    True
    """
    if not text:
        return None
    if "-" not in text and ":" not in text:  # %n
        try:
            return dt.datetime.fromtimestamp(float(text), dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None
    parts = text.split(" ")
    stamp = " ".join(parts[:2])
    zone = parts[2] if len(parts) > 2 else ""
    try:
        when = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if zone in ("UTC", "GMT", "Z"):
        return when.replace(tzinfo=dt.timezone.utc)
    if zone[:1] in "+-" and zone[1:].isdigit():
        return when.replace(tzinfo=dt.timezone(dt.timedelta(hours=int(zone))))
    return when


_SEVERITY_NAMES: Final = frozenset(SEVERITIES.split("|")[:-1]) | {f"DEBUG{i}" for i in range(1, 6)}

_CANCEL_REASONS: Final = (
    ("canceling statement due to statement timeout", "statement timeout"),
    ("canceling statement due to lock timeout", "lock timeout"),
    ("canceling statement due to user request", "user request"),
    ("canceling statement due to conflict with recovery", "recovery conflict"),
    ("deadlock detected", "deadlock"),
)


def cancel_reason(message: str) -> str:
    """Why a statement logged with an ``ERROR:`` did not complete.

    >>> cancel_reason("canceling statement due to statement timeout")
    'statement timeout'
    >>> cancel_reason('relation "nope" does not exist at character 15')
    'error'
    """
    for start, reason in _CANCEL_REASONS:
        if message.startswith(start):
            return reason
    return "error"


class _Messages:
    """Turns PostgreSQL log messages into QueryEvents (shared by the three formats)."""

    def __init__(
        self,
        stats: ReadStats,
        source: str,
        get: Callable[[Any, str], Any] = dict.get,
        ts_user_db: Callable[[Any], tuple[Any, Any, Any]] | None = None,
    ) -> None:
        self.stats = stats
        self.source = source
        self.get = get
        """Reads a field (ts, pid, user, db) of whatever a format passes as ``fields``."""
        self.ts_user_db = ts_user_db or (
            lambda fields: (get(fields, "ts"), get(fields, "user"), get(fields, "db"))
        )
        """The three fields every event reads, in one call (a stderr prefix: one C call)."""
        self.waiting: dict[str, QueryEvent] = {}
        """pid -> a logged statement still waiting for its ``duration:`` line."""

    _last_ts: tuple[str | None, dt.datetime | None] = (None, None)
    _who: tuple[Any, Any] = (None, None)
    _clean_who: tuple[str | None, str | None] = (None, None)

    def _event(
        self,
        sql: str,
        ms: float | None,
        fields: Any,
        detail: str | None,
        line: int,
    ) -> QueryEvent:
        text, raw_user, raw_db = self.ts_user_db(fields)
        last_text, ts = self._last_ts
        if text != last_text:  # busy logs repeat a millisecond many times
            ts = parse_ts(text)
            self._last_ts = (text, ts)
        if raw_user != self._who[0] or raw_db != self._who[1]:
            self._who = (raw_user, raw_db)
            self._clean_who = (_clean(raw_user), _clean(raw_db))
        user, database = self._clean_who
        params = parse_parameters(detail) if detail else None
        # QueryEvent's fields in order (see events.logged), built here: once per statement
        return QueryEvent(
            sql,
            ms,
            ts,
            None,
            params,
            None,
            None,
            "postgresql",
            database,
            user,
            None,
            None,
            1,
            f"{self.source}:{line}",  # formatted only for events, not for skipped lines
            {},
        )

    def message(
        self,
        fields: Any,
        severity: str,
        message: str,
        detail: str | None,
        line: int,
        statement: str | None = None,
    ) -> tuple[QueryEvent, ...]:
        """The events this message completes: usually none or one; a plain call returning a
        tuple, not a generator, because it runs once per log line. ``statement``: the text of
        the message's ``STATEMENT:`` line (csvlog's ``query``, jsonlog's ``statement``)."""
        stats = self.stats
        if severity != "LOG":
            if severity in ("ERROR", "FATAL") and statement and statement.strip():
                # A statement that did not complete: cancelled by a timeout or a user, a
                # deadlock victim, or an error. Often the slowest statements of the log.
                event = self._event(statement.strip(), None, fields, None, line)
                return (replace(event, cancelled=cancel_reason(message)),)
            if severity in ("ERROR", "FATAL", "PANIC"):
                stats.skip("error")
            elif severity in _SEVERITY_NAMES:
                stats.skip(severity.lower())
            else:  # a csvlog/jsonlog field holding anything (a misdetected file): one reason
                stats.skip("unknown severity")
            return ()
        m = _DURATION_KIND.match(message)
        if m is not None:
            ms, kind, sql = m.group("ms", "kind", "sql")
            if kind is None:  # log_duration: the statement came on its own line before
                pending = self.waiting.pop(str(self.get(fields, "pid") or ""), None)
                if pending is None:
                    stats.skip("duration of a protocol step (parse/bind)")
                    return ()
                return (replace(pending, duration_ms=float(ms)),)
            if kind == "statement" or kind == "execute":  # noqa: PLR1714 (two C compares)
                return (self._event(sql.strip(), float(ms), fields, detail, line),)
            if kind == "plan":
                stats.skip("auto_explain plan (its statement is logged on its own)")
            else:
                stats.skip(_STEP_SKIPS[kind])
            return ()
        if message.startswith("duration: "):
            stats.skip("unrecognized duration message")
            return ()
        k = _KIND.match(message)
        if k is not None and k["kind"] in ("statement", "execute"):
            pid = str(self.get(fields, "pid") or "")
            previous = self.waiting.pop(pid, None)
            self.waiting[pid] = self._event(k["sql"].strip(), None, fields, detail, line)
            # no duration came for the previous one: log_duration is off
            return () if previous is None else (previous,)
        stats.skip("other message (connections, checkpoints, ...)")
        return ()

    def finish(self) -> Iterator[QueryEvent]:
        yield from self.waiting.values()
        self.waiting.clear()


def _clean(value: Any) -> str | None:
    if not value or value == "[unknown]":
        return None
    return str(value)


# -- stderr --------------------------------------------------------------------------------

# Severities of lines that attach to the message before them (same process).
_ATTACHED: Final = frozenset(("DETAIL", "HINT", "CONTEXT", "STATEMENT", "QUERY"))


class _StderrLines:
    """The stderr log's line-by-line state machine: the reference reader, and the fallback of
    :func:`read_stderr` for every line its entry pattern does not take."""

    def __init__(
        self, source: str, stats: ReadStats, errors: ErrorLevel, prefix: str | None
    ) -> None:
        self.regex = regex = prefix_regex(prefix or DEFAULT_PREFIX)
        self.names = names = frozenset(regex.groupindex)
        self.source = source
        self.stats = stats
        self.errors = errors

        def get(match: Any, key: str) -> Any:
            return match[key] if key in names else None

        self.get = get
        ts_user_db = None
        if {"ts", "user", "db"} <= names:  # the usual prefixes: the three fields in one C call

            def ts_user_db(match: Any) -> tuple[Any, Any, Any]:
                return match.group("ts", "user", "db")  # type: ignore[no-any-return]

        self.messages = _Messages(stats, source, get, ts_user_db)
        self.current: Any = None  # the message being read (a Match of its first line)
        self.lines: list[str] = []
        self.detail: list[tuple[str, str]] = []
        self.start = 0
        self.next_line = 0

    def feed(self, stream: Iterable[str], first_line: int) -> Iterator[QueryEvent]:
        """Events completed by the lines of ``stream`` (numbered from ``first_line``); the last
        message stays pending until :meth:`flush`. ``next_line`` is then the number after the
        last line."""
        regex, get, message = self.regex, self.get, self.messages.message
        stats, source, errors = self.stats, self.source, self.errors
        current, lines, detail, start = self.current, self.lines, self.detail, self.start
        lineno = first_line - 1
        try:
            for lineno, raw in enumerate(stream, first_line):
                line = raw.rstrip("\r\n")
                m = regex.match(line)
                if m is None:
                    # PostgreSQL indents every continuation line of a message with a tab (a
                    # log shipper may have turned it into spaces)
                    if current is not None and line[:1] in ("\t", " "):
                        cont = line[1:] if line[0] == "\t" else line.lstrip(" ")
                        if detail:
                            sev, text = detail[-1]
                            detail[-1] = (sev, text + "\n" + cont)
                        else:
                            lines.append(cont)
                    elif not line.strip():
                        stats.skip("blank line")
                    else:
                        stats.bad(
                            errors, f"{source}:{lineno}", "line does not match the log_line_prefix"
                        )
                    continue
                fields = m  # a Match: no dict per line (``get`` reads the groups it has)
                severity = fields["severity"]
                if (
                    current is not None
                    and severity in _ATTACHED
                    and get(fields, "pid") == get(current, "pid")
                ):
                    detail.append((severity, fields["message"]))
                    continue
                if current is not None:  # the previous message is complete
                    yield from message(
                        current,
                        current["severity"],
                        lines[0] if len(lines) == 1 else "\n".join(lines),
                        _detail(detail) if detail else None,
                        start,
                        _statement(detail) if detail else None,
                    )
                current, lines, detail, start = fields, [fields["message"]], [], lineno
        finally:
            self.current, self.lines, self.detail, self.start = current, lines, detail, start
            self.next_line = lineno + 1

    def flush(self) -> tuple[QueryEvent, ...]:
        """The events of the pending message (the next line starts a new one)."""
        current = self.current
        if current is None:
            return ()
        self.current = None
        detail = self.detail
        return self.messages.message(
            current,
            current["severity"],
            "\n".join(self.lines),
            _detail(detail) if detail else None,
            self.start,
            _statement(detail) if detail else None,
        )


def read_stderr_lines(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
    prefix: str | None = None,
) -> Iterator[QueryEvent]:
    """The stderr log read line by line: :func:`read_stderr`'s reference (same events)."""
    state = _StderrLines(source, stats, errors, prefix)
    yield from state.feed(stream, first_line)
    yield from state.flush()
    yield from state.messages.finish()
    stats.lines += state.next_line - first_line


# -- syslog ---------------------------------------------------------------------------------

SYSLOG_LINE: Final = (
    r"^(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d)?)"
    r"\s+\S+\s+[\w.\-/]+\[(?P<pid>\d+)\]:\s+\[(?P<line>\d+)-(?P<part>\d+)\]\s?(?P<rest>.*)$"
)
"""A PostgreSQL line through syslog (``log_destination = syslog``): the syslog time and host,
``postgres[pid]:``, then ``[line-part]`` and the rest of the line (the ``log_line_prefix``,
the severity, the message); a long message continues in parts ``[line-2]``, ``[line-3]``..."""
_SYSLOG: Final = re.compile(SYSLOG_LINE)
_SYSLOG_INNER: Final = (
    "user=%u,db=%d,app=%a,client=%h ",
    "user=%u,db=%d,app=%a ",
    "user=%u,db=%d ",
    "db=%d,user=%u ",
    "%u@%d ",
    "%q%u@%d ",
    "",
)
"""The ``log_line_prefix`` values used with syslog (it carries the time and pid itself)."""


@functools.lru_cache(maxsize=50_000)  # busy logs repeat a second many times
def _syslog_ts(text: str, year: int) -> str | None:
    """The syslog time as a stderr-style time (None: not a time): ``Nov 28 06:55:14`` has no
    year (the current one is assumed, as pgBadger does) and no zone (read as local, naive)."""
    try:
        if text[:1].isdigit():
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            zone = " UTC" if when.utcoffset() == dt.timedelta(0) else ""
            return when.strftime("%Y-%m-%d %H:%M:%S") + zone
        parsed = dt.datetime.strptime(f"{year} {text}", "%Y %b %d %H:%M:%S")
    except ValueError:
        return None
    return parsed.strftime("%Y-%m-%d %H:%M:%S")


def read_syslog(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
    prefix: str | None = None,
) -> Iterator[QueryEvent]:
    """Events from PostgreSQL lines in a syslog file (other programs' lines are skipped).

    Each line becomes the stderr line it would have been (``%t [%p] `` + ``prefix``; a
    continuation part, a tab-indented line) and goes through the stderr line reader, so
    statements, durations, parameters and errors read as from stderr. ``prefix`` is the
    ``log_line_prefix`` after syslog's own fields; without it, the one of
    :data:`_SYSLOG_INNER` that reads the first lines best.
    """
    year = dt.datetime.now().year
    lines = iter(stream)
    head: list[str] = []
    for raw in lines:
        head.append(raw)
        if len(head) >= 200:
            break

    def converted(raw: str) -> str | None:
        m = _SYSLOG.match(raw.rstrip("\r\n"))
        if m is None:
            return None
        rest = m["rest"].replace("#011", "\t")
        if m["part"] != "1":
            return rest if rest.startswith("\t") else "\t" + rest
        stamp = _syslog_ts(m["ts"], year)
        return None if stamp is None else f"{stamp} [{m['pid']}] {rest}"

    if prefix is None:
        sample = "\n".join(c for c in map(converted, head) if c and not c.startswith("\t"))
        inner = infer_prefix(sample, tuple("%t [%p] " + p for p in _SYSLOG_INNER))
        full = inner or "%t [%p] "
    else:
        full = "%t [%p] " + prefix
    state = _StderrLines(source, stats, errors, full)
    lineno = first_line - 1
    for lineno, raw in enumerate(itertools.chain(head, lines), first_line):
        line = converted(raw)
        if line is None:
            if raw.strip():
                stats.skip("not a PostgreSQL line")
            continue
        yield from state.feed((line,), lineno)
    yield from state.flush()
    yield from state.messages.finish()
    stats.lines += lineno + 1 - first_line


def read_stderr(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
    prefix: str | None = None,
    chunk_size: int = _CHUNK,
) -> Iterator[QueryEvent]:
    """Events from a stderr log whose lines start with ``prefix`` (default: Debian's).

    Reads ~1 MB at a time: one regular expression over each chunk takes every message
    PostgreSQL writes for a statement (with its duration; ``parse``/``bind``/``execute``
    steps with their ``DETAIL:  parameters:`` lines; ``log_statement`` lines and their later
    ``duration:`` lines, paired by process id); the rest (continuation lines, errors, other
    messages) goes through the line-by-line reader, which gives the same events.
    """
    return events_of(
        read_stderr_batches(
            stream,
            source=source,
            stats=stats,
            errors=errors,
            first_line=first_line,
            prefix=prefix,
            chunk_size=chunk_size,
        )
    )


# Lines that send a chunk through the line reader: continuation lines, a message's
# DETAIL/HINT/... lines (which attach to it), statement lines the entry pattern did not take
# (one space after the severity, say). Searched for in what the entry pattern leaves, not in
# the whole chunk.
_NOT_ONE_LINE: Final = re.compile(
    rf"\t|(?<![^\n]) |(?:{'|'.join(sorted(_ATTACHED))}): |LOG: {{1,2}}(?:statement: |execute )"
)


def read_stderr_batches(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
    prefix: str | None = None,
    chunk_size: int = _CHUNK,
) -> Iterator[QueryEvent | EventBatch]:
    """:func:`read_stderr`, with runs of statements as
    :class:`~backendperf.events.EventBatch` columns (what
    :class:`~backendperf.workload.Workload` reads fastest)."""
    state = _StderrLines(source, stats, errors, prefix)
    columns = _StderrChunks(state, prefix or DEFAULT_PREFIX)
    lineno = first_line  # number of the first line of ``body``
    # Each piece ends before a line that starts a message (not one that attaches to the
    # message before it), where one is near the end of what was read.
    for body, carry in chunks(stream, chunk_size, _before_message(state.regex)):
        items = None
        lines = _lines(body)
        if columns.entry is not None and "\r" not in body:
            # A message ends at the next line with the prefix (not a DETAIL line): until
            # one is here, the last statement might still get one, after blank lines.
            m = state.regex.match(carry)
            settled = not carry or (m is not None and m["severity"] not in _ATTACHED)
            items = columns.chunk(body, lineno, lines, settled)
        if items is None:  # lines that attach to others: the line reader reads the chunk
            each = io.StringIO(body, newline="").readlines()
            yield from state.feed(each, lineno)
            lineno += len(each)
            continue
        yield from items
        lineno += lines
    yield from state.flush()
    yield from state.messages.finish()
    stats.lines += lineno - first_line


def _before_last_line(buf: str) -> int:
    return buf.rfind("\n", 0, buf.rfind("\n")) + 1


def _last_start(buf: str, starts: Callable[[str, int, int], bool]) -> int | None:
    """The offset of the last whole line of ``buf`` (among its last 64) for which
    ``starts(buf, begin, end)`` holds, or None (not the first line: a cut there is empty)."""
    end = buf.rfind("\n")
    for _ in range(64):
        if end <= 0:
            break
        begin = buf.rfind("\n", 0, end) + 1
        if not begin:
            break
        if starts(buf, begin, end):
            return begin
        end = begin - 1
    return None


def _before_message(regex: re.Pattern[str]) -> Callable[[str], int]:
    """Where to end a piece of a stderr log: before the last whole line that starts a message
    (found among the last 64 lines), so the next piece does not begin with lines that attach
    to this one's last message; else before the last whole line."""

    def starts(buf: str, begin: int, end: int) -> bool:
        m = regex.match(buf[begin:end])  # (a `^` pattern matches at 0 only)
        return m is not None and m["severity"] not in _ATTACHED

    def cut(buf: str) -> int:
        found = _last_start(buf, starts)
        return _before_last_line(buf) if found is None else found

    return cut


class _StderrChunks:
    """The column path of :func:`read_stderr_batches`: chunks of messages that take one line
    each, or two with a ``DETAIL:`` line of the same process (bind parameters). Every shape
    ``log_min_duration_statement`` and ``log_statement`` write goes here: a statement with its
    duration; the extended protocol's ``parse``/``bind``/``execute`` steps with their
    parameters; a statement logged before it runs and its ``duration:`` line later, paired by
    process id as the line reader pairs them (pending statements cross chunks in the line
    reader's own table, so either reader may take the next chunk)."""

    def __init__(self, state: _StderrLines, prefix: str) -> None:
        self.state = state
        self.stamps: dict[str, dt.datetime | None] = {}
        # A lazy field (%a, %i, %b) could end elsewhere than the line reader's reading.
        plain = _prefix_body(prefix)
        lazy = "*?" in plain or "+?" in plain
        self.entry: re.Pattern[str] | None = None
        if not lazy:
            # The same lines as prefix_regex's, each field read the same way; a quantifier
            # never gives back what the next part could not take (``possessive``).
            body = _prefix_body(prefix, possessive=True)
            self.entry = re.compile(
                rf"(?<![^\n]){body}\s*(?:LOG:  (?=duration: |statement: |execute |bind |parse )"
                r"(?:duration: (?P<ms>\d++(?:\.\d++)?) ms(?:  |(?=\n|\Z)))?"
                r"(?:(?P<kind>statement|execute|bind|parse)(?: [^:\n]*)?:[^\S\n]?(?P<sql>.*))?"
                r"|DETAIL:  (?P<detail>.*))(?:\n|\Z)",
                re.ASCII,  # as prefix_regex
            )
            index = self.entry.groupindex
            self.width = self.entry.groups + 1  # split(): the text before, then the groups
            self.at = {
                k: index.get(k) for k in ("ts", "user", "db", "pid", "ms", "kind", "sql", "detail")
            }
            # The extended protocol at log_min_duration_statement=0: each execute comes after
            # its parse/bind steps (each with its DETAIL line), one entry in all. A DETAIL
            # line has its message's prefix, to the byte (but for %l): that is tried first.
            step = _prefix_body(prefix, pid="spid", fields=False, possessive=True)
            step_again = _prefix_body(prefix, again=True, pid="spid", possessive=True)
            self.steps = re.compile(
                rf"(?<![^\n])(?P<shead>{step})\s*LOG:  duration: \d++(?:\.\d++)? ms  "
                r"(?P<kind>bind|parse) [^\n]*\n"
                rf"(?:(?:(?P=shead)|{step_again})\s*DETAIL:  [^\n]*\n)?",
                re.ASCII,
            )
            # Each line's prefix is matched once: a lazy loop over the lines of the entry,
            # each a step (with its DETAIL line) or the statement that ends the entry
            # (``end``, set only there); the groups keep the last line's values.
            again = _prefix_body(prefix, again=True, possessive=True)
            self.extended = re.compile(
                rf"(?<![^\n])(?P<lines>(?:(?P<head>{body})\s*LOG:  duration: "
                r"(?P<ms>\d++(?:\.\d++)?) ms  (?:(?:bind|parse) [^\n]*\n"
                rf"(?:(?:(?P=head)|{again})\s*DETAIL:  [^\n]*\n)?"
                r"|(?:statement|execute)(?: [^:\n]*)?:[^\S\n]?(?P<sql>.*)(?:\n|\Z)(?P<end>)))+?"
                r"(?(end)|(?!)))"
                rf"(?:(?:(?P=head)|{again})\s*DETAIL:  (?P<detail>.*)(?:\n|\Z))?",
                re.ASCII,
            )
            index = self.extended.groupindex
            self.ext_width = self.extended.groups + 1
            self.ext_at = {
                k: index.get(k) for k in ("ts", "user", "db", "ms", "sql", "detail", "lines")
            }
            self.ext_skip = 0  # chunks to read without trying :attr:`extended` first

    def chunk(
        self, body: str, lineno: int, lines: int, settled: bool
    ) -> list[QueryEvent | EventBatch] | None:
        """The events of ``body`` (``lines`` whole lines, no ``\r``, from line ``lineno``),
        or ``None`` when the line reader
        must read it: it holds lines that attach to others (continuation lines, errors'
        ``STATEMENT:`` lines), or, unless ``settled``, its last message may still get one."""
        if not settled:
            return None
        assert self.entry is not None
        if self.ext_skip:
            self.ext_skip -= 1
        elif "DETAIL:  parameters: " in body or " ms  bind " in body or " ms  parse " in body:
            out = self._extended(body, lineno, lines)
            if out is not None:
                return out
            self.ext_skip = 8  # not that shape: the general pattern for the next chunks
        parts = self.entry.split(body)
        width = self.width
        between = parts[0::width]
        # Lines that would attach to an entry taken here: the line reader reads the chunk.
        # (What comes before the first entry attaches to the line reader's own message.)
        after = between[1:]
        if any(after) and _NOT_ONE_LINE.search("".join(after)) is not None:
            return None
        n = len(between) - 1
        at = self.at
        ms = parts[at["ms"] : n * width : width]
        kinds = parts[at["kind"] : n * width : width]
        if None not in ms and kinds.count("statement") + kinds.count("execute") == n:
            return self._simple(parts, between, n, lineno)
        detail = parts[at["detail"] : n * width : width]
        group = at["pid"]
        pids: list[Any] = [None] * n if group is None else parts[group : n * width : width]
        for i, text in enumerate(detail) if detail.count(None) != n else ():
            # a DETAIL line attaches to the line before it, of the same process
            if text is not None and (
                not i or between[i] or detail[i - 1] is not None or pids[i] != pids[i - 1]
            ):
                return None
        return self._paired(parts, between, n, lineno, ms, kinds, detail, pids)

    def _extended(self, body: str, lineno: int, lines: int) -> list[QueryEvent | EventBatch] | None:
        """The events of ``body`` if every statement in it is an execute (or a statement)
        with its duration, after its own parse/bind steps, with its DETAIL line or none:
        what the extended protocol writes at ``log_min_duration_statement = 0``. ``None``
        when some line in between attaches to an entry taken here."""
        parts = self.extended.split(body)
        width, at = self.ext_width, self.ext_at
        between = parts[0::width]
        n = len(between) - 1
        after = between[1:]
        if not n or (
            any(after) and _NOT_ONE_LINE.search(self.steps.sub("", "".join(after))) is not None
        ):
            return None
        entries = parts[at["lines"] : n * width : width]  # the steps, then the statement
        detail = parts[at["detail"] : n * width : width]
        # Every line of the body is in a text between entries, a step, a statement or its
        # DETAIL line: the steps' lines are what the others leave.
        others = "".join(between)
        details = n - detail.count(None)
        self._count_steps(body, others, details, lines - _lines(others) - n - details)
        # The line of each entry's statement and its steps' lines, worked out when something
        # asks (an event's place, other messages handed to the line reader): most never do.
        placed = functools.cache(lambda: _places(lineno, between, entries, detail))

        def place(i: int) -> int:
            return placed()[0][i]

        state = self.state
        out: list[QueryEvent | EventBatch] = []
        # runs of entries with nothing between them: where other messages come (and steps
        # no statement follows), the line reader reads them before the next run
        starts = [0, *itertools.compress(range(1, n), between[1:n]), n]
        for a, b in itertools.pairwise(starts):
            text = between[a]
            if text:
                firsts, steps = placed()
                line = firsts[a] - steps[a] - text.count("\n")
                out.extend(state.feed(split_lines(text), line))
            out.extend(state.flush())
            out.append(self._batch(parts, a, b, place, extended=True))
        if between[n]:  # the body's last lines
            rest = split_lines(between[n])
            out.extend(state.feed(rest, lineno + lines - len(rest)))
        return out

    def _count_steps(self, body: str, others: str, details: int, lines: int) -> None:
        """Counts the parse and bind steps that :attr:`extended` took from ``body`` (all but
        ``others``, the text between its entries, and ``details`` statements' DETAIL lines;
        ``lines`` lines in all) as skipped: each step line holds its own marker once, or a
        regex counts them."""
        if not lines:
            return
        marks = (" ms  bind ", " ms  parse ", "DETAIL:  ")
        binds, parses, notes = (body.count(m) - others.count(m) for m in marks)
        if binds + parses + notes - details != lines:
            # a statement or a value holds a marker: count the step lines themselves
            kinds = collections.Counter(m["kind"] for m in self.steps.finditer(body))
            kinds.subtract(m["kind"] for m in self.steps.finditer(others))
            binds, parses = kinds["bind"], kinds["parse"]
        stats = self.state.stats
        if binds:
            stats.skip(_STEP_SKIPS["bind"], binds)
        if parses:
            stats.skip(_STEP_SKIPS["parse"], parses)

    def _simple(
        self, parts: list[Any], between: list[str], n: int, lineno: int
    ) -> list[QueryEvent | EventBatch]:
        """Every entry a statement with its duration, one line each: runs of columns."""
        state = self.state
        out: list[QueryEvent | EventBatch] = []
        line = lineno
        run, run_line = 0, line
        for i, text in enumerate(between):
            if text:  # other messages (connections, checkpoints, errors): the line reader's
                if run < min(i, n):
                    out.append(
                        self._batch(
                            parts, run, min(i, n), functools.partial(operator.add, run_line - run)
                        )
                    )
                lines = split_lines(text)
                out.extend(state.feed(lines, line))
                line += len(lines)
                run, run_line = i, line
            if i < n:
                if run == i:
                    out.extend(state.flush())
                line += 1
        if run < n:
            out.append(self._batch(parts, run, n, functools.partial(operator.add, run_line - run)))
        return out

    def _paired(
        self,
        parts: list[Any],
        between: list[str],
        n: int,
        lineno: int,
        ms: list[str | None],
        kinds: list[str | None],
        detail: list[str | None],
        pids: list[Any],
    ) -> list[QueryEvent | EventBatch]:
        """Any mix of the entries :attr:`entry` takes, one by one, as the line reader's
        :meth:`_Messages.message` reads them (each ``DETAIL:`` entry belongs to the entry
        before it); the events whose duration is known go out in runs of columns, in the
        order they complete."""
        state = self.state
        waiting = state.messages.waiting
        width, at = self.width, self.at
        columns = {
            name: None if at[name] is None else parts[at[name] : n * width : width]
            for name in ("ts", "user", "db", "sql")
        }
        params = detail[1:]  # the DETAIL text of each entry (on the line after it)
        params.append(None)
        # the line of each entry: its index, plus the lines of the other messages before it
        before = list(itertools.accumulate(map(str.count, between, itertools.repeat("\n"))))
        lines = list(map(operator.add, range(lineno, lineno + n), before))
        if None in pids:  # no %p (or none printed): one process as far as pairing goes
            pids = [p or "" for p in pids]
        order: list[int] = []  # the entries of the current run, in the order they complete
        took: list[str] = []  # their durations (as logged)
        pending: dict[str, int] = {}  # pid -> this chunk's statement waiting for a duration
        skipped: dict[str, int] = {}
        out: list[QueryEvent | EventBatch] = []
        take, took_as, pop = order.append, took.append, pending.pop

        def close_run() -> None:
            if order:
                out.append(self._rows(columns, order[:], list(map(float, took)), lines, params))
                order.clear()
                took.clear()

        def hand_over() -> None:
            """This chunk's pending statements go to the line reader's table."""
            for pid, j in pending.items():
                waiting[pid] = self._one(columns, j, lines, params)
            pending.clear()

        def other(text: str, line: int) -> None:
            """Other messages (connections, checkpoints, errors): the line reader's."""
            close_run()
            hand_over()
            out.extend(state.feed(split_lines(text), line))

        # runs of entries with nothing between them: where other messages come, the line
        # reader reads them (and ends its pending message) before the next run
        starts = [0, *itertools.compress(range(1, n), between[1:n]), n]
        for a, b in itertools.pairwise(starts):
            text = between[a]
            if text:
                other(text, lines[a] - text.count("\n"))
            out.extend(state.flush())
            for i, kind, took_ms, pid in zip(
                range(a, b), kinds[a:b], ms[a:b], pids[a:b], strict=True
            ):
                if took_ms is not None:
                    if kind is None:  # log_duration: the statement came before, on its own line
                        j = pop(pid, None)
                        if j is not None:
                            take(j)
                            took_as(took_ms)
                            continue
                        event = waiting.pop(pid, None) if waiting else None
                        if event is None:
                            reason = "duration of a protocol step (parse/bind)"
                            skipped[reason] = skipped.get(reason, 0) + 1
                        else:
                            close_run()
                            out.append(replace(event, duration_ms=float(took_ms)))
                    elif kind == "statement" or kind == "execute":  # noqa: PLR1714
                        take(i)
                        took_as(took_ms)
                    else:
                        reason = _STEP_SKIPS[kind]
                        skipped[reason] = skipped.get(reason, 0) + 1
                elif kind == "statement" or kind == "execute":  # noqa: PLR1714
                    j = pop(pid, None)
                    if j is not None:  # no duration came for it: log_duration is off
                        close_run()
                        out.append(self._one(columns, j, lines, params))
                    elif waiting and (event := waiting.pop(pid, None)) is not None:
                        close_run()
                        out.append(event)
                    pending[pid] = i
                elif kind is not None:
                    reason = "other message (connections, checkpoints, ...)"
                    skipped[reason] = skipped.get(reason, 0) + 1
                # else a DETAIL line: read with the entry before it
        if between[n]:
            other(between[n], lines[n - 1] + 1 if n else lineno)
        close_run()
        hand_over()
        for reason, count in skipped.items():
            state.stats.skip(reason, count)
        return out

    def _one(
        self,
        columns: dict[str, list[Any] | None],
        j: int,
        lines: list[int],
        params: list[str | None],
    ) -> QueryEvent:
        """Entry ``j``, a statement whose duration is not known (yet), as an event."""

        def field(name: str) -> Any:
            column = columns[name]
            return None if column is None else column[j]

        stamp = field("ts")
        ts = None if stamp is None else parse_each(self.stamps, [stamp], parse_ts)[0]
        text = params[j]
        return logged(
            field("sql").strip(),
            None,
            ts,
            parse_parameters(text) if text else None,
            "postgresql",
            _clean(field("db")),
            _clean(field("user")),
            f"{self.state.source}:{lines[j]}",
        )

    def _rows(
        self,
        columns: dict[str, list[Any] | None],
        order: list[int],
        took: list[float],
        lines: list[int],
        params: list[str | None],
    ) -> EventBatch:
        """Entries ``order`` (with durations ``took``) as columns."""
        n = len(order)
        pick: Callable[[Any], Any] = (
            operator.itemgetter(*order) if n > 1 else lambda column: (column[order[0]],)
        )

        def col(name: str) -> list[Any] | None:
            column = columns[name]
            return None if column is None else list(pick(column))

        sqls = list(map(str.strip, col("sql") or []))
        stamps = col("ts")
        ts: list[dt.datetime | None] = (
            [None] * n if stamps is None else parse_each(self.stamps, stamps, parse_ts)
        )
        users = _who(col("user"), n)
        dbs = _who(col("db"), n)
        source = self.state.source

        def event(k: int) -> QueryEvent:
            j = order[k]
            text = params[j]
            detail = parse_parameters(text) if text else None
            where = f"{source}:{lines[j]}"
            return logged(sqls[k], took[k], ts[k], detail, "postgresql", dbs[k], users[k], where)

        return EventBatch("postgresql", sqls, took, ts, None, None, dbs, users, event)

    def _batch(
        self,
        parts: list[Any],
        a: int,
        b: int,
        line_of: Callable[[int], int],
        *,
        extended: bool = False,
    ) -> EventBatch:
        """Entries ``a`` to ``b`` (in a row) of :attr:`entry`'s split, or of
        :attr:`extended`'s, as columns; ``line_of(i)``: the line of entry ``i``."""
        width, at = (self.ext_width, self.ext_at) if extended else (self.width, self.at)

        def col(name: str) -> list[Any] | None:
            group = at.get(name)
            if group is None:
                return None
            return parts[a * width + group : b * width : width]

        n = b - a
        sqls = list(map(str.strip, col("sql") or []))
        ms = list(map(float, col("ms") or []))
        stamps = col("ts")
        ts: list[dt.datetime | None] = (
            [None] * n if stamps is None else parse_each(self.stamps, stamps, parse_ts)
        )
        users = _who(col("user"), n)
        dbs = _who(col("db"), n)
        details = (extended and col("detail")) or [None] * n  # an extended entry's parameters
        source = self.state.source

        def event(i: int) -> QueryEvent:
            text = details[i]
            params = parse_parameters(text) if text else None
            where = f"{source}:{line_of(a + i)}"
            return logged(sqls[i], ms[i], ts[i], params, "postgresql", dbs[i], users[i], where)

        return EventBatch("postgresql", sqls, ms, ts, None, None, dbs, users, event)


def _lines(text: str) -> int:
    """The lines of ``text`` (the last one may have no newline)."""
    return text.count("\n") + (text[-1:] not in ("", "\n"))


def _places(
    lineno: int, between: list[str], entries: list[str], detail: list[str | None]
) -> tuple[list[int], list[int]]:
    """The line of each statement :attr:`_StderrChunks.extended` took from a body that
    starts at line ``lineno``, and the lines of its steps: after the lines of the text
    before it, of its steps, and of the entry before it (one line, or two with a DETAIL)."""
    newlines = itertools.repeat("\n")
    steps = list(map(operator.sub, map(str.count, entries, newlines), itertools.repeat(1)))
    if entries and entries[-1][-1] != "\n":  # the last line of the file, without its newline
        steps[-1] += 1
    before = map(str.count, between, newlines)
    taken = (1 if d is None else 2 for d in detail)
    firsts = itertools.accumulate(
        map(operator.add, map(operator.add, before, steps), (0, *taken)), initial=lineno
    )
    next(firsts)
    return list(firsts), steps


def _who(column: list[Any] | None, n: int) -> list[Any]:
    """User or database names as events carry them (``[unknown]`` or empty: ``None``)."""
    if column is None:
        return [None] * n
    if "[unknown]" in column or "" in column or None in column:
        return [_clean(v) for v in column]
    return column


def _detail(parts: list[tuple[str, str]]) -> str | None:
    return next((text for severity, text in parts if severity == "DETAIL"), None)


def _statement(parts: list[tuple[str, str]]) -> str | None:
    """The text of an error's ``STATEMENT:`` line."""
    return next((text for severity, text in parts if severity == "STATEMENT"), None)


# -- csvlog --------------------------------------------------------------------------------

_CSV_COLUMNS: Final = (
    "log_time",
    "user_name",
    "database_name",
    "process_id",
    "connection_from",
    "session_id",
    "session_line_num",
    "command_tag",
    "session_start_time",
    "virtual_transaction_id",
    "transaction_id",
    "error_severity",
    "sql_state_code",
    "message",
    "detail",
    "hint",
    "internal_query",
    "internal_query_pos",
    "context",
    "query",
    "query_pos",
    "location",
    "application_name",
    "backend_type",
    "leader_pid",
    "query_id",
)


def read_csvlog(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
    chunk_size: int = _CHUNK,
) -> Iterator[QueryEvent]:
    """Events from a csvlog (PostgreSQL 13-15 column order; 23+ columns accepted)."""
    return events_of(
        read_csvlog_batches(
            stream,
            source=source,
            stats=stats,
            errors=errors,
            first_line=first_line,
            chunk_size=chunk_size,
        )
    )


def read_csvlog_rows(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
) -> Iterator[QueryEvent]:
    """The csvlog read row by row with :mod:`csv`: :func:`read_csvlog`'s reference."""
    messages = _Messages(stats, source)
    yield from _csv_rows(messages, stream, first_line, errors)
    yield from messages.finish()


def _csv_rows(
    messages: _Messages, lines: Iterable[str], first_line: int, errors: ErrorLevel
) -> Iterator[QueryEvent]:
    stats, source = messages.stats, messages.source
    reader = csv.reader(lines)
    previous_line = first_line - 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            stats.bad(errors, f"{source}:{first_line - 1 + reader.line_num}", f"bad CSV: {exc}")
            continue
        stats.lines += first_line - 1 + reader.line_num - previous_line
        row_line = previous_line + 1
        previous_line = first_line - 1 + reader.line_num
        if len(row) < 23:
            stats.bad(
                errors, f"{source}:{row_line}", f"{len(row)} CSV columns, a csvlog row has 23+"
            )
            continue
        yield from csv_record(messages, dict(zip(_CSV_COLUMNS, row, strict=False)), row_line)


def csv_record(messages: _Messages, record: Mapping[str, Any], line: int) -> tuple[QueryEvent, ...]:
    """The events of one csvlog record by its column names (a csvlog row; CloudNativePG's
    ``record``)."""
    fields = {
        "ts": record.get("log_time"),
        "pid": record.get("process_id"),
        "user": record.get("user_name"),
        "db": record.get("database_name"),
    }
    return messages.message(
        fields,
        str(record.get("error_severity", "LOG")),
        str(record.get("message", "")),
        record.get("detail") or None,
        line,
        record.get("query") or None,
    )


_CSV_FIELD: Final = r'(?:"[^"\n]*(?:""[^"\n]*)*"|[^,"\n]*)'
_CSV_TIMED: Final = re.compile(
    # log_time, user, database, pid: the fields an event reads; then seven it does not
    r'(?<![^\n])"?(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [^,"\n]*)?)"?,'
    rf"(?P<user>{_CSV_FIELD}),(?P<db>{_CSV_FIELD}),\"?\d*\"?,(?:{_CSV_FIELD},){{7}}"
    r'"?LOG"?,"?[0-9A-Z]{5}"?,'
    r'"duration: (?P<ms>\d+(?:\.\d+)?) ms  (?:statement|execute)(?: [^:"\n]*)?:[^\S\n]?'
    r'(?P<sql>[^"\n]*(?:""[^"\n]*)*)",'
    # the 8 fields after detail that make a row of 23 columns (fewer: the row reader says it
    # is malformed), then any others: quotes balanced on the line (a quoted newline: not a
    # one-line row)
    rf'(?P<detail>{_CSV_FIELD})(?:,{_CSV_FIELD}){{8}}(?:,[^"\n]*(?:"[^"\n]*"[^"\n]*)*)?'
    r"(?:\n|\Z)"
)
"""A csvlog row of one line that is a statement with its duration (23+ columns)."""
_CSV_ROW_START: Final = re.compile(r'"?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d')


def _unquote_csv(value: str) -> str:
    if value[:1] == '"':
        value = value[1:-1]
    return value.replace('""', '"') if '"' in value else value


def _before_row(start: re.Pattern[str]) -> Callable[[str], int]:
    """Where to end a piece of a log whose records may span lines (quoted newlines): before
    the last whole line that starts a record (among the last 64 lines); where none is there,
    read on (up to 64 MiB: then before the last line, as a record that long is not one)."""

    def starts(buf: str, begin: int, end: int) -> bool:
        return start.match(buf, begin) is not None  # (no ``^``: it matches at ``begin``)

    def cut(buf: str) -> int:
        found = _last_start(buf, starts)
        if found is not None:
            return found
        return 0 if len(buf) < 1 << 26 else _before_last_line(buf)

    return cut


def read_csvlog_batches(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
    chunk_size: int = _CHUNK,
) -> Iterator[QueryEvent | EventBatch]:
    """:func:`read_csvlog`, with runs of one-line ``duration: ... statement:`` rows taken by
    one regular expression per chunk, as :class:`~backendperf.events.EventBatch` columns;
    the other rows go through :mod:`csv` and give the same events as :func:`read_csvlog_rows`.
    """
    messages = _Messages(stats, source)

    def others(text: str, line: int) -> Iterator[QueryEvent]:
        return _csv_rows(messages, io.StringIO(text, newline=""), line, errors)

    yield from _timed_rows(
        stream,
        _CSV_TIMED,
        _unquote_csv,
        others,
        _before_row(_CSV_ROW_START),
        source,
        stats,
        first_line,
        chunk_size,
    )
    yield from messages.finish()


def _timed_rows(
    stream: IO[str],
    entry: re.Pattern[str],
    unquote: Callable[[str], str],
    others: Callable[[str, int], Iterator[QueryEvent]],
    cut: Callable[[str], int],
    source: str,
    stats: ReadStats,
    first_line: int,
    chunk_size: int,
) -> Iterator[QueryEvent | EventBatch]:
    """The column path of the csvlog and jsonlog readers: ``entry`` takes the one-line rows
    that are a statement with its duration (groups ``ts``, ``user``, ``db``, ``ms``, ``sql``,
    ``detail``, each still quoted or escaped: ``unquote`` reads them); ``others(text, line)``
    reads the rows between. Every row is self-contained, so no state crosses a run."""
    width = entry.groups + 1
    at = entry.groupindex
    stamps: dict[str, dt.datetime | None] = {}
    names: dict[str, str | None] = {}  # a user or database field as logged -> its name

    def name(value: str) -> str | None:
        clean = names.get(value, "")
        if clean == "":
            clean = names[value] = _clean(unquote(value)) if value else None
        return clean

    def batch(parts: list[Any], a: int, b: int, line: int) -> EventBatch:
        def col(group: str) -> list[Any]:
            return parts[a * width + at[group] : b * width : width]

        n = b - a
        sqls = [unquote(v).strip() if "\\" in v or '"' in v else v.strip() for v in col("sql")]
        ms = list(map(float, col("ms")))
        ts = parse_each(stamps, col("ts"), parse_ts)
        users, dbs = col("user"), col("db")
        # one user and database for the whole run, usually: each looked up once
        users = [name(users[0])] * n if users.count(users[0]) == n else list(map(name, users))
        dbs = [name(dbs[0])] * n if dbs.count(dbs[0]) == n else list(map(name, dbs))
        details = col("detail")

        def event(i: int) -> QueryEvent:
            text = unquote(details[i]) if details[i] else None
            detail = parse_parameters(text) if text else None
            where = f"{source}:{line + i}"
            return logged(sqls[i], ms[i], ts[i], detail, "postgresql", dbs[i], users[i], where)

        return EventBatch("postgresql", sqls, ms, ts, None, None, dbs, users, event)

    lineno = first_line
    for body, _ in chunks(stream, chunk_size, cut):
        parts = entry.split(body)
        between = parts[0::width]
        n = len(between) - 1
        line = lineno
        run, run_line = 0, line
        for i, text in enumerate(between):
            if text:  # other rows: read one by one
                if run < min(i, n):
                    yield batch(parts, run, min(i, n), run_line)
                yield from others(text, line)
                line += text.count("\n") + (text[-1] != "\n")
                run, run_line = i, line
            if i < n:
                line += 1
        if run < n:
            yield batch(parts, run, n, run_line)
        stats.lines += n  # (``others`` counts the lines it reads)
        lineno = line


# -- jsonlog -------------------------------------------------------------------------------


def read_jsonlog(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
    chunk_size: int = _CHUNK,
) -> Iterator[QueryEvent]:
    """Events from a jsonlog (PostgreSQL 15+: one JSON object per line)."""
    return events_of(
        read_jsonlog_batches(
            stream,
            source=source,
            stats=stats,
            errors=errors,
            first_line=first_line,
            chunk_size=chunk_size,
        )
    )


def read_jsonlog_rows(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
) -> Iterator[QueryEvent]:
    """The jsonlog read line by line with :func:`json.loads`: :func:`read_jsonlog`'s
    reference."""
    messages = _Messages(stats, source)
    yield from _json_rows(messages, stream, first_line, errors)
    yield from messages.finish()


def _json_rows(
    messages: _Messages, lines: Iterable[str], first_line: int, errors: ErrorLevel
) -> Iterator[QueryEvent]:
    stats, source = messages.stats, messages.source
    for lineno, line in enumerate(lines, first_line):
        stats.lines += 1
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as exc:
            stats.bad(errors, f"{source}:{lineno}", f"not JSON: {exc}")
            continue
        if not isinstance(rec, dict) or "message" not in rec:
            stats.bad(errors, f"{source}:{lineno}", "a jsonlog record needs 'message'")
            continue
        fields = {
            "ts": rec.get("timestamp"),
            "pid": rec.get("pid"),
            "user": rec.get("user"),
            "db": rec.get("dbname"),
        }
        yield from messages.message(
            fields,
            str(rec.get("error_severity", "LOG")),
            str(rec["message"]),
            rec.get("detail"),
            lineno,
            rec.get("statement"),
        )


_JSON_STR: Final = r'[^"\\\n]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\n]*)*'
"""A JSON string's content (only JSON's escapes: ``\\x80`` is not one)."""
_JSON_VALUE: Final = rf'(?:"{_JSON_STR}"|[-\w.]*)'
_JSON_TIMED: Final = re.compile(
    # PostgreSQL writes the keys in one order, and leaves out the empty ones
    rf'(?<![^\n])\{{"timestamp":"(?P<ts>{_JSON_STR})"'
    rf'(?:,"user":"(?P<user>{_JSON_STR})")?(?:,"dbname":"(?P<db>{_JSON_STR})")?'
    rf'(?:,"(?!error_severity")\w+":{_JSON_VALUE})*,"error_severity":"LOG"'
    r'(?:,"state_code":"\w*")?,"message":"duration: (?P<ms>\d+(?:\.\d+)?) ms  '
    rf'(?:statement|execute)(?: [^:"\\\n]*)?:[^\S\n]?(?P<sql>{_JSON_STR})"'
    rf'(?:,"detail":"(?P<detail>{_JSON_STR})")?(?:,"\w+":{_JSON_VALUE})*\}}[^\S\n]*(?:\n|\Z)'
)
"""A jsonlog line that is a statement with its duration."""


def _unescape_json(value: str) -> str:
    return json.loads(f'"{value}"') if "\\" in value else value


def read_jsonlog_batches(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
    chunk_size: int = _CHUNK,
) -> Iterator[QueryEvent | EventBatch]:
    """:func:`read_jsonlog`, with runs of ``duration: ... statement:`` records taken by one
    regular expression per chunk, as :class:`~backendperf.events.EventBatch` columns; the
    other lines go through :func:`json.loads` and give the same events as
    :func:`read_jsonlog_rows`."""
    messages = _Messages(stats, source)

    def others(text: str, line: int) -> Iterator[QueryEvent]:
        return _json_rows(messages, split_lines(text), line, errors)

    yield from _timed_rows(
        stream,
        _JSON_TIMED,
        _unescape_json,
        others,
        _before_last_line,
        source,
        stats,
        first_line,
        chunk_size,
    )
    yield from messages.finish()

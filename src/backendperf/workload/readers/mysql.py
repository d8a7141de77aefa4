"""MySQL and MariaDB logs: the slow query log and the general query log."""

from __future__ import annotations

import datetime as dt
import re
from typing import IO, TYPE_CHECKING, Any, Final

from backendperf.events import QueryEvent, logged
from backendperf.workload.readers.base import ErrorLevel, ReadStats

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["read_general", "read_slow"]

_BANNER: Final = re.compile(
    r"^(?:\S+, Version: .*started with:|Tcp port: .*|Time\s+Id\s+Command\s+Argument)\s*$"
)
_USER_HOST: Final = re.compile(r"^# User@Host: (?P<user>[^\[\s]*)\[[^\]]*\] @ ")
_SCHEMA: Final = re.compile(r"Schema: (?P<db>\S*)")
_PAIRS: Final = re.compile(r"(\w+): (\S+)")
_QUERY_TIME: Final = re.compile(
    r"# Query_time: ([\d.]+)\s+Lock_time: ([\d.]+)\s+Rows_sent: (\d+)\s+Rows_examined: (\d+)"
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


def read_slow(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
) -> Iterator[QueryEvent]:
    """Events from a slow query log (MySQL 5.6-8.x, MariaDB, Percona extra fields)."""
    header: dict[str, Any] = {}
    sql: list[str] = []
    start = 0
    db: str | None = None  # ``use db;`` carries over to later entries of the connection
    ts: dt.datetime | None = None

    def flush() -> QueryEvent | None:
        if not sql:
            if header:
                stats.skip("entry without a statement")
            return None
        text = "\n".join(sql).strip()
        if _ONLY_COMMENT.match(text):
            stats.skip("comment-only statement")
            return None
        if text.endswith(";"):
            text = text[:-1].rstrip()
        query_time = header.get("Query_time")
        return logged(
            text,
            None if query_time is None else float(query_time) * 1000.0,
            header.get("ts") or ts,
            None,
            "mysql",
            header.get("db") or db,
            header.get("user"),
            f"{source}:{start}",
            _int(header.get("Rows_sent")),
            _int(header.get("Rows_examined")),
            {k: header[k] for k in ("Lock_time", "Rows_affected", "Thread_id") if k in header},
        )

    lineno = first_line - 1
    for lineno, raw in enumerate(stream, first_line):  # lineno is used after the loop too
        line = raw.rstrip("\r\n")
        if line[:2] == "# ":
            tag = line[2:6]  # dispatch on four characters: most header lines are ignored
            if (tag == "User" and line.startswith("# User@Host:")) or (
                tag == "Time" and line.startswith("# Time:")
            ):
                if sql or "Query_time" in header:  # the previous entry is complete
                    event = flush()
                    if event is not None:
                        yield event
                    header, sql = {}, []
                if tag == "Time":
                    ts = _time_header(line[7:])
                    continue
                if not header:
                    start = lineno
                m = _USER_HOST.match(line)
                header["user"] = (m["user"] or None) if m is not None else None
                continue
            if not header:
                start = lineno
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
            event = flush()
            if event is not None:
                yield event
            header, sql = {}, []
            stats.skip("server banner")
            continue
        if not sql:
            u = _USE.match(line) if line[:4].lower() == "use " else None
            if u is not None:
                db = header["db"] = u["db"]
                continue
            t = _SET_TS.match(line) if line[:4] in ("SET ", "set ") else None
            if t is not None:
                header["ts"] = dt.datetime.fromtimestamp(float(t["ts"]), dt.timezone.utc)
                continue
            if not header:
                stats.bad(errors, f"{source}:{lineno}", "statement text outside an entry")
                continue
        sql.append(line)
    event = flush()
    if event is not None:
        yield event
    stats.lines += lineno - first_line + 1


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

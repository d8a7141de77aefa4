"""pg_stat_statements: an export (CSV with a header, JSON lines or a JSON array), or a live
database."""

from __future__ import annotations

import csv
import itertools
import json
import re
from typing import IO, TYPE_CHECKING, Any, Final

from backendperf.events import QueryEvent
from backendperf.exceptions import LogFormatError, MissingDependencyError
from backendperf.workload.readers.base import ErrorLevel, ReadStats

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["read_pgss", "read_pgss_live"]

_PGSS_TIME: Final = ("total_exec_time", "total_time", "total_ms")


def _pgss_event(rec: dict[str, Any], where: str) -> QueryEvent:
    total = next((rec[k] for k in _PGSS_TIME if rec.get(k) not in (None, "")), None)
    calls = int(float(rec.get("calls") or 1))
    return QueryEvent(
        statement=str(rec["query"]),
        duration_ms=None if total is None else float(total),
        calls=max(calls, 1),
        rowcount=int(float(rec["rows"])) if rec.get("rows") not in (None, "") else None,
        dialect="postgresql",
        database=rec.get("datname") or rec.get("dbname") or None,
        user=rec.get("usename") or rec.get("rolname") or None,
        source=where,
        extra={k: rec[k] for k in ("queryid", "mean_exec_time", "max_exec_time") if k in rec},
    )


def read_pgss(
    stream: IO[str], *, source: str, stats: ReadStats, errors: ErrorLevel = ErrorLevel.WARN
) -> Iterator[QueryEvent]:
    """An export of ``pg_stat_statements``: CSV with a header (``\\copy ... csv header``) or
    JSON (an array of objects, or one object per line). Each row is one event of ``calls``
    executions whose ``duration_ms`` is the total time.

    Read row by row, never whole: memory is bounded by a row (an 80 MB export took 729 MB
    when it was read whole and parsed at once).
    """
    first = stream.readline()
    while first and not first.strip():
        stats.lines += 1
        first = stream.readline()
    start = first.lstrip()[:1]
    records: Iterator[tuple[str, Any]]
    if start == "[":
        records = _json_array(first, stream, source, stats)
    elif start == "{":
        records = _json_lines(first, stream, source, stats, errors)
    else:
        records = _csv_rows(first, stream, source, stats)
    for where, rec in records:
        if not isinstance(rec, dict):
            continue
        if not rec.get("query") or "calls" not in rec:
            stats.bad(errors, where, "a pg_stat_statements row needs 'query' and 'calls'")
            continue
        yield _pgss_event(rec, where)


def _csv_rows(
    first: str, stream: IO[str], source: str, stats: ReadStats
) -> Iterator[tuple[str, Any]]:
    reader = csv.DictReader(itertools.chain([first], stream))
    counted = 0
    for row in reader:
        stats.lines += reader.line_num - counted
        counted = reader.line_num
        yield f"{source}:{reader.line_num}", dict(row)
    stats.lines += reader.line_num - counted


def _json_lines(
    first: str, stream: IO[str], source: str, stats: ReadStats, errors: ErrorLevel
) -> Iterator[tuple[str, Any]]:
    """One object per line; a first line that is not a whole object: one (pretty) object."""
    try:
        head = json.loads(first)
    except ValueError:
        text = first + stream.read()  # one object over many lines: small by nature
        stats.lines += text.count("\n")
        try:
            yield f"{source}:1", json.loads(text)
        except ValueError as exc:
            stats.bad(errors, f"{source}:1", f"not JSON: {exc}")
        return
    stats.lines += 1
    yield f"{source}:1", head
    for i, line in enumerate(stream, 2):
        stats.lines += 1
        if not line.strip():
            continue
        try:
            yield f"{source}:{i}", json.loads(line)
        except ValueError as exc:
            stats.bad(errors, f"{source}:{i}", f"not JSON: {exc}")


_BETWEEN: Final = re.compile(r"[\s,]*")


def _json_array(
    first: str, stream: IO[str], source: str, stats: ReadStats
) -> Iterator[tuple[str, Any]]:
    """The items of a JSON array, decoded one at a time from a bounded buffer."""
    decode = json.JSONDecoder().raw_decode
    buf = first[first.index("[") + 1 :]
    stats.lines += first.count("\n")
    pos, item = 0, 0
    while True:
        pos = _BETWEEN.match(buf, pos).end()  # type: ignore[union-attr]  # always matches
        if pos < len(buf) and buf[pos] == "]":
            return
        try:
            if pos >= len(buf):
                raise ValueError("need more")
            value, pos = decode(buf, pos)
        except ValueError:
            more = stream.read(1 << 16)
            if not more:
                if buf[pos:].strip():
                    raise LogFormatError(f"{source}: the JSON array ends inside an item") from None
                return
            stats.lines += more.count("\n")
            buf = buf[pos:] + more
            pos = 0
            continue
        item += 1
        yield f"{source}:{item}", value


def read_pgss_live(url: str, *, stats: ReadStats, limit: int | None = None) -> Iterator[QueryEvent]:
    """Rows of ``pg_stat_statements`` from a live database (PostgreSQL 13+ column names)."""
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            "psycopg", extra="postgres", feature="reading pg_stat_statements"
        ) from exc
    sql = (  # noqa: S608 - the only interpolation is an int
        "SELECT s.query, s.calls, s.total_exec_time, s.rows, s.queryid, s.mean_exec_time, "
        "s.max_exec_time, d.datname, r.rolname FROM pg_stat_statements s "
        "LEFT JOIN pg_database d ON d.oid = s.dbid LEFT JOIN pg_roles r ON r.oid = s.userid "
        "ORDER BY s.total_exec_time DESC"
    ) + (f" LIMIT {int(limit)}" if limit else "")
    try:
        with psycopg.connect(url, row_factory=dict_row) as conn:
            rows = conn.execute(sql).fetchall()
    except psycopg.Error as exc:
        raise LogFormatError(
            f"cannot read pg_stat_statements at {url}: {str(exc).strip()} (is the extension "
            f"created and in shared_preload_libraries?)"
        ) from exc
    for i, rec in enumerate(rows, 1):
        stats.lines += 1
        yield _pgss_event(rec, f"pg_stat_statements:{i}")

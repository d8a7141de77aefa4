"""No reader crashes on arbitrary bytes: bad input is counted and skipped."""

from __future__ import annotations

import contextlib
import pathlib
import tempfile
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backendperf.exceptions import LogFormatError
from backendperf.workload import FORMATS, ReadStats, Workload, read

LOGS = pathlib.Path(__file__).parents[1] / "fixtures" / "logs"
REAL = [p.read_bytes()[:4000] for p in sorted(LOGS.iterdir())]

# arbitrary bytes, and real log text with bytes flipped, cut or spliced in
noise = st.binary(max_size=2000) | st.builds(
    lambda real, cut, junk: real[:cut] + junk + real[cut:],
    st.sampled_from(REAL),
    st.integers(0, 4000),
    st.binary(max_size=50),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(noise, st.sampled_from(sorted(FORMATS)))
def test_no_reader_crashes_on_arbitrary_bytes(data: bytes, fmt: str) -> None:
    """Every format reader, fed garbage, yields events or counts malformed lines; it never
    raises anything but LogFormatError, and the events aggregate."""
    with tempfile.NamedTemporaryFile(suffix=".log") as fh:
        fh.write(data)
        fh.flush()
        stats = ReadStats()
        workload = Workload()
        with contextlib.suppress(LogFormatError):  # only for unopenable input
            workload.extend(read(fh.name, format=fmt, stats=stats, errors="ignore"))
        assert stats.lines >= 0


@settings(max_examples=40, deadline=None)
@given(noise)
def test_format_detection_never_crashes(data: bytes) -> None:
    """Detection either names a format or raises LogFormatError."""
    with tempfile.NamedTemporaryFile(suffix=".log") as fh:
        fh.write(data)
        fh.flush()
        with contextlib.suppress(LogFormatError):
            list(read(fh.name, errors="ignore"))


# Slow-log pieces: every header layout the servers write, and the odd lines around them.
SLOW_LINES = [
    "# Time: 261128  7:01:47\n",
    "# Time: 2026-11-28T07:01:47.123456Z\n",
    "# Time:261128  7:01:48\n",
    "# User@Host: root[root] @ localhost []\n",
    "# User@Host: app[app] @ localhost []  Id:     8\n",
    "# User@Host: [root] @ localhost []\n",
    "# User@Host: broken\n",
    "# Thread_id: 8  Schema: sbtest  QC_hit: No\n",
    "# Thread_id: 9  Schema:   QC_hit: No\n",
    "# Thread_id: 10  QC_hit: No  Schema: other\n",
    "# Query_time: 0.000159  Lock_time: 0.000033  Rows_sent: 1  Rows_examined: 1\n",
    "# Query_time: 1.5  Lock_time: 0  Rows_sent: 10  Rows_examined: 2000  Rows_affected: 0\n",
    "# Query_time: 1.2.3  Lock_time: 0.0  Rows_sent: 1  Rows_examined: 1\n",
    "# Rows_affected: 3  Bytes_sent: 52\n",
    "# Rows_affected: x\n",
    "# Schema: shop  Last_errno: 0  Killed: 0\n",
    "# Bytes_sent: 123  Tmp_tables: 0\n",
    "# Full_scan: No  Full_join: No\n",
    "#\n",
    "use sbtest;\n",
    "USE `shop`;\n",
    "use broken\n",
    "SET timestamp=1795865481;\n",
    "SET timestamp=1795865482.5;\n",
    "SELECT c FROM sbtest1 WHERE id=10073;\n",
    "UPDATE t SET a = 'x;y'\n",
    "  WHERE id IN (1, 2);\n",
    "-- only a comment\n",
    "/* hint */ SELECT 1;\n",
    "#comment line\n",
    "\n",
    "Time                 Id Command    Argument\n",
    "/usr/sbin/mariadbd, Version: 10.11.19-MariaDB-log (Debian 12). started with:\n",
    "Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n",
    "TimeStamp column;\n",
    "set timestamp=5;\n",
    "SELECT 2\r\n",
    "SELECT 'no newline at the end'",
]
ENTRY = (
    "# User@Host: root[root] @ localhost []\n"
    "# Thread_id: 8  Schema: sbtest  QC_hit: No\n"
    "# Query_time: 0.000159  Lock_time: 0.000033  Rows_sent: 1  Rows_examined: 1\n"
    "# Rows_affected: 0  Bytes_sent: 0\n"
    "SET timestamp=1795865481;\n"
    "SELECT c FROM sbtest2 WHERE id=10073;\n"
)
slow_logs = st.lists(
    st.sampled_from(SLOW_LINES) | st.just(ENTRY) | st.just(ENTRY) | st.text(max_size=30),
    max_size=60,
).map("".join)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(slow_logs, st.sampled_from([1, 7, 64, 300, 1 << 20]))
def test_fast_slow_log_reader_matches_line_reader(text: str, chunk: int) -> None:
    """read_slow (whole entries by one regex, in chunks) gives exactly the events, counts and
    line numbers of the line-by-line reader, for any mix of entries, odd header lines,
    banners, CRLF and junk, at any chunk size."""
    import io

    from backendperf.workload.readers.mysql import read_slow, read_slow_lines

    def run(fn: object, **kwargs: object) -> tuple[list[object], ReadStats]:
        stats = ReadStats()
        stream = io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8", newline="")
        events = list(fn(stream, source="f", stats=stats, **kwargs))  # type: ignore[operator]
        return events, stats

    expected = run(read_slow_lines)
    assert run(read_slow, chunk_size=chunk) == expected


# Whole entries that vary in everything the workload aggregates.
entries = st.builds(
    lambda time, user, schema, qt, sent, use, stamp, sql: (
        (f"# Time: 261128  7:01:{time:02d}\n" if time is not None else "")
        + f"# User@Host: {user}[{user}] @ localhost []"
        # MariaDB names the schema; MySQL 5.7/8 writes the thread id here and no schema
        + (f"\n# Thread_id: 8  Schema: {schema}  QC_hit: No\n" if schema else "  Id:     8\n")
        + f"# Query_time: {qt:.6f}  Lock_time: 0.000010  Rows_sent: {sent}  Rows_examined: 7\n"
        + "# Rows_affected: 0  Bytes_sent: 0\n"
        + (f"use {use};\n" if use else "")
        + (f"SET timestamp={stamp};\n" if stamp is not None else "")
        + sql
    ),
    st.none() | st.integers(0, 59),
    st.sampled_from(["root", "app", ""]),
    st.sampled_from(["sbtest", "shop", None]),
    st.sampled_from([0.0, 0.000008, 0.000159, 1.5]) | st.floats(0, 3),  # repeats, and not
    st.integers(0, 50),
    st.sampled_from([None, "shop", "other"]),
    st.none() | st.integers(1795865481, 1795865490),
    st.sampled_from(
        [
            "SELECT c FROM sbtest1 WHERE id=10073;\n",
            "SELECT c FROM sbtest1 WHERE id=5;\n",
            "UPDATE t SET a = 'x;y'\n  WHERE id IN (1, 2);\n",
            "-- only a comment\n",
            "/* hint */ SELECT 1;\n",
            "BEGIN;\n",
        ]
    ),
)


def _digest(workload: Workload) -> dict[str, object]:
    """Everything a report shows of each fingerprint (totals to float precision)."""
    out: dict[str, object] = {}
    for fid, s in workload.stats.items():
        out[fid] = (
            s.count,
            s.timed,
            round(s.total_ms, 6),
            s.min_ms,
            s.max_ms,
            s.rows,
            s.rows_examined,
            s.first_seen,
            s.last_seen,
            dict(s.databases),
            dict(s.users),
            (s.sketch.count, s.sketch.zeros, s.sketch.buckets),
            [(x.statement, x.duration_ms, x.ts, x.source, x.database) for x in s.samples],
        )
    return out


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(st.one_of(entries, entries, entries, st.sampled_from(SLOW_LINES)), max_size=40).map(
        "".join
    ),
    st.sampled_from([64, 300, 1 << 20]),
)
def test_batched_slow_log_aggregates_like_events(text: str, chunk: int) -> None:
    """The column path (runs of entries as EventBatch, aggregated per fingerprint with C loops)
    gives the workload that adding the line reader's events one by one gives: counts, times,
    rows, first and last seen, databases, users, the sketch and the samples kept."""
    import io

    from backendperf.workload import workload as module
    from backendperf.workload.readers.mysql import read_slow_batches, read_slow_lines

    def run(fn: object, **kwargs: object) -> tuple[Workload, ReadStats]:
        module.__dict__[
            "_BUCKET_OF"
        ].clear()  # the bucket memo: cold  # the sketch's cache of buckets: each run starts cold
        stats = ReadStats()
        stream = io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8", newline="")
        workload = Workload().extend(fn(stream, source="f", stats=stats, **kwargs))  # type: ignore[operator]
        return workload, stats

    events, events_stats = run(read_slow_lines)
    batched, batched_stats = run(read_slow_batches, chunk_size=chunk)
    assert batched.events == events.events
    assert _digest(batched) == _digest(events)
    assert batched_stats == events_stats


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.text(max_size=200)
    | st.lists(
        st.sampled_from(
            [
                "SELECT",
                "*",
                "FROM",
                "orders",
                "o",
                "WHERE",
                "o.user_id",
                "=",
                "$1",
                "AND",
                "(",
                ")",
                ",",
                "JOIN",
                "users",
                "ON",
                "u.id",
                "IN",
                "'x'",
                "ORDER BY",
                "LIMIT",
                "10",
                "UPDATE",
                "SET",
                "DELETE",
                "INSERT INTO",
                "VALUES",
                "WITH",
                "AS",
                "OR",
                "lower(email)",
                "LIKE",
                "'%a'",
                "IS NULL",
                "GROUP BY",
                "UNION",
                "?",
                "%s",
            ]
        ),
        max_size=25,
    ).map(" ".join)
)
def test_advisor_never_crashes_on_arbitrary_statements(sql: str) -> None:
    """Any statement text: usage extraction reports an error or a usage, and advice is made
    (an unparseable statement is listed, never fatal)."""
    from backendperf.advisor import Schema, advise
    from backendperf.advisor.usage import extract
    from backendperf.events import QueryEvent

    schema = Schema.from_ddl(
        "CREATE TABLE orders (id int PRIMARY KEY, user_id int, email text);"
        "CREATE TABLE users (id int PRIMARY KEY, email text)"
    )
    use = extract(sql, schema)
    assert use.error is None or isinstance(use.error, str)
    advice = advise(
        Workload().extend([QueryEvent(statement=sql or "x", duration_ms=1.0)]), schema=schema
    )
    assert advice.to_json()["version"] == 1


# PostgreSQL stderr lines (Debian's prefix): one-line statements with their durations, and
# everything that makes a chunk go through the line reader.
pg_lines = st.builds(
    lambda sec, pid, who, body: f"2026-11-28 06:55:{sec:02d}.778 UTC [{pid}] {who} {body}\n",
    st.integers(10, 12),
    st.sampled_from([12511, 12512]),
    st.sampled_from(["postgres@bench", "app@shop", "[unknown]@[unknown]", "@"]),
    st.sampled_from(
        [
            "LOG:  duration: 0.123 ms  statement: SELECT 1;",
            "LOG:  duration: 0.346 ms  statement: SELECT abalance FROM a WHERE aid = 5;",
            "LOG:  duration: 1.500 ms  statement: SELECT abalance FROM a WHERE aid = 6;",
            "LOG:  duration: 1.500 ms  statement:   UPDATE a SET b = 'x''y' WHERE aid = 7  ",
            "LOG:  duration: 0.020 ms  execute P0_1: SELECT abalance FROM a WHERE aid = $1",
            "LOG:  duration: 0.020 ms  execute <unnamed>: SELECT 2",
            "LOG:  duration: 0.010 ms  parse P0_1: SELECT abalance FROM a WHERE aid = $1",
            "LOG:  duration: 0.011 ms  bind P0_1: SELECT abalance FROM a WHERE aid = $1",
            "DETAIL:  parameters: $1 = '263158'",
            "LOG:  statement: SELECT 3",
            "LOG:  duration: 0.500 ms",
            "LOG:  connection received: host=127.0.0.1 port=41798",
            'ERROR:  relation "nope" does not exist at character 15',
            "STATEMENT:  SELECT * FROM nope",
            "LOG:  duration: 2.0 ms  plan:",
        ]
    ),
)
pg_logs = st.lists(
    st.one_of(
        pg_lines,
        pg_lines,
        pg_lines,
        st.sampled_from(
            ["\tWHERE x = 1\n", "    WHERE x = 1\n", "\n", "not a log line\n", "garbage\r\n"]
        ),
    ),
    max_size=50,
).map("".join)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(pg_logs, st.sampled_from([1, 50, 200, 1 << 20]))
def test_chunked_stderr_reader_matches_line_reader(text: str, chunk: int) -> None:
    """read_stderr (one regex over each chunk of one-line statements) gives exactly the
    events, counts and line numbers of the line-by-line reader, and its column batches
    aggregate to the same workload, for any mix of lines at any chunk size."""
    import io

    from backendperf.workload import workload as module
    from backendperf.workload.readers.postgres import (
        read_stderr,
        read_stderr_batches,
        read_stderr_lines,
    )

    def run(fn: object, **kwargs: object) -> tuple[list[object], ReadStats]:
        stats = ReadStats()
        stream = io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8", newline="")
        return list(fn(stream, source="f", stats=stats, **kwargs)), stats  # type: ignore[operator]

    expected = run(read_stderr_lines)
    assert run(read_stderr, chunk_size=chunk) == expected
    module.__dict__["_BUCKET_OF"].clear()  # the bucket memo: cold
    events = Workload().extend(expected[0])  # type: ignore[arg-type]
    module.__dict__["_BUCKET_OF"].clear()  # the bucket memo: cold
    batched = Workload().extend(run(read_stderr_batches, chunk_size=chunk)[0])  # type: ignore[arg-type]
    assert batched.events == events.events
    assert _digest(batched) == _digest(events)


# The extended protocol at log_min_duration_statement=0: per statement, maybe a parse step,
# a bind step with its parameters, the execute with them; processes interleaved; now and then
# a message that is none of these, a DETAIL line of another process, a continuation line, or
# a statement whose text or values hold the markers the chunk reader counts steps by.
_EXT_PREFIXES = {
    "%m [%p] %q%u@%d ": "2026-11-28 06:55:{s:02d}.{ms:03d} UTC [{pid}] {who} ",
    "%m [%p] ": "2026-11-28 06:55:{s:02d}.{ms:03d} UTC [{pid}] ",
    # %l: a DETAIL line's prefix is not its message's, to the byte
    "%t [%p]: [%l-1] user=%u,db=%d ": (
        "2026-11-28 06:55:{s:02d} UTC [{pid}]: [{l}-1] user=app,db=shop "
    ),
}
_SQL = st.sampled_from(
    [
        "SELECT abalance FROM a WHERE aid = $1",
        "UPDATE a SET b = $1 WHERE aid = $2",
        "SELECT ' ms  parse ' FROM t WHERE id = $1",
        "SELECT 'DETAIL:  x' WHERE $1",
        "BEGIN",
    ]
)
_ext_units = st.lists(
    st.tuples(
        st.sampled_from([4001, 4002, 4003]),
        _SQL,
        st.booleans(),  # a parse step
        st.sampled_from(["'7'", "' ms  bind x'", "NULL", None]),  # the parameter (None: none)
        st.sampled_from([None, None, None, "other", "detail", "continuation", "nodur", "garbage"]),
    ),
    max_size=40,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    _ext_units,
    st.sampled_from(sorted(_EXT_PREFIXES)),
    st.sampled_from([300, 2000, 1 << 20]),
    st.booleans(),
)
def test_extended_protocol_chunks_match_line_reader(
    units: list[tuple[int, str, bool, str | None, str | None]],
    prefix: str,
    chunk: int,
    newline: bool,
) -> None:
    """The chunk reader's extended-protocol pattern (steps, execute and DETAIL lines in one
    entry) gives exactly the line reader's events, skip counts and line numbers, whether or
    not the file ends with a newline."""
    import io

    from backendperf.workload.readers.postgres import read_stderr, read_stderr_lines

    head = _EXT_PREFIXES[prefix]
    lines: list[str] = []

    def line(pid: int, body: str) -> None:
        n = len(lines)
        who = "app@shop" if pid != 4003 else "[unknown]@[unknown]"
        text = head.format(s=n // 1000 % 60, ms=n % 1000, pid=pid, who=who, l=n)
        lines.append(text + body + "\n")

    for i, (pid, sql, parse, value, extra) in enumerate(units):
        detail = None if value is None else f"DETAIL:  parameters: $1 = {value}, $2 = '{i}'"
        if parse:
            line(pid, f"LOG:  duration: 0.0{i % 10} ms  parse P_{i}: {sql}")
        line(pid, f"LOG:  duration: 0.01 ms  bind P_{i}: {sql}")
        if detail:
            line(pid, detail)
        if extra == "nodur":  # log_statement's shape: the general pattern reads it
            line(pid, f"LOG:  execute P_{i}: {sql}")
        else:
            line(pid, f"LOG:  duration: {i / 7:.3f} ms  execute P_{i}: {sql}")
        if detail:
            line(pid, detail)
        if extra == "other":
            line(pid, "LOG:  checkpoint starting: time")
        elif extra == "detail":
            line(pid + 1, "DETAIL:  parameters: $1 = '9'")
        elif extra == "continuation":
            lines.append("\tAND true\n")
        elif extra == "garbage":  # malformed: counted with its line number
            lines.append("garbage line\n")
    text = "".join(lines)
    if not newline:
        text = text.removesuffix("\n")

    def run(fn: Any, **kwargs: Any) -> tuple[list[Any], ReadStats]:
        stats = ReadStats()
        stream = io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8", newline="")
        return list(fn(stream, source="f", stats=stats, prefix=prefix, **kwargs)), stats

    assert run(read_stderr, chunk_size=chunk) == run(read_stderr_lines)


def test_extended_protocol_log_is_read_in_columns() -> None:
    """A real ``pgbench -M prepared`` log goes through the column path (batches, not events
    one by one), with the line reader's events and counts."""
    import io

    from backendperf.events import EventBatch
    from backendperf.workload.readers.postgres import (
        read_stderr,
        read_stderr_batches,
        read_stderr_lines,
    )

    data = (LOGS / "pg15-extended.sample.log").read_bytes()

    def run(fn: Any) -> tuple[list[Any], ReadStats]:
        stats = ReadStats()
        stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
        return list(fn(stream, source="f", stats=stats)), stats

    batched, _ = run(read_stderr_batches)
    columns = sum(len(b) for b in batched if isinstance(b, EventBatch))
    assert columns > 300  # of its 342 statements
    events, stats = run(read_stderr_lines)
    assert run(read_stderr) == (events, stats)
    assert stats.skipped["bind step (the execute is counted)"] == 338


# csvlog and jsonlog rows: statements with their durations (the column path), and every
# other kind of row (the row reader): parameters, quotes and newlines inside fields,
# log_statement pairs, errors, rows of the wrong shape.
def _csv_row(sec: int, pid: int, user: str, severity: str, message: str, detail: str) -> str:
    def q(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if value else ""

    return (
        f"2026-11-28 06:55:{sec:02d}.778 UTC,{q(user)},{q('bench' if user else '')},{pid},"
        f'"127.0.0.1:5",6b1.1c9,7,"SELECT",2026-11-28 06:55:00 UTC,3/4,0,{severity},00000,'
        f"{q(message)},{q(detail)},,,,,{q('SELECT 9' if severity == 'ERROR' else '')},,,"
        f'"pgbench","client backend",,0\n'
    )


def _json_row(sec: int, pid: int, user: str, severity: str, message: str, detail: str) -> str:
    import json

    record: dict[str, object] = {"timestamp": f"2026-11-28 06:55:{sec:02d}.778 UTC"}
    if user:
        record |= {"user": user, "dbname": "bench"}
    record |= {"pid": pid, "remote_host": "127.0.0.1", "line_num": 3, "ps": "SELECT"}
    record |= {"txid": 0, "error_severity": severity, "message": message}
    if detail:
        record["detail"] = detail
    if severity == "ERROR":
        record["statement"] = "SELECT 9"
    record |= {"application_name": "pgbench", "backend_type": "client backend", "query_id": 0}
    return json.dumps(record, separators=(",", ":")) + "\n"


_ROW_MESSAGES = [
    ("LOG", "duration: 0.123 ms  statement: SELECT 1;", ""),
    ("LOG", "duration: 1.500 ms  statement: SELECT a FROM t WHERE b = 'x''y' AND c = \"C\"", ""),
    ("LOG", "duration: 0.346 ms  statement: SELECT 2\n  FROM t", ""),
    ("LOG", "duration: 0.346 ms  statement: SELECT '\\\\' AS \"back\\\\slash\"", ""),
    (
        "LOG",
        "duration: 0.020 ms  execute P0_1: SELECT b FROM a WHERE aid = $1",
        "parameters: $1 = '5'",
    ),
    ("LOG", "duration: 0.020 ms  execute <unnamed>: SELECT 2", ""),
    (
        "LOG",
        "duration: 0.011 ms  bind P0_1: SELECT b FROM a WHERE aid = $1",
        "parameters: $1 = '5'",
    ),
    ("LOG", "statement: SELECT 3", ""),
    ("LOG", "duration: 0.500 ms", ""),
    ("LOG", "connection received: host=127.0.0.1 port=41798", ""),
    ("ERROR", 'relation "nope" does not exist at character 15', ""),
    ("LOG", "duration: 2.0 ms  plan:\n\tQuery Text: SELECT 1", ""),
]
_rows = st.tuples(
    st.integers(10, 12),
    st.sampled_from([12511, 12512]),
    st.sampled_from(["postgres", "", 'app "quoted"', "[unknown]"]),
    st.sampled_from(_ROW_MESSAGES),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(
        _rows.map(lambda r: ("row", r))
        | st.sampled_from([("raw", "\n"), ("raw", "x,y\n")])
        | _rows.map(lambda r: ("short", r)),
        max_size=40,
    ),
    st.sampled_from([1, 60, 300, 1 << 20]),
    st.sampled_from(["csv", "json"]),
)
def test_column_readers_of_csvlog_and_jsonlog_match_their_row_readers(
    rows: list[tuple[str, Any]], chunk: int, kind: str
) -> None:
    """The csvlog and jsonlog readers (one regex over each chunk, runs of rows as columns)
    give exactly the events, counts and line numbers of :mod:`csv` / :func:`json.loads` row
    by row, and their batches aggregate to the same workload, at any chunk size."""
    import io

    from backendperf.workload import workload as module
    from backendperf.workload.readers import postgres

    make = _csv_row if kind == "csv" else _json_row
    text = ""
    for what, row in rows:
        if what == "raw":
            text += row
            continue
        sec, pid, user, (severity, message, detail) = row
        line = make(sec, pid, user, severity, message, detail)
        if what == "short" and kind == "csv":  # a row cut short: too few columns
            line = ",".join(line.split(",")[:18]) + "\n"
        text += line
    reference = postgres.read_csvlog_rows if kind == "csv" else postgres.read_jsonlog_rows
    batches = postgres.read_csvlog_batches if kind == "csv" else postgres.read_jsonlog_batches
    columns = postgres.read_csvlog if kind == "csv" else postgres.read_jsonlog

    def run(fn: object, **kwargs: object) -> tuple[list[object], ReadStats]:
        stats = ReadStats()
        stream = io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8", newline="")
        return list(fn(stream, source="f", stats=stats, **kwargs)), stats  # type: ignore[operator]

    expected = run(reference)
    assert run(columns, chunk_size=chunk) == expected
    module.__dict__["_BUCKET_OF"].clear()  # the bucket memo: cold
    events = Workload().extend(expected[0])  # type: ignore[arg-type]
    module.__dict__["_BUCKET_OF"].clear()  # the bucket memo: cold
    batched = Workload().extend(run(batches, chunk_size=chunk)[0])  # type: ignore[arg-type]
    assert batched.events == events.events
    assert _digest(batched) == _digest(events)

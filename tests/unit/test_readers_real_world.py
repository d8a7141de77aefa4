"""Log shapes from real servers and other tools' test corpora that the readers got wrong.

Each test failed before its fix (issue 18, "Bugs found"): entries glued together, clients
dropped, statements split into two fingerprints, times unread, memory or time growing with the
log in ways it must not.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import io
import lzma
import pathlib
import zlib
from typing import Any

import pytest

from backendperf.events import QueryEvent
from backendperf.workload import ReadStats, Workload, detect, read
from backendperf.workload.readers.base import chunks
from backendperf.workload.readers.mysql import _last_entry_start, read_slow
from backendperf.workload.readers.sql import split_sql

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "logs"


def slow_events(text: str, chunk_size: int = 1 << 20) -> list[tuple[str, float | None]]:
    stats = ReadStats()
    events = read_slow(io.StringIO(text), source="slow.log", stats=stats, chunk_size=chunk_size)
    return [(e.statement, e.duration_ms) for e in events]


QUERY_TIME_BLOCKS = """\
# Time: 090805 11:00:27
# Query_time: 1.000000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1
SELECT 1 FROM a;
# Query_time: 1349.000000  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0
DELETE FROM forest WHERE animal = 'dead';
"""


@pytest.mark.parametrize("chunk_size", [1 << 20, 7])
def test_a_query_time_block_after_a_statement_starts_an_entry(chunk_size: int) -> None:
    """Entries without ``# User@Host:`` lines are split at each ``# Query_time:`` block (the
    second one's 1,349 s used to overwrite the first entry's time and glue the statements)."""
    assert slow_events(QUERY_TIME_BLOCKS, chunk_size) == [
        ("SELECT 1 FROM a", 1000.0),
        ("DELETE FROM forest WHERE animal = 'dead'", 1349000.0),
    ]


def test_concatenated_slow_logs_keep_every_entry() -> None:
    """Two slow logs concatenated (the second starting with a banner and a header without a
    ``# User@Host:`` line) lose nothing at the boundary."""
    first = (
        "# User@Host: app[app] @ localhost []\n"
        "# Query_time: 0.500000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1\n"
        "SELECT 1;\n"
    )
    banner = (
        "/usr/sbin/mysqld, Version: 5.0.82-log (Source distribution). started with:\n"
        "Tcp port: 3306  Unix socket: /tmp/mysql.sock\n"
        "Time                 Id Command    Argument\n"
    )
    assert slow_events(first + banner + QUERY_TIME_BLOCKS) == [
        ("SELECT 1", 500.0),
        ("SELECT 1 FROM a", 1000.0),
        ("DELETE FROM forest WHERE animal = 'dead'", 1349000.0),
    ]


def test_a_comment_line_inside_a_statement_does_not_split_it() -> None:
    """A ``#`` line in the middle of a statement (not after a ``;``) stays a comment."""
    text = (
        "# Query_time: 2.000000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1\n"
        "SELECT a\n# a comment the client sent\nFROM t;\n"
    )
    assert slow_events(text) == [("SELECT a\nFROM t", 2000.0)]


def test_replication_set_insert_id_is_a_session_line() -> None:
    """``SET insert_id=...,timestamp=...;`` (replication threads) gives the entry its time and is
    not part of the statement, so the INSERT keeps one fingerprint."""
    text = (
        "# User@Host: [SQL_SLAVE] @  []\n"
        "# Query_time: 0.000000  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0\n"
        "SET insert_id=34484549,timestamp=1197996507;\n"
        "INSERT INTO t (a) VALUES (1);\n"
        "# User@Host: [SQL_SLAVE] @  []\n"
        "# Query_time: 0.000000  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0\n"
        "SET timestamp=1197996508;\n"
        "INSERT INTO t (a) VALUES (2);\n"
    )
    stats = ReadStats()
    events = list(read_slow(io.StringIO(text), source="s", stats=stats))
    assert [e.statement for e in events] == [
        "INSERT INTO t (a) VALUES (1)",
        "INSERT INTO t (a) VALUES (2)",
    ]
    assert events[0].ts == dt.datetime.fromtimestamp(1197996507, dt.timezone.utc)
    workload = Workload()
    for e in events:
        workload.add(e)
    assert len(workload.stats) == 1


def test_time_header_with_microseconds() -> None:
    """``# Time: 120315 18:01:58.479076`` (Percona Server) is read, microseconds included."""
    text = (
        "# Time: 120315 18:01:58.479076\n"
        "# User@Host: app[app] @ localhost []\n"
        "# Query_time: 0.100000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1\n"
        "SELECT 1;\n"
    )
    events = list(read_slow(io.StringIO(text), source="s", stats=ReadStats()))
    assert events[0].ts is not None
    assert events[0].ts.replace(tzinfo=None) == dt.datetime(2012, 3, 15, 18, 1, 58, 479076)


def test_slow_log_without_user_host_lines_is_read_in_bounded_pieces() -> None:
    """A log whose entries have no ``# User@Host:`` line is cut at line starts, not held whole
    (the memory of the reader is bounded by its chunk, not by the log)."""
    entry = (
        "# Query_time: 0.010000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1\nSELECT {i};\n"
    )
    text = "".join(entry.format(i=i) for i in range(5000))
    pieces = [len(p) for p, _ in chunks(io.StringIO(text), 4096, _last_entry_start)]
    assert len(pieces) > 50
    assert max(pieces) < 2 * 4096
    assert len(slow_events(text, 4096)) == 5000


def test_postgres_unknown_application_name(tmp_path: pathlib.Path) -> None:
    """``%a`` prints ``[unknown]`` when application_name is unset: those lines are events."""
    path = tmp_path / "app.log"
    path.write_text(
        "2026-11-28 06:55:14 UTC [42]: app=[unknown],user=u,db=d LOG:  duration: 3.5 ms  "
        "statement: SELECT 1\n"
        "2026-11-28 06:55:15 UTC [42]: app=psql,user=u,db=d LOG:  duration: 1.5 ms  "
        "statement: SELECT 2\n"
    )
    stats = ReadStats()
    events = list(
        read(
            path, format="pg-stderr", log_line_prefix="%t [%p]: app=%a,user=%u,db=%d ", stats=stats
        )
    )
    assert [(e.statement, e.duration_ms) for e in events] == [("SELECT 1", 3.5), ("SELECT 2", 1.5)]
    assert stats.malformed == 0


@pytest.mark.timeout(120, method="thread")
def test_long_header_word_is_read_in_linear_time() -> None:
    """A 200 kB header line with no ``": "`` (the pairs pattern was quadratic: a 100 kB line took
    157 s). The hard timeout is a hang guard, not a speed target."""
    text = (
        "# User@Host: app[app] @ localhost []\n"
        "# Query_time: 0.100000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1\n"
        "# Bytes_sent: 1 " + "x" * 200_000 + "\n"
        "SELECT 1;\n"
    )
    assert slow_events(text) == [("SELECT 1", 100.0)]


@pytest.mark.timeout(120, method="thread")
def test_sql_script_lines_are_counted_in_linear_time() -> None:
    """200,000 one-line statements: each statement's line number is counted from the previous
    one, not from the start of the file (that was quadratic: 40k statements took 15 s). The
    hard timeout is a hang guard, not a speed target."""
    text = "".join(f"SELECT {i};\n" for i in range(200_000))
    lines = [line for line, _ in split_sql(text)]
    assert lines[:3] == [1, 2, 3]
    assert lines[-1] == 200_000


MYSQL50_GENERAL = (
    "/usr/sbin/mysqld, Version: 5.0.51a-24+lenny2-log ((Debian)). started with:\n"
    "Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\n"
    "Time                 Id Command    Argument\n"
    "081208  9:23:49\t      1 Connect     root@localhost on \n"
    "\t\t      1 Query       select @@version_comment limit 1\n"
    "081208  9:23:51\t      1 Query       show databases\n"
    "\t\t      1 Quit       \n"
)


@pytest.mark.parametrize(
    "text",
    [MYSQL50_GENERAL, MYSQL50_GENERAL.replace("\t", "    ")],
    ids=["mysql-5.0", "padded-with-spaces"],
)
def test_mysql_5_0_general_logs_are_detected_and_read(tmp_path: pathlib.Path, text: str) -> None:
    """MySQL 5.0 pads the command with spaces (no tab); some tools turn every tab into spaces:
    both are detected and read, with their times and users."""
    path = tmp_path / "general.log"
    path.write_text(text)
    assert detect(text) == "mysql-general"
    stats = ReadStats()
    events = list(read(path, stats=stats))
    assert [e.statement for e in events] == ["select @@version_comment limit 1", "show databases"]
    assert events[1].ts == dt.datetime(2008, 12, 8, 9, 23, 51)
    assert events[0].user == "root"
    assert stats.malformed == 0


def test_a_byte_order_mark_does_not_defeat_detection(tmp_path: pathlib.Path) -> None:
    """A UTF-8 BOM (Windows editors, exports) before the first line is not text of the log."""
    path = tmp_path / "slow.log"
    path.write_bytes(
        b"\xef\xbb\xbf# User@Host: app[app] @ localhost []\n"
        b"# Query_time: 0.100000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1\n"
        b"SELECT 1;\n"
    )
    stats = ReadStats()
    assert [e.statement for e in read(path, stats=stats)] == ["SELECT 1"]
    assert stats.malformed == 0


def test_blank_lines_between_slow_log_entries_are_not_malformed() -> None:
    """Blank lines (hand-edited or concatenated logs) are not malformed lines."""
    text = (
        "\n\n# User@Host: app[app] @ localhost []\n"
        "# Query_time: 0.100000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1\n"
        "SELECT 1;\n\n\n"
        "# User@Host: app[app] @ localhost []\n"
        "# Query_time: 0.200000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1\n"
        "SELECT 2;\n"
    )
    stats = ReadStats()
    events = list(read_slow(io.StringIO(text), source="s", stats=stats, chunk_size=50))
    assert [e.statement for e in events] == ["SELECT 1", "SELECT 2"]
    assert stats.malformed == 0


def test_continuation_lines_indented_with_spaces(tmp_path: pathlib.Path) -> None:
    """A multi-line statement whose continuation tab became spaces keeps all its lines."""
    path = tmp_path / "pg.log"
    path.write_text(
        "2026-11-28 06:55:14.100 UTC [42] app@shop LOG:  duration: 3.5 ms  statement: SELECT a\n"
        "    FROM t\n"
        "    WHERE id = 1\n"
    )
    stats = ReadStats()
    events = list(read(path, format="pg-stderr", stats=stats))
    assert [e.statement for e in events] == ["SELECT a\nFROM t\nWHERE id = 1"]
    assert stats.malformed == 0


def test_digest_exits_2_when_no_line_could_be_read(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log read with the wrong format or prefix is an error, not an empty report with exit 0;
    ``--errors ignore`` accepts it."""
    from backendperf.cli import main

    path = tmp_path / "wrong.log"
    path.write_text("".join(f"not a log line {i}\n" for i in range(30)))
    assert main(["digest", "--format", "pg-stderr", str(path)]) == 2
    assert "no statement read" in capsys.readouterr().err
    assert main(["digest", "--format", "pg-stderr", "--errors", "ignore", str(path)]) == 0
    assert main(["advise", "--format", "pg-stderr", str(path)]) == 2
    assert "no statement read" in capsys.readouterr().err


def _slow_log(n: int) -> bytes:
    entry = (
        "# User@Host: app[app] @ localhost []\n"
        "# Query_time: 0.010000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1\n"
        "SELECT c FROM t WHERE id = {i};\n"
    )
    return "".join(entry.format(i=i) for i in range(n)).encode()


COMPRESSORS = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
}


@pytest.mark.parametrize("kind", list(COMPRESSORS))
def test_trailing_garbage_after_a_compressed_log_loses_nothing(
    tmp_path: pathlib.Path, kind: str
) -> None:
    """Every entry before the garbage is read, and the damage is reported once (a gzip with
    trailing garbage used to keep 91 of 394 entries)."""
    path = tmp_path / f"slow.{kind}"
    path.write_bytes(COMPRESSORS[kind](_slow_log(5000)) + b"this is not compressed\n" * 10)
    stats = ReadStats()
    assert len(list(read(path, stats=stats))) == 5000
    assert stats.malformed == 1
    assert "trailing garbage" in stats.examples[0]


@pytest.mark.parametrize("kind", list(COMPRESSORS))
def test_a_truncated_compressed_log_keeps_what_zcat_recovers(
    tmp_path: pathlib.Path, kind: str
) -> None:
    """A file cut short keeps every whole entry the decompressor can still produce (as
    zcat/bzcat/xzcat do), not only the chunks before the last read."""
    log = _slow_log(20000)
    packed = COMPRESSORS[kind](log)
    cut = packed[: len(packed) * 3 // 4]
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(cut)
    recovered = _stream_decompress(kind, cut)
    whole_entries = recovered.count(b";\n")
    stats = ReadStats()
    got = list(read(path, stats=stats))
    assert whole_entries > 10000
    assert whole_entries <= len(got) <= whole_entries + 1  # + the cut last one, as pt-query-digest
    assert stats.malformed == 1
    assert "truncated" in stats.examples[0]


def _stream_decompress(kind: str, data: bytes) -> bytes:
    """What a streaming decompressor (zcat) gets out of ``data``."""
    d: Any = {
        "gzip": lambda: zlib.decompressobj(wbits=31),
        "bzip2": bz2.BZ2Decompressor,
        "xz": lzma.LZMADecompressor,
    }[kind]()
    out = b""
    for i in range(0, len(data), 4096):
        out += d.decompress(data[i : i + 4096])
    return out


def test_concatenated_gzip_members_are_read_on(tmp_path: pathlib.Path) -> None:
    """``cat a.gz b.gz > c.gz`` is one valid gzip file of two members."""
    path = tmp_path / "both.gz"
    path.write_bytes(gzip.compress(_slow_log(300)) + gzip.compress(_slow_log(200)))
    stats = ReadStats()
    assert len(list(read(path, stats=stats))) == 500
    assert stats.malformed == 0


def test_jobs_keep_the_use_db_and_time_carried_over_range_boundaries(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--jobs 2`` cuts a slow log in two; entries after the cut still belong to the database
    of the last ``use db;`` before it, and to the last ``# Time:``, as in one process."""
    from backendperf.workload import load as parallel

    monkeypatch.setattr(parallel, "_MIN_RANGE", 64 * 1024)
    entry = (
        "# User@Host: app[app] @ localhost []\n"
        "# Query_time: 0.010000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1\n"
        "SELECT c FROM {table} WHERE id = {i};\n"
    )
    text = (
        "# Time: 261128  7:01:47\nuse shop;\n"
        + "".join(entry.format(table="early", i=i) for i in range(2000))
        + "# Time: 261128  8:00:00\nuse other;\n"
        + "".join(entry.format(table="late", i=i) for i in range(2000))
    )
    path = tmp_path / "slow.log"
    path.write_text(text)
    assert len(parallel.plan_ranges(str(path), "mysql-slow", 2)) == 2
    serial = Workload.from_logs([path])
    split = Workload.from_logs([path], jobs=2)
    for fp, stats in serial.stats.items():
        assert split.stats[fp].databases == stats.databases
        assert split.stats[fp].count == stats.count
        assert split.stats[fp].first_seen == stats.first_seen
    assert {dict(s.databases).popitem()[0] for s in split.stats.values()} == {"shop", "other"}


@pytest.mark.parametrize(
    ("line", "prefix"),
    [
        (
            "2026-11-28 06:55:14 UTC [42]: [3-1] user=app,db=shop,app=psql,client=10.0.0.7 ",
            "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
        ),
        ("2026-11-28 06:55:14 UTC:10.0.0.7(5432):app@shop:[42]:", "%t:%r:%u@%d:[%p]:"),
        ("2026-11-28 06:55:14.125 UTC app shop [42] ", "%m %u %d [%p] "),
        ("2026-11-28 06:55:14 UTC [42]: [3-1] db=shop,user=app ", "%t [%p]: [%l-1] db=%d,user=%u "),
    ],
    ids=["pgbadger-advice", "rds", "user-db-pid", "db-user"],
)
def test_log_line_prefix_is_inferred(tmp_path: pathlib.Path, line: str, prefix: str) -> None:
    """A stderr log written with a well-known log_line_prefix is read without being told which
    (pgBadger does; we read nothing from such logs before), and the report says which."""
    from backendperf.workload import digest

    path = tmp_path / "pg.log"
    path.write_text(
        "".join(
            f"{line}LOG:  duration: {i}.5 ms  statement: SELECT * FROM t WHERE id = {i}\n"
            for i in range(5)
        )
    )
    workload = Workload.from_logs([path])
    assert workload.calls == 5
    assert workload.read_stats is not None
    assert workload.read_stats.malformed == 0
    assert workload.read_stats.notes == [f"{path}: log_line_prefix inferred as {prefix!r}"]
    (stats,) = workload.stats.values()
    if "%u" in prefix:
        assert dict(stats.databases) == {"shop": 5}
    report = digest.build(workload)
    assert report["totals"]["notes"] == workload.read_stats.notes
    assert "log_line_prefix inferred" in digest.render_text(report)


def test_an_explicit_log_line_prefix_wins(tmp_path: pathlib.Path) -> None:
    """--log-line-prefix is used as given, even where another prefix would read more."""
    path = tmp_path / "pg.log"
    path.write_text(
        "2026-11-28 06:55:14.125 UTC [42] LOG:  duration: 1.5 ms  statement: SELECT 1\n"
    )
    stats = ReadStats()
    events = list(read(path, format="pg-stderr", log_line_prefix="%t [%p] ", stats=stats))
    assert events == []
    assert stats.malformed == 1
    assert stats.notes == []


CANCELLED_LOG = "".join(
    [
        *(
            f"2026-11-28 06:55:14.{i:03d} UTC [42] app@shop LOG:  duration: 2.000 ms  "
            f"statement: SELECT * FROM users WHERE id = {i}\n"
            for i in range(100)
        ),
        *(
            f"2026-11-28 06:55:15.{i:03d} UTC [43] app@shop ERROR:  canceling statement due to "
            f"statement timeout\n"
            f"2026-11-28 06:55:15.{i:03d} UTC [43] app@shop STATEMENT:  SELECT * FROM orders "
            f"WHERE status = 'late' AND created_at < '2026-0{i % 9 + 1}-01'\n"
            for i in range(20)
        ),
        "2026-11-28 06:55:16.000 UTC [44] app@shop ERROR:  deadlock detected\n"
        "2026-11-28 06:55:16.000 UTC [44] app@shop DETAIL:  Process 44 waits for ShareLock.\n"
        "2026-11-28 06:55:16.000 UTC [44] app@shop STATEMENT:  UPDATE orders SET total = 1 "
        "WHERE id = 7\n",
    ]
)


def test_cancelled_statements_are_events_counted_per_fingerprint(tmp_path: pathlib.Path) -> None:
    """``ERROR: canceling statement due to statement timeout`` + ``STATEMENT:`` is an event
    that did not complete: counted per fingerprint and reason in the digest, not a skip."""
    from backendperf.workload import digest

    path = tmp_path / "pg.log"
    path.write_text(CANCELLED_LOG)
    stats = ReadStats()
    events = list(read(path, stats=stats))
    cancelled = [e for e in events if e.cancelled]
    assert len(cancelled) == 21
    assert {e.cancelled for e in cancelled} == {"statement timeout", "deadlock"}
    assert all(e.duration_ms is None and e.database == "shop" for e in cancelled)
    workload = Workload.from_logs([path])
    assert workload.calls == 100  # completed statements only
    assert workload.cancelled == 21
    report = digest.build(workload)
    assert report["totals"]["cancelled"] == 21
    first = report["cancelled"][0]
    assert first["reasons"] == {"statement timeout": 20}
    assert first["normalized"].startswith("select * from orders where status = ?")
    assert "did not complete: 21 statements" in digest.render_text(report)
    assert QueryEvent.from_json(cancelled[0].to_json()).cancelled == "statement timeout"


def test_the_advisor_weighs_statements_that_timed_out(tmp_path: pathlib.Path) -> None:
    """A statement cancelled by statement_timeout ran at least as long as the slowest one that
    completed: the advice serves it, though no duration of it was logged."""
    from backendperf.advisor import Schema, advise

    path = tmp_path / "pg.log"
    path.write_text(CANCELLED_LOG)
    schema = Schema.from_ddl(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text);"
        "CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL,"
        " total numeric NOT NULL, created_at timestamptz NOT NULL)"
    )
    advice = advise(Workload.from_logs([path]), schema=schema)
    assert [s.table for s in advice.indexes] == ["orders"]
    assert "status" in advice.indexes[0].columns or "created_at" in advice.indexes[0].columns


def test_skip_reasons_do_not_come_from_arbitrary_fields(tmp_path: pathlib.Path) -> None:
    """A jsonlog-like file whose severity field holds anything gives one skip reason, not one
    per distinct value (726 "reasons" on a misdetected file)."""
    import json

    path = tmp_path / "odd.json"
    path.write_text(
        "".join(
            json.dumps({"message": "m", "error_severity": f"value {i}", "pid": 1}) + "\n"
            for i in range(50)
        )
    )
    stats = ReadStats()
    assert list(read(path, format="pg-json", stats=stats)) == []
    assert dict(stats.skipped) == {"unknown severity": 50}


def test_one_space_after_the_severity(tmp_path: pathlib.Path) -> None:
    """``LOG: duration: 1.5 ms statement: ...`` (one space, as some log shippers rewrite the
    lines) is detected and read like PostgreSQL's two-space form."""
    path = tmp_path / "shipped.log"
    path.write_text(
        "".join(
            f"2026-11-28 06:55:1{i}.100 UTC [42] app@shop LOG: duration: 1.5 ms statement: "
            f"SELECT * FROM t WHERE id = {i}\n"
            for i in range(5)
        )
    )
    stats = ReadStats()
    events = list(read(path, stats=stats))
    assert [e.duration_ms for e in events] == [1.5] * 5
    assert stats.malformed == 0


def test_csvlog_with_a_quoted_time_is_detected(tmp_path: pathlib.Path) -> None:
    """A csvlog whose every field is quoted (rewritten by a tool) is detected as csvlog."""
    import csv

    rows = (FIXTURES / "pg15-csvlog.sample.csv").read_text().splitlines()[:20]
    quoted = io.StringIO()
    writer = csv.writer(quoted, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for row in csv.reader(rows):
        writer.writerow(row)
    path = tmp_path / "quoted.csv"
    path.write_text(quoted.getvalue())
    assert detect(quoted.getvalue()) == "pg-csv"
    stats = ReadStats()
    assert len(list(read(path, stats=stats))) > 5
    assert stats.malformed == 0


@pytest.mark.parametrize("layout", ["csv", "json-array", "json-lines"])
def test_pg_stat_statements_exports_are_read_row_by_row(
    tmp_path: pathlib.Path, layout: str
) -> None:
    """A 3-5 MB export is read with memory bounded by a row, not by the file (an 80 MB export
    took 729 MB), and every row becomes an event."""
    import json
    import tracemalloc

    rows = [
        {
            "query": f"SELECT * FROM t{i % 50} WHERE id = $1 AND x = '{'y' * 40}'",
            "calls": 3,
            "total_exec_time": 1.5,
            "rows": 3,
        }
        for i in range(30000)
    ]
    path = tmp_path / f"pgss.{layout}"
    if layout == "csv":
        path.write_text(
            "query,calls,total_exec_time,rows\n"
            + "".join(f'"{r["query"].replace(chr(34), chr(34) * 2)}",3,1.5,3\n' for r in rows)
        )
    elif layout == "json-array":
        path.write_text(json.dumps(rows, indent=1))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    size = path.stat().st_size
    assert size > 2_000_000
    stats = ReadStats()
    tracemalloc.start()
    try:
        count = sum(1 for _ in read(path, format="pgss", stats=stats))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 30000
    assert stats.malformed == 0
    assert peak < size / 4, (peak, size)


def test_administrator_commands_are_counted_in_their_own_classes() -> None:
    """``# administrator command: Ping;`` is the entry's statement (as pt-query-digest counts
    it), so its time is not lost as an entry without a statement; the advisor says it is not
    a query."""
    from backendperf.advisor import Schema, advise

    text = "".join(
        "# User@Host: app[app] @ localhost []\n"
        f"# Query_time: 0.{i + 1:06d}  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0\n"
        f"# administrator command: {'Ping' if i % 2 else 'Quit'};\n"
        for i in range(10)
    )
    stats = ReadStats()
    events = list(read_slow(io.StringIO(text), source="s", stats=stats))
    assert sorted({e.statement for e in events}) == [
        "administrator command: Ping",
        "administrator command: Quit",
    ]
    assert sum(e.duration_ms or 0 for e in events) == pytest.approx(sum(range(1, 11)) / 1000)
    assert "entry without a statement" not in stats.skipped
    workload = Workload()
    workload.extend(events)
    advice = advise(workload, schema=Schema.from_ddl("CREATE TABLE t (id int PRIMARY KEY)"))
    assert advice.indexes == []
    assert {n.reason for n in advice.no_suggestion} == {
        "not a query on a table (a setting, transaction control or DDL)"
    }


SYSLOG = """\
Nov 28 06:55:14 db1 postgres[12511]: [3-1] user=app,db=shop LOG:  duration: 1.935 ms  \
statement: SELECT aid
Nov 28 06:55:14 db1 postgres[12511]: [3-2] #011FROM pgbench_accounts
Nov 28 06:55:14 db1 postgres[12511]: [3-3] #011WHERE aid = 5
Nov 28 06:55:15 db1 postgres[12512]: [4-1] user=app,db=shop LOG:  duration: 0.500 ms  \
execute <unnamed>: SELECT * FROM users WHERE id = $1
Nov 28 06:55:15 db1 postgres[12512]: [5-1] user=app,db=shop DETAIL:  parameters: $1 = '7'
Nov 28 06:55:16 db1 CRON[999]: (root) CMD (true)
Nov 28 06:55:17 db1 postgres[12513]: [6-1] user=app,db=shop ERROR:  canceling statement due \
to statement timeout
Nov 28 06:55:17 db1 postgres[12513]: [7-1] user=app,db=shop STATEMENT:  SELECT pg_sleep(100)
2026-11-28T06:55:18.250000+00:00 db1 postgres[12514]: [8-1] user=app,db=shop LOG:  \
duration: 2.000 ms  statement: SELECT 1
"""


def test_postgres_through_syslog(tmp_path: pathlib.Path) -> None:
    """log_destination=syslog: detected; multi-part messages joined, parameters bound,
    cancellations counted, other programs' lines skipped, the inner log_line_prefix found."""
    path = tmp_path / "syslog"
    path.write_text(SYSLOG)
    assert detect(SYSLOG) == "pg-syslog"
    stats = ReadStats()
    events = list(read(path, stats=stats))
    assert [(e.statement, e.duration_ms, e.database, e.cancelled) for e in events] == [
        ("SELECT aid\nFROM pgbench_accounts\nWHERE aid = 5", 1.935, "shop", None),
        ("SELECT * FROM users WHERE id = $1", 0.5, "shop", None),
        ("SELECT pg_sleep(100)", None, "shop", "statement timeout"),
        ("SELECT 1", 2.0, "shop", None),
    ]
    assert events[1].params == ("7",)
    assert events[0].ts is not None and (events[0].ts.month, events[0].ts.day) == (11, 28)
    assert events[3].ts == dt.datetime(2026, 11, 28, 6, 55, 18, tzinfo=dt.timezone.utc)
    assert stats.skipped["not a PostgreSQL line"] == 1
    assert stats.malformed == 0
    assert stats.lines == 9


WINDOWS_BANNER = (
    "C:\\Program Files\\MySQL\\MySQL Server 8.0\\bin\\mysqld.exe, Version: 8.0.36 (MySQL "
    "Community Server - GPL). started with:\r\n"
    "TCP Port: 3306, Named Pipe: MySQL\r\n"
    "Time                 Id Command    Argument\r\n"
)


@pytest.mark.parametrize("chunk_size", [1 << 20, 7])
def test_the_windows_startup_banner_is_a_banner(chunk_size: int) -> None:
    """A slow log written on Windows starts (and restarts) with a banner whose program path
    has spaces and whose port line says ``TCP Port:``: skipped as a banner, not malformed,
    and never glued to a statement."""
    entry = (
        "# Time: 2026-11-28T07:01:47.000000Z\r\n"
        "# User@Host: app[app] @ localhost []\r\n"
        "# Query_time: 0.500000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1\r\n"
        "SET timestamp=1795935707;\r\n"
        "SELECT c FROM t WHERE id = 1;\r\n"
    )
    text = WINDOWS_BANNER + entry + WINDOWS_BANNER + entry
    stats = ReadStats()
    events = list(read_slow(io.StringIO(text), source="w.log", stats=stats, chunk_size=chunk_size))
    assert [(e.statement, e.duration_ms) for e in events] == [
        ("SELECT c FROM t WHERE id = 1", 500.0)
    ] * 2
    assert stats.skipped["server banner"] == 6
    assert stats.malformed == 0

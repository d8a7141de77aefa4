"""Log readers on real server logs (tests/fixtures/logs, written by PostgreSQL 15 and
MariaDB 10.11): every format yields the same events the server logged, and bad input is
counted, not fatal."""

from __future__ import annotations

import bz2
import gzip
import lzma
import pathlib
from typing import Any

import pytest

from backendperf.events import QueryEvent
from backendperf.exceptions import LogFormatError
from backendperf.workload import ReadStats, Workload, detect, read
from backendperf.workload.readers.sql import split_sql

LOGS = pathlib.Path(__file__).parents[1] / "fixtures" / "logs"


def events(name: str, **kwargs: Any) -> tuple[list[QueryEvent], ReadStats]:
    stats = ReadStats()
    return list(read(LOGS / name, stats=stats, **kwargs)), stats


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("pg15-stderr.sample.log", "pg-stderr"),
        ("pg15-logstatement-all.sample.log", "pg-stderr"),
        ("pg15-autoexplain-text.sample.log", "pg-stderr"),
        ("pg15-autoexplain-json.sample.log", "pg-stderr"),
        ("pg15-csvlog.sample.csv", "pg-csv"),
        ("pg15-logstatement-all.sample.csv", "pg-csv"),
        ("pg15-jsonlog.sample.json", "pg-json"),
        ("pg15-autoexplain.sample.json", "pg-json"),
        ("mariadb10.11-slow.sample.log", "mysql-slow"),
        ("mariadb10.11-general.sample.log", "mysql-general"),
    ],
)
def test_formats_are_detected(name: str, fmt: str) -> None:
    """--format auto recognizes every real sample."""
    assert detect((LOGS / name).read_text()[:65536], name) == fmt


def test_stderr_duration_statements() -> None:
    """log_min_duration_statement lines: statement, duration, user, database, timestamp."""
    evs, stats = events("pg15-stderr.sample.log")
    first = next(e for e in evs if "IN (1, 2, 3" in e.statement)
    assert first.duration_ms == 1.935
    assert first.statement.startswith("/* leading block comment */ SELECT aid, abalance\n")
    assert first.statement.endswith("ORDER BY aid;")  # the multi-line statement, whole
    assert (first.user, first.database, first.dialect) == ("postgres", "bench", "postgresql")
    assert first.ts is not None and first.ts.isoformat() == "2026-11-28T06:55:14.781000+00:00"
    failed = [(e.statement, e.cancelled, e.duration_ms) for e in evs if e.cancelled]
    assert failed == [  # ERROR + STATEMENT pairs: statements that did not complete
        ("SELECT 1/0;", "error", None),
        ("SELEC broken syntax here;", "error", None),
        ("SELECT * FROM no_such_table;", "error", None),
    ]
    assert stats.malformed == 0
    do_block = next(e for e in evs if e.statement.startswith("DO $body$"))
    assert "PERFORM count(*) FROM pgbench_tellers;" in do_block.statement


def test_extended_protocol_executes_carry_their_parameters() -> None:
    """execute <name>: ... with DETAIL parameters: the values are bound to the event;
    parse and bind steps are counted as skipped, not as queries."""
    evs, stats = events("pg15-stderr.sample.log")
    executes = [e for e in evs if e.params]
    assert executes
    e = executes[0]
    assert e.statement == "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"
    assert e.params is not None and len(e.params) == 1 and e.params[0].isdigit()
    assert stats.skipped["parse step (the execute is counted)"] > 0
    assert stats.skipped["bind step (the execute is counted)"] > 0


def test_log_statement_all_pairs_statements_with_their_durations() -> None:
    """log_statement=all + log_duration: the duration line completes the statement line."""
    evs, _ = events("pg15-logstatement-all.sample.log")
    first = next(e for e in evs if e.statement == "SET application_name = 'logbench-prologue';")
    assert first.duration_ms == 0.532
    timed = [e for e in evs if e.duration_ms is not None]
    assert len(timed) / len(evs) > 0.99
    assert any(e.params for e in evs)


def test_three_postgres_formats_agree() -> None:
    """stderr, csvlog and jsonlog of one server run give the same statements and durations
    (in the same order while one session runs; concurrent sessions interleave differently)."""
    from collections import Counter

    def load(name: str) -> list[tuple[str, float | None]]:
        return [(e.statement.strip(), e.duration_ms) for e in events(name)[0]]

    stderr, csv, jsn = (
        load(n)
        for n in ("pg15-stderr.sample.log", "pg15-csvlog.sample.csv", "pg15-jsonlog.sample.json")
    )
    assert stderr[:50] == csv[:50] == jsn[:50]
    common = Counter(stderr) & Counter(csv) & Counter(jsn)
    assert sum(common.values()) > 0.95 * min(len(stderr), len(csv), len(jsn))


def test_auto_explain_plans_are_not_double_counted() -> None:
    """auto_explain entries are skipped: each statement is counted once, from its own line."""
    evs, stats = events("pg15-autoexplain-text.sample.log")
    assert stats.skipped["auto_explain plan (its statement is logged on its own)"] > 100
    assert not any("Query Text:" in e.statement for e in evs)
    assert all(e.duration_ms is not None for e in evs if e.cancelled is None)


def test_mariadb_slow_log_entries() -> None:
    """Query_time, Rows_sent/examined, Lock_time, schema, user, SET timestamp, banners."""
    evs, stats = events("mariadb10.11-slow.sample.log")
    first = evs[0]
    assert first.statement == "FLUSH SLOW LOGS"
    assert first.duration_ms == pytest.approx(0.130)
    assert first.user == "root"
    assert first.ts is not None and first.ts.timestamp() == 1795849306
    assert first.extra["Lock_time"] == 0
    assert stats.skipped["server banner"] == 3
    assert stats.skipped["comment-only statement"] == 2
    sb = [e for e in evs if e.database == "sbtest"]
    assert sb
    assert all(e.dialect == "mysql" for e in evs)
    assert any(e.rows_examined for e in evs)
    multi = [e for e in evs if "\n" in e.statement]
    assert multi  # multi-line statements kept whole
    assert stats.malformed == 0


def test_mariadb_general_log() -> None:
    """Query and Execute commands become events (no durations); Prepare, Connect, Quit are
    counted as skipped; the Connect line gives user and database."""
    evs, stats = events("mariadb10.11-general.sample.log")
    assert all(e.duration_ms is None for e in evs)
    assert evs[0].statement == "SELECT 1"
    assert evs[0].user == "root" and evs[0].database == "sbtest"
    assert any(e.extra["command"] == "Execute" for e in evs)
    assert stats.skipped["prepare command"] > 0
    multi = next(e for e in evs if "leading block comment" in e.statement)
    assert multi.statement.endswith("ORDER BY id")


def test_sql_files_split_on_real_statement_ends() -> None:
    """Semicolons in strings, dollar quotes and comments do not split."""
    script = "SELECT ';';\n-- a; b\nDO $$ BEGIN PERFORM 1; END $$;\nSELECT 'x''y;' ; /* ; */"
    assert [s for _, s in split_sql(script)] == [
        "SELECT ';'",
        "-- a; b\nDO $$ BEGIN PERFORM 1; END $$",
        "SELECT 'x''y;'",
        "/* ; */",
    ]


def test_sql_and_jsonl_readers(tmp_path: pathlib.Path) -> None:
    """.sql files give one event per statement; our JSONL round-trips events."""
    sql = tmp_path / "q.sql"
    sql.write_text("SELECT 1;\nSELECT 2;\n/* only a comment */;\n")
    stats = ReadStats()
    assert [e.statement for e in read(sql, stats=stats)] == ["SELECT 1", "SELECT 2"]
    assert stats.skipped["comment-only statement"] == 1
    original = QueryEvent(statement="SELECT 1", duration_ms=2.5, params=(1, "a"), scope="x")
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text(original.to_json() + "\nnot json\n" + original.to_json() + "\n")
    stats = ReadStats()
    back = list(read(jsonl, stats=stats))
    assert len(back) == 2
    assert back[0].statement == "SELECT 1" and back[0].params == (1, "a")
    assert stats.malformed == 1


def test_pg_stat_statements_exports(tmp_path: pathlib.Path) -> None:
    """CSV and JSON exports: each row is `calls` executions with the total time."""
    csv = tmp_path / "pgss.csv"
    csv.write_text(
        "query,calls,total_exec_time,rows,datname\n"
        '"SELECT * FROM t WHERE id = $1",100,250.5,100,app\n'
        '"UPDATE t SET a = $1",3,9,3,app\n'
    )
    w = Workload.from_logs([csv])
    top = w.top(1)[0]
    assert (top.count, top.total_ms, top.mean_ms) == (100, 250.5, 2.505)
    js = tmp_path / "pgss.json"
    js.write_text('[{"query": "SELECT 1", "calls": 7, "total_exec_time": 1.4}]')
    assert Workload.from_logs([js]).top(1)[0].count == 7


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open])
def test_compressed_logs_are_read_directly(tmp_path: pathlib.Path, opener: Any) -> None:
    """gzip, bzip2 and xz files are recognized by their magic bytes."""
    path = tmp_path / "log.compressed"
    with opener(path, "wb") as fh:
        fh.write((LOGS / "mariadb10.11-slow.sample.log").read_bytes())
    assert len(list(read(path))) == len(events("mariadb10.11-slow.sample.log")[0])


def test_rotated_logs_merge() -> None:
    """Several files make one workload whose counts are the sum."""
    one = Workload.from_logs([LOGS / "pg15-stderr.sample.log"])
    both = Workload.from_logs([LOGS / "pg15-stderr.sample.log", LOGS / "pg15-stderr.sample.log"])
    assert both.calls == 2 * one.calls
    assert len(both.stats) == len(one.stats)


def test_malformed_lines_are_counted_and_skipped(tmp_path: pathlib.Path) -> None:
    """Garbage between valid lines is counted, the rest is read; errors=raise stops."""
    text = (LOGS / "pg15-stderr.sample.log").read_text().splitlines(keepends=True)
    broken = tmp_path / "broken.log"
    clean = tmp_path / "clean.log"
    clean.write_text("".join(text[:100]))
    broken.write_text("".join(text[:50]) + "garbage line\x00\n" + "".join(text[50:100]))
    stats = ReadStats()
    evs = list(read(broken, format="pg-stderr", stats=stats))
    assert stats.malformed == 1
    assert "broken.log:51" in stats.examples[0]
    assert [e.statement for e in evs] == [e.statement for e in read(clean)]  # nothing lost
    with pytest.raises(LogFormatError, match=r"broken\.log:51"):
        list(read(broken, format="pg-stderr", errors="raise"))


def test_non_utf8_bytes_survive(tmp_path: pathlib.Path) -> None:
    """A Latin-1 byte in a statement is kept (as an escape), not dropped or fatal."""
    path = tmp_path / "latin1.sql"
    path.write_bytes(b"SELECT 'caf\xe9';\n")
    (event,) = read(path)
    assert event.statement == "SELECT 'caf\\xe9'"


def test_a_huge_statement_is_fine(tmp_path: pathlib.Path) -> None:
    """A 10 MB statement is read and fingerprinted."""
    values = ",".join(str(i) for i in range(1_500_000))
    path = tmp_path / "big.sql"
    path.write_text(f"SELECT * FROM t WHERE id IN ({values});\n")
    assert path.stat().st_size > 10_000_000
    w = Workload.from_logs([path])
    (stats,) = w.stats.values()
    assert stats.normalized == "select * from t where id in (?+)"


def test_unknown_and_unreadable_inputs_raise_log_format_error(tmp_path: pathlib.Path) -> None:
    """An unknown format or a missing file is a LogFormatError (the CLI exits 2)."""
    odd = tmp_path / "odd.txt"
    odd.write_text("hello\nworld\n")
    with pytest.raises(LogFormatError, match="--format"):
        list(read(odd))
    with pytest.raises(LogFormatError, match="cannot read"):
        list(read(tmp_path / "missing.log"))
    with pytest.raises(LogFormatError, match="unknown format"):
        list(read(odd, format="oracle"))


def test_custom_log_line_prefix(tmp_path: pathlib.Path) -> None:
    """A stderr log written with another log_line_prefix is read with --log-line-prefix."""
    path = tmp_path / "custom.log"
    path.write_text(
        "2026-11-28 06:55:14 UTC:app@shop:[42]:LOG:  duration: 3.5 ms  statement: SELECT 1\n"
        "2026-11-28 06:55:15 UTC:app@shop:[42]:LOG:  duration: 1.5 ms  statement: SELECT 2\n"
    )
    evs = list(read(path, format="pg-stderr", log_line_prefix="%t:%u@%d:[%p]:"))
    assert [(e.statement, e.duration_ms, e.user, e.database) for e in evs] == [
        ("SELECT 1", 3.5, "app", "shop"),
        ("SELECT 2", 1.5, "app", "shop"),
    ]


@pytest.mark.parametrize(
    ("prefix", "line"),
    [
        ("%t [%p]: user=%u,db=%d ", "2026-11-28 06:55:{s:02d} UTC [4{p}]: user=app,db=shop "),
        ("%m %h %p ", "2026-11-28 06:55:{s:02d}.125 UTC 10.0.0.7 4{p} "),
        ("%n [%p] ", "1795886{s:03d}.125 [4{p}] "),  # no %m/%t: events without a time
        ("%t [%p] %a ", "2026-11-28 06:55:{s:02d} UTC [4{p}] psql "),  # a lazy field: lines
    ],
)
def test_chunked_stderr_reader_with_other_prefixes(prefix: str, line: str) -> None:
    """Under any log_line_prefix, the chunked reader (and its column batches) gives the line
    reader's events: statements with durations, a DETAIL line for one of them, others."""
    import io

    from backendperf.workload.readers.postgres import (
        read_stderr,
        read_stderr_batches,
        read_stderr_lines,
    )

    bodies = [
        "LOG:  duration: {ms} ms  statement: SELECT * FROM t WHERE id = {s}",
        "LOG:  duration: {ms} ms  execute <unnamed>: SELECT * FROM t WHERE id = $1",
        "DETAIL:  parameters: $1 = '{s}'",
        "LOG:  checkpoint starting: time",
    ]
    # the first half without DETAIL lines (columns), the second with them (the line reader)
    text = "".join(
        line.format(s=i % 60, p=i % 3)
        + bodies[(i * 7) % 4 if i >= 1500 else (0, 1, 0, 3)[i % 4]].format(ms=i / 8, s=i)
        + "\n"
        for i in range(3000)
    )

    def run(fn: Any, **kwargs: Any) -> tuple[list[Any], ReadStats]:
        stats = ReadStats()
        stream = io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8", newline="")
        return list(fn(stream, source="f", stats=stats, prefix=prefix, **kwargs)), stats

    events, stats = run(read_stderr_lines)
    assert len(events) > 1000 and not stats.malformed
    assert run(read_stderr, chunk_size=4096) == (events, stats)
    batched, _ = run(read_stderr_batches, chunk_size=4096)
    lazy = "%a" in prefix
    assert any(type(b) is not QueryEvent for b in batched) is not lazy
    one_by_one = Workload().extend(events)
    columns = Workload().extend(batched)
    assert {f: (s.count, round(s.total_ms, 6), s.samples) for f, s in one_by_one.stats.items()} == {
        f: (s.count, round(s.total_ms, 6), s.samples) for f, s in columns.stats.items()
    }


def test_unix_time_prefix_gives_event_times(tmp_path: pathlib.Path) -> None:
    """``%n`` (Unix time with milliseconds) in the log_line_prefix dates the events."""
    path = tmp_path / "epoch.log"
    path.write_text(
        "1795886114.778 [42] LOG:  duration: 3.5 ms  statement: SELECT 1\n"
        "1795886115.001 [42] LOG:  duration: 1.5 ms  statement: SELECT 2\n"
    )
    evs = list(read(path, format="pg-stderr", log_line_prefix="%n [%p] "))
    assert [e.ts.isoformat() if e.ts else None for e in evs] == [
        "2026-11-28T17:15:14.778000+00:00",
        "2026-11-28T17:15:15.001000+00:00",
    ]


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("pg15-stderr.sample.log", "read_stderr_lines"),
        ("pg15-extended.sample.log", "read_stderr_lines"),
        ("pg15-logstatement-all.sample.log", "read_stderr_lines"),
        ("pg15-csvlog.sample.csv", "read_csvlog_rows"),
        ("pg15-jsonlog.sample.json", "read_jsonlog_rows"),
    ],
)
def test_real_logs_take_the_column_path(name: str, reference: str) -> None:
    """On logs the real server wrote, in every shape (simple and extended protocol,
    log_statement=all with log_duration; stderr, csvlog, jsonlog), the fast reader hands
    most statements over as columns, and gives exactly the reference reader's events.
    (log_statement=all in csvlog/jsonlog is read row by row: see docs/digest.md.)"""
    import io

    from backendperf.events import EventBatch
    from backendperf.workload.readers import FORMATS, postgres
    from backendperf.workload.readers.base import events_of

    fmt = detect((LOGS / name).read_text()[:65536], name)
    bulk = FORMATS[fmt].read_batches
    assert bulk is not None

    def run(fn: Any, **kwargs: Any) -> tuple[list[Any], ReadStats]:
        stats = ReadStats()
        stream = io.StringIO((LOGS / name).read_text(), newline="")
        return list(fn(stream, source=name, stats=stats, **kwargs)), stats

    expected, expected_stats = run(getattr(postgres, reference))
    items, stats = run(bulk, chunk_size=16384)
    assert (list(events_of(items)), stats) == (expected, expected_stats)
    in_columns = sum(len(item) for item in items if isinstance(item, EventBatch))
    assert in_columns >= 0.6 * len(expected) > 0

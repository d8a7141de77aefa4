"""Logs written by the real servers, read back: what we ran is what the digest reports."""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
import time
import uuid

import pytest

from backendperf.cli import main
from backendperf.workload import Workload, read
from backendperf.workload.readers import ReadStats, read_pgss_live
from tests.conftest import PG_URL, unavailable

SHARED_PG_LOG = pathlib.Path("/var/log/postgresql/postgresql-15-main.log")


@pytest.mark.postgres
def test_shared_postgres_logs_our_session(pg_url: str) -> None:
    """log_min_duration_statement=0 for our own session only; the server's stderr log then
    holds our statements with durations, our bound parameters, and the user and database."""
    import psycopg

    if not os.access(SHARED_PG_LOG, os.R_OK):
        unavailable(f"the PostgreSQL server log {SHARED_PG_LOG}", "not readable (run as root)")
    marker = f"bp_{uuid.uuid4().hex[:10]}"
    start = SHARED_PG_LOG.stat().st_size
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET log_min_duration_statement = 0")
        conn.execute(f"CREATE TABLE {marker} (id int primary key, name text)")
        for i in range(5):
            conn.execute(f"INSERT INTO {marker} VALUES (%s, %s)", (i, f"it's {i}"))  # extended
        for i in range(3):
            conn.execute(f"SELECT name FROM {marker} WHERE id = {i}")  # simple protocol
    time.sleep(0.2)
    tail = SHARED_PG_LOG.read_bytes()[start:]
    piece = pathlib.Path(tempfile.gettempdir()) / f"{marker}.log"
    piece.write_bytes(tail)
    try:
        stats = ReadStats()
        ours = [e for e in read(piece, stats=stats) if marker in e.statement]
    finally:
        piece.unlink()
    inserts = [e for e in ours if e.statement.startswith("INSERT")]
    selects = [e for e in ours if e.statement.startswith("SELECT")]
    assert len(inserts) == 5 and len(selects) == 3
    assert all(e.duration_ms is not None and e.duration_ms >= 0 for e in ours)
    assert {e.params for e in inserts} == {(str(i), f"it's {i}") for i in range(5)}
    assert all(e.user == "postgres" and e.database == "test" for e in ours)
    w = Workload().extend(ours)
    shapes = {s.normalized: s.count for s in w.stats.values()}
    assert shapes[f"insert into {marker} values (?, ?)"] == 5
    assert shapes[f"select name from {marker} where id = ?"] == 3


@pytest.mark.mariadb
@pytest.mark.slow
def test_mariadb_slow_log_of_our_statements(private_mariadb: tuple[str, pathlib.Path]) -> None:
    """A private MariaDB with long_query_time=0: the slow log of what we ran digests to the
    shapes and counts we ran, with rows examined."""
    import pymysql

    sock, slow = private_mariadb
    conn = pymysql.connect(unix_socket=sock, user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS shop")
        cur.execute("USE shop")
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, price DECIMAL(10,2))")
        for i in range(20):
            cur.execute("INSERT INTO items VALUES (%s, %s)", (i, i * 1.5))
        for i in range(7):
            cur.execute("SELECT price FROM items WHERE id IN (%s, %s, %s)", (i, i + 1, i + 2))
    conn.close()
    time.sleep(0.2)
    w = Workload.from_logs([slow])
    shapes = {s.normalized: s for s in w.stats.values()}
    select = shapes["select price from items where id in (?+)"]
    assert select.count == 7
    assert select.rows_examined >= 7
    assert shapes["insert into items values (?, ?)"].count == 20
    assert select.databases["shop"] == 7


@pytest.mark.postgres
@pytest.mark.slow
def test_pg_stat_statements_live(private_postgres: str, tmp_path: pathlib.Path) -> None:
    """--db reads pg_stat_statements: calls and total time per statement, live."""
    import psycopg

    with psycopg.connect(private_postgres, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
        conn.execute("CREATE TABLE t (id int)")
        for i in range(12):
            conn.execute("SELECT count(*) FROM t WHERE id = %s", (i,))
    stats = ReadStats()
    w = Workload().extend(read_pgss_live(private_postgres, stats=stats))
    shapes = {s.normalized: s for s in w.stats.values()}
    hot = shapes["select count(*) from t where id = ?"]
    assert hot.count == 12
    assert hot.total_ms > 0
    out = tmp_path / "pgss.json"  # the same through the CLI
    assert main(["digest", "--db", private_postgres, "--output", "json", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["sources"] == ["pg_stat_statements"]
    assert any(
        s["normalized"] == "select count(*) from t where id = ?" and s["calls"] == 12
        for s in report["statements"]
    )


def test_pg_stat_statements_missing_is_a_clear_error() -> None:
    """Without the extension, --db fails with a LogFormatError that says what to do."""
    from backendperf.exceptions import LogFormatError

    with pytest.raises(LogFormatError, match="shared_preload_libraries"):
        list(read_pgss_live(PG_URL, stats=ReadStats()))

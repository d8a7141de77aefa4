"""Smoke tests that prove the service fixtures: each reaches its real server and cleans up."""

from __future__ import annotations

import pytest


@pytest.mark.postgres
def test_postgres_schema_is_isolated(pg_url: str) -> None:
    """A table created through pg_url lands in the test's own schema."""
    import psycopg

    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE t (id int primary key)")
        conn.execute("INSERT INTO t VALUES (1), (2)")
        (schema,) = conn.execute("SELECT current_schema()").fetchone()  # type: ignore[misc]
        (count,) = conn.execute("SELECT count(*) FROM t").fetchone()  # type: ignore[misc]
    assert schema.startswith("bp_test_")
    assert count == 2


@pytest.mark.mariadb
def test_mariadb_database_is_isolated(mariadb_url: str) -> None:
    """A table created through mariadb_url lands in the test's own database."""
    import pymysql

    database = mariadb_url.rsplit("/", 1)[1]
    conn = pymysql.connect(host="127.0.0.1", user="root", password="", database=database)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id int primary key)")
            cur.execute("INSERT INTO t VALUES (1), (2)")
            cur.execute("SELECT DATABASE(), COUNT(*) FROM t")
            assert cur.fetchone() == (database, 2)
    finally:
        conn.close()


@pytest.mark.redis
def test_redis_prefix_is_cleaned(redis_url: str, redis_prefix: str) -> None:
    """Keys under the test's prefix round-trip through the real server."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.set(redis_prefix + "k", b"v", px=60_000)
    assert client.get(redis_prefix + "k") == b"v"
    client.close()

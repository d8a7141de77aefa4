"""Shared fixtures: real PostgreSQL, MariaDB and Redis, each test isolated and cleaned up.

A fixture whose server cannot be reached *skips* the test locally and *fails* it when ``CI`` is
set: a suite that silently skips its integration tests is a broken suite.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

PG_URL = os.environ.get("BACKENDPERF_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("BACKENDPERF_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("BACKENDPERF_REDIS_URL", "redis://127.0.0.1:6379/0")

pytest_plugins = ["pytester"]  # the pytest plugin's own tests run pytest inside pytest

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def unavailable(what: str, why: object) -> None:
    """Skip locally, fail in CI: the service a test needs is not reachable."""
    message = f"{what} is not reachable ({why}); start it (see DEVELOPERS.md / README)"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def _reachable(host: str, port: int) -> OSError | None:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return None
    except OSError as exc:
        return exc


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads every microsecond, so interleavings rare in production happen in tests."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def unique_name(prefix: str) -> str:
    """A name no concurrent test run will choose."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose ``search_path`` is a fresh schema, dropped afterwards."""
    if (err := _reachable("127.0.0.1", 5432)) is not None:
        unavailable("PostgreSQL at 127.0.0.1:5432", err)
    import psycopg

    schema = unique_name("bp_test")
    try:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.Error as exc:
        unavailable("PostgreSQL", exc)
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A MariaDB URL of a fresh database, dropped afterwards."""
    if (err := _reachable("127.0.0.1", 3306)) is not None:
        unavailable("MariaDB at 127.0.0.1:3306", err)
    import pymysql

    database = unique_name("bp_test")
    try:
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    except pymysql.Error as exc:
        unavailable("MariaDB", exc)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{database}`")
        yield f"mysql://root@127.0.0.1:3306/{database}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        conn.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The Redis URL; ``redis_prefix`` gives the key prefix this test owns."""
    if (err := _reachable("127.0.0.1", 6379)) is not None:
        unavailable("Redis at 127.0.0.1:6379", err)
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A unique key prefix; every key under it is deleted after the test."""
    import redis

    prefix = unique_name("bp_test") + ":"
    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


def _free_port(*, bus: bool) -> int:
    """A free port; with ``bus``, one whose cluster bus port (+10000) is free too."""
    import random

    for _ in range(200):
        port = random.randint(20000, 50000)
        try:
            for p in (port, port + 10000) if bus else (port,):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port found")


class OwnRedis:
    """A redis-server this test started on a free port; stopped by its pid, never by name."""

    def __init__(self, tmp: str, *extra: str) -> None:
        self.tmp = tmp
        self.extra = extra
        self.port = _free_port(bus="--cluster-enabled" in extra)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            unavailable("redis-server (the binary)", "not on PATH")
        assert exe is not None
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.tmp,
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while _reachable("127.0.0.1", self.port) is not None:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def own_redis(tmp_path: pathlib.Path) -> Iterator[OwnRedis]:
    """A private Redis server the test may stop and restart (for fault tests)."""
    server = OwnRedis(str(tmp_path))
    server.start()
    try:
        yield server
    finally:
        server.stop()


PGBIN = pathlib.Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[str]:
    """A PostgreSQL 15 cluster of our own (initdb as the postgres user), with
    pg_stat_statements preloaded: for what the shared server is not configured to do."""
    if os.geteuid() != 0 or shutil.which("runuser") is None or not (PGBIN / "initdb").exists():
        unavailable(
            "a private PostgreSQL cluster", "needs root, runuser and PostgreSQL 15 binaries"
        )
    import tempfile

    # not under pytest's tmp dir: that is private to root, and initdb runs as postgres
    base = pathlib.Path(tempfile.mkdtemp(prefix="bp_pg_"))
    base.chmod(0o777)
    data = base / "data"
    port = _free_port(bus=False)
    run = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run, str(PGBIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c shared_preload_libraries=pg_stat_statements"
    )
    subprocess.run(
        [
            *run,
            str(PGBIN / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "log"),
            "-w",
            "-o",
            options,
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run, str(PGBIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def private_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, pathlib.Path]]:
    """A MariaDB server of our own with the slow log on (long_query_time=0): (socket, log)."""
    if shutil.which("mariadb-install-db") is None or shutil.which("mariadbd") is None:
        unavailable("a private MariaDB server", "mariadb-install-db/mariadbd not on PATH")
    base = tmp_path_factory.mktemp("mdb")
    data, sock, slow = base / "data", base / "mdb.sock", base / "slow.log"
    subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            "--user=root",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
        ],
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [
            "mariadbd",
            "--no-defaults",
            "--user=root",
            f"--datadir={data}",
            f"--socket={sock}",
            "--skip-networking",
            "--skip-grant-tables",
            "--slow-query-log=1",
            "--long-query-time=0",
            f"--slow-query-log-file={slow}",
            f"--pid-file={base / 'pid'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not sock.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("private mariadbd did not start")
        time.sleep(0.1)
    try:
        yield str(sock), slow
    finally:
        proc.terminate()
        proc.wait(timeout=30)

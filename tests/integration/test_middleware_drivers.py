"""The middleware on every driver users run: PostgreSQL (psycopg 3, sync and async), MariaDB
(pymysql), SQLite (aiosqlite): counts, N+1 with the relationship, the caller line under an
AsyncEngine, failed statements, and one fingerprint shared with the server's own log."""

from __future__ import annotations

import asyncio
import os
import pathlib
import tempfile
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, selectinload

from backendperf.sqlalchemy import instrument, profile
from backendperf.workload import read
from tests.apps import orm_app
from tests.conftest import unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

HERE = f"tests/integration/{pathlib.Path(__file__).name}"


def _sa_url(url: str, driver: str) -> str:
    return url.replace("postgresql://", f"postgresql+{driver}://", 1).replace(
        "mysql://", f"mysql+{driver}://", 1
    )


@pytest.fixture(
    params=[
        pytest.param("pg", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
        "sqlite",
    ]
)
def sync_engine(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[sa.Engine]:
    if request.param == "pg":
        url = _sa_url(request.getfixturevalue("pg_url"), "psycopg")
    elif request.param == "mariadb":
        url = _sa_url(request.getfixturevalue("mariadb_url"), "pymysql")
    else:
        url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = sa.create_engine(url)
    orm_app.Base.metadata.create_all(engine)
    with Session(engine) as s:
        orm_app.seed(s)
    yield engine
    orm_app.Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture(
    params=[pytest.param("pg", marks=pytest.mark.postgres), "sqlite"],
)
def async_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    if request.param == "pg":
        return _sa_url(request.getfixturevalue("pg_url"), "psycopg_async")
    return f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"


def test_sync_driver_counts_nplusone_and_errors(sync_engine: sa.Engine) -> None:
    """Core and ORM statements are counted; the lazy-load N+1 names its relationship; a failed
    statement is recorded with the driver's error class and still raised."""
    with instrument(sync_engine) as handle:
        with Session(sync_engine) as s, profile("orm", on_nplusone="ignore") as p:
            emails = orm_app.emails_lazy(s)
        assert len(emails) == 12
        assert p.count == 7
        (finding,) = p.nplusone
        assert finding.relationship == "User.addresses"
        assert finding.count == 6
        with Session(sync_engine) as s, profile(on_nplusone="raise") as eager:
            s.scalars(sa.select(orm_app.User).options(selectinload(orm_app.User.addresses))).all()
        assert eager.count == 2
        with (
            profile() as failed,
            pytest.raises(sa.exc.DBAPIError),
            sync_engine.connect() as conn,
        ):
            conn.execute(sa.text("SELECT * FROM bp_no_such_table"))
        (event,) = failed.statements
        assert event.extra["error"] in {"UndefinedTable", "ProgrammingError", "OperationalError"}
        assert handle.stats.count >= 10
        expected = "mysql" if sync_engine.dialect.name == "mariadb" else sync_engine.dialect.name
        assert {e.dialect for e in p.statements} == {expected}
        assert all(e.database for e in p.statements)


def test_async_engine_counts_and_callers(async_url: str) -> None:
    """AsyncEngine (psycopg async, aiosqlite): counts, N+1, and the caller is the application's
    coroutine line, reached through the parent greenlet."""

    async def main() -> tuple[Any, Any, int]:
        engine = create_async_engine(async_url)
        async with engine.begin() as conn:
            await conn.run_sync(orm_app.Base.metadata.create_all)
        async with AsyncSession(engine) as s:
            await s.run_sync(orm_app.seed)
        factory = async_sessionmaker(engine)
        try:
            with instrument(factory) as handle:
                async with factory() as s, profile("async", on_nplusone="ignore") as p:
                    users = (await s.scalars(sa.select(orm_app.User))).all()
                    for u in users:  # one query per user: an N+1
                        await s.scalars(
                            sa.select(orm_app.Address).where(orm_app.Address.user_id == u.id)
                        )
                line = _line_of("                        await s.scalars(")
                return p, line, handle.stats.count
        finally:
            async with engine.begin() as conn:
                await conn.run_sync(orm_app.Base.metadata.drop_all)
            await engine.dispose()

    p, line, total = asyncio.run(main())
    assert p.count == 7
    assert total == 7
    (finding,) = p.nplusone
    assert finding.count == 6
    assert finding.caller == f"{HERE}:{line}:main"
    first = p.by_fingerprint()
    assert all(s.caller and s.caller.startswith(f"{HERE}:") for s in first)


def test_async_tasks_on_one_engine_never_mix(async_url: str) -> None:
    """Concurrent asyncio tasks over one AsyncEngine keep separate profiles."""

    async def worker(engine: Any, n: int) -> int:
        with profile(f"w{n}", nplusone=None) as p:
            async with engine.connect() as conn:
                for i in range(n):
                    await conn.execute(sa.text("SELECT :i"), {"i": i})
                    await asyncio.sleep(0)
        return p.count

    async def main() -> list[int]:
        engine = create_async_engine(async_url)
        async with engine.connect() as conn:  # the dialect's first-connect queries, out of scope
            await conn.execute(sa.text("SELECT 1"))
        try:
            with instrument(engine):
                return list(await asyncio.gather(*(worker(engine, n) for n in (2, 4, 8))))
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == [2, 4, 8]


SHARED_PG_LOG = pathlib.Path("/var/log/postgresql/postgresql-15-main.log")


@pytest.mark.postgres
def test_middleware_and_server_log_share_fingerprints(pg_url: str) -> None:
    """The same statements, timed by the middleware and logged by PostgreSQL itself, get the
    same fingerprints: one id across the JSONL file and the server's log."""
    if not os.access(SHARED_PG_LOG, os.R_OK):
        unavailable(f"the PostgreSQL server log {SHARED_PG_LOG}", "not readable (run as root)")
    marker = f"bp_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(_sa_url(pg_url, "psycopg"))
    start = SHARED_PG_LOG.stat().st_size
    with instrument(engine), profile(nplusone=None) as p, engine.begin() as conn:
        conn.exec_driver_sql("SET log_min_duration_statement = 0")
        conn.exec_driver_sql(f"CREATE TABLE {marker} (id int primary key, name text)")
        for i in range(3):
            conn.execute(sa.text(f"INSERT INTO {marker} VALUES (:i, :n)"), {"i": i, "n": f"x{i}"})
        conn.execute(sa.text(f"SELECT name FROM {marker} WHERE id IN (1, 2) AND name <> 'z'"))
    engine.dispose()
    time.sleep(0.2)
    piece = pathlib.Path(tempfile.gettempdir()) / f"{marker}.log"
    piece.write_bytes(SHARED_PG_LOG.read_bytes()[start:])
    try:
        logged = {e.fingerprint for e in read(piece) if marker in e.statement and e.fingerprint}
        if not logged:
            from backendperf.workload.fingerprinting import fingerprint

            logged = {
                fingerprint(e.statement, "postgresql") for e in read(piece) if marker in e.statement
            }
    finally:
        piece.unlink()
    ours = {e.fingerprint for e in p.statements if marker in e.statement}
    assert len(ours) == 3
    assert ours == logged


def _line_of(text: str) -> int:
    lines = pathlib.Path(__file__).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)

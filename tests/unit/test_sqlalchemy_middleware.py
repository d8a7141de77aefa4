"""instrument() and profile() on SQLite: what users rely on when they time their queries."""

from __future__ import annotations

import asyncio
import json
import logging
import pathlib
import threading
import warnings
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from backendperf.events import QueryEvent
from backendperf.exceptions import ConfigurationError, NPlusOneError, NPlusOneWarning
from backendperf.profiling import JsonlSink, Profile, current_profiles
from backendperf.sqlalchemy import Instrumentation, _orm_execute, instrument, profile
from backendperf.workload.fingerprinting import fingerprint
from tests.apps import orm_app

if TYPE_CHECKING:
    from collections.abc import Iterator

HERE = pathlib.Path(__file__).name


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    e = sa.create_engine("sqlite://")
    with Session(e) as s:
        orm_app.Base.metadata.create_all(e)
        orm_app.seed(s)
    yield e
    e.dispose()


@pytest.fixture
def handle(engine: sa.Engine) -> Iterator[Instrumentation]:
    with instrument(engine) as h:
        yield h


def run(engine: sa.Engine, sql: str, params: dict[str, object] | None = None) -> list[object]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params or {}).all())


def test_records_statements_by_fingerprint(engine: sa.Engine, handle: Instrumentation) -> None:
    """Statements that differ only in values share one fingerprint, the log readers' one."""
    with profile("p") as p:
        for i in range(4):
            run(engine, "SELECT name FROM bp_users WHERE id = :id", {"id": i})
        run(engine, "SELECT count(*) FROM bp_address")
    assert p.count == 5
    shapes = {s.normalized: s for s in p.by_fingerprint()}
    assert set(shapes) == {
        "select name from bp_users where id = ?",
        "select count(*) from bp_address",
    }
    users = shapes["select name from bp_users where id = ?"]
    assert users.count == 4
    assert users.fingerprint == fingerprint("select name from bp_users where id = 42", "sqlite")
    assert users.total_ms == pytest.approx(sum(e.duration_ms or 0 for e in p.statements[:4]))
    assert users.p50_ms <= users.p95_ms <= users.p99_ms <= users.max_ms
    assert users.caller is not None and users.caller.startswith(f"tests/unit/{HERE}:")
    assert handle.stats.count == 5  # the handle aggregates everything, scoped or not
    events = p.statements
    assert [e.scope for e in events] == ["p"] * 5
    assert all(e.dialect == "sqlite" and e.params is None for e in events)
    assert all(e.ts is not None and e.duration_ms is not None for e in events)


def test_instrument_is_idempotent_and_uninstrument_exact(engine: sa.Engine) -> None:
    """Instrumenting twice gives one handle; uninstrument removes exactly what was added."""
    from sqlalchemy.orm import Session as OrmSession

    before = len(engine.dialect.dispatch.do_execute)
    h1 = instrument(engine)
    h2 = instrument(engine)
    assert h1 is h2
    assert len(engine.dialect.dispatch.do_execute) == before + 1
    assert event.contains(OrmSession, "do_orm_execute", _orm_execute)
    h1.uninstrument()
    h1.uninstrument()  # twice is fine
    assert len(engine.dialect.dispatch.do_execute) == before
    assert not event.contains(OrmSession, "do_orm_execute", _orm_execute)
    with profile() as p:
        run(engine, "SELECT 1")
    assert p.count == 0
    assert h1.stats.count == 0


def test_every_engine_including_later_ones() -> None:
    """instrument(Engine) covers engines created afterwards; an engine with its own handle
    keeps reporting to it."""
    with instrument(sa.Engine) as everything:
        later = sa.create_engine("sqlite://")
        own_engine = sa.create_engine("sqlite://")
        with instrument(own_engine) as own:
            run(later, "SELECT 1")
            run(own_engine, "SELECT 2")
        assert everything.stats.count == 1
        assert own.stats.count == 1
    run(later, "SELECT 3")
    assert everything.stats.count == 1


def test_session_and_sessionmaker_targets(engine: sa.Engine) -> None:
    """A sessionmaker (or Session) is instrumented through the engine it is bound to."""
    factory = sessionmaker(engine)
    with instrument(factory) as h:
        assert instrument(engine) is h
        with factory() as s:
            s.scalars(sa.select(orm_app.User)).all()
    assert h.stats.count == 1
    with pytest.raises(ConfigurationError, match="nothing to instrument"):
        instrument(sessionmaker())
    with pytest.raises(ConfigurationError, match="Engine class"):
        instrument(int)


def test_executemany_counts_once_with_batch(engine: sa.Engine, handle: Instrumentation) -> None:
    """An executemany is one round trip: counted once, with its batch size."""
    with profile() as p, engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO bp_users (id, name) VALUES (:id, :name)"),
            [{"id": 100 + i, "name": f"n{i}"} for i in range(10)],
        )
    (event_,) = p.statements
    assert p.count == 1
    assert event_.extra["executemany"] == 10
    assert event_.rowcount == 10


def test_failed_statement_recorded_and_raised(engine: sa.Engine, handle: Instrumentation) -> None:
    """A failing statement reaches the application unchanged and is recorded with its error."""
    with profile() as p, pytest.raises(sa.exc.OperationalError, match="no such table"):
        run(engine, "SELECT * FROM missing_table")
    (event_,) = p.statements
    assert event_.extra["error"] == "OperationalError"
    assert p.errors == 1
    assert "1 failed" in p.summary()


def test_listener_errors_never_break_queries(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken sink: queries still succeed; the error is counted and logged once."""

    def broken(event_: QueryEvent) -> None:
        raise RuntimeError("sink bug")

    with instrument(engine, sinks=[broken]) as h:
        with caplog.at_level(logging.ERROR, logger="backendperf"):
            assert run(engine, "SELECT 7") == [(7,)]
            assert run(engine, "SELECT 8") == [(8,)]
        assert h.errors == 2
    logged = [r for r in caplog.records if "error while recording" in r.getMessage()]
    assert len(logged) == 1


def test_nested_scopes_roll_up(engine: sa.Engine, handle: Instrumentation) -> None:
    """Statements of an inner scope count in the outer one too; the outer has its own."""
    with profile("outer") as outer:
        run(engine, "SELECT 1")
        with profile("inner") as inner:
            assert current_profiles() == (outer, inner)
            run(engine, "SELECT 2")
            run(engine, "SELECT 3")
        run(engine, "SELECT 4")
    assert (outer.count, inner.count) == (4, 2)
    assert [e.scope for e in inner.statements] == ["inner", "inner"]
    assert current_profiles() == ()


def test_threads_never_mix_scopes(handle: Instrumentation, engine: sa.Engine) -> None:
    """Concurrent threads, each in its own profile, see only their own statements."""
    results: dict[int, Profile] = {}
    barrier = threading.Barrier(4)

    def worker(n: int) -> None:
        with profile(f"t{n}") as p:
            barrier.wait()
            for _ in range(n * 5):
                run(engine, "SELECT :n", {"n": n})
        results[n] = p

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, p in results.items():
        assert p.count == n * 5
    assert handle.stats.count == 50


def test_nplusone_lazy_load_names_relationship(engine: sa.Engine, handle: Instrumentation) -> None:
    """A lazy-load loop is an N+1 finding: relationship, the line, where parents were loaded,
    and the loader option to paste."""
    with Session(engine) as s, profile("emails", nplusone=5, on_nplusone="ignore") as p:
        orm_app.emails_lazy(s)
    (finding,) = p.nplusone
    assert finding.count == 6
    assert finding.relationship == "User.addresses"
    assert finding.suggestion == ".options(selectinload(User.addresses))"
    lines = pathlib.Path(orm_app.__file__).read_text().splitlines()
    loop = next(i for i, line in enumerate(lines, 1) if "for a in u.addresses]" in line)
    assert finding.caller is not None
    assert finding.caller.startswith(f"tests/apps/orm_app.py:{loop}:")
    assert finding.parents_loaded_at == f"tests/apps/orm_app.py:{loop - 1}:emails_lazy"
    text = str(finding)
    assert text.startswith("N+1: 6 x select bp_address.id")
    assert "lazy load of User.addresses" in text


def test_nplusone_many_to_one_suggests_joinedload(
    engine: sa.Engine, handle: Instrumentation
) -> None:
    """A many-to-one lazy load suggests joinedload."""
    with Session(engine) as s, profile(on_nplusone="ignore") as p:
        orm_app.owners_lazy(s)
    (finding,) = p.nplusone
    assert finding.relationship == "Address.user"
    assert finding.suggestion == ".options(joinedload(Address.user))"


def test_eager_loading_is_not_nplusone(engine: sa.Engine, handle: Instrumentation) -> None:
    """selectinload runs a relationship load too, but once: no finding."""
    with Session(engine) as s, profile(on_nplusone="raise") as p:
        assert len(orm_app.emails_eager(s)) == 12
    assert p.count == 2
    assert p.nplusone == []


def test_plain_loops_are_nplusone_without_relationship(
    engine: sa.Engine, handle: Instrumentation
) -> None:
    """A Core loop repeating one statement shape is an N+1 too, at its threshold."""
    with profile(nplusone=3, on_nplusone="ignore") as p:
        for i in range(2):
            run(engine, "SELECT name FROM bp_users WHERE id = :id", {"id": i})
    assert p.nplusone == []
    with profile(nplusone=3, on_nplusone="ignore") as p:
        for i in range(3):
            run(engine, "SELECT name FROM bp_users WHERE id = :id", {"id": i})
    (finding,) = p.nplusone
    assert finding.relationship is None and finding.suggestion is None


def test_nplusone_modes(
    engine: sa.Engine, handle: Instrumentation, caplog: pytest.LogCaptureFixture
) -> None:
    """raise -> NPlusOneError, warn -> NPlusOneWarning, log -> a warning record."""
    with (
        pytest.raises(NPlusOneError, match=r"N\+1 pattern in req") as info,
        Session(engine) as s,
        profile("req", on_nplusone="raise"),
    ):
        orm_app.emails_lazy(s)
    assert info.value.findings[0].relationship == "User.addresses"
    assert isinstance(info.value, AssertionError)
    with (
        pytest.warns(NPlusOneWarning, match="selectinload"),
        Session(engine) as s,
        profile(on_nplusone="warn"),
    ):
        orm_app.emails_lazy(s)
    with (
        caplog.at_level(logging.WARNING, logger="backendperf"),
        Session(engine) as s,
        profile("req2"),
    ):
        orm_app.emails_lazy(s)
    (record,) = [r for r in caplog.records if "N+1" in r.getMessage()]
    assert record.getMessage().startswith("[req2] N+1: 6 x")
    assert record.relationship == "User.addresses"  # type: ignore[attr-defined]


def test_exception_in_scope_wins_over_nplusone(engine: sa.Engine, handle: Instrumentation) -> None:
    """A scope that exits with an exception does not replace it with an N+1 error."""
    with pytest.raises(KeyError), Session(engine) as s, profile(on_nplusone="raise"):  # noqa: PT012
        orm_app.emails_lazy(s)
        raise KeyError("app error")


def test_slow_log_has_structured_fields(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Slow statements are logged with duration, fingerprint, statement and caller."""
    with instrument(engine, slow_ms=0.0), caplog.at_level(logging.WARNING, logger="backendperf"):
        run(engine, "SELECT name FROM bp_users WHERE id = :id", {"id": 1})
    (record,) = [r for r in caplog.records if r.getMessage().startswith("slow query")]
    assert record.fingerprint == fingerprint("SELECT name FROM bp_users WHERE id = 1", "sqlite")  # type: ignore[attr-defined]
    assert record.duration_ms >= 0  # type: ignore[attr-defined]
    assert record.caller.startswith(f"tests/unit/{HERE}:")  # type: ignore[attr-defined]
    assert f"at tests/unit/{HERE}:" in record.getMessage()


def test_explain_slow_logs_plan_off_thread(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """explain_slow: the plan of a slow SELECT is logged once per shape, from another thread."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
    with (
        caplog.at_level(logging.WARNING, logger="backendperf"),
        instrument(engine, slow_ms=0.0, explain_slow=True) as h,
    ):
        for i in range(3):
            run(engine, "SELECT b FROM t WHERE a = :a", {"a": i})
        h._explainer.stop()  # type: ignore[union-attr]  # wait for the queue
    plans = [r for r in caplog.records if r.getMessage().startswith("plan of slow query")]
    assert len(plans) == 1
    assert plans[0].threadName == "backendperf-explain"
    assert "t USING INTEGER PRIMARY KEY" in plans[0].plan  # type: ignore[attr-defined]
    engine.dispose()


def test_jsonl_sink_feeds_digest(
    engine: sa.Engine, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """instrument(jsonl=) writes QueryEvent lines that `backendperf digest` reads."""
    from backendperf.cli import main

    path = tmp_path / "queries.jsonl"
    with instrument(engine, jsonl=path), profile("req"):
        for i in range(7):
            run(engine, "SELECT name FROM bp_users WHERE id = :id", {"id": i})
    lines = path.read_text().splitlines()
    assert len(lines) == 7
    events = [QueryEvent.from_json(line) for line in lines]
    assert {e.scope for e in events} == {"req"}
    assert all(e.params is None for e in events)  # redacted by default
    assert json.loads(lines[0])["caller"] is not None  # first of its shape in the scope
    assert main(["digest", str(path), "--output", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (top,) = report["statements"]
    assert top["calls"] == 7
    assert top["normalized"] == "select name from bp_users where id = ?"


def test_params_captured_only_on_request(engine: sa.Engine) -> None:
    """capture_params keeps values; redact rewrites them first."""
    with instrument(engine, capture_params=True), profile() as p:
        run(engine, "SELECT :secret", {"secret": "hunter2"})
    assert p.statements[0].params == ("hunter2",)

    def redact(statement: str, params: object) -> object:
        return tuple("***" for _ in params)  # type: ignore[attr-defined]

    with instrument(engine, capture_params=True, redact=redact), profile() as p:
        run(engine, "SELECT :secret", {"secret": "hunter2"})
    assert p.statements[0].params == ("***",)


def test_jsonl_rotation(tmp_path: pathlib.Path) -> None:
    """max_bytes rotates like RotatingFileHandler and loses no event."""
    path = tmp_path / "q.jsonl"
    with JsonlSink(path, buffer=1, max_bytes=600, backups=30) as sink:
        for i in range(20):
            sink(QueryEvent(statement=f"SELECT {i}", duration_ms=1.0))
    files = [path, *sorted(tmp_path.glob("q.jsonl.*"))]
    assert len(files) > 2
    assert all(f.stat().st_size <= 600 for f in files)
    statements = {
        QueryEvent.from_json(line).statement for f in files for line in f.read_text().splitlines()
    }
    assert statements == {f"SELECT {i}" for i in range(20)}


def test_jsonl_sink_is_thread_safe(tmp_path: pathlib.Path) -> None:
    """Writers on many threads: every line whole, none lost."""
    path = tmp_path / "q.jsonl"
    sink = JsonlSink(path, buffer=7)

    def write(n: int) -> None:
        for i in range(200):
            sink(QueryEvent(statement=f"SELECT {n}, {i}", duration_ms=0.1))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 800
    assert len({QueryEvent.from_json(line).statement for line in lines}) == 800
    with pytest.raises(ValueError, match="closed"):
        sink(QueryEvent(statement="SELECT 1"))


def test_profile_decorator_sync_and_async(
    engine: sa.Engine, handle: Instrumentation, caplog: pytest.LogCaptureFixture
) -> None:
    """@profile() gives each call a fresh scope and logs its summary with log=True."""

    @profile(log=True)
    def job(n: int) -> int:
        for _ in range(n):
            run(engine, "SELECT 1")
        return n

    @profile("async-job", log=True)
    async def ajob() -> int:
        run(engine, "SELECT 1")
        return 1

    with caplog.at_level(logging.INFO, logger="backendperf"):
        assert job(2) == 2
        assert asyncio.run(ajob()) == 1
    summaries = [r.getMessage() for r in caplog.records if "statements" in r.getMessage()]
    assert summaries == [
        summaries[0],
        summaries[1],
    ]
    assert summaries[0].startswith(
        "test_profile_decorator_sync_and_async.<locals>.job: 2 statements"
    )
    assert summaries[1].startswith("async-job: 1 statements")


def test_max_statements_bounds_memory(engine: sa.Engine, handle: Instrumentation) -> None:
    """Past max_statements, statements are counted, aggregated, but not kept."""
    with profile(max_statements=3, nplusone=None) as p:
        for i in range(10):
            run(engine, "SELECT :i", {"i": i})
    assert p.count == 10
    assert len(p.statements) == 3
    assert p.dropped == 7
    assert p.by_fingerprint()[0].count == 10


def test_quantiles_exact_then_sketched(engine: sa.Engine, handle: Instrumentation) -> None:
    """Percentiles are exact for small scopes and within the sketch's 1% past 2048 values."""
    with profile(max_statements=None, nplusone=None) as p:
        for i in range(3000):
            run(engine, "SELECT :i", {"i": i})
    durations = sorted(e.duration_ms or 0.0 for e in p.statements)
    (summary,) = p.by_fingerprint()
    exact = durations[int(0.95 * len(durations))]
    assert summary.p95_ms == pytest.approx(exact, rel=0.03)
    assert summary.max_ms == durations[-1]


def test_slowest_and_server_timing(engine: sa.Engine, handle: Instrumentation) -> None:
    """slowest(n) orders by duration; server_timing() formats the header value."""
    with profile() as p:
        run(
            engine,
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<20000) "
            "SELECT count(*) FROM c",
        )
        run(engine, "SELECT 1")
    first, second = p.slowest(2)
    assert (first.duration_ms or 0) >= (second.duration_ms or 0)
    assert first.statement.startswith("WITH RECURSIVE")
    assert p.server_timing() == f'db;dur={p.total_ms:.1f};desc="2 queries"'


def test_profile_options_validated() -> None:
    """Bad options fail at construction with a message that says what to use."""
    with pytest.raises(ConfigurationError, match="at least 2"):
        profile(nplusone=1)
    with pytest.raises(ConfigurationError, match="'log', 'warn'"):
        profile(on_nplusone="explode")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="slow_ms"):
        instrument(sa.create_engine("sqlite://"), slow_ms=-1)


async def _task(engine: sa.Engine, n: int) -> Profile:
    with profile(f"task{n}") as p:
        for _ in range(n):
            run(engine, "SELECT 1")
            await asyncio.sleep(0)
    return p


def test_asyncio_tasks_never_mix_scopes(engine: sa.Engine, handle: Instrumentation) -> None:
    """Interleaved asyncio tasks keep separate profiles (contextvars)."""

    async def main() -> list[Profile]:
        return list(await asyncio.gather(*(_task(engine, n) for n in (1, 3, 5))))

    profiles = asyncio.run(main())
    assert [p.count for p in profiles] == [1, 3, 5]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(-5, 10**6)), max_size=30))
def test_profile_matches_model(calls: list[tuple[str, int]]) -> None:
    """Counts per fingerprint equal a model that groups the statements we ran by template."""
    engine = sa.create_engine("sqlite://")
    templates = {
        "a": "SELECT {} AS x",
        "b": "SELECT 'v{}' AS y, 2",
        "c": "SELECT abs({}) + 1",
    }
    with instrument(engine), profile(nplusone=None) as p, engine.connect() as conn:
        for kind, value in calls:
            conn.exec_driver_sql(templates[kind].format(value))
    model: dict[str, int] = {}
    for kind, _ in calls:
        model[kind] = model.get(kind, 0) + 1
    got = [s.count for s in p.by_fingerprint()]
    assert sorted(got) == sorted(model.values())
    assert p.count == len(calls)
    assert len(p.by_fingerprint()) == len(model)
    engine.dispose()
    warnings.simplefilter("default")


def test_docs_middleware_examples_run(engine: sa.Engine) -> None:
    """The runnable (```python) blocks of docs/middleware.md run as written."""
    import re

    text = (pathlib.Path(__file__).parents[2] / "docs" / "middleware.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    assert blocks
    scope: dict[str, object] = {"engine": engine, "__name__": "docs_middleware"}
    try:
        for block in blocks:
            exec(compile(block, "docs/middleware.md", "exec", dont_inherit=True), scope)
    finally:
        instrument(engine).uninstrument()


def test_event_json_has_every_field() -> None:
    """to_json (built by hand for speed) writes every QueryEvent field and round-trips."""
    import dataclasses
    import datetime as dt

    event_ = QueryEvent(
        statement="SELECT 1",
        duration_ms=1.5,
        ts=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        fingerprint="f",
        params=(1, "a"),
        rowcount=1,
        rows_examined=2,
        dialect="sqlite",
        database="db",
        user="u",
        caller="a.py:1:f",
        scope="s",
        calls=2,
        source="x:1",
        extra={"k": 1},
    )
    data = json.loads(event_.to_json())
    assert set(data) == {f.name for f in dataclasses.fields(QueryEvent)}
    assert QueryEvent.from_json(event_.to_json()) == event_


def test_end_to_end_instrument_jsonl_advise(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """instrument -> the app's queries -> JSONL -> `backendperf advise` suggests the index the
    N+1's statement needs (on the live SQLite schema)."""
    from backendperf.cli import main

    db = tmp_path / "app.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    orm_app.Base.metadata.create_all(engine)
    with Session(engine) as s:
        orm_app.seed(s, users=20)
    path = tmp_path / "queries.jsonl"
    with instrument(engine, jsonl=path), Session(engine) as s, profile(on_nplusone="ignore"):
        for _ in range(3):
            orm_app.emails_lazy(s)
            s.expire_all()
    engine.dispose()
    code = main(["advise", str(path), "--db", f"sqlite:///{db}", "--output", "json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert [i["ddl"] for i in report["indexes"]] == [
        "CREATE INDEX IF NOT EXISTS ix_bp_address_user_id ON bp_address (user_id);"
    ]

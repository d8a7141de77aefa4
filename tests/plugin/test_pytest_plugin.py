"""The pytest plugin, run the way users run it: pytest inside pytest (``pytester``), over the
example application in examples/library and over small generated test files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

if TYPE_CHECKING:
    from collections.abc import Iterator

# pytester's in-process runs drop the modules a run imported; a second import of SQLAlchemy's
# internals then breaks it ("'InternalTraversal' object is not callable"). Load them here, once,
# so every inner run finds them (and the advisor's) already imported.
import sqlalchemy as sa
import sqlalchemy.ext.asyncio
from sqlalchemy.orm import DeclarativeBase, Session


def _warm_up() -> None:
    class _Base(DeclarativeBase):
        pass

    engine = sa.create_engine("sqlite://")
    with Session(engine) as session:
        session.execute(sa.text("SELECT 1"))
    engine.dispose()


_warm_up()

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "library"

# A self-contained app + fixture for the generated tests: users with addresses (lazy loaded).
CONFTEST = """
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    addresses: Mapped[list["Address"]] = relationship(back_populates="user")


class Address(Base):
    __tablename__ = "address"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    email: Mapped[str] = mapped_column(sa.String(100))
    user: Mapped[User] = relationship(back_populates="addresses")


def emails(session):
    users = session.scalars(sa.select(User).order_by(User.id)).all()
    return [a.email for u in users for a in u.addresses]


@pytest.fixture
def engine():
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        for i in range(4):
            s.add(User(id=i + 1, name=f"u{i}", addresses=[Address(email=f"{i}@x.org")]))
        s.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    with Session(engine) as s:
        yield s
"""


@pytest.fixture
def library(pytester: pytest.Pytester) -> pytest.Pytester:
    """A copy of examples/library: an ORM app with an N+1 and a missing index."""
    for item in EXAMPLE.iterdir():
        if item.name in ("__pycache__", ".pytest_cache"):
            continue
        if item.is_dir():
            shutil.copytree(
                item, pytester.path / item.name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy(item, pytester.path / item.name)
    return pytester


@pytest.fixture
def app(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    return pytester


# --------------------------------------------------------------------------------------------
# The example application: its own tests show the plugin catching the N+1 and the index


def test_example_budget_failure_lists_statements_and_the_fix(library: pytest.Pytester) -> None:
    result = library.runpytest()
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_catalogue _*",
            "backendperf: expected at most 2 queries, 6 ran (4 over budget); N+1 pattern: Author.books",
            "  6 queries, 2 distinct, * ms:",
            "      1. * ms  SELECT author.id, author.name FROM author ORDER BY author.name  — "
            "tests/test_catalogue.py:10 via app/views.py:13",
            # (SQLAlchemy 2.0 labels the columns, "book.id AS book_id": the SQL is matched loosely)
            "    2-6.    x 5 * ms  SELECT book.id*  — tests/test_catalogue.py:10 via app/views.py:14",
            "  N+1: Author.books lazy-loaded 5 times, SELECT book.id*",
            "       at app/views.py:14; parents loaded at app/views.py:13",
            "       fix: load it up front: .options(selectinload(Author.books))",
            "  (run pytest with -v to see each statement in full, with its parameters)",
        ]
    )


def test_example_verbose_lists_every_statement_with_parameters(library: pytest.Pytester) -> None:
    result = library.runpytest("-v", "tests/test_catalogue.py::test_catalogue")
    result.assert_outcomes(failed=1)
    for i in range(2, 7):
        result.stdout.fnmatch_lines([f"   {i}. * ms  SELECT book.id*  params=({i - 1},)  — *"])
    result.stdout.no_fnmatch_line("*run pytest with -v*")


def test_example_advice_names_both_missing_indexes(library: pytest.Pytester) -> None:
    result = library.runpytest("--backendperf-advise", "--backendperf-report-only")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*= backendperf: index advice from the test suite =*",
            "backendperf advise: 2 index suggestion(s) for 4 statement shape(s)",
            "1. CREATE INDEX IF NOT EXISTS ix_book_author_id ON book (author_id);",
            "*helps (*): select book.id*",
            "2. CREATE INDEX IF NOT EXISTS ix_book_year ON book (year);",
        ]
    )
    assert result.ret == 0


def test_advice_is_deterministic_and_gates_on_a_baseline(library: pytest.Pytester) -> None:
    first, second = library.path / "a.json", library.path / "b.json"
    args = ["--backendperf-report-only", "-p", "no:randomly"]
    r1 = library.runpytest(*args, f"--backendperf-advise-json={first}")
    r2 = library.runpytest(*args, f"--backendperf-advise-json={second}")
    assert r1.ret == r2.ret == 0
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert a["indexes"] == b["indexes"]
    assert [i["ddl"] for i in a["indexes"]] == [
        "CREATE INDEX IF NOT EXISTS ix_book_author_id ON book (author_id);",
        "CREATE INDEX IF NOT EXISTS ix_book_year ON book (year);",
    ]
    # every suggestion is known: --advise-fail=new passes; =any fails the session
    known = library.runpytest(
        *args, f"--backendperf-baseline={first}", "--backendperf-advise-fail=new"
    )
    assert known.ret == 0
    known.stdout.fnmatch_lines(["*[[]in baseline]*"])
    anything = library.runpytest(*args, "--backendperf-advise-fail=any")
    assert anything.ret == 1
    anything.stdout.fnmatch_lines(["--backendperf-advise-fail=any: 2 suggestion(s): failing"])
    # a baseline with one index only: the other is new
    data = json.loads(first.read_text())
    data["indexes"] = data["indexes"][:1]
    first.write_text(json.dumps(data))
    new = library.runpytest(
        *args, f"--backendperf-baseline={first}", "--backendperf-advise-fail=new"
    )
    assert new.ret == 1
    new.stdout.fnmatch_lines(["--backendperf-advise-fail=new: 1 not in the baseline: failing"])


def test_advise_fail_new_needs_a_baseline(library: pytest.Pytester) -> None:
    result = library.runpytest("--backendperf-advise-fail=new")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--backendperf-advise-fail=new needs --backendperf-baseline*"])


def test_advice_with_a_schema_file(library: pytest.Pytester) -> None:
    (library.path / "schema.sql").write_text(
        "CREATE TABLE author (id INTEGER PRIMARY KEY, name VARCHAR(80));\n"
        "CREATE TABLE book (id INTEGER PRIMARY KEY, title VARCHAR(200), year INTEGER,"
        " author_id INTEGER REFERENCES author (id));\n"
        "CREATE INDEX ix_book_author ON book (author_id);\n"
    )
    result = library.runpytest(
        "--backendperf-report-only", "--backendperf-advise", "--backendperf-schema=schema.sql"
    )
    result.stdout.fnmatch_lines(
        [
            "backendperf advise: 1 index suggestion(s)*",
            "1. CREATE INDEX IF NOT EXISTS ix_book_year ON book (year);",
        ]
    )


def test_sarif_locates_findings_in_the_application(library: pytest.Pytester) -> None:
    out = library.path / "results.sarif"
    result = library.runpytest(f"--backendperf-sarif={out}", "--backendperf-advise")
    result.assert_outcomes(passed=3, failed=1)
    sarif = json.loads(out.read_text())
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {
        "missing-index",
        "nplusone",
        "query-budget",
    }
    by_rule = {r["ruleId"]: r for r in run["results"]}
    nplusone = by_rule["nplusone"]
    assert nplusone["level"] == "error"
    location = nplusone["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "app/views.py"}, "region": {"startLine": 14}}
    assert "selectinload(Author.books)" in nplusone["message"]["text"]
    index = [r for r in run["results"] if r["ruleId"] == "missing-index"]
    assert [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in index] == [
        "app/views.py",
        "app/views.py",
    ]


# --------------------------------------------------------------------------------------------
# Fixtures


def test_assert_num_queries_fixture(app: pytest.Pytester) -> None:
    app.makepyfile(
        """
        import sqlalchemy as sa
        from conftest import Address, User, emails

        def test_exact(session, backendperf_assert_num_queries):
            with backendperf_assert_num_queries(5):
                emails(session)

        def test_filtered(session, backendperf_assert_num_queries):
            with backendperf_assert_num_queries(4, table="address") as q:
                emails(session)
            assert q.count == 4
            with backendperf_assert_num_queries(1, kind="INSERT"):
                session.add(User(id=99, name="new"))
                session.flush()

        def test_wrong(session, backendperf_assert_num_queries):
            with backendperf_assert_num_queries(2, info="the user list"):
                emails(session)
        """
    )
    result = app.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            '*with backendperf_assert_num_queries(2, info="the user list"):',
            "E *backendperf.exceptions.QueryBudgetError: expected 2 queries, 5 ran: the user list",
            "E *  5 queries, 2 distinct, * ms:",
            "E *  2-5.    x 4 * ms  SELECT address.id*  — test_assert_num_queries_fixture.py:18 via conftest.py:29",
        ]
    )


def test_assert_max_queries_fixture_and_engine_filter(app: pytest.Pytester) -> None:
    app.makepyfile(
        """
        import sqlalchemy as sa

        def test_two_engines(engine, backendperf_assert_max_queries):
            other = sa.create_engine("sqlite://")
            with backendperf_assert_max_queries(1, engine=engine) as q:
                with engine.connect() as c:
                    c.execute(sa.text("SELECT 1"))
                with other.connect() as c:
                    c.execute(sa.text("SELECT 1"))
                    c.execute(sa.text("SELECT 2"))
            assert q.count == 1
            assert q.filter(engine=other).count == 2

        def test_over(session, backendperf_assert_max_queries):
            from conftest import emails
            with backendperf_assert_max_queries(3):
                emails(session)
        """
    )
    result = app.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["E *QueryBudgetError: expected at most 3 queries, 5 ran (2 over budget)"]
    )


def test_queries_fixture_counts_the_call_phase(app: pytest.Pytester) -> None:
    app.makepyfile(
        """
        import sqlalchemy as sa
        from conftest import emails

        def test_recorder(session, backendperf_queries):
            assert backendperf_queries.count == 0  # the fixtures' seeding is not counted
            emails(session)
            assert backendperf_queries.count == 5
            assert backendperf_queries.filter(table="users").count == 1
            assert backendperf_queries.filter(kind="SELECT").count == 5
            assert backendperf_queries.filter(kind="INSERT").count == 0
            shapes = backendperf_queries.by_fingerprint()
            assert sorted(s.count for s in shapes) == [1, 4]
            (finding,) = backendperf_queries.nplusone
            assert finding.relationship == "User.addresses"
            assert finding.suggestion == ".options(selectinload(User.addresses))"
            events = backendperf_queries.statements
            assert events[0].caller.startswith("conftest.py:")
            assert events[0].extra["test"].startswith("test_queries_fixture_counts_the_call_phase.py:6:")
            assert events[1].params == (1,)

        def test_transactions_and_executemany(engine, backendperf_queries):
            from sqlalchemy.orm import Session
            from conftest import User
            with Session(engine) as s:
                with s.begin_nested():  # SAVEPOINT / RELEASE: not counted by default
                    s.add(User(id=50, name="x"))
                s.commit()
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO users (id, name) VALUES (:i, 'n')"), [{"i": i} for i in range(100, 110)])
            assert backendperf_queries.count == 2  # one INSERT, one executemany round trip
            everything = backendperf_queries.filter(include_transaction=True)
            kinds = [e.extra["kind"] for e in everything.statements]
            assert kinds == ["TRANSACTION", "INSERT", "TRANSACTION", "INSERT"]
            assert backendperf_queries.statements[1].extra.get("executemany") == 10
        """
    )
    result = app.runpytest()
    result.assert_outcomes(passed=2)


def test_phases_all_counts_fixtures(app: pytest.Pytester) -> None:
    app.makepyfile(
        """
        def test_seeded(session, backendperf_queries):
            assert backendperf_queries.filter(kind="INSERT").count > 0  # the seed rows
        """
    )
    app.runpytest("--backendperf-phases=all").assert_outcomes(passed=1)
    app.runpytest().assert_outcomes(failed=1)


def test_async_and_threads_are_counted(app: pytest.Pytester) -> None:
    app.makepyfile(
        """
        import threading
        import pytest
        import sqlalchemy as sa
        from sqlalchemy.ext.asyncio import create_async_engine

        @pytest.mark.anyio
        @pytest.mark.parametrize("anyio_backend", ["asyncio"])
        async def test_async(anyio_backend, backendperf_queries):
            engine = create_async_engine("sqlite+aiosqlite://")
            async with engine.connect() as conn:
                for i in range(3):
                    await conn.execute(sa.text("SELECT :i"), {"i": i})
            await engine.dispose()
            assert backendperf_queries.count == 3
            assert backendperf_queries.statements[0].caller.startswith("test_async_and_threads")

        @pytest.mark.backendperf(num_queries=4)
        def test_thread(engine):
            def work():
                with engine.connect() as conn:
                    for _ in range(4):
                        conn.execute(sa.text("SELECT 1"))
            t = threading.Thread(target=work)
            t.start()
            t.join()
        """
    )
    app.runpytest().assert_outcomes(passed=2)


# --------------------------------------------------------------------------------------------
# The marker


def test_marker_budgets(app: pytest.Pytester) -> None:
    app.makepyfile(
        """
        import pytest
        import sqlalchemy as sa
        from conftest import emails

        pytestmark = pytest.mark.backendperf(max_queries=10)

        def test_module_budget(session):
            emails(session)

        @pytest.mark.backendperf(max_queries=1, table="users")
        def test_table_budget(session):
            emails(session)  # one users query; the address ones are not counted

        @pytest.mark.backendperf(num_queries=4, kind="SELECT")
        def test_exact_wrong(session):
            emails(session)

        @pytest.mark.backendperf(max_time_ms=0.000001)
        def test_time(session):
            emails(session)

        @pytest.mark.backendperf(max_querys=1)
        def test_typo(session):
            pass
        """
    )
    result = app.runpytest()
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines_random(
        [
            "backendperf: expected 4 queries, 5 ran (kind=SELECT)",
            "backendperf: * ms of database time, over the budget of 1e-06 ms",
            "@pytest.mark.backendperf: unknown argument 'max_querys'; use max_queries, *",
        ]
    )


def test_marker_is_registered_with_its_signature(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.backendperf(max_queries=None, num_queries=None, *"])


# --------------------------------------------------------------------------------------------
# N+1: fail, report, suppress


NPLUSONE_TESTS = """
import pytest
from backendperf.testing import allow_nplusone
from conftest import emails

def test_lazy(session):
    emails(session)

@pytest.mark.backendperf(nplusone="ignore")
def test_marked_intentional(session):
    emails(session)

def test_allowed_in_code(session):
    with allow_nplusone():
        emails(session)
"""


def test_nplusone_fail_mode(app: pytest.Pytester) -> None:
    app.makepyfile(NPLUSONE_TESTS)
    result = app.runpytest("--backendperf-nplusone=fail")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "backendperf: N+1 pattern: User.addresses",
            "  N+1: User.addresses lazy-loaded 4 times, SELECT address.id*",
            "       fix: load it up front: .options(selectinload(User.addresses))",
        ]
    )
    app.runpytest().assert_outcomes(passed=3)  # off by default


def test_nplusone_report_mode_and_report(app: pytest.Pytester) -> None:
    app.makepyfile(NPLUSONE_TESTS)
    result = app.runpytest("--backendperf-nplusone=report", "--backendperf-report")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*= backendperf: queries of this run =*",
            "* statements (* ms of database time), * distinct shapes; 15 of them in the call phase of 3 tests",
            "Slowest statement shapes, by total time:",
            "Tests with the most queries (call phase):",
            "*      5 * test_nplusone_report_mode_and_report.py::test_*",
            "N+1 findings (1):",
            "  [[]reported] test_nplusone_report_mode_and_report.py::test_lazy",
        ]
    )


def test_nplusone_ignore_patterns_in_config(app: pytest.Pytester) -> None:
    app.makepyfile(NPLUSONE_TESTS)
    app.makeini(
        "[pytest]\naddopts = -p no:cacheprovider\nbackendperf_nplusone = fail\n"
        "backendperf_nplusone_ignore =\n    User.addresses\n"
    )
    app.runpytest().assert_outcomes(passed=3)


def test_nplusone_threshold_for_plain_repeats(app: pytest.Pytester) -> None:
    app.makepyfile(
        """
        import sqlalchemy as sa

        def test_loop(engine):
            with engine.connect() as conn:
                for i in range(3):
                    conn.execute(sa.text("SELECT name FROM users WHERE id = :i"), {"i": i})
        """
    )
    app.runpytest("--backendperf-nplusone=fail").assert_outcomes(passed=1)  # 3 < 5
    result = app.runpytest("--backendperf-nplusone=fail", "--backendperf-nplusone-threshold=3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["backendperf: N+1 pattern: 3 x one statement"])


def test_report_only_mode_never_fails(library: pytest.Pytester) -> None:
    result = library.runpytest("--backendperf-report-only", "--backendperf-report")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "  [[]reported] tests/test_catalogue.py::test_catalogue",
            "Query budgets exceeded (1):",
            "  [[]reported] tests/test_catalogue.py::test_catalogue",
            "      expected at most 2 queries, 6 ran (4 over budget)",
        ]
    )


# --------------------------------------------------------------------------------------------
# JSONL, xdist, disabling, import cost


def test_jsonl_holds_every_statement_of_the_run(library: pytest.Pytester) -> None:
    from backendperf.events import QueryEvent

    out = library.path / "queries.jsonl"
    library.runpytest(f"--backendperf-jsonl={out}").assert_outcomes(passed=3, failed=1)
    events = [QueryEvent.from_json(line) for line in out.read_text().splitlines()]
    phases = {e.extra["phase"] for e in events}
    assert phases in ({"setup", "call", "teardown"}, {"setup", "call"})
    calls = [e for e in events if e.extra["phase"] == "call"]
    assert {e.scope for e in calls} == {
        f"tests/test_catalogue.py::{name}"
        for name in (
            "test_catalogue",
            "test_catalogue_fixed",
            "test_books_of_year",
            "test_catalogue_counts",
        )
    }
    assert len(calls) == 6 + 2 + 1 + 2
    assert all(e.fingerprint and e.dialect == "sqlite" for e in events)
    # the advisor reads the same file
    from backendperf.cli import main

    assert main(["digest", str(out), "--output", "json", "-o", str(library.path / "d.json")]) == 0


def test_xdist_workers_merge_report_and_jsonl(library: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    out = library.path / "queries.jsonl"
    result = library.runpytest_subprocess(
        "-n", "2", "--backendperf-report", f"--backendperf-jsonl={out}", "--backendperf-advise"
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*in the call phase of 4 tests",
            "N+1 findings (1):",
            "  [[]FAILED] tests/test_catalogue.py::test_catalogue",
            "backendperf advise: 2 index suggestion(s) for 4 statement shape(s)",
        ]
    )
    lines = out.read_text().splitlines()
    scopes = {json.loads(line)["scope"] for line in lines}
    assert len([s for s in scopes if s and "::" in s]) == 4
    assert not list(library.path.glob("queries.jsonl.*.part"))
    assert sum(json.loads(line)["extra"]["phase"] == "call" for line in lines) == 11


def test_plugin_disabled_with_p_no(app: pytest.Pytester) -> None:
    app.makepyfile(
        """
        def test_uses_fixture(backendperf_queries):
            pass
        """
    )
    result = app.runpytest("-p", "no:backendperf")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'backendperf_queries' not found*"])


def test_unused_plugin_imports_nothing_heavy_and_touches_no_engine(
    pytester: pytest.Pytester,
) -> None:
    """A project that does not use the plugin pays nothing: after collection and a test run,
    SQLAlchemy, sqlglot and rich are not imported by us, and no engine is instrumented."""
    pytester.makeconftest(
        """
        import sys
        def pytest_collection_finish(session):
            heavy = sorted(m for m in ("sqlalchemy", "sqlglot", "rich", "msgpack") if m in sys.modules)
            print("HEAVY", heavy)
        """
    )
    pytester.makepyfile(
        """
        def test_plain():
            import sqlalchemy as sa
            from sqlalchemy.engine import Dialect
            from sqlalchemy import event
            engine = sa.create_engine("sqlite://")
            assert not event.contains(Dialect, "do_execute", lambda *a: None)
            assert not engine.dialect.dispatch.do_execute
        """
    )
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["HEAVY []"])
    assert "backendperf-0" in result.stdout.str() or "backendperf" in result.stdout.str()


def test_instrumentation_is_removed_after_the_session(app: pytest.Pytester) -> None:
    from sqlalchemy.engine import Dialect

    from backendperf.profiling import _PROCESS
    from backendperf.sqlalchemy import _INSTALLED

    app.makepyfile(
        """
        def test_q(backendperf_queries):
            pass
        """
    )
    app.runpytest().assert_outcomes(passed=1)
    assert Dialect not in _INSTALLED
    assert _PROCESS[0] == ()  # no recorder left attached


@given(st.lists(st.floats(min_value=0.0, max_value=10_000.0), min_size=1, max_size=300))
def test_report_p95_is_within_the_sketch_error(durations: list[float]) -> None:
    """The report's p95 comes from a bounded sketch (merged across xdist workers by adding
    counts); it stays within 1% (plus the zero bucket) of the exact value."""
    from backendperf.pytest_plugin import _Shape, _shape_from_json, _shape_json, p95

    shape = _Shape("f", "select ?", "SELECT 1", "sqlite", None, max_ms=max(durations))
    for ms in durations:
        shape.sketch.add(ms)
    shape = _shape_from_json(json.loads(json.dumps(_shape_json(shape))))  # as xdist sends it
    exact = sorted(durations)[int(0.95 * (len(durations) - 1))]
    got = p95(shape)
    assert got <= shape.max_ms
    assert abs(got - exact) <= 0.02 * exact + 1e-9 or exact <= 1e-9


def test_statements_of_a_web_app_under_testclient_count(app: pytest.Pytester) -> None:
    """Starlette's TestClient runs the app in another thread (an anyio portal): its
    statements belong to the test that sent the request."""
    app.makepyfile(
        """
        import pytest
        import sqlalchemy as sa
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route
        from starlette.testclient import TestClient

        def make_app(engine):
            async def users(request):
                with engine.connect() as conn:
                    ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM users ORDER BY id"))]
                    names = [conn.execute(sa.text("SELECT name FROM users WHERE id = :i"), {"i": i}).scalar() for i in ids]
                return JSONResponse(names)
            return Starlette(routes=[Route("/users", users)])

        @pytest.fixture
        def file_engine(tmp_path):
            from sqlalchemy.orm import Session
            from conftest import Base, User
            engine = sa.create_engine(f"sqlite:///{tmp_path}/app.db")  # shared by threads
            Base.metadata.create_all(engine)
            with Session(engine) as s:
                s.add_all([User(id=i + 1, name=f"u{i}") for i in range(4)])
                s.commit()
            yield engine
            engine.dispose()

        @pytest.mark.backendperf(max_queries=2)
        def test_endpoint(file_engine):
            with TestClient(make_app(file_engine)) as client:
                assert client.get("/users").json() == ["u0", "u1", "u2", "u3"]
        """
    )
    result = app.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "backendperf: expected at most 2 queries, 5 ran (3 over budget)",
            "      1. * ms  SELECT id FROM users ORDER BY id  — *",
            "    2-5.    x 4 * ms  SELECT name FROM users WHERE id = ?  — *",
        ]
    )

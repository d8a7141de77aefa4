"""The pytest plugin against the real PostgreSQL: budgets with savepoints, N+1 through psycopg,
and index advice whose schema is read from the test database itself."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.plugin.test_pytest_plugin import CONFTEST

pytestmark = pytest.mark.postgres

PG_CONFTEST = CONFTEST.replace(
    """    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)""",
    """    import os
    engine = sa.create_engine(os.environ["BP_PLUGIN_URL"].replace("postgresql://", "postgresql+psycopg://"))""",
).replace(
    "        s.commit()\n    yield engine",
    "        s.commit()\n    yield engine\n    with engine.begin() as c:\n        c.execute(sa.text('DELETE FROM address; DELETE FROM users'))",
)


@pytest.fixture
def pg_app(
    pytester: pytest.Pytester, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:  # created outside the run: the advisor must read the database
        conn.execute(sa.text("CREATE TABLE users (id int PRIMARY KEY, name varchar(50) NOT NULL)"))
        conn.execute(
            sa.text(
                "CREATE TABLE address (id serial PRIMARY KEY, user_id int NOT NULL "
                "REFERENCES users (id), email varchar(100) NOT NULL)"
            )
        )
    engine.dispose()
    monkeypatch.setenv("BP_PLUGIN_URL", pg_url)
    pytester.makeconftest(PG_CONFTEST)
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    return pytester


def test_budgets_nplusone_and_advice_on_postgres(pg_app: pytest.Pytester) -> None:
    pg_app.makepyfile(
        """
        import pytest
        import sqlalchemy as sa
        from sqlalchemy.orm import Session
        from conftest import User, emails

        @pytest.mark.backendperf(num_queries=2)
        def test_savepoints_do_not_count(engine):
            with Session(engine) as s:
                with s.begin_nested():
                    s.add(User(id=90, name="x"))
                s.execute(sa.select(User).where(User.id == 90))
                s.rollback()

        def test_lazy(session, backendperf_queries):
            emails(session)
            assert backendperf_queries.count == 5
            assert backendperf_queries.statements[0].dialect == "postgresql"
            assert backendperf_queries.filter(include_transaction=True).count == 5
        """
    )
    result = pg_app.runpytest("--backendperf-nplusone=fail", "--backendperf-advise")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "backendperf: N+1 pattern: User.addresses",
            "*WHERE %(param_1)s::INTEGER = address.user_id*— test_budgets_nplusone_and_advice_on_postgres.py:* via conftest.py:*",
            "*= backendperf: index advice from the test suite =*",
            "1. CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_address_user_id ON address (user_id);",
        ]
    )

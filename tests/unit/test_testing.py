"""backendperf.testing without pytest's plugin: capture, budgets, N+1 checks, classification."""

from __future__ import annotations

import inspect
import threading
import unittest

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from backendperf.exceptions import ConfigurationError, NPlusOneError, QueryBudgetError
from backendperf.sqlalchemy import _INSTALLED, instrument
from backendperf.testing import (
    allow_nplusone,
    assert_max_queries,
    assert_no_nplusone,
    assert_num_queries,
    capture_queries,
    kind_of,
    tables_of,
)
from tests.apps.orm_app import Base, emails_eager, emails_lazy, seed


@pytest.fixture
def engine() -> sa.Engine:
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        seed(s, users=4)
    return engine


def test_capture_counts_every_statement_and_removes_its_listeners(engine: sa.Engine) -> None:
    with capture_queries() as q, Session(engine) as s:
        emails_lazy(s)
    assert q.count == len(q) == 5
    assert [s.count for s in q.by_fingerprint()] == [4, 1] or sorted(
        s.count for s in q.by_fingerprint()
    ) == [1, 4]
    assert Dialect not in _INSTALLED
    assert not event.contains(Dialect, "do_execute", lambda *a: None)
    with Session(engine) as s:
        emails_lazy(s)
    assert q.count == 5  # closed: nothing more is recorded


def test_a_handle_the_user_installed_is_kept(engine: sa.Engine) -> None:
    handle = instrument(sa.Engine)
    try:
        with capture_queries() as q, engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        assert q.count == 1
        assert handle.installed
        assert handle.stats.count == 1
    finally:
        handle.uninstrument()


def test_nested_captures_and_threads(engine: sa.Engine) -> None:
    def work() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 2"))

    with capture_queries() as outer:
        with capture_queries() as inner:
            thread = threading.Thread(target=work)
            thread.start()
            thread.join()
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    assert inner.count == 1  # the thread's statement
    assert outer.count == 2


def test_assert_num_queries_message(engine: sa.Engine) -> None:
    line = inspect.currentframe().f_lineno  # type: ignore[union-attr]
    with (
        pytest.raises(QueryBudgetError) as info,
        Session(engine) as s,
        assert_num_queries(2, info="the e-mail list"),
    ):
        emails_lazy(s)
    text = str(info.value)
    lines = text.splitlines()
    assert lines[0] == "expected 2 queries, 5 ran: the e-mail list"
    assert lines[2].startswith("  5 queries, 2 distinct, ")
    assert lines[3].lstrip().startswith("1. ")
    assert "SELECT bp_users.id, bp_users.name FROM bp_users ORDER BY bp_users.id" in lines[3]
    assert lines[3].endswith(
        f"— tests/unit/test_testing.py:{line + 6} via tests/apps/orm_app.py:44"
    )
    assert lines[4].lstrip().startswith("2-5.    x 4 ")
    assert "N+1: User.addresses lazy-loaded 4 times" in text
    assert "fix: load it up front: .options(selectinload(User.addresses))" in text
    assert info.value.recorder.count == 5  # type: ignore[attr-defined]
    assert isinstance(info.value, AssertionError)


def test_verbose_lists_each_statement_with_parameters(engine: sa.Engine) -> None:
    with (
        pytest.raises(QueryBudgetError) as info,
        Session(engine) as s,
        assert_max_queries(1, verbose=True),
    ):
        emails_lazy(s)
    text = str(info.value)
    for i in range(1, 5):
        assert f"params=({i},)" in text
    assert "x 4" not in text  # no grouping
    assert "verbose=True" not in text


def test_budgets_pass_and_filter(engine: sa.Engine) -> None:
    with Session(engine) as s, assert_max_queries(2) as q:
        emails_eager(s)
    assert q.count == 2
    with Session(engine) as s, assert_num_queries(1, table="bp_address"):
        emails_eager(s)
    with Session(engine) as s, assert_num_queries(0, kind="INSERT"):
        emails_eager(s)
    with pytest.raises(ConfigurationError):
        assert_num_queries(-1)
    with pytest.raises(ConfigurationError), capture_queries(kind="SELCT"):  # type: ignore[arg-type]
        pass


def test_exception_in_the_block_is_not_replaced(engine: sa.Engine) -> None:
    def failing() -> None:
        with assert_num_queries(0), engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            raise KeyError("the application's own error")

    with pytest.raises(KeyError):
        failing()


def test_no_nplusone_and_allow(engine: sa.Engine) -> None:
    with pytest.raises(NPlusOneError) as info, Session(engine) as s, assert_no_nplusone():
        emails_lazy(s)
    assert info.value.findings[0].relationship == "User.addresses"  # type: ignore[attr-defined]
    with Session(engine) as s, assert_no_nplusone():
        emails_eager(s)
    with Session(engine) as s, assert_no_nplusone(), allow_nplusone():
        emails_lazy(s)
    with Session(engine) as s, assert_no_nplusone(ignore=["tests/apps/*"]):
        emails_lazy(s)


def test_unittest_style(engine: sa.Engine) -> None:
    class Case(unittest.TestCase):
        def test_budget(self) -> None:
            with Session(engine) as s, assert_max_queries(2):
                emails_lazy(s)

    result = unittest.TestResult()
    Case("test_budget").run(result)
    assert len(result.failures) == 1
    assert "expected at most 2 queries, 5 ran (3 over budget)" in result.failures[0][1]


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("SELECT 1", "SELECT"),
        ("  (select 1) union (select 2)", "SELECT"),
        ("with x as (select 1) select * from x", "SELECT"),
        ("WITH x AS (SELECT 1) UPDATE t SET a = 1", "UPDATE"),
        ("INSERT INTO t VALUES (1)", "INSERT"),
        ("REPLACE INTO t VALUES (1)", "INSERT"),
        ("DELETE FROM t", "DELETE"),
        ("CREATE INDEX ix ON t (a)", "DDL"),
        ("SAVEPOINT sa_savepoint_1", "TRANSACTION"),
        ("RELEASE SAVEPOINT sa_savepoint_1", "TRANSACTION"),
        ("ROLLBACK TO SAVEPOINT x", "TRANSACTION"),
        ("BEGIN", "TRANSACTION"),
        ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "TRANSACTION"),
        ("SET search_path TO x", "OTHER"),
        ("PRAGMA table_info(t)", "OTHER"),
        ("", "OTHER"),
    ],
)
def test_kind_of(sql: str, kind: str) -> None:
    assert kind_of(sql) == kind


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("SELECT * FROM a, b AS bb, c WHERE a.x = 1", {"a", "b", "c"}),
        (
            'SELECT * FROM "Users" u LEFT JOIN app.orders o ON o.u = u.id',
            {"users", "app.orders", "orders"},
        ),
        ("INSERT INTO t (a) SELECT a FROM s", {"t", "s"}),
        ("UPDATE t SET a = (SELECT 1 FROM u)", {"t", "u"}),
        ("DELETE FROM `shop`.`cart` WHERE id = 1", {"shop.cart", "cart"}),
        ("SELECT * FROM (SELECT 1) AS x", set()),
        ("CREATE TABLE IF NOT EXISTS t2 (a int)", {"t2"}),
    ],
)
def test_tables_of(sql: str, tables: set[str]) -> None:
    assert tables_of(sql) == tables


@given(st.text(max_size=300))
def test_classification_never_fails(text: str) -> None:
    assert kind_of(text) in ("SELECT", "INSERT", "UPDATE", "DELETE", "DDL", "TRANSACTION", "OTHER")
    assert all(isinstance(t, str) and t for t in tables_of(text))

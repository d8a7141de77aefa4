"""Properties of the advice over generated workloads on the shop schema.

Whatever statements a workload holds, the advice must keep its promises: every statement
shape is served by a suggestion or listed with why; no suggestion repeats what an existing
index (or another suggestion) already gives; budgets hold; and every index it writes is
runnable DDL (executed on SQLite, parsed as PostgreSQL).
"""

from __future__ import annotations

import pathlib
import sqlite3

import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backendperf.advisor import Schema, advise
from backendperf.events import QueryEvent
from backendperf.workload import Workload

SHOP = pathlib.Path(__file__).parents[2] / "examples" / "shop" / "schema.sql"
EXISTING = (
    "CREATE INDEX orders_user ON orders (user_id);"
    "CREATE INDEX users_country_created ON users (country, created_at);"
)
SCHEMA = Schema.from_ddl(SHOP.read_text() + EXISTING)
COLUMNS = {name: list(table.columns) for name, table in SCHEMA.tables.items()}


@st.composite
def predicates(draw: st.DrawFn, table: str, alias: str = "") -> str:
    column = alias + draw(st.sampled_from(COLUMNS[table]))
    other = alias + draw(st.sampled_from(COLUMNS[table]))
    value = draw(st.sampled_from(["1", "'x'", "$1", "%s", "?", "now()"]))
    return draw(
        st.sampled_from(
            [
                f"{column} = {value}",
                f"{column} > {value}",
                f"{column} <= {value}",
                f"{column} BETWEEN 1 AND 5",
                f"{column} IN ({value}, 2, 3)",
                f"{column} IS NULL",
                f"{column} IS NOT NULL",
                f"NOT ({column} IS NULL)",
                f"{column} LIKE 'ab%'",
                f"{column} LIKE '%ab'",
                f"lower({column}) = 'x'",
                f"({column} = 1 OR {other} = 2)",
                f"{column} = 'pending'",
                f"{column} <> 3",
            ]
        )
    )


@st.composite
def statements(draw: st.DrawFn) -> str:
    table = draw(st.sampled_from(sorted(COLUMNS)))
    where = " AND ".join(draw(st.lists(predicates(table), min_size=1, max_size=3)))
    column = draw(st.sampled_from(COLUMNS[table]))
    kind = draw(
        st.sampled_from(["select", "select", "select", "update", "delete", "insert", "join"])
    )
    if kind == "update":
        return f"UPDATE {table} SET {column} = 1 WHERE {where}"
    if kind == "delete":
        return f"DELETE FROM {table} WHERE {where}"
    if kind == "insert":
        return f"INSERT INTO {table} ({column}) VALUES (1)"
    if kind == "join":
        mine = " AND ".join(draw(st.lists(predicates("orders", "o."), min_size=1, max_size=2)))
        theirs = draw(predicates("users", "u."))
        return (
            f"SELECT u.name, o.total FROM orders o JOIN users u ON u.id = o.user_id "
            f"WHERE {mine} AND {theirs}"
        )
    read = draw(st.sampled_from(["*", "count(*)", "id", ", ".join(COLUMNS[table][:2])]))
    tail = draw(
        st.sampled_from(
            ["", f" ORDER BY {column} LIMIT 10", f" ORDER BY {column} DESC LIMIT 5", " LIMIT 1"]
        )
    )
    return f"SELECT {read} FROM {table} WHERE {where}{tail}"


workloads = st.lists(
    st.tuples(statements(), st.integers(1, 30), st.floats(0.01, 50.0)), min_size=1, max_size=12
)


def _workload(rows: list[tuple[str, int, float]]) -> Workload:
    return Workload().extend(
        QueryEvent(statement=sql, duration_ms=ms) for sql, calls, ms in rows for _ in range(calls)
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads, st.sampled_from([None, 1, 3, 10]), st.sampled_from([0.0, 0.01, 0.2]))
def test_advice_keeps_its_promises(
    rows: list[tuple[str, int, float]], max_indexes: int | None, min_share: float
) -> None:
    """Every statement shape is served or told why; nothing an existing index or another
    suggestion gives is suggested; the budget holds; the columns exist."""
    workload = _workload(rows)
    advice = advise(workload, schema=SCHEMA, max_indexes=max_indexes, min_share=min_share)
    served = {f for s in advice.indexes for f in s.fingerprints}
    told = {n.fingerprint for n in advice.no_suggestion}
    assert served | told == set(workload.stats)
    assert not served & told
    assert all(n.reason for n in advice.no_suggestion)
    if max_indexes is not None:
        assert len(advice.indexes) <= max_indexes
    for s in advice.indexes:
        table = SCHEMA.table(s.table)
        assert table is not None and s.candidate is not None
        plain = [c for c in s.columns if "(" not in c]
        assert set(plain) | set(s.include) <= set(COLUMNS[s.table])
        assert len(set(s.columns)) == len(s.columns) and not set(s.columns) & set(s.include)
        assert not any(s.candidate.served_by(ix) for ix in table.indexes), s.ddl
        for other in advice.indexes:
            if other is not s and other.table == s.table and other.where == s.where:
                assert other.candidate is not None
                assert not s.candidate.is_prefix_of(other.columns, other.desc), (s.ddl, other.ddl)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads)
def test_suggested_ddl_runs(rows: list[tuple[str, int, float]]) -> None:
    """The SQL the advice writes runs: SQLite executes its SQLite DDL on the schema, and
    sqlglot reads its PostgreSQL DDL."""
    workload = _workload(rows)
    lite = advise(workload, schema=SCHEMA, dialect="sqlite", min_share=0.0, max_indexes=None)
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(SHOP.read_text())
        for s in lite.indexes:
            conn.execute(s.ddl.rstrip(";"))
    finally:
        conn.close()
    pg = advise(workload, schema=SCHEMA, min_share=0.0, max_indexes=None)
    for s in pg.indexes:
        sqlglot.parse_one(s.ddl, read="postgres")


_columns = st.sampled_from(["a", "b", "created_at", "lower(email)", "a" * 40, "lower_email"])


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["orders", "t" * 50]),
            st.lists(_columns, min_size=1, max_size=3, unique=True),
            st.lists(st.booleans(), min_size=3, max_size=3),
            st.sampled_from([None, "deleted_at IS NULL", "status = 'open'"]),
        ),
        min_size=2,
        max_size=6,
    )
)
def test_distinct_indexes_get_distinct_names(
    specs: list[tuple[str, list[str], list[bool], str | None]],
) -> None:
    """Two different suggested indexes never share a name (``IF NOT EXISTS`` would skip the
    second): ASC and DESC, two predicates, an expression and the column its name spells,
    names cut at 63 characters. Every name is a plain identifier PostgreSQL keeps whole."""
    from backendperf.advisor.candidates import Candidate

    made = {
        Candidate(table, tuple(columns), tuple(desc[: len(columns)]), where=where)
        for table, columns, desc, where in specs
    }
    names = {c.name() for c in made}
    assert len(names) == len({c.key for c in made})
    assert all(len(n) <= 63 and n.replace("_", "a").isalnum() for n in names)

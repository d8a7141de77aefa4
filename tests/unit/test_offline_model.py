"""The offline cost model (:class:`ModelCoster`): the access paths it prices, from statistics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backendperf.advisor.candidates import Candidate
from backendperf.advisor.schema import Schema
from backendperf.advisor.whatif.offline import ModelCoster

DDL = """
CREATE TABLE users (id bigint PRIMARY KEY, email text, country text, created_at timestamp);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, status text, total numeric,
                     created_at timestamp, deleted_at timestamp);
CREATE TABLE region (r_id int PRIMARY KEY, r_name text);
"""


def shop(orders: float = 1_000_000, users: float = 50_000) -> Schema:
    schema = Schema.from_ddl(DDL)
    schema.tables["orders"].rows = orders
    schema.tables["users"].rows = users
    schema.tables["region"].rows = 5
    o = schema.tables["orders"].columns
    o["user_id"].n_distinct = users
    o["status"].n_distinct = 4
    o["status"].common = {"done": 0.9, "open": 0.05, "new": 0.049, "void": 0.001}
    o["deleted_at"].null_frac = 0.02
    schema.tables["users"].columns["country"].n_distinct = 40
    schema.tables["users"].columns["email"].n_distinct = -1  # unique
    schema.tables["region"].columns["r_name"].n_distinct = 5
    return schema


def ratio(schema: Schema, sql: str, *indexes: Candidate) -> float:
    coster = ModelCoster(schema, [("q", sql, 1.0)])
    return coster.costs(list(indexes))["q"] / coster.costs([])["q"]


def test_a_selective_equality_is_served_and_an_unselective_one_is_not() -> None:
    by_user = "SELECT total FROM orders WHERE user_id = 7"
    by_status = "SELECT total FROM orders WHERE status = 'done'"
    assert ratio(shop(), by_user, Candidate("orders", ("user_id",))) < 0.01
    # 90% of the rows: a scan of the table is what the planner does too
    assert ratio(shop(), by_status, Candidate("orders", ("status",))) == 1.0
    # a rare value of the same column (0.1% of the rows): the most common values say so
    rare = "SELECT total FROM orders WHERE status = 'void'"
    assert ratio(shop(), rare, Candidate("orders", ("status",))) < 0.2


def test_a_covering_index_is_cheaper_than_the_plain_one() -> None:
    sql = "SELECT total FROM orders WHERE created_at > '2026-01-01'"
    plain = ratio(shop(), sql, Candidate("orders", ("created_at",)))
    covering = ratio(shop(), sql, Candidate("orders", ("created_at",), include=("total",)))
    assert covering < plain
    assert covering < 0.5  # an index-only scan of a third of the rows beats the scan


def test_a_tiny_table_gains_nothing() -> None:
    """A 5-row table is one page: no index is cheaper than reading it (the offline rules
    once suggested indexes on TPC-H's 5-row region table)."""
    sql = "SELECT r_id FROM region WHERE r_name = 'ASIA'"
    assert ratio(shop(), sql, Candidate("region", ("r_name",))) == 1.0


def test_a_partial_index_serves_only_statements_that_imply_its_predicate() -> None:
    partial = Candidate("orders", ("user_id",), where="deleted_at IS NULL")
    live = "SELECT total FROM orders WHERE user_id = 7 AND deleted_at IS NULL"
    every = "SELECT total FROM orders WHERE user_id = 7"
    assert ratio(shop(), live, partial) < 0.01
    assert ratio(shop(), every, partial) == 1.0
    coster = ModelCoster(shop(), [])
    whole = coster.size(shop().tables["orders"], Candidate("orders", ("user_id",)))
    # the statistics say 2% of the rows are NULL there: the partial index is that small
    assert coster.size(shop().tables["orders"], partial) < 0.05 * whole


def test_an_index_in_the_sort_order_serves_order_by_limit() -> None:
    sql = "SELECT id, total FROM orders WHERE user_id = 7 ORDER BY created_at DESC LIMIT 10"
    lead = ratio(shop(), sql, Candidate("orders", ("user_id",)))
    both = ratio(shop(), sql, Candidate("orders", ("user_id", "created_at"), (False, True)))
    assert both <= lead < 0.01
    latest = "SELECT id FROM orders ORDER BY created_at DESC LIMIT 20"
    assert ratio(shop(), latest, Candidate("orders", ("created_at",), (True,))) < 0.01


def test_a_join_probes_the_index_on_its_column_from_the_filtered_side() -> None:
    """One user (by a unique e-mail): a nested loop into ``orders (user_id)`` reads their orders
    only; without a filter on users, every order is read either way."""
    few = (
        "SELECT o.total FROM users u JOIN orders o ON o.user_id = u.id "
        "WHERE u.email = 'a@example.com'"
    )
    assert ratio(shop(), few, Candidate("orders", ("user_id",))) < 0.1
    every = "SELECT o.total FROM users u JOIN orders o ON o.user_id = u.id"
    assert ratio(shop(), every, Candidate("orders", ("user_id",))) == 1.0
    # a value the inner table's rows must equal narrows each probe when the key holds it
    void = few + " AND o.status = 'void'"
    one = ratio(shop(), void, Candidate("orders", ("user_id",)))
    assert ratio(shop(), void, Candidate("orders", ("user_id", "status"))) < one


def test_writes_pay_for_every_index_they_change() -> None:
    insert = "INSERT INTO orders (id, user_id, status) VALUES (1, 2, 'new')"
    coster = ModelCoster(shop(), [("w", insert, 1000.0)])
    one = Candidate("orders", ("user_id",))
    assert coster.costs([one])["w"] > coster.costs([])["w"]
    assert coster.upkeep(one) == pytest.approx(coster.costs([one])["w"] - coster.costs([])["w"])
    # a partial index takes only the rows its predicate keeps (2% of rows have no deleted_at)
    partial = Candidate("orders", ("user_id",), where="deleted_at IS NULL")
    assert coster.upkeep(partial) == pytest.approx(0.02 * coster.upkeep(one))
    # an UPDATE of a column no index holds: a HOT update, no index is touched
    update = "UPDATE orders SET total = 3 WHERE id = 5"
    hot = ModelCoster(shop(), [("u", update, 1000.0)])
    assert hot.costs([one])["u"] == hot.costs([])["u"]


def test_a_delete_pays_for_its_rows_and_for_vacuum() -> None:
    """A DELETE leaves its index entries to VACUUM, which removes them (a leaf page a row)
    and scans each index whole once per autovacuum run: every index pays a little more a
    deleted row than an inserted one."""
    from backendperf.advisor.whatif.postgres import vacuum_pages

    delete = "DELETE FROM orders WHERE id = 5"
    insert = "INSERT INTO orders (id, user_id, status) VALUES (1, 2, 'new')"
    coster = ModelCoster(shop(), [("d", delete, 1000.0), ("i", insert, 1000.0)])
    one = Candidate("orders", ("user_id",))
    deleted = coster.costs([one])["d"] - coster.costs([])["d"]
    inserted = coster.costs([one])["i"] - coster.costs([])["i"]
    assert inserted == pytest.approx(1000.0)
    assert inserted < deleted < 1.05 * inserted  # a million rows: VACUUM's share is small
    assert vacuum_pages(1000, 1_000_000) == pytest.approx(1000 / 200_050)


def test_an_unparseable_statement_is_left_out_and_said() -> None:
    coster = ModelCoster(
        shop(), [("bad", "SELEC x FROM", 1.0), ("ok", "SELECT 1 FROM orders", 1.0)]
    )
    assert set(coster.costs([])) == {"ok"}
    assert "bad" in coster.failed


@settings(max_examples=60, deadline=None)
@given(
    rows=st.floats(1e3, 1e8),
    distinct=st.floats(1, 1e6),
    more=st.sampled_from([(), ("status",), ("created_at",)]),
)
def test_an_index_never_makes_a_read_costlier(
    rows: float, distinct: float, more: tuple[str, ...]
) -> None:
    """The model takes the cheapest path it knows, and a scan of the table is one of them:
    adding an index can only lower a read's cost (writes pay upkeep, reads never do)."""
    schema = shop(orders=rows)
    schema.tables["orders"].columns["user_id"].n_distinct = min(distinct, rows)
    for sql in (
        "SELECT total FROM orders WHERE user_id = 7 AND status = 'open'",
        "SELECT id FROM orders WHERE created_at > now() ORDER BY created_at LIMIT 5",
        "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE u.country = 'x'",
    ):
        coster = ModelCoster(schema, [("q", sql, 1.0)])
        base = coster.costs([])["q"]
        assert coster.costs([Candidate("orders", ("user_id", *more))])["q"] <= base


def test_range_constants_are_read_from_the_statement() -> None:
    """The values a range compares with, as the statement spells them: literals, dates,
    arithmetic, a date plus an interval (a month past Jan 31 is Feb 28, as PostgreSQL
    says); a parameter or ``now()`` is no constant."""
    from backendperf.advisor.usage import extract

    schema = Schema.from_ddl("CREATE TABLE t (d date, x numeric, q int, z timestamptz)")
    use = extract(
        "SELECT 1 FROM t WHERE d >= date '1994-01-31' AND d < date '1994-01-31' + "
        "interval '1' month AND x BETWEEN 0.06 - 0.01 AND 0.06 + 0.01 AND 24 > q "
        "AND z > now() - interval '7 day' AND d <> date '1994-02-01' - interval '1' year",
        schema,
    ).tables["t"]
    assert use.bounds["d"] == [(">=", "1994-01-31"), ("<", "1994-02-28")]
    assert [op for op, _ in use.bounds["x"]] == [">=", "<="]
    assert [float(v) for _, v in use.bounds["x"]] == pytest.approx([0.05, 0.07])
    assert use.bounds["q"] == [("<", "24")]  # 24 > q, flipped
    assert "z" not in use.bounds and "z" in use.ranges


def _histogram(schema: Schema) -> Schema:
    column = schema.tables["orders"].columns["total"]
    column.bounds = tuple(str(v) for v in range(101))  # 0..100, uniform
    column.null_frac = 0.0
    return schema


def test_a_histogram_says_how_many_rows_a_range_keeps() -> None:
    from backendperf.advisor.whatif.offline import _range_selectivity

    column = _histogram(shop()).tables["orders"].columns["total"]
    assert _range_selectivity(column, [("<", "25")]) == pytest.approx(0.25)
    assert _range_selectivity(column, [(">=", "10"), ("<=", "20")]) == pytest.approx(0.1)
    # past the last bound: a tenth of a bucket, never 0 (as the planner clamps)
    assert _range_selectivity(column, [(">", "100")]) == pytest.approx(1 / 1010)
    assert _range_selectivity(column, [("<", "x")]) is None  # does not compare
    column.common = {"5": 0.5}  # half the rows are 5: the histogram holds the other half
    assert _range_selectivity(column, [("<", "25")]) == pytest.approx(0.5 + 0.5 * 0.25)
    dates = shop().tables["orders"].columns["created_at"]
    dates.bounds = ("2026-01-01 00:00:00+00", "2026-07-02 12:00:00+00", "2027-01-01 00:00:00+00")
    assert _range_selectivity(dates, [(">=", "2026-12-01")]) == pytest.approx(31 / 365, 0.05)


def test_a_range_index_pays_where_the_histogram_says_few_rows_match() -> None:
    few = "SELECT id FROM orders WHERE total > 99.9"  # 0.1% of a million rows
    most = "SELECT id FROM orders WHERE total > 1"
    index = Candidate("orders", ("total",))
    assert ratio(_histogram(shop()), few, index) < 0.2
    assert ratio(_histogram(shop()), most, index) == 1.0
    # without a histogram, the planner's default third of the rows: the index barely pays
    assert ratio(shop(), few, index) > 0.5


def test_the_tighter_of_two_bounds_counts() -> None:
    from backendperf.advisor.whatif.offline import _range_selectivity

    column = _histogram(shop()).tables["orders"].columns["total"]
    assert _range_selectivity(column, [(">", "20"), (">", "10")]) == pytest.approx(0.8)
    assert _range_selectivity(column, [("<", "20"), ("<", "30")]) == pytest.approx(0.2)


def test_a_probe_is_narrowed_by_a_range_on_the_key() -> None:
    schema = _histogram(shop())
    sql = (
        "SELECT o.status FROM users u JOIN orders o ON o.user_id = u.id "
        "WHERE u.email = 'a@example.com' AND o.total > 90"
    )
    one = ratio(schema, sql, Candidate("orders", ("user_id",)))
    assert ratio(schema, sql, Candidate("orders", ("user_id", "total"))) < one


def test_a_wide_covering_index_reads_more_pages_than_a_narrow_one() -> None:
    sql = "SELECT total FROM orders WHERE created_at > '2026-01-01'"
    narrow = Candidate("orders", ("created_at",), include=("total",))
    wide = Candidate("orders", ("created_at",), include=("total", "status", "user_id", "id"))
    assert ratio(shop(), sql, narrow) < ratio(shop(), sql, wide) < 1.0

"""The index advisor offline: schema from DDL, usage golden pairs, candidates, the pipeline's
rules, the report formats and the CLI (no database needed)."""

from __future__ import annotations

import json
import pathlib
import re
import sqlite3
from typing import Any

import pytest

from backendperf.advisor import Schema, advise
from backendperf.advisor.candidates import Candidate, candidates
from backendperf.advisor.usage import extract
from backendperf.cli import main
from backendperf.events import QueryEvent
from backendperf.workload import Workload

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures" / "advisor"  # golden usage pairs
SHOP = pathlib.Path(__file__).parents[2] / "examples" / "shop"
SCHEMA = Schema.from_ddl(
    (pathlib.Path(__file__).parents[2] / "examples" / "shop" / "schema.sql").read_text()
)


def _golden() -> list[tuple[str, list[str]]]:
    pairs: list[tuple[str, list[str]]] = []
    sql: list[str] = []
    expects: list[str] = []
    for line in (FIXTURES / "usage.sql").read_text().splitlines():
        if line.startswith("-- expect:"):
            expects.append(line.removeprefix("-- expect:").strip())
        elif line.startswith("--") or not line.strip():
            if sql and expects:
                pairs.append((" ".join(sql), expects))
                sql, expects = [], []
        else:
            sql.append(line)
    if sql and expects:
        pairs.append((" ".join(sql), expects))
    return pairs


@pytest.mark.parametrize(("sql", "expects"), _golden(), ids=lambda v: str(v)[:50])
def test_usage_golden_pairs(sql: str, expects: list[str]) -> None:
    """Each golden statement yields the per-table usage its expect lines state."""
    use = extract(sql.rstrip(";"), SCHEMA)
    assert use.error is None
    for expect in expects:
        table, _, rest = expect.partition(" ")
        got = use.tables[table]
        if rest.startswith("unindexable="):
            wanted = rest.removeprefix("unindexable=")
            assert any(wanted in reason for _, reason in got.unindexable), got.unindexable
            continue
        fields = rest.split()
        for item in fields:
            name, _, value = item.partition("=")
            if name == "order_by":
                column, _, direction = expect.split("order_by=")[1].partition(" ")
                assert got.order_by[0] == (column, direction.startswith("DESC"))
            elif name in ("DESC", "ASC"):
                continue
            elif name == "limit":
                assert got.limit is (value == "true")
            elif name == "unindexable":
                assert any(value in reason for _, reason in got.unindexable), got.unindexable
            else:  # `name=` with no value: the list is empty
                wanted = value.split(",") if value else []
                assert getattr(got, name) == wanted, (name, getattr(got, name))


def test_unparseable_statement_is_reported_not_raised() -> None:
    """A statement sqlglot cannot read comes back with an error, never an exception."""
    use = extract("SELECT FROM WHERE (((", SCHEMA)
    assert use.error is not None and use.error.startswith("unparseable")


def test_schema_from_ddl_keys_and_indexes() -> None:
    """PRIMARY KEY, UNIQUE, CREATE INDEX with expressions, DESC, INCLUDE, WHERE; MySQL KEYs."""
    schema = Schema.from_ddl(
        "CREATE TABLE t (id int PRIMARY KEY, a text, b int, UNIQUE (a, b));"
        "CREATE INDEX t_x ON t (lower(a), b DESC) INCLUDE (id) WHERE b > 0;"
    )
    assert [str(ix) for ix in schema.tables["t"].indexes] == [
        "t_pkey (id) UNIQUE",
        "t_a_b_key (a, b) UNIQUE",
        "t_x (lower(a), b DESC) INCLUDE (id) WHERE b > 0",
    ]
    mysql = Schema.from_ddl(
        "CREATE TABLE `m` (`id` int, `a` int, KEY `ix_a` (`a`), PRIMARY KEY (`id`));", "mysql"
    )
    assert [ix.name for ix in mysql.tables["m"].indexes] == ["PRIMARY", "ix_a"]


def test_candidate_column_order_and_statistics() -> None:
    """Equality first, the more selective first when statistics exist; then the range."""
    schema = Schema.from_ddl(SCHEMA_DDL)
    table = schema.tables["orders"]
    table.rows = 100_000
    table.columns["status"].n_distinct = 4
    table.columns["user_id"].n_distinct = -0.2  # 20% of the rows: 20,000 values
    use = extract(
        "SELECT * FROM orders WHERE status = 'a' AND user_id = 1 AND created_at > now()", schema
    ).tables["orders"]
    (candidate,) = candidates(use, table, "postgresql")
    assert candidate.columns == ("user_id", "status", "created_at")
    assert candidate.include == ()  # SELECT *: no covering index


SCHEMA_DDL = (SHOP / "schema.sql").read_text()


def _workload(statements: dict[str, int], ms: float = 10.0) -> Workload:
    events = []
    for sql, n in statements.items():
        for i in range(n):
            events.append(QueryEvent(statement=sql.replace("{i}", str(i)), duration_ms=ms))
    return Workload().extend(events)


def test_existing_index_serves_and_redundant_is_flagged() -> None:
    """A candidate that is a prefix of an existing index is not suggested (the statement says
    which index serves it); an index that is a prefix of another is reported redundant."""
    schema = Schema.from_ddl(
        SCHEMA_DDL
        + "CREATE INDEX orders_user ON orders (user_id);"
        + "CREATE INDEX orders_user_created ON orders (user_id, created_at);"
    )
    advice = advise(_workload({"SELECT * FROM orders WHERE user_id = {i}": 5}), schema=schema)
    assert advice.indexes == []
    (reason,) = {n.reason for n in advice.no_suggestion}
    assert reason == "already served by orders_user on orders"
    (redundant,) = advice.redundant_indexes
    assert (redundant.index, redundant.covered_by) == ("orders_user", "orders_user_created")


def test_prefix_candidates_merge_and_unique_keys_serve() -> None:
    """(user_id) and (user_id, created_at) become one index; a statement whose equality
    columns include a unique key gets nothing."""
    advice = advise(
        _workload(
            {
                "SELECT * FROM orders WHERE user_id = {i}": 5,
                "SELECT * FROM orders WHERE user_id = {i} ORDER BY created_at LIMIT 5": 5,
                "UPDATE orders SET total = 1 WHERE id = {i} AND status = 'x'": 5,
            }
        ),
        schema=SCHEMA,
    )
    assert [s.ddl for s in advice.indexes] == [
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_orders_user_id_created_at "
        "ON orders (user_id, created_at);"
    ]
    assert advice.indexes[0].queries_helped == 2
    assert any("orders_pkey" in n.reason for n in advice.no_suggestion)


def test_low_selectivity_and_small_share_are_not_suggested() -> None:
    """A 4-value column alone is not indexed; neither is a statement with 0.1% of the time."""
    schema = Schema.from_ddl(SCHEMA_DDL)
    schema.tables["orders"].rows = 100_000
    schema.tables["orders"].columns["status"].n_distinct = 4
    advice = advise(
        Workload().extend(
            [
                QueryEvent(statement="SELECT * FROM orders WHERE status = 'a'", duration_ms=50.0),
                QueryEvent(statement="SELECT * FROM users WHERE name = 'x'", duration_ms=0.001),
                QueryEvent(statement="SELECT * FROM orders WHERE total = 5", duration_ms=5.0),
            ]
        ),
        schema=schema,
    )
    assert [s.columns for s in advice.indexes] == [("total",)]
    reasons = " | ".join(n.reason for n in advice.no_suggestion)
    assert "only 4 distinct values" in reasons
    assert "below --min-share" in reasons


def test_is_not_null_makes_a_partial_index_only_where_values_are_rare() -> None:
    """`deleted_at IS NOT NULL` is not `IS NULL`: with statistics saying few rows have a
    value, the index holds just those rows; without them it is a plain index that carries
    the column."""
    sql = "SELECT id FROM users WHERE deleted_at IS NOT NULL AND created_at < '{i}' LIMIT 10"
    schema = Schema.from_ddl(SCHEMA_DDL)
    (plain,) = advise(_workload({sql: 5}), schema=schema).indexes
    assert plain.where is None and "deleted_at" in plain.include
    schema.tables["users"].columns["deleted_at"].null_frac = 0.95
    (partial,) = advise(_workload({sql: 5}), schema=schema).indexes
    assert (partial.columns, partial.where) == (("created_at",), "deleted_at IS NOT NULL")
    assert "partial: only rows where deleted_at IS NOT NULL" in partial.reason
    schema.tables["users"].columns["deleted_at"].null_frac = 0.5
    (common,) = advise(_workload({sql: 5}), schema=schema).indexes
    assert common.where is None


def test_every_statement_is_served_or_told_why() -> None:
    """Statements the --max-indexes cut leaves out, INSERTs and settings are listed with a
    reason; a statement a suggestion serves is not listed."""
    advice = advise(
        _workload(
            {
                "SELECT * FROM orders WHERE user_id = {i}": 9,
                "SELECT * FROM orders WHERE total = {i}": 5,
                "INSERT INTO orders (id, user_id, status, total, created_at) "
                "VALUES ({i}, 1, 'a', 1, now())": 2,
                "SET statement_timeout = {i}": 1,
                "SELECT u.name FROM users u JOIN orders o ON o.user_id = u.id "
                "WHERE o.user_id = {i}": 3,
            }
        ),
        schema=SCHEMA,
        max_indexes=1,
    )
    (suggestion,) = advice.indexes
    assert suggestion.columns == ("user_id",)
    why = {n.normalized: n.reason for n in advice.no_suggestion}
    assert len(advice.no_suggestion) == len(why) == 3, why
    assert "--max-indexes 1 went to" in why["select * from orders where total = ?"]
    assert any(r.startswith("an INSERT finds no rows") for r in why.values())
    assert any(r.startswith("not a query on a table") for r in why.values())


def test_write_heavy_table_is_noted() -> None:
    """When writes to a table take a large share of the time, the suggestion says so."""
    advice = advise(
        _workload(
            {
                "SELECT * FROM orders WHERE user_id = {i}": 5,
                "INSERT INTO orders (id, user_id, status, total, created_at) "
                "VALUES ({i}, 1, 'a', 1, now())": 5,
            }
        ),
        schema=SCHEMA,
    )
    (suggestion,) = advice.indexes
    assert any("write-heavy" in note for note in suggestion.notes)


def test_ddl_per_dialect() -> None:
    """PostgreSQL gets CONCURRENTLY, INCLUDE, WHERE and text_pattern_ops; SQLite keeps WHERE;
    MySQL wraps expressions in parentheses and has no partial indexes."""
    c = Candidate("t", ("lower(a)", "b"), (False, True), ("c",), "d IS NULL", ("b",))
    assert c.ddl("postgresql") == (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_t_lower_a_b_desc_partial_36c691 ON t "
        "(lower(a), b text_pattern_ops DESC) INCLUDE (c) WHERE d IS NULL;"
    )
    assert c.ddl("sqlite") == (
        "CREATE INDEX IF NOT EXISTS ix_t_lower_a_b_desc_partial_36c691 ON t (lower(a), b DESC) "
        "WHERE d IS NULL;"
    )
    assert (
        c.ddl("mysql")
        == "CREATE INDEX ix_t_lower_a_b_desc_partial_36c691 ON t ((lower(a)), b DESC);"
    )


def test_cli_advise_on_bundled_example(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's main job: advise on the shipped shop log and DDL, no server."""
    code = main(
        [
            "advise",
            str(SHOP / "postgresql.log"),
            "--schema",
            str(SHOP / "schema.sql"),
            "--output",
            "json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"version", "summary", "indexes", "redundant_indexes", "unindexable"}
    ddl = [i["ddl"] for i in report["indexes"]]
    assert any("orders (user_id, created_at DESC) INCLUDE (id, total)" in d for d in ddl)
    assert any("order_items (order_id, product_id)" in d for d in ddl)
    assert any("users (lower(email))" in d for d in ddl)
    assert all(i["estimated"]["method"] == "heuristic" for i in report["indexes"])
    assert any("pg_trgm" in u["reason"] for u in report["unindexable"])
    assert (
        main(
            [
                "advise",
                str(SHOP / "postgresql.log"),
                "--schema",
                str(SHOP / "schema.sql"),
                "--output",
                "sql",
            ]
        )
        == 0
    )
    sql = capsys.readouterr().out
    statements = [line for line in sql.splitlines() if line and not line.startswith("--")]
    assert all(re.match(r"CREATE INDEX CONCURRENTLY IF NOT EXISTS \w+ ON ", s) for s in statements)


def test_cli_advise_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """No schema, a missing file, or --validate without a PostgreSQL --db: exit 2, clearly."""
    log = str(SHOP / "postgresql.log")
    assert main(["advise", log]) == 2
    assert "--schema DDL.sql" in capsys.readouterr().err
    assert main(["advise", log, "--schema", "/nonexistent.sql"]) == 2
    assert main(["advise", log, "--schema", str(SHOP / "schema.sql"), "--validate"]) == 2
    assert "--validate needs --db" in capsys.readouterr().err
    assert main(["advise", log, "--schema", str(SHOP / "schema.sql"), "--fail-on", "any"]) == 1
    assert main(["advise", log, "--schema", str(SHOP / "schema.sql"), "--fail-on", "new"]) == 2
    assert "needs --baseline" in capsys.readouterr().err


def test_cli_baseline_fails_only_on_new_findings(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A committed baseline makes --fail-on new pass until a new index is suggested."""
    log, schema = str(SHOP / "postgresql.log"), str(SHOP / "schema.sql")
    baseline = tmp_path / "baseline.json"
    assert main(["advise", log, "--schema", schema, "--output", "json", "-o", str(baseline)]) == 0
    common = ["advise", log, "--schema", schema, "--baseline", str(baseline), "--fail-on", "new"]
    assert main(common) == 0
    assert "[in baseline]" in capsys.readouterr().out
    data = json.loads(baseline.read_text())
    data["indexes"] = data["indexes"][1:]  # forget one: it is new again
    baseline.write_text(json.dumps(data))
    assert main(common) == 1
    baseline.write_text("{}")
    assert main(common) == 2


def test_unindexed_foreign_keys_the_workload_joins_on() -> None:
    """REFERENCES without an index, joined on by the workload, is reported (once suggested,
    it says so); a foreign key nobody joins on is left alone."""
    advice = advise(
        _workload(
            {
                "SELECT oi.quantity FROM order_items oi JOIN orders o ON o.id = oi.order_id "
                "WHERE o.user_id = {i}": 10,
            }
        ),
        schema=SCHEMA,
    )
    fks = {(f["table"], tuple(f["columns"])): f for f in advice.unindexed_foreign_keys}
    assert set(fks) == {("order_items", ("order_id",))}  # orders.user_id: filtered, not joined
    assert fks[("order_items", ("order_id",))]["suggested"]
    assert "Foreign keys the workload joins on" in advice.render_text()


def test_sqlite_validation_keeps_what_the_planner_uses(tmp_path: pathlib.Path) -> None:
    """SQLite: EXPLAIN QUERY PLAN with each index inside a rolled-back savepoint; an index
    the planner ignores is dropped; the database keeps exactly its indexes."""
    import sqlite3

    from backendperf.advisor.whatif import validate

    db = tmp_path / "shop.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INT, status TEXT, total INT);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
        "INSERT INTO orders SELECT i, i % 100, 'x' || i, i FROM n;"
    )
    conn.close()
    url = f"sqlite:///{db}"
    workload = _workload(
        {
            "SELECT total FROM orders WHERE user_id = {i}": 5,
            # LIKE is case-insensitive in SQLite: a BINARY index cannot serve it
            "SELECT id FROM orders WHERE status LIKE 'x{i}%'": 5,
        }
    )
    advice = advise(workload, schema=Schema.from_url(url), min_share=0.0)
    assert len(advice.indexes) == 2
    validate(advice, workload, url)
    (kept,) = advice.indexes
    assert kept.columns == ("user_id",)
    assert kept.method == "sqlite-plan"
    assert any("SCAN orders" in n for n in kept.notes)
    assert any("ix_orders_user_id" in n for n in kept.notes)
    assert any("no plan searches through it" in n.reason for n in advice.no_suggestion)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index'").fetchone() == (
        0,
    )
    conn.close()


def test_max_size_budget() -> None:
    """Sizes are estimated from row counts and column widths; --max-size keeps the best
    suggestions that fit and says why the others were left out."""
    schema = Schema.from_ddl(SCHEMA_DDL)
    schema.tables["orders"].rows = 1_000_000
    workload = _workload(
        {
            "SELECT id FROM orders WHERE user_id = {i}": 10,  # more time: ranked first
            "SELECT id FROM orders WHERE total > {i}": 5,
        }
    )
    both = advise(workload, schema=schema)
    sizes = [s.size_bytes for s in both.indexes]
    assert len(sizes) == 2 and all(s and 10e6 < s < 100e6 for s in sizes)
    one = advise(workload, schema=schema, max_size=int(sizes[0] * 1.5))  # type: ignore[operator]
    assert [s.columns[0] for s in one.indexes] == ["user_id"]
    assert any("--max-size" in n.reason for n in one.no_suggestion)
    assert main(["advise", "-", "--schema", "x", "--max-size", "lots"]) == 2


def test_mysql_type_mismatch_is_unindexable() -> None:
    """MySQL: a string column compared with a number cannot use an index: reported with the
    fix (quote the value), not indexed."""
    schema = Schema.from_ddl(
        "CREATE TABLE t (id INT PRIMARY KEY, code VARCHAR(20), n INT);", "mysql"
    )
    use = extract("SELECT id FROM t WHERE code = 12345 AND n = 5", schema, "mysql").tables["t"]
    assert use.equality == ["n"]
    ((predicate, reason),) = use.unindexable
    assert predicate == "code = 12345" and "quote the value" in reason
    quoted = extract("SELECT id FROM t WHERE code = '12345'", schema, "mysql").tables["t"]
    assert quoted.equality == ["code"] and quoted.unindexable == []


def test_cli_budgets_and_min_share_reach_the_advisor(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--max-size and --min-share change what `advise` suggests (row counts from a SQLite
    database's sqlite_stat1 size the indexes)."""
    db = tmp_path / "shop.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, total INTEGER);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
        "INSERT INTO orders SELECT i, i % 2000, i FROM n; ANALYZE;"
    )
    conn.close()
    log = tmp_path / "queries.jsonl"  # our own format: 90% of the time on user_id
    log.write_text(
        "".join(
            json.dumps({"statement": sql, "duration_ms": 10.0, "dialect": "sqlite"}) + "\n"
            for sql in [f"SELECT total FROM orders WHERE user_id = {i}" for i in range(9)]
            + ["SELECT id FROM orders WHERE total > 5"]
        )
    )
    url = f"sqlite:///{db}"

    def advise_json(*flags: str) -> dict[str, Any]:
        assert main(["advise", str(log), "--db", url, "--output", "json", *flags]) == 0
        return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]

    assert len(advise_json()["indexes"]) == 2
    most = advise_json("--min-share", "50")
    assert [i["columns"] for i in most["indexes"]] == [["user_id"]]
    assert any("below --min-share 50%" in n["reason"] for n in most["no_suggestion"])
    none = advise_json("--max-size", "1k")
    assert none["indexes"] == []
    assert any("--max-size" in n["reason"] for n in none["no_suggestion"])


def test_sqlite_columns_without_a_type() -> None:
    """SQLite allows `CREATE TABLE t (a, b)`: typeless columns are columns, and statements on
    them are advised like any other."""
    schema = Schema.from_ddl("CREATE TABLE events (id INTEGER PRIMARY KEY, kind, at);", "sqlite")
    assert list(schema.tables["events"].columns) == ["id", "kind", "at"]
    workload = _workload({"SELECT id FROM events WHERE kind = 'x{i}' AND at > {i}": 5})
    (suggestion,) = advise(workload, schema=schema).indexes
    assert suggestion.columns == ("kind", "at")


def test_a_narrowed_index_keeps_only_the_reasons_that_still_hold() -> None:
    """Narrowing an index to a key prefix (a --max-size budget) rewrites its reason from the
    data, not from the text: the dropped columns leave the lists, and the ORDER BY and
    covering claims go with them; another INCLUDE list on the same key keeps the ORDER BY
    claim (the text version dropped it)."""
    from backendperf.advisor.report import COVERING_REASON, Reason

    why = Reason(
        2,
        0.33,
        "time",
        ("orders", "user_id", "status", "created_at"),
        (
            ("equality on", ("status", "user_id")),
            ("range on", ("created_at",)),
            ("sorts", ()),
            ("covering", ()),
        ),
    )
    assert str(why) == (
        "2 statement shapes (33% of the workload's time): equality on status, user_id; "
        f"range on created_at; returns rows in ORDER BY order for the LIMIT; {COVERING_REASON}"
    )

    def text(candidate: Candidate) -> str:
        return str(why.for_index(candidate))

    assert text(Candidate("orders", ("user_id", "status"))) == (
        "2 statement shapes (33% of the workload's time): equality on status, user_id"
    )
    assert text(Candidate("orders", ("created_at",))) == (
        "2 statement shapes (33% of the workload's time): range on created_at"
    )
    assert text(Candidate("orders", ("x",))).endswith(": serves their access path")
    covering = Candidate("orders", ("user_id", "status"), include=("total",))
    assert text(covering).endswith(f"; {COVERING_REASON}")
    same_key = Candidate("orders", ("user_id", "status", "created_at"), include=("total",))
    assert "ORDER BY" in text(same_key)
    assert "ORDER BY" in str(why.for_index(same_key).for_index(same_key))


def test_what_if_costs_only_statements_an_index_can_change() -> None:
    """An index changes only the plans of statements on its table: what-if validation
    re-costs those alone. A name that is not a real table (a view, a function) or SQL that
    does not parse means "any index may matter"; CTE names are not tables."""
    from backendperf.advisor.whatif.postgres import _tables_of

    real = {"orders", "users"}
    join = "SELECT u.name FROM orders o JOIN Users u ON u.id = o.user_id WHERE o.total > 5"
    assert _tables_of(join, real)[0] == {"orders", "users"}
    cte = "WITH recent AS (SELECT * FROM orders) SELECT * FROM recent WHERE user_id = 1"
    assert _tables_of(cte, real)[0] == {"orders"}
    assert _tables_of("UPDATE public.orders SET total = 1 WHERE id = $1", real)[0] == {"orders"}
    assert _tables_of("SELECT * FROM order_totals WHERE user_id = 1", real)[0] is None  # a view
    assert _tables_of("SELECT * FROM generate_series(1, 3)", real)[0] is None
    assert _tables_of("SELEC nonsense ((", real) == (None, None)


def test_what_if_costs_only_statements_that_mention_the_leading_column() -> None:
    """A B-tree index can change a plan only where the statement mentions its leading column
    (PostgreSQL 15 has no skip scan), or where it holds every column the statement reads of
    its table (an index-only scan of the whole index, count(*) included). ``SELECT *``, an
    expression index, or a table two schemas share: it may change the plan."""
    from backendperf.advisor.candidates import Candidate
    from backendperf.advisor.whatif.postgres import _Coster, _Statement, _tables_of

    real = {"orders", "users"}
    columns = {"orders": frozenset({"id", "user_id", "status", "total"}), "users": None}
    coster = _Coster(None, "hypopg", "", [], columns)

    def may(sql: str, index: Candidate) -> bool:
        statement = _Statement("f", sql, 1)
        statement.tables, statement.columns = _tables_of(sql, real)
        return coster._may_change(statement, index.table, index)

    by_status = "SELECT id, total FROM orders WHERE status = 'paid'"
    assert may(by_status, Candidate("orders", ("status",)))
    assert not may(by_status, Candidate("orders", ("user_id",)))
    assert not may(by_status, Candidate("users", ("status",)))  # another table
    # every column it reads of orders is in the index: an index-only scan may read it whole
    assert may(by_status, Candidate("orders", ("user_id", "status"), include=("id", "total")))
    assert may("SELECT count(*) FROM orders", Candidate("orders", ("user_id",)))
    assert not may("SELECT count(*) FROM orders WHERE total > 5", Candidate("orders", ("user_id",)))
    assert may("SELECT * FROM orders WHERE status = 'x'", Candidate("orders", ("user_id",)))
    assert may(by_status, Candidate("orders", ("lower(status)",)))  # an expression
    assert may(
        "SELECT id FROM users WHERE name = 'a'", Candidate("users", ("email",))
    )  # two schemas


def test_covering_variants_what_if_tries() -> None:
    """Each statement's own INCLUDE list (what it reads beyond the key) and one for all of
    them, smallest first; none over MAX_COVER columns, none for an expression index, and
    not the index's own list again."""
    from backendperf.advisor.candidates import MAX_COVER
    from backendperf.advisor.whatif.pick import _wider

    index = Candidate("orders", ("created_at",), include=("id",))
    covers = {
        "a": ("created_at", "status", "total"),
        "b": ("created_at", "id"),
        "c": ("created_at", "user_id"),
    }
    assert [v.include for v in _wider(index, covers)] == [
        ("user_id",),
        ("status", "total"),
        ("id", "status", "total", "user_id"),
    ]
    assert all(v.columns == index.columns for v in _wider(index, covers))
    wide = {"a": ("created_at", *(f"c{i}" for i in range(MAX_COVER + 1)))}
    assert _wider(index, wide) == []
    assert _wider(Candidate("users", ("lower(email)",)), {"a": ("lower(email)", "id")}) == []
    assert _wider(index, {}) == []


def test_offline_include_covers_the_heaviest_statements() -> None:
    """Statements that share a key but read different columns: the offline INCLUDE list
    takes what the heaviest read, as long as it stays within MAX_INCLUDE columns; a
    `SELECT *` (no index covers it) does not prevent it, and a statement under a tenth of
    the index's time does not widen it. What-if validation later gets every statement's
    list to try."""
    from backendperf.advisor.candidates import MAX_INCLUDE
    from backendperf.advisor.report import COVERING_REASON

    schema = Schema.from_ddl(
        "CREATE TABLE orders (id int PRIMARY KEY, user_id int, status text, total numeric, "
        "created_at timestamp, note text, extra text)",
        dialect="postgresql",
    )
    shapes = {
        "SELECT status, sum(total) FROM orders WHERE created_at > $1 GROUP BY status": 50.0,
        "SELECT * FROM orders WHERE created_at > $1": 40.0,
        "SELECT user_id FROM orders WHERE created_at > $1": 30.0,
        "SELECT id, user_id, note FROM orders WHERE created_at > $1": 20.0,
        "SELECT extra FROM orders WHERE created_at > $1": 1.0,
    }
    workload = Workload().extend(
        QueryEvent(statement=sql, duration_ms=ms, params=("2026-01-01",), dialect="postgresql")
        for sql, ms in shapes.items()
        for _ in range(10)
    )
    (index,) = advise(workload, schema=schema).indexes
    assert index.columns == ("created_at",)
    assert index.include == ("status", "total", "user_id")  # id, note would make 5
    assert len(index.include) <= MAX_INCLUDE
    assert index.reason.endswith(COVERING_REASON)
    needs = sorted(index.covers.values())
    assert ("created_at", "extra") in needs  # what-if may still try it
    assert len(needs) == 4  # every statement but `SELECT *`


def test_text_pattern_ops_only_where_the_collation_needs_it() -> None:
    """`LIKE 'x%'` on a text column gets `text_pattern_ops`, unless the column sorts by bytes
    (`COLLATE "C"` or `"POSIX"`): there a plain B-tree serves the prefix and ORDER BY too."""
    schema = Schema.from_ddl(
        'CREATE TABLE products (id int PRIMARY KEY, sku text COLLATE "C", '
        'code varchar(20) COLLATE pg_catalog."POSIX", name text)'
    )
    assert schema.tables["products"].columns["sku"].bytewise
    assert schema.tables["products"].columns["code"].bytewise
    assert not schema.tables["products"].columns["name"].bytewise
    for column, needed in (("sku", False), ("code", False), ("name", True)):
        use = extract(f"SELECT id FROM products WHERE {column} LIKE 'AB%'", schema).tables
        (candidate,) = candidates(use["products"], schema.tables["products"], "postgresql")
        assert candidate.columns == (column,)
        assert candidate.pattern_ops == ((column,) if needed else ()), column


def test_a_reshaped_index_is_described_against_the_offline_advice() -> None:
    """What-if may widen an index (INCLUDE added) and later slim it again: the notes then
    describe the final index against the offline one, not each step, and the reason's
    covering claim follows the INCLUDE list."""
    from dataclasses import replace

    from backendperf.advisor.report import COVERING_REASON
    from backendperf.advisor.whatif.pick import _narrow

    schema = Schema.from_ddl(
        "CREATE TABLE orders (id int PRIMARY KEY, user_id int, total numeric, note text)"
    )
    workload = Workload().extend(
        QueryEvent(statement=f"SELECT * FROM orders WHERE user_id = {i}", duration_ms=5.0)
        for i in range(10)
    )
    (suggestion,) = advise(workload, schema=schema).indexes
    offline = suggestion.candidate
    assert offline is not None and offline.include == ()
    _narrow(suggestion, replace(offline, include=("total",)), "it pays")
    assert suggestion.notes == ["INCLUDE (total) added: it pays"]
    assert suggestion.reason.endswith(COVERING_REASON) and "INCLUDE (total)" in suggestion.ddl
    _narrow(suggestion, offline, "it no longer pays")
    assert not any(n.startswith("INCLUDE") for n in suggestion.notes)
    assert COVERING_REASON not in suggestion.reason and "INCLUDE" not in suggestion.ddl
    assert suggestion.offline == offline
    covered = replace(offline, include=("id",))
    suggestion.candidate, suggestion.offline = covered, None
    _narrow(suggestion, replace(covered, include=("id", "total")), "it pays")
    _narrow(suggestion, offline, "it no longer pays")
    assert suggestion.notes == ["INCLUDE (id) dropped: it no longer pays"]


def test_a_workload_without_durations_is_weighed_by_calls(tmp_path: pathlib.Path) -> None:
    """A ``.sql`` file (or a general log, or pg_stat_statements without timing) has no
    durations: every statement weighs its calls, so the advice is not empty, and it says so."""
    script = tmp_path / "queries.sql"
    script.write_text(
        "SELECT * FROM orders WHERE user_id = 1;\n" * 30 + "SELECT * FROM orders WHERE id = 5;\n"
    )
    schema = Schema.from_ddl(
        "CREATE TABLE orders (id int PRIMARY KEY, user_id int, total numeric);"
    )
    schema.tables["orders"].rows = 1_000_000
    advice = advise(Workload.from_logs([script]), schema=schema)
    assert [s.columns for s in advice.indexes] == [("user_id",)]
    assert "of the workload's calls" in advice.indexes[0].reason
    assert advice.summary["weighted_by"] == "calls"
    assert any("no durations" in w for w in advice.warnings)


def test_no_index_on_a_table_the_statistics_say_is_tiny() -> None:
    """A join of a big table with a 25-row one (TPC-H's ``nation``): the big table's join
    column may get an index, the tiny table none (a scan reads it in a few pages), and its
    statements say why."""
    schema = Schema.from_ddl(
        "CREATE TABLE nation (n_nationkey int PRIMARY KEY, n_name text, n_regionkey int);"
        "CREATE TABLE customer (c_custkey int PRIMARY KEY, c_nationkey int, c_name text);"
    )
    schema.tables["nation"].rows = 25
    schema.tables["customer"].rows = 150_000
    sql = (
        "SELECT c.c_name FROM customer c JOIN nation n ON n.n_nationkey = c.c_nationkey "
        "WHERE n.n_regionkey = 3 AND c.c_nationkey = 7"
    )
    advice = advise(
        Workload().extend([QueryEvent(statement=sql, duration_ms=80.0)] * 10), schema=schema
    )
    assert [s.table for s in advice.indexes] == ["customer"]
    alone = "SELECT n_name FROM nation WHERE n_regionkey = 3"
    advice = advise(
        Workload().extend([QueryEvent(statement=alone, duration_ms=80.0)] * 10), schema=schema
    )
    assert not advice.indexes
    assert any("nation has 25 rows" in n.reason for n in advice.no_suggestion)
    schema.tables["nation"].rows = None  # unknown: no such rule
    advice = advise(
        Workload().extend([QueryEvent(statement=sql, duration_ms=80.0)] * 10), schema=schema
    )
    assert any(s.table == "nation" for s in advice.indexes)


def test_what_if_advice_adds_a_single_column_candidate_per_indexable_column() -> None:
    """``advise(whatif=True)`` (what the command line does before a what-if pick) adds a
    single-column candidate for every column a statement filters, joins, sorts or groups by,
    unless an index already leads with it, outside ``max_indexes``; each suggestion knows
    the columns its statements could add to its key. Without it, the heuristic advice is
    unchanged."""
    schema = Schema.from_ddl(
        SCHEMA_DDL
        + "CREATE INDEX orders_status ON orders (status);"
        + "CREATE INDEX orders_paid_total ON orders (total) WHERE status = 'paid';"  # partial
    )
    workload = _workload(
        {
            "SELECT id FROM orders WHERE user_id = {i} AND created_at > '2026-01-01' "
            "ORDER BY total": 10,
            "SELECT id FROM orders WHERE status = 'x{i}'": 5,  # served by orders_status
        }
    )
    plain = advise(workload, schema=schema, max_indexes=1)
    wide = advise(workload, schema=schema, max_indexes=1, whatif=True)
    assert [s.ddl for s in plain.indexes] == [s.ddl for s in wide.indexes[: len(plain.indexes)]]
    extra = {s.columns for s in wide.indexes[len(plain.indexes) :]}
    # not status: indexed already; total too, as a partial index serves only its own rows
    assert extra == {("user_id",), ("created_at",), ("total",)}
    (heuristic,) = plain.indexes
    assert set(wide.indexes[0].keys) == {"user_id", "created_at", "total"}
    assert heuristic.keys == wide.indexes[0].keys


@pytest.mark.parametrize(
    "setting",
    [
        "SET statement_timeout = 30000",
        "SET statement_timeout TO '30s'",
        "set local statement_timeout = '0.5min'",
    ],
)
def test_a_timeout_the_log_sets_weighs_its_cancels_offline(setting: str) -> None:
    """Offline (DDL only, no server setting known), a ``SET statement_timeout`` in the log
    tells how long a statement cancelled by it ran: three cancels weigh 3 x 30 s, ahead of
    20 completed 5 ms statements. Without the SET they weigh the slowest completed one."""
    schema = Schema.from_ddl(SCHEMA_DDL)
    schema.tables["orders"].rows = schema.tables["order_items"].rows = 1_000_000
    completed = "SELECT id, quantity FROM order_items WHERE product_id = 11"
    cancelled = "SELECT id, total FROM orders WHERE user_id = 7"
    events = [QueryEvent(statement=completed, duration_ms=5.0)] * 20
    events += [QueryEvent(statement=cancelled, cancelled="statement timeout")] * 3
    without = advise(Workload().extend(events), schema=schema, max_indexes=1).indexes
    assert [s.table for s in without] == ["order_items"]
    events.append(QueryEvent(statement=setting, duration_ms=0.01))
    first = advise(Workload().extend(events), schema=schema, max_indexes=1).indexes
    assert [s.table for s in first] == ["orders"]
    zero = [*events[:-1], QueryEvent(statement="SET statement_timeout = 0", duration_ms=0.01)]
    assert [
        s.table for s in advise(Workload().extend(zero), schema=schema, max_indexes=1).indexes
    ] == ["order_items"]


def test_a_literal_every_sample_holds_is_written_in_the_sql() -> None:
    """Without logged parameters a log cannot tell a bound value from one written in the
    SQL: a literal that every kept sample holds counts as written (a partial index on a
    rare status), even when the other values differ from call to call; a value that
    changes does not, nor a number found inside another (``5`` in ``15``)."""
    schema = Schema.from_ddl(SCHEMA_DDL)
    orders = schema.tables["orders"]
    orders.rows = 1_000_000
    orders.columns["status"].n_distinct = 4
    orders.columns["status"].common = {"paid": 0.9, "open": 0.02, "5": 0.02, "15": 0.06}
    written = "SELECT id FROM orders WHERE user_id = {i} AND status = 'open' ORDER BY created_at"
    (partial,) = advise(_workload({written: 30}, ms=5.0), schema=schema).indexes
    assert partial.where == "status = 'open'"
    varying = {
        f"SELECT id FROM orders WHERE user_id = {i} AND status = '{s}' ORDER BY created_at": 1
        for i, s in enumerate(["open", "paid", "open"] * 10)
    }
    (plain,) = advise(_workload(varying), schema=schema).indexes
    assert plain.where is None
    from backendperf.advisor.pipeline import _holds

    assert _holds("WHERE status = 5", "5") and not _holds("WHERE status = 15", "5")
    assert not _holds("WHERE a = 5.5", "5") and not _holds("WHERE a = $5", "5")
    assert _holds("WHERE status = 'open'", "'open'")


def test_what_if_advice_offers_the_partial_index_near_the_threshold() -> None:
    """Offline, a constant predicate holding 30% of the rows stays in the key (a partial
    index must hold at most 20%); for a what-if pick the partial index is offered too, and
    the plans decide (a share near the edge moves with each ANALYZE sample)."""
    schema = Schema.from_ddl(SCHEMA_DDL)
    orders = schema.tables["orders"]
    orders.rows = 1_000_000
    orders.columns["status"].n_distinct = 3
    orders.columns["status"].common = {"paid": 0.6, "open": 0.3, "void": 0.1}
    sql = "SELECT id FROM orders WHERE user_id = {i} AND status = 'open' ORDER BY created_at"
    workload = _workload({sql: 30}, ms=5.0)
    offline = advise(workload, schema=schema)
    assert [s.where for s in offline.indexes] == [None]
    whatif = advise(workload, schema=schema, whatif=True)
    partial = [s for s in whatif.indexes if s.where == "status = 'open'"]
    assert partial and "status" not in partial[0].columns
    assert whatif.indexes[0].ddl == offline.indexes[0].ddl  # the heuristic one, first


class _Recorder:
    """A state's stand-in that records which fields a stage reads and assigns."""

    def __init__(self, state: Any) -> None:
        object.__setattr__(self, "_state", state)
        object.__setattr__(self, "_read", set())

    def __getattr__(self, name: str) -> Any:
        self._read.add(name)
        return getattr(self._state, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._state, name, value)


@pytest.mark.parametrize("whatif", [False, True])
def test_each_stage_reads_and_writes_what_its_contract_says(whatif: bool) -> None:
    """The pipeline's state is frozen inputs and a working part; each stage of ``STAGES``
    says what it reads and writes (``CONTRACTS``). Run on the shop's log, every stage reads
    only what it declares, and leaves every working field it does not declare as it was."""
    import copy

    from backendperf.advisor.pipeline import CONTRACTS, STAGES, WORKING, Inputs, State

    workload = Workload.from_logs([SHOP / "postgresql.log"])
    schema = Schema.from_ddl_file(SHOP / "schema.sql")
    state = State(Inputs(workload, schema, "postgresql", 10, 0.0, None, whatif))
    assert set(CONTRACTS) == set(STAGES)
    for stage in STAGES:
        contract = CONTRACTS[stage]
        assert contract.writes <= WORKING
        kept = {name: copy.deepcopy(getattr(state, name)) for name in WORKING - contract.writes}
        recorder = _Recorder(state)
        result = stage(recorder)  # type: ignore[arg-type]
        assert result is recorder or result is state
        assert recorder._read <= contract.reads | contract.writes, stage.__name__
        for name, before in kept.items():
            assert getattr(state, name) == before, f"{stage.__name__} changed {name}"
    assert state.advice.indexes  # the run did advise: the contracts were held to real work
    with pytest.raises(AttributeError):
        state.inputs.max_indexes = 3  # type: ignore[misc]

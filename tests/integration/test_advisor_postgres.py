"""The advisor against the real PostgreSQL: the live schema and statistics, what-if validation
with HypoPG (and without it, by a rolled-back CREATE INDEX), and a database left as found."""

from __future__ import annotations

import contextlib
import json
import pathlib
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from backendperf.advisor import Schema, advise
from backendperf.advisor.whatif import validate
from backendperf.cli import main
from backendperf.events import QueryEvent
from backendperf.workload import Workload
from tests.conftest import PG_URL, unavailable, unique_name

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from backendperf.advisor.report import Suggestion
    from backendperf.advisor.whatif.postgres import _Coster

SHOP = pathlib.Path(__file__).parents[2] / "examples" / "shop"
LOG = SHOP / "postgresql.log"

pytestmark = pytest.mark.postgres


def _load_shop(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute((SHOP / "schema.sql").read_text())
        # no autovacuum on these tables: a VACUUM in the middle of a test (the server may start
        # one after the bulk load) changes relpages and the visibility map, and so the costs a
        # test compares
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        for (table,) in tables:
            conn.execute(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')
        conn.execute((SHOP / "data.sql").read_text())


def _indexes(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        ).fetchall()
    return {r[0] for r in rows}


@pytest.fixture
def shop_url(pg_url: str) -> str:
    _load_shop(pg_url)
    return pg_url


@contextlib.contextmanager
def _database(prefix: str) -> Iterator[str]:
    """A fresh database of this run's own, dropped afterwards (what a test creates in it,
    extensions included, never reaches the shared ``test`` database)."""
    import psycopg

    name = unique_name(prefix)
    try:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.Error as exc:
        unavailable("PostgreSQL", exc)
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def hypopg_database() -> Iterator[str]:
    """A database of this module's own with HypoPG (the test is the user who consents)."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        available = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'"
        ).fetchone()
    if available is None:
        unavailable("HypoPG", "apt-get install postgresql-15-hypopg")
    with _database("bp_hypopg") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION hypopg")
        yield url


@pytest.fixture
def hypopg(hypopg_database: str) -> Iterator[str]:
    """The shop example in a fresh schema of the HypoPG database, dropped afterwards."""
    import psycopg

    schema = unique_name("bp_test")
    with psycopg.connect(hypopg_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{hypopg_database}?options=-csearch_path%3D{schema}"
    try:
        _load_shop(url)
        yield url
    finally:
        with psycopg.connect(hypopg_database, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def bare_database() -> Iterator[str]:
    """A fresh database without HypoPG, dropped afterwards."""
    with _database("bp_whatif") as url:
        _load_shop(url)
        yield url


def test_schema_from_live_postgres(shop_url: str) -> None:
    """Tables, columns, primary and unique keys, row estimates and pg_stats statistics."""
    schema = Schema.from_url(shop_url)
    assert set(schema.tables) == {"users", "products", "orders", "order_items"}
    orders = schema.tables["orders"]
    assert orders.rows == pytest.approx(100_000, rel=0.05)
    assert [ix.columns for ix in orders.indexes] == [("id",)]
    assert orders.indexes[0].unique
    users = schema.tables["users"]
    assert {ix.columns for ix in users.indexes} == {("id",), ("email",)}
    status = orders.columns["status"]
    assert status.distinct(orders.rows) == 4
    assert users.columns["deleted_at"].null_frac == pytest.approx(0.9, abs=0.02)


def test_validated_advice_with_hypopg_leaves_database_as_found(hypopg: str) -> None:
    """Every kept suggestion is proven by HypoPG costs; nothing is left behind."""
    import psycopg

    before = _indexes(hypopg)
    workload = Workload.from_logs([LOG])
    advice = advise(workload, schema=Schema.from_url(hypopg))
    assert advice.indexes
    validate(advice, workload, hypopg)
    assert advice.summary["validated"] == "hypopg"
    assert advice.summary["workload_cost_after"] < advice.summary["workload_cost_before"] / 2
    validated = [s for s in advice.indexes if s.method == "hypopg"]
    assert validated
    for s in validated:
        assert s.cost_before is not None and s.cost_after is not None
        assert s.cost_after < s.cost_before
        assert s.size_bytes and s.size_bytes > 0
    ddl = " ".join(s.ddl for s in validated)
    assert "orders (user_id, created_at DESC)" in ddl
    assert "order_items (order_id" in ddl
    assert _indexes(hypopg) == before
    with psycopg.connect(hypopg) as conn:
        ns = conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
            "ON n.oid = e.extnamespace WHERE extname = 'hypopg'"
        ).fetchone()[0]
        listed = conn.execute(f"SELECT count(*) FROM {ns}.hypopg_list_indexes").fetchone()
        assert listed == (0,)


def test_nothing_explained_is_not_called_validated(hypopg: str) -> None:
    """When no statement can be EXPLAINed (driver placeholders the server cannot plan), the
    advice says it is not validated: no suggestion and no summary claims a what-if method,
    and no cost is reported as 0 -> 0."""
    from backendperf.events import QueryEvent

    statements = [
        "SELECT id, total FROM orders WHERE user_id = %(user_id)s ORDER BY created_at DESC",
        "SELECT count(*) FROM orders WHERE status = %(status)s",
    ]
    workload = Workload().extend(
        QueryEvent(statement=sql, duration_ms=50.0, dialect="postgresql") for sql in statements * 20
    )
    advice = advise(workload, schema=Schema.from_url(hypopg))
    assert advice.indexes
    validate(advice, workload, hypopg)
    assert advice.summary["validated"] is None
    assert advice.summary["workload_cost_before"] is None
    assert any("none of the statements could be EXPLAINed" in w for w in advice.warnings)
    for s in advice.indexes:
        assert s.method == "heuristic"
        assert s.cost_before is None and s.cost_after is None


def test_validation_without_hypopg_rolls_back(bare_database: str) -> None:
    """No HypoPG and no consent: real CREATE INDEX inside a rolled-back transaction; the
    extension is not created and no index remains."""
    import psycopg

    before = _indexes(bare_database)
    workload = Workload.from_logs([LOG])
    advice = advise(workload, schema=Schema.from_url(bare_database))
    validate(advice, workload, bare_database)
    assert advice.summary["validated"] == "rollback"
    assert any(s.method == "rollback" and s.cost_after is not None for s in advice.indexes)
    assert _indexes(bare_database) == before
    with psycopg.connect(bare_database) as conn:
        assert (
            conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'").fetchone() is None
        )


def test_cli_advise_validate_json(hypopg: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`backendperf advise LOG --db URL --validate --output json` prints the DESIGN schema."""
    code = main(["advise", str(LOG), "--db", hypopg, "--validate", "--output", "json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["version"] == 1
    assert report["indexes"]
    assert {i["estimated"]["method"] for i in report["indexes"]} <= {"hypopg", "heuristic"}
    first = report["indexes"][0]
    assert first["ddl"].startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS ")
    assert first["estimated"]["cost_after"] < first["estimated"]["cost_before"]


def test_with_what_if_min_share_applies_to_what_the_plans_save(
    hypopg: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A statement that took little logged time can still be a large part of the estimated
    cost. With ``--validate``, ``--min-share`` is applied to what the what-if plans say an
    index saves, not to the logged time before anything is costed: the index that cuts a
    large estimated cost is tried and kept, though its statement took 0.1% of the time."""
    from backendperf.events import QueryEvent

    cheap_in_time = (
        "SELECT id, total FROM orders WHERE user_id = 42 ORDER BY created_at DESC LIMIT 10"
    )
    heavy_in_time = "SELECT count(*) FROM products"
    log = tmp_path / "events.jsonl"
    events = [QueryEvent(statement=cheap_in_time, duration_ms=1.0, dialect="postgresql")]
    events += [QueryEvent(statement=heavy_in_time, duration_ms=100.0, dialect="postgresql")] * 10
    log.write_text("".join(e.to_json() + "\n" for e in events))
    code = main(["advise", str(log), "--db", hypopg, "--validate", "--output", "json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert any("orders (user_id" in i["ddl"] for i in report["indexes"])
    # without --validate, the offline cost model prices it from the database's statistics,
    # and it pays there too
    code = main(["advise", str(log), "--db", hypopg, "--output", "json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    found = [i for i in report["indexes"] if "orders (user_id" in i["ddl"]]
    assert found and found[0]["estimated"]["method"] == "model"
    # the time-share filter alone (DDL only: no statistics to cost with) leaves it out:
    # 0.1% of the logged time
    code = main(["advise", str(log), "--schema", str(SHOP / "schema.sql"), "--output", "json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert not any("orders (user_id" in i["ddl"] for i in report["indexes"])


def test_a_statement_timeout_cancel_weighs_the_timeout(bare_database: str) -> None:
    """A statement cancelled by ``statement_timeout`` ran for the timeout. With the database's
    own setting (``ALTER DATABASE ... SET statement_timeout``, read with ``--db``), three such
    cancels weigh 3 x 30 s, ahead of 20 completed 5 ms statements; without it they weigh the
    slowest completed statement each, and the completed ones come first."""
    import psycopg

    from backendperf.events import QueryEvent

    name = bare_database.rsplit("/", 1)[1]
    with psycopg.connect(bare_database, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} SET statement_timeout = '30s'")
    schema = Schema.from_url(bare_database)
    assert schema.statement_timeout(None, name) == 30_000.0
    completed = "SELECT id, quantity FROM order_items WHERE product_id = 11"
    cancelled = "SELECT id, total FROM orders WHERE user_id = 7"
    events = [QueryEvent(statement=completed, duration_ms=5.0, database=name)] * 20
    events += [QueryEvent(statement=cancelled, database=name, cancelled="statement timeout")] * 3
    workload = Workload().extend(events)
    first = advise(workload, schema=schema, max_indexes=1).indexes
    assert [s.table for s in first] == ["orders"]
    offline = Schema.from_url(bare_database)
    offline.statement_timeouts.clear()  # as from DDL: the timeout is not known
    assert [s.table for s in advise(workload, schema=offline, max_indexes=1).indexes] == [
        "order_items"
    ]


def test_what_if_weighs_the_calls_a_timeout_cancelled(hypopg: str) -> None:
    """A statement the timeout cancelled every time has no completed call, but each cancel
    ran as long as the database let it: the what-if pick weighs its plan's cost by its
    cancels (it weighed them 0, so on TPC-H the two queries that never finished counted for
    nothing). A deadlock or an error is not counted: it need not have run long."""
    from backendperf.advisor.whatif.base import samples

    cancelled = "SELECT id, total FROM orders WHERE user_id = 7"
    cheap = "SELECT id FROM users WHERE id = 3"
    events = [QueryEvent(statement=cheap, duration_ms=1.0)] * 50
    events += [QueryEvent(statement=cancelled, cancelled="statement timeout")] * 3
    events += [QueryEvent(statement=cancelled, cancelled="deadlock")] * 2
    workload = Workload().extend(events)
    weights = dict(samples(workload).values())
    assert weights == {cancelled: 3, cheap: 50}
    advice = advise(workload, schema=Schema.from_url(hypopg), min_share=0, whatif=True)
    validate(advice, workload, hypopg)
    orders = [s for s in advice.indexes if s.table == "orders"]
    assert orders and orders[0].columns[0] == "user_id"
    assert orders[0].cost_before is not None and orders[0].cost_before > 0


def test_unused_and_foreign_keys_from_the_live_database(shop_url: str) -> None:
    """pg_stat_user_indexes: a never-scanned index is reported unused; pg_constraint gives
    the foreign keys."""
    import psycopg

    with psycopg.connect(shop_url, autocommit=True) as conn:
        conn.execute("CREATE INDEX shop_unused ON products (name)")
    schema = Schema.from_url(shop_url)
    assert schema.tables["products"].unused == ["shop_unused"]
    assert (("user_id",), "users") in schema.tables["orders"].foreign_keys
    advice = advise(Workload.from_logs([LOG]), schema=schema)
    assert {"table": "products", "index": "shop_unused"} in advice.unused_indexes


@pytest.mark.mariadb
def test_mariadb_explain_confirms_full_scans(mariadb_url: str) -> None:
    """MariaDB: the live schema, and EXPLAIN confirming the full scan each suggestion fixes;
    the advice says it is heuristic."""
    import pymysql

    database = mariadb_url.rsplit("/", 1)[1]
    conn = pymysql.connect(host="127.0.0.1", user="root", database=database, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, user_id INT, total INT)")
        cur.execute("INSERT INTO orders SELECT seq, seq % 500, seq FROM seq_1_to_20000")
        cur.execute("ANALYZE TABLE orders")
    conn.close()
    workload = Workload().extend(
        QueryEvent(
            statement=f"SELECT total FROM orders WHERE user_id = {i}",
            duration_ms=3.0,
            dialect="mysql",
        )
        for i in range(5)
    )
    schema = Schema.from_url(mariadb_url)
    assert schema.tables["orders"].rows == pytest.approx(20000, rel=0.2)
    advice = advise(workload, schema=schema)
    (suggestion,) = advice.indexes
    assert suggestion.ddl == "CREATE INDEX ix_orders_user_id ON orders (user_id);"
    validate(advice, workload, mariadb_url)
    assert suggestion.method == "heuristic"
    assert any(n.startswith("confirmed by EXPLAIN: full scan") for n in suggestion.notes)


def test_statements_without_values_use_generic_plans(hypopg: str) -> None:
    """`$1` with no logged values: costed by a forced generic plan (never by a NULL-skewed
    custom plan); the suggestion is validated and says so."""
    workload = Workload().extend(
        QueryEvent(
            statement="SELECT id, total FROM orders WHERE user_id = $1 AND status = $2",
            duration_ms=4.0,
            dialect="postgresql",
        )
        for _ in range(5)
    )
    advice = advise(workload, schema=Schema.from_url(hypopg))
    validate(advice, workload, hypopg)
    (suggestion,) = advice.indexes
    assert suggestion.method == "hypopg"
    assert suggestion.cost_after is not None and suggestion.cost_before is not None
    assert suggestion.cost_after < suggestion.cost_before / 10
    assert any("generic plans" in note for note in suggestion.notes)


def test_rare_constant_makes_a_partial_index(hypopg: str) -> None:
    """`state = 'queued'` written in the SQL, 2% of the rows by pg_stats: a partial index on
    the rest of the key, proven by HypoPG; a bound parameter would not qualify."""
    import psycopg

    with psycopg.connect(hypopg, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE jobs (id int PRIMARY KEY, state text NOT NULL, run_at timestamptz);"
            "INSERT INTO jobs SELECT i, CASE WHEN i % 50 = 0 THEN 'queued' ELSE 'done' END, "
            "now() - (i || ' seconds')::interval FROM generate_series(1, 100000) i;"
            "ANALYZE jobs"
        )
    written = "SELECT id FROM jobs WHERE state = 'queued' AND run_at < $1 ORDER BY run_at LIMIT 10"
    bound = "SELECT id FROM jobs WHERE state = $2 AND run_at < $1 ORDER BY run_at LIMIT 10"
    schema = Schema.from_url(hypopg)
    assert schema.tables["jobs"].columns["state"].common["queued"] == pytest.approx(0.02, abs=0.01)

    def workload(sql: str) -> Workload:
        params = ("2026-01-01",) if "$2" not in sql else ("2026-01-01", "queued")
        return Workload().extend(
            QueryEvent(statement=sql, duration_ms=20.0, params=params, dialect="postgresql")
            for _ in range(5)
        )

    constant = workload(written)
    advice = advise(constant, schema=schema)
    (suggestion,) = advice.indexes
    assert suggestion.columns == ("run_at",)
    assert suggestion.where == "state = 'queued'"
    validate(advice, constant, hypopg)
    assert advice.indexes[0].method == "hypopg"
    (plain,) = advise(workload(bound), schema=schema).indexes
    assert plain.where is None and plain.columns[0] == "state"


@pytest.mark.parametrize("method", ["hypopg", "rollback"])
def test_what_if_budgets_use_the_database_sizes(
    method: str, request: pytest.FixtureRequest
) -> None:
    """--max-indexes and --max-size bind in the what-if pick, with the sizes the database
    gives (HypoPG's estimate, or the real index inside the rolled-back transaction): the
    pick stays within both; an index too big for what is left is narrowed to a key prefix
    that fits, and the advice says so; what the budget left out says why."""
    url = request.getfixturevalue("hypopg" if method == "hypopg" else "bare_database")
    before = _indexes(url)
    workload = Workload.from_logs([LOG])
    schema = Schema.from_url(url)

    def pick(**budget: int) -> tuple[list[Suggestion], dict[str, str]]:
        advice = advise(workload, schema=schema, max_indexes=20)
        validate(advice, workload, url, **budget)
        assert advice.summary["validated"] == method
        chosen = [s for s in advice.indexes if s.method == method]
        return chosen, {n.normalized: n.reason for n in advice.no_suggestion}

    free, _ = pick()
    assert len(free) >= 3 and all(s.size_bytes for s in free)
    two, reasons = pick(max_indexes=2)
    assert len(two) == 2
    assert any("--max-indexes 2 is reached" in r for r in reasons.values())
    widest = max(free, key=lambda s: len(s.columns))
    assert len(widest.columns) >= 2 and widest.size_bytes
    budget = widest.size_bytes - 1  # the widest index alone no longer fits
    sized, reasons = pick(max_size=budget)
    assert sized and sum(s.size_bytes or 0 for s in sized) <= budget
    assert widest.ddl not in {s.ddl for s in sized}
    assert any("--max-size" in r for r in reasons.values()) or any(
        "narrowed from" in note for s in sized for note in s.notes
    )
    nothing = advise(workload, schema=schema, max_indexes=20)
    assert any(k["suggested"] for k in nothing.unindexed_foreign_keys)
    validate(nothing, workload, url, max_size=1)  # nothing fits: no index, no "suggested above"
    assert nothing.indexes == []
    assert nothing.unindexed_foreign_keys
    assert not any(k["suggested"] for k in nothing.unindexed_foreign_keys)
    assert _indexes(url) == before


def test_a_narrowed_index_is_reported(hypopg: str) -> None:
    """A two-column index that does not fit --max-size becomes its one-column prefix, which
    still serves the equality: the suggestion says it was narrowed and why."""
    workload = Workload().extend(
        QueryEvent(
            statement=f"SELECT id FROM orders WHERE user_id = {i % 50} AND status = 'paid'",
            duration_ms=5.0,
            dialect="postgresql",
        )
        for i in range(50)
    )
    schema = Schema.from_url(hypopg)
    advice = advise(workload, schema=schema)
    (full,) = advice.indexes
    assert len(full.columns) == 2
    validate(advice, workload, hypopg)
    assert full.size_bytes
    narrow = advise(workload, schema=schema)
    validate(narrow, workload, hypopg, max_size=full.size_bytes - 1)
    (kept,) = narrow.indexes
    assert kept.columns == full.columns[:1]
    assert kept.size_bytes is not None and kept.size_bytes < full.size_bytes
    assert kept.cost_after is not None and kept.cost_before is not None
    assert kept.cost_after < kept.cost_before
    assert any(note.startswith("narrowed from (") for note in kept.notes)
    assert full.columns[1] in full.reason  # the reason speaks of the index as it now is
    assert full.columns[1] not in kept.reason and full.columns[0] in kept.reason
    assert kept.ddl.startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS ")
    assert f"orders ({full.columns[0]})" in kept.ddl


def test_what_if_costs_match_a_fresh_explain(hypopg: str) -> None:
    """Validation re-costs only the statements on the table a trial index is on, and reuses
    the rest: each kept suggestion's cost after must equal a fresh EXPLAIN of its statements
    with all the kept indexes in place (so no reused cost was stale), plus, where it serves
    a write on its table (the shop's DELETE), the upkeep the pick charged for it."""
    import psycopg

    workload = Workload.from_logs([LOG])
    advice = advise(workload, schema=Schema.from_url(hypopg), max_indexes=20)
    validate(advice, workload, hypopg, max_indexes=6)
    kept = [s for s in advice.indexes if s.method == "hypopg"]
    assert len(kept) >= 3
    assert {"orders", "order_items"} <= {s.table for s in kept}
    samples = {s.fingerprint: (s.samples[0].bound(), s.count) for s in workload.stats.values()}
    with psycopg.connect(hypopg) as conn:
        ns = conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
            "ON n.oid = e.extnamespace WHERE extname = 'hypopg'"
        ).fetchone()[0]
        for s in kept:
            ddl = s.ddl.replace(" CONCURRENTLY IF NOT EXISTS", "").rstrip(";")
            conn.execute(f"SELECT * FROM {ns}.hypopg_create_index(%s)", (ddl,))
        for s in kept:
            fresh = 0.0
            for fingerprint in s.fingerprints:
                sql, calls = samples[fingerprint]
                plan = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}").fetchone()[0]
                fresh += plan[0]["Plan"]["Total Cost"] * calls
            writes = [
                f
                for f in s.fingerprints
                if samples[f][0].lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE")
            ]
            if not writes:
                assert s.cost_after == pytest.approx(fresh, abs=0.02), s.ddl
                continue
            # charged for the rows its table's writes put in it, and said so
            assert s.cost_after > fresh, s.ddl
            assert any(n.startswith("charged ") for n in s.notes), s.ddl
        conn.execute(f"SELECT {ns}.hypopg_reset()")


def test_what_if_widens_an_index_to_cover_what_pays(hypopg: str) -> None:
    """An aggregate reads four columns beyond the key: more than the offline advice puts in
    an INCLUDE list. On a vacuumed table, what-if costs the covering variant, takes it
    because the index-only scan pays, and says so. Before VACUUM (an empty visibility map)
    validation warns that covering indexes are undervalued."""
    import psycopg

    from backendperf.advisor.candidates import MAX_INCLUDE
    from backendperf.advisor.report import COVERING_REASON

    with psycopg.connect(hypopg, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE events (id int PRIMARY KEY, at timestamptz NOT NULL, kind text NOT NULL,"
            " amount int NOT NULL, score int NOT NULL, flag bool NOT NULL, payload text NOT NULL)"
            " WITH (autovacuum_enabled = false);"
            "INSERT INTO events SELECT i,"  # `at` out of heap order: heap visits cost
            " timestamptz '2026-01-01' + ((i * 7919 % 200000) || ' seconds')::interval,"
            " 'k' || (i % 7), i % 100, i % 13, i % 2 = 0, repeat('x', 200)"
            " FROM generate_series(1, 200000) i;"
            "ANALYZE events"
        )
    aggregate = (
        "SELECT kind, sum(amount), max(score), count(*) FILTER (WHERE flag) FROM events "
        "WHERE at >= '2026-01-01 12:00' AND at < '2026-01-01 17:00' GROUP BY kind"
    )
    workload = Workload().extend(
        QueryEvent(statement=aggregate, duration_ms=50.0, dialect="postgresql") for _ in range(20)
    )

    def validated() -> tuple[Suggestion, list[str]]:
        advice = advise(workload, schema=Schema.from_url(hypopg))
        (offline,) = advice.indexes
        assert (offline.columns, offline.include) == (("at",), ())  # 4 > MAX_INCLUDE
        validate(advice, workload, hypopg)
        (suggestion,) = advice.indexes
        return suggestion, advice.warnings

    assert MAX_INCLUDE < 4
    _, warnings = validated()
    assert any("vacuumed" in w and "events (0% of its pages all-visible)" in w for w in warnings)
    with psycopg.connect(hypopg, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE events")
    suggestion, warnings = validated()
    assert not any("events (" in w for w in warnings)
    assert suggestion.method == "hypopg"
    covering = ("amount", "flag", "kind", "score")
    assert (suggestion.columns, suggestion.include) == (("at",), covering)
    assert f"INCLUDE ({', '.join(covering)})" in suggestion.ddl
    assert any(n.startswith(f"INCLUDE ({', '.join(covering)}) added") for n in suggestion.notes)
    assert suggestion.reason.endswith(COVERING_REASON)


def test_text_pattern_ops_follow_the_live_collation(hypopg: str) -> None:
    """The live schema knows each column's collation (its own, or the database's): a
    `COLLATE "C"` column serves `LIKE 'x%'` with a plain index, which what-if proves; a
    column under the database's linguistic default (C.UTF-8 here, which PostgreSQL 15 does
    not treat as C) gets text_pattern_ops, which what-if proves too."""
    import psycopg

    with psycopg.connect(hypopg, autocommit=True) as conn:
        default = conn.execute(
            "SELECT datcollate FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0]
        conn.execute(
            'CREATE TABLE parts (id int PRIMARY KEY, sku text COLLATE "C" NOT NULL, '
            "label text NOT NULL);"
            "INSERT INTO parts SELECT i, md5(i::text), md5((i * 7)::text) "
            "FROM generate_series(1, 50000) i;"
            "ANALYZE parts"
        )
    if default in ("C", "POSIX"):
        pytest.skip(f"the test database sorts by bytes ({default}): nothing to tell apart")
    schema = Schema.from_url(hypopg)
    columns = schema.tables["parts"].columns
    assert (columns["sku"].collation, columns["label"].collation) == ("C", default)
    workload = Workload().extend(
        QueryEvent(statement=sql, duration_ms=20.0, dialect="postgresql")
        for sql in ["SELECT id FROM parts WHERE sku LIKE 'abc%'"] * 10
        + ["SELECT id FROM parts WHERE label LIKE 'abc%'"] * 10
    )
    advice = advise(workload, schema=schema)
    validate(advice, workload, hypopg)
    by_column = {s.columns: s for s in advice.indexes}
    assert set(by_column) == {("sku",), ("label",)}
    assert "text_pattern_ops" not in by_column["sku",].ddl
    assert "label text_pattern_ops" in by_column["label",].ddl
    assert all(s.method == "hypopg" for s in advice.indexes)  # both pay: the planner uses them


def _pg_workload(statements: Iterable[str]) -> Workload:
    """A PostgreSQL workload of ``statements``, 5 ms each."""
    return Workload().extend(
        QueryEvent(statement=sql, duration_ms=5.0, dialect="postgresql") for sql in statements
    )


@contextlib.contextmanager
def _coster(url: str, workload: Workload) -> Iterator[_Coster]:
    """The what-if coster validate() builds, on ``workload``'s statements, over HypoPG at
    ``url``; its hypothetical indexes and transaction are undone afterwards."""
    import psycopg

    from backendperf.advisor.whatif.base import samples
    from backendperf.advisor.whatif.postgres import _Coster, _Statement

    statements = [_Statement(f, sql, calls) for f, (sql, calls) in samples(workload).items()]
    with psycopg.connect(url) as conn:
        conn.prepare_threshold = None  # as validate() connects (its EXPLAINs DEALLOCATE ALL)
        row = conn.execute(
            "SELECT quote_ident(n.nspname) || '.' FROM pg_extension e "
            "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'hypopg'"
        ).fetchone()
        assert row is not None
        try:
            yield _Coster(conn, "hypopg", str(row[0]), statements)
        finally:
            conn.rollback()
            conn.execute(f"SELECT {row[0]}hypopg_reset()")


def test_under_a_size_budget_the_cheaper_of_two_greedy_orders_wins(hypopg: str) -> None:
    """Under --max-size the pick runs greedy by saving and greedy by saving per byte (Extend's
    order), on the real planner's costs, and keeps the set that costs less. Here the largest
    single saving (``order_items (order_id)``) fills the budget alone, while the two smaller
    indexes that fit together save more: greedy by saving alone would keep the first."""
    from backendperf.advisor.whatif.pick import _Picker, pick

    shapes = [
        ("SELECT id, quantity FROM order_items WHERE order_id = {} AND product_id = 7", 10),
        ("SELECT id FROM orders WHERE user_id = {}", 24),
        ("SELECT id FROM users WHERE name = 'n{}'", 60),
    ]
    workload = _pg_workload(sql.format(i) for sql, calls in shapes for i in range(calls))
    schema = Schema.from_url(hypopg)
    with _coster(hypopg, workload) as coster:
        base = coster.costs([])

        def suggestions() -> list[Suggestion]:
            advice = advise(workload, schema=schema, max_indexes=20, min_share=0)
            return [s for s in advice.indexes if s.candidate is not None]

        def size(columns: tuple[str, ...]) -> int:
            (found,) = [
                size
                for ddl, size in coster.sizes.items()
                if f" ({', '.join(columns)});" in ddl and "INCLUDE" not in ddl
            ]
            return found

        _Picker(coster, base, None, 1 << 40).run(suggestions())  # sizes every variant
        big, middle, small = size(("order_id",)), size(("user_id",)), size(("name",))
        assert middle + small < big < big + small
        budget = big + small // 2  # the big one fits alone; the two others fit together
        alone = {}
        for per_byte in (False, True):
            picker = _Picker(coster, base, None, budget, per_byte=per_byte)
            picker.run(suggestions())
            alone[per_byte] = sum(picker.current.values())
            assert picker.used() <= budget
        assert alone[True] < alone[False]
        chosen = pick(coster, base, suggestions(), None, budget)
        assert sum(chosen.current.values()) == alone[True]
        assert sorted(s.columns for s in chosen.chosen) == [("name",), ("user_id",)]


def test_the_what_if_pick_extends_a_chosen_index_by_a_column_its_statements_use(
    hypopg: str,
) -> None:
    """Extend's extension step: an index the pick took, one key column longer, replaces it
    when the plans say that saves at least --min-share more. ``order_items (product_id)``
    finds ~250 rows per product; with ``order_id`` after it, one: the pick extends it."""
    from backendperf.advisor.whatif.pick import _Picker

    workload = _pg_workload(
        f"SELECT quantity FROM order_items WHERE product_id = {i % 40} AND order_id = {i * 37}"
        for i in range(40)
    )
    advice = advise(workload, schema=Schema.from_url(hypopg), whatif=True)
    assert advice.summary["indexes"] >= 2  # the heuristic key, and the single columns
    (single,) = [s for s in advice.indexes if s.columns == ("product_id",)]
    assert set(single.keys) == {"product_id", "order_id"}
    with _coster(hypopg, workload) as coster:
        base = coster.costs([])
        picker = _Picker(coster, base, None, None)
        picker.run([single])  # only the single column: the extension must find the pair
        (taken,) = picker.taken.values()
        assert taken.columns == ("product_id", "order_id")
        alone = sum(coster.costs([replace(taken, columns=("product_id",))]).values())
        assert sum(picker.current.values()) < alone * 0.99
        picker.apply()
        assert single.columns == ("product_id", "order_id")
        assert any(
            n.startswith("extended from (product_id) to (product_id, order_id)")
            for n in single.notes
        )


def test_the_what_if_pick_never_narrows_to_a_copy_of_an_existing_index(hypopg: str) -> None:
    """Under --max-size a suggestion may be taken as a key prefix, but not one an existing
    index already leads with: HypoPG sizes a hypothetical ``orders (user_id)`` below the real
    ``(user_id, created_at)``, so the plans would "save" by using the copy."""
    import psycopg

    with psycopg.connect(hypopg, autocommit=True) as conn:
        conn.execute("CREATE INDEX orders_user_created ON orders (user_id, created_at)")
        conn.execute("ANALYZE orders")
    workload = _pg_workload(
        f"SELECT id FROM orders WHERE user_id = {i % 50} AND total > {i}" for i in range(50)
    )
    schema = Schema.from_url(hypopg)
    full = advise(workload, schema=schema, whatif=True)
    validate(full, workload, hypopg)
    (kept,) = [s for s in full.indexes if s.method == "hypopg"]
    assert kept.columns[0] == "user_id" and len(kept.columns) == 2 and kept.size_bytes
    tight = advise(workload, schema=schema, whatif=True)
    validate(tight, workload, hypopg, max_size=kept.size_bytes - 1)
    assert all(s.columns != ("user_id",) for s in tight.indexes)


def test_validated_advice_says_what_it_saves_and_what_bound_it(
    hypopg: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report opens with the workload's estimated cost before and after the advice, and
    what bound the pick: --max-size (and how much of it the indexes take), or, without one,
    only what pays its way."""
    assert main(["advise", str(LOG), "--db", hypopg, "--validate", "--max-size", "20MB"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[1].startswith("estimated workload cost (hypopg): ")
    assert "within --max-size 20.0 MB" in text[2]
    assert main(["advise", str(LOG), "--db", hypopg, "--validate", "--output", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    budget = summary["budget"]
    assert budget["max_size"] is None and budget["min_share"] == 0.01
    assert budget["size_bytes"] > 0
    assert summary["workload_cost_after"] < summary["workload_cost_before"]
    workload = Workload.from_logs([LOG])
    unbound = advise(workload, schema=Schema.from_url(hypopg), max_indexes=None, min_share=0)
    validate(unbound, workload, hypopg)
    assert "(no --max-size: every index that pays its way)" in unbound.render_text()


def test_a_statistics_snapshot_advises_offline_as_the_database_does(
    shop_url: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``backendperf stats --db URL -o FILE`` exports what ``advise --db`` reads (tables,
    indexes, row counts, column statistics, timeouts); ``advise --stats FILE`` then gives
    the same advice away from the database. ``--no-values`` leaves the real values out."""
    import psycopg

    with psycopg.connect(shop_url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    snapshot = tmp_path / "stats.json"
    assert main(["stats", "--db", shop_url, "-o", str(snapshot)]) == 0
    assert Schema.from_stats_file(snapshot) == Schema.from_url(shop_url)
    reports = []
    for source in (["--stats", str(snapshot)], ["--db", shop_url]):
        assert main(["advise", str(LOG), *source, "--output", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        del report["source"]  # the file or the URL: everything else is the same
        reports.append(report)
    assert reports[0] == reports[1] and reports[0]["indexes"]
    # priced by the offline cost model from the statistics, never said to be validated
    assert {i["estimated"]["method"] for i in reports[0]["indexes"]} == {"model"}
    assert reports[0]["summary"]["estimated"] == "model"
    assert "validated" not in reports[0]["summary"]
    private = tmp_path / "private.json"
    assert main(["stats", "--db", shop_url, "--no-values", "-o", str(private)]) == 0
    tables = Schema.from_stats_file(private).tables
    assert any(c.n_distinct for t in tables.values() for c in t.columns.values())
    assert not any(c.common for t in tables.values() for c in t.columns.values())
    assert not any(c.bounds for t in tables.values() for c in t.columns.values())
    # the histograms are real values too: kept unless --no-values
    assert any(
        c.bounds
        for t in Schema.from_stats_file(snapshot).tables.values()
        for c in t.columns.values()
    )
    assert any(
        c.common
        for t in Schema.from_stats_file(snapshot).tables.values()
        for c in t.columns.values()
    )
    damaged = tmp_path / "damaged.json"
    damaged.write_text(snapshot.read_text().replace('"version": 1', '"version": 99'))
    assert main(["advise", str(LOG), "--stats", str(damaged)]) == 2
    assert "version 99" in capsys.readouterr().err
    damaged.write_text('{"format": "backendperf-stats", "version": 1}')
    assert main(["advise", str(LOG), "--stats", str(damaged)]) == 2
    assert "damaged" in capsys.readouterr().err


def test_what_if_charges_each_index_for_the_rows_the_workload_writes(hypopg: str) -> None:
    """PostgreSQL's plans leave index upkeep out: an INSERT costs the same with ten indexes
    as with none. The pick charges each index for the rows the workload's INSERT and UPDATE
    statements write into it (an UPDATE only the indexes holding a column it sets): an index
    that saves one report's scan is taken beside a few inserts, and not beside tens of
    thousands; an UPDATE of another column does not count against it."""
    import psycopg

    with psycopg.connect(hypopg, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE events (id serial PRIMARY KEY, kind text NOT NULL, note text);"
            "INSERT INTO events (kind, note) SELECT CASE WHEN i % 1000 = 0 THEN 'rare' "
            "ELSE 'common' || (i % 50) END, 'n' FROM generate_series(1, 100000) i;"
            "ANALYZE events"
        )
    report = "SELECT id FROM events WHERE kind = 'rare'"

    def advice_for(inserts: int, updates: str = "", calls: int = 0) -> list[Suggestion]:
        events = [QueryEvent(statement=report, duration_ms=50.0, dialect="postgresql")]
        write = "INSERT INTO events (kind, note) VALUES ('common1', 'x')"
        events += [QueryEvent(statement=write, duration_ms=0.1, dialect="postgresql")] * inserts
        events += [QueryEvent(statement=updates, duration_ms=0.1, dialect="postgresql")] * calls
        workload = Workload().extend(events)
        advice = advise(workload, schema=Schema.from_url(hypopg), min_share=0, whatif=True)
        validate(advice, workload, hypopg)
        return [s for s in advice.indexes if s.table == "events"]

    few = advice_for(5)
    assert [s.columns for s in few] == [("kind",)]
    assert any("INSERT/UPDATE" in note for note in few[0].notes)  # charged, and says so
    assert advice_for(50_000) == []  # its upkeep outweighs one scan a run
    other = "UPDATE events SET note = 'y' WHERE id = 7"  # HOT: the kind index is not touched
    assert [s.columns for s in advice_for(5, other, 50_000)] == [("kind",)]
    same = "UPDATE events SET kind = 'common2' WHERE id = 7"
    assert advice_for(5, same, 50_000) == []


def test_a_partial_index_is_charged_only_for_the_rows_it_holds(hypopg: str) -> None:
    """An INSERT puts a row into a partial index only when the row meets its ``WHERE``: the
    what-if pick charges the share of rows the planner says the predicate keeps, so a
    partial index for a rare value stays cheap beside many inserts of other values."""
    import psycopg

    from backendperf.advisor.candidates import Candidate
    from backendperf.advisor.whatif.postgres import _Coster, _Statement, _Write

    with psycopg.connect(hypopg, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE jobs (id serial PRIMARY KEY, state text NOT NULL);"
            "INSERT INTO jobs (state) SELECT CASE WHEN i % 1000 = 0 THEN 'queued' "
            "ELSE 'done' END FROM generate_series(1, 100000) i; ANALYZE jobs"
        )
    with psycopg.connect(hypopg) as conn:
        coster = _Coster(conn, "rollback", "", [])
        insert = _Statement("w", "INSERT INTO jobs (state) VALUES ('done')", 1000)
        coster.writes = [_Write(insert, "jobs", None)]
        whole = coster.upkeep(Candidate("jobs", ("state",)))
        partial = coster.upkeep(Candidate("jobs", ("id",), where="state = 'queued'"))
        conn.rollback()
    assert whole == 1000.0  # a row a call, a page's cost each
    assert partial == pytest.approx(1.0, rel=0.5)  # 0.1% of the rows are queued
    assert not coster.failed
    # a DELETE: the same page a row, and VACUUM's scan of the whole index, once per
    # 20% of the table's rows (plus 50) left dead
    from backendperf.advisor.whatif.postgres import _write_of

    sql = "DELETE FROM jobs WHERE state = 'done'"
    assert _write_of(sql, {"jobs"}) == ("jobs", None, True)
    with psycopg.connect(hypopg) as conn:
        coster = _Coster(conn, "rollback", "", [])
        index = Candidate("jobs", ("state",))
        coster.sizes[index.ddl("postgresql")] = 8192 * 2000  # as the pick sizes it
        coster.writes = [_Write(_Statement("d", sql, 10), "jobs", None, deletes=True)]
        deleted = coster.upkeep(index)
        conn.rollback()
    assert deleted == pytest.approx(10 * (1 + 2000 / (0.2 * 100_000 + 50)), rel=0.01)


def test_min_share_applies_to_the_final_set_and_no_index_leads_another(hypopg: str) -> None:
    """The greedy pick can take an index early that later picks make useless: here a
    covering ``part (p_size)`` serves both statements until the two two-column indexes
    come. ``--min-share`` applies to the result, so it goes; no index of
    the advice is another one's leftmost prefix (two suggestions once narrowed to the same
    ``(p_size)`` on TPC-H under a budget)."""
    import psycopg

    with psycopg.connect(hypopg, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE part (id int PRIMARY KEY, p_size int, p_type text, p_brand text,"
            " pad text); INSERT INTO part SELECT i, i % 50, 'type' || (i % 150), 'brand' ||"
            " (i % 25), repeat('x', 100) FROM generate_series(1, 200000) i"
        )
        conn.execute("VACUUM ANALYZE part")
    workload = _pg_workload(
        [
            "SELECT id FROM part WHERE p_size = 5 AND p_type = 'type5'",
            "SELECT id FROM part WHERE p_size = 7 AND p_brand = 'brand7'",
        ]
    )
    for budget in (None, 9_000_000, 20_000_000):
        advice = advise(workload, schema=Schema.from_url(hypopg), min_share=0, whatif=True)
        validate(advice, workload, hypopg, max_size=budget)
        kept = [s.candidate for s in advice.indexes if s.candidate and s.table == "part"]
        assert kept, budget
        for a in kept:
            for b in kept:
                assert a is b or not a.is_prefix_of(b.columns, b.desc), (budget, a, b)
        if budget is None:
            assert sorted(c.columns for c in kept) == [("p_size", "p_brand"), ("p_type", "p_size")]


def test_the_offline_model_agrees_with_the_planner_on_most_choices(hypopg: str) -> None:
    """The offline cost model against the oracle it imitates: for every candidate index of
    the shop's log and every SELECT whose cost either one says it changes, the model and
    PostgreSQL's planner (HypoPG) agree on whether the index at least halves the statement's
    cost. The disagreements are the classes docs/advisor.md lists (a range's or a prefix's
    selectivity without the literal's histogram bucket, above all): they bound the
    agreement, which a change to the model must not lower."""
    import re

    import psycopg

    from backendperf.advisor.whatif.offline import ModelCoster

    workload = Workload.from_logs([LOG])
    schema = Schema.from_url(hypopg)
    advice = advise(workload, schema=schema, max_indexes=40, min_share=0, whatif=True)
    candidates = [s.candidate for s in advice.indexes if s.candidate is not None]
    selects = [
        (f, s.samples[0].bound(), 1.0)
        for f, s in workload.stats.items()
        if s.samples and s.normalized.startswith("select")
    ]
    model = ModelCoster(schema, selects)
    model_base = model.costs([])
    agree: list[bool] = []
    with psycopg.connect(hypopg, autocommit=True) as conn:

        def cost(sql: str) -> float:
            row = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}").fetchone()
            assert row is not None
            return float(row[0][0]["Plan"]["Total Cost"])

        base = {f: cost(sql) for f, sql, _ in selects}
        for candidate in candidates:
            ddl = re.sub(
                r"INDEX \S+ ON", "INDEX ON", candidate.ddl("postgresql", concurrently=False)
            )
            conn.execute("SELECT public.hypopg_reset()")
            conn.execute(
                "SELECT public.hypopg_create_index(%s)", (ddl.replace("IF NOT EXISTS ", ""),)
            )
            estimated = model.costs([candidate])
            for fingerprint, sql, _ in selects:
                if fingerprint not in model_base:
                    continue
                planner = cost(sql) / base[fingerprint]
                mine = estimated[fingerprint] / model_base[fingerprint]
                if planner != 1.0 or mine != 1.0:
                    agree.append((planner < 0.5) == (mine < 0.5))
        conn.execute("SELECT public.hypopg_reset()")
    assert len(agree) >= 15
    # 14 of 18 on 2026-12-08 (42 of 46 on the benchmark's larger shop; 13 and 39 of 48
    # before the histograms)
    assert sum(agree) / len(agree) >= 0.75, f"{sum(agree)} of {len(agree)}"

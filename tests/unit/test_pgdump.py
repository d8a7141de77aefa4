"""Statistics from PostgreSQL 18's ``pg_dump --statistics-only`` (advisor/pgdump.py).

The fixture was written from a real PostgreSQL 18.4 server and restored into it again to
prove it is what the server reads (tests/fixtures/pgdump/make_pg18_dump.py); its expected
reading is ``backendperf stats`` of the same live database, the reader the dump must agree
with.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backendperf.advisor import Schema
from backendperf.advisor.pgdump import _array, read_pg_dump
from backendperf.exceptions import ConfigurationError

HERE = pathlib.Path(__file__).parents[1] / "fixtures" / "pgdump"
DUMP = HERE / "pg18-stats.sql"
LIVE = HERE / "pg18-stats.expected.json"


def _stats(schema: Schema) -> dict[str, object]:
    return {
        name: (
            table.rows,
            {c.name: (c.n_distinct, c.null_frac, c.common) for c in table.columns.values()},
        )
        for name, table in schema.tables.items()
    }


def test_pg18_dump_reads_as_the_live_database() -> None:
    """Every table the dump has column statistics for reads exactly as ``backendperf stats``
    read the live PostgreSQL 18 database: row counts, n_distinct, null_frac, most common
    values (quotes, commas, braces, backslashes, non-ASCII), mixed-case names, and a
    partitioned table's own row over its inherited one."""
    dumped = _stats(Schema.from_stats_file(DUMP))
    live = _stats(Schema.from_stats_file(LIVE))
    # the live reader reads the public schema; an empty table has no column statistics,
    # so a statistics-only dump cannot tell it from an index (its DDL can: see below)
    assert set(dumped) == (set(live) - {"empty_table"}) | {"items"}
    for name, expected in live.items():
        if name != "empty_table":
            assert dumped[name] == expected, name
    orders = Schema.from_stats_file(DUMP).tables["orders"]
    assert orders.columns["note"].common["back\\slash"] > 0.1
    assert orders.columns["status"].common == {"open": 0.6, "on hold": 0.3, 'it\'s "done"': 0.1}


def test_statistics_only_dump_over_the_ddl() -> None:
    """``advise --schema DDL --stats dump``: the DDL's tables and indexes, the dump's row
    counts and column statistics (the empty table too: the DDL names it)."""
    ddl = (
        "CREATE TABLE orders (id integer PRIMARY KEY, status text NOT NULL, customer_id "
        "integer, note text, created_at timestamptz);"
        "CREATE INDEX orders_customer ON orders (customer_id);"
        "CREATE TABLE empty_table (a integer);"
    )
    schema = Schema.from_ddl(ddl).add_statistics(Schema.from_stats_file(DUMP))
    assert schema.tables["orders"].rows == 20000.0
    assert [ix.name for ix in schema.tables["orders"].indexes] == ["orders_pkey", "orders_customer"]
    assert schema.tables["orders"].columns["status"].n_distinct == 3.0
    assert "MixedCase" not in schema.tables  # statistics of tables the DDL lacks: not added
    # one file with both, as `pg_dump --schema-only --statistics` writes it
    both = read_pg_dump(ddl + "\n" + DUMP.read_text(encoding="utf-8"))
    assert both.tables["orders"].rows == 20000.0
    assert both.tables["orders"].indexes[0].columns == ("id",)
    assert both.tables["empty_table"].rows == 0.0


def test_cli_advises_from_ddl_and_a_statistics_dump(tmp_path: pathlib.Path) -> None:
    """The command line takes ``--schema`` with ``--stats``, and refuses ``--stats`` with
    ``--db``."""
    log = tmp_path / "q.sql"
    log.write_text("SELECT * FROM orders WHERE customer_id = 7;\n")
    ddl = tmp_path / "ddl.sql"
    ddl.write_text("CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer);")
    run = [sys.executable, "-m", "backendperf", "advise", str(log), "--schema", str(ddl)]
    done = subprocess.run([*run, "--stats", str(DUMP)], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    refused = subprocess.run(
        [*run[:4], str(log), "--stats", str(DUMP), "--db", "postgresql://x@127.0.0.1:1/x"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "not both" in refused.stderr


def test_damaged_or_foreign_files_get_a_clear_error(tmp_path: pathlib.Path) -> None:
    text = DUMP.read_text(encoding="utf-8")
    cut = tmp_path / "cut.sql"
    cut.write_text(text[: text.index("'most_common_freqs'") + 30], encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"cannot read the call on line \d+"):
        Schema.from_stats_file(cut)
    other = tmp_path / "other.sql"
    other.write_text("SELECT 1;\n")
    with pytest.raises(ConfigurationError, match="pg_dump --statistics-only"):
        Schema.from_stats_file(other)


def test_escape_strings_and_older_relation_argument() -> None:
    """``E'...'`` literals (pg_dump with standard_conforming_strings off) and the
    ``'relation', 'schema.table'::regclass`` form of PostgreSQL 18's betas."""
    schema = read_pg_dump(
        "SELECT pg_catalog.pg_restore_attribute_stats('relation', 'public.t'::regclass, "
        "'attname', 'a'::name, 'inherited', false::boolean, 'null_frac', 0.5::real, "
        "'n_distinct', -1::real, 'most_common_vals', E'{\"it''s\",\"a\\\\\\\\b\"}'::text, "
        "'most_common_freqs', '{0.25,0.25}'::real[], "
        "'histogram_bounds', '{a,\"m n\",z}'::text);"
    )
    column = schema.tables["t"].columns["a"]
    assert (column.null_frac, column.n_distinct) == (0.5, -1.0)
    assert column.common == {"it's": 0.25, "a\\b": 0.25}
    assert column.bounds == ("a", "m n", "z")


@pytest.mark.usefixtures("pg_url")
@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        # what a text column can hold: no NUL, no lone surrogate (not UTF-8)
        st.none() | st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"])),
        max_size=8,
    )
)
def test_array_literals_read_as_postgresql_writes_them(values: list[str | None]) -> None:
    """:func:`_array` reads back any text array as PostgreSQL's own ``array_out`` writes it
    (the oracle: the server), NULLs, quotes, backslashes, braces and spaces included."""
    import psycopg

    from tests.conftest import PG_URL

    with psycopg.connect(PG_URL) as conn:
        text = conn.execute("SELECT %s::text[]::text", (values,)).fetchone()
    assert text is not None
    assert _array(text[0]) == values


def test_keys_pg_dump_adds_with_alter_table() -> None:
    """pg_dump writes every key after the table: ``ALTER TABLE ONLY ... ADD CONSTRAINT``.
    Those keys are the table's indexes and foreign keys (before, a dump's primary keys were
    unknown, and the advisor suggested an index on them); a named constraint inside
    ``CREATE TABLE`` keeps its name and its foreign key."""
    schema = read_pg_dump(
        "CREATE TABLE public.orders (id integer NOT NULL, widget_id integer, email text);\n"
        "CREATE TABLE public.widgets (id integer, CONSTRAINT w_pk PRIMARY KEY (id),"
        " CONSTRAINT w_self FOREIGN KEY (id) REFERENCES public.widgets(id));\n"
        "COPY public.orders (id, widget_id, email) FROM stdin;\n1\t2\ta@b\n\\.\n"
        "ALTER TABLE ONLY public.orders\n    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);\n"
        "ALTER TABLE ONLY public.orders\n    ADD CONSTRAINT orders_email_key UNIQUE (email);\n"
        "ALTER TABLE ONLY public.orders\n    ADD CONSTRAINT orders_widget_id_fkey FOREIGN KEY"
        " (widget_id) REFERENCES public.widgets(id);\n"
    )
    orders, widgets = schema.tables["orders"], schema.tables["widgets"]
    assert [(ix.name, ix.columns, ix.unique) for ix in orders.indexes] == [
        ("orders_pkey", ("id",), True),
        ("orders_email_key", ("email",), True),
    ]
    assert orders.foreign_keys == [(("widget_id",), "widgets")]
    assert [ix.name for ix in widgets.indexes] == ["w_pk"]
    assert widgets.foreign_keys == [(("id",), "widgets")]

"""The statistics snapshot (``backendperf stats``, ``advise --stats``): a schema written to
JSON and read back is the same schema, whatever it holds."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backendperf.advisor.schema import Column, Index, Schema, Table
from backendperf.exceptions import ConfigurationError

names = st.text(alphabet='abcdefghijklmnopqrstuvwxyz_"é ', min_size=1, max_size=8)
maybe_float = st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64)
columns = st.builds(
    Column,
    names,
    st.sampled_from(["", "text", "bigint", "numeric(10, 2)"]),
    maybe_float,
    maybe_float,
    st.dictionaries(st.text(max_size=6), st.floats(0, 1)),
    st.none() | st.sampled_from(["C", "en_US.utf8"]),
)


@st.composite
def tables(draw: st.DrawFn) -> Table:
    name = draw(names)
    cols = draw(st.lists(columns, max_size=4, unique_by=lambda c: c.name))
    indexes = draw(
        st.lists(
            st.builds(
                Index,
                names,
                st.just(name),
                st.lists(names, min_size=1, max_size=3).map(tuple),
                st.lists(st.booleans(), max_size=3).map(tuple),
                st.booleans(),
                st.lists(names, max_size=2).map(tuple),
                st.none() | st.just("deleted_at IS NULL"),
            ),
            max_size=3,
        )
    )
    fks = draw(st.lists(st.tuples(st.lists(names, min_size=1, max_size=2).map(tuple), names)))
    return Table(
        name,
        {c.name: c for c in cols},
        indexes,
        draw(st.none() | st.floats(0, 1e9)),
        fks,
        draw(st.lists(names, max_size=2)),
    )


schemas = st.builds(
    lambda ts, dialect, timeouts: Schema({t.name: t for t in ts}, dialect, timeouts),
    st.lists(tables(), max_size=3, unique_by=lambda t: t.name),
    st.sampled_from(["postgresql", "mysql", "sqlite"]),
    st.dictionaries(st.tuples(st.none() | names, st.none() | names), st.floats(1, 1e7)),
)


@given(schemas)
def test_a_snapshot_reads_back_as_the_schema_it_was(schema: Schema) -> None:
    text = json.dumps(schema.to_json())
    assert Schema.from_json(json.loads(text)) == schema


@given(schemas)
def test_a_snapshot_without_values_keeps_everything_else(schema: Schema) -> None:
    back = Schema.from_json(json.loads(json.dumps(schema.to_json(values=False))))
    for table in schema.tables.values():
        for column in table.columns.values():
            column.common = {}
    assert back == schema


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"tables": []}, "not a statistics snapshot"),
        ([], "not a statistics snapshot"),
        ({"format": "backendperf-stats", "version": 2}, "version 2"),
        ({"format": "backendperf-stats", "version": 1, "dialect": "postgresql"}, "damaged"),
        (
            {
                "format": "backendperf-stats",
                "version": 1,
                "dialect": "postgresql",
                "statement_timeouts": [],
                "tables": [{"name": "t", "rows": "many"}],
            },
            "damaged",
        ),
    ],
)
def test_anything_else_is_refused_with_what_is_wrong(document: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Schema.from_json(document)

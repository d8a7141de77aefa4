"""Statistics from ``pg_dump --statistics-only`` (or ``--statistics``), PostgreSQL 18.

PostgreSQL 18's ``pg_dump`` writes each table's and column's planner statistics as calls
that restore them::

    SELECT * FROM pg_catalog.pg_restore_relation_stats(
        'version', '180004'::integer,
        'schemaname', 'public',
        'relname', 'orders',
        'relpages', '120'::integer,
        'reltuples', '10000'::real, ...
    );
    SELECT * FROM pg_catalog.pg_restore_attribute_stats(
        'version', '180004'::integer,
        'schemaname', 'public',
        'relname', 'orders',
        'attname', 'status',
        'inherited', 'f'::boolean,
        'null_frac', '0'::real,
        'n_distinct', '3'::real,
        'most_common_vals', '{open,closed,"on hold"}'::text,
        'most_common_freqs', '{0.5,0.4,0.1}'::real[], ...
    );

:func:`read_pg_dump` reads those calls (the statements are never run) into the statistics
:class:`~backendperf.advisor.Schema` keeps: row counts, ``n_distinct``, ``null_frac``, the
most common values and the histogram's bounds. A dump with its DDL too (``pg_dump
--schema-only --statistics``) gives the tables, keys and indexes as well; a
``--statistics-only`` dump goes with the DDL (``advise --schema DDL.sql --stats stats.sql``).

    >>> schema = read_pg_dump('''
    ... SELECT * FROM pg_catalog.pg_restore_relation_stats(
    ...     'version', '180004'::integer, 'schemaname', 'public', 'relname', 'orders',
    ...     'relpages', '1'::integer, 'reltuples', '3'::real);
    ... SELECT * FROM pg_catalog.pg_restore_attribute_stats(
    ...     'version', '180004'::integer, 'schemaname', 'public', 'relname', 'orders',
    ...     'attname', 'status', 'inherited', 'f'::boolean, 'null_frac', '0'::real,
    ...     'n_distinct', '2'::real, 'most_common_vals', '{open,"on hold"}'::text,
    ...     'most_common_freqs', '{0.6667,0.3333}'::real[]);
    ... ''')
    >>> orders = schema.tables["orders"]
    >>> orders.rows, orders.columns["status"].common
    (3.0, {'open': 0.6667, 'on hold': 0.3333})
"""

from __future__ import annotations

import re
from typing import Any, Final

from backendperf.advisor.schema import Column, Schema, Table
from backendperf.exceptions import ConfigurationError

__all__ = ["read_pg_dump"]

_CALL: Final = re.compile(
    r"(?:SELECT\s+(?:\*\s+FROM\s+)?)?(?:pg_catalog\.)?pg_restore_(relation|attribute)_stats\s*\(",
    re.IGNORECASE,
)
_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<estr>[Ee]'(?:[^'\\]|''|\\.)*')     # E'...': backslash escapes
      | (?P<str>'(?:[^']|'')*')                # standard_conforming_strings (pg_dump's)
      | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<word>true|false|null)\b
      | (?P<cast>::\s*(?:"[^"]*"|[A-Za-z_][\w.]*)(?:\s+[A-Za-z_]\w*)*(?:\s*\[\s*\])*)
      | (?P<comma>,)
      | (?P<close>\))
    )""",
    re.VERBOSE | re.IGNORECASE,
)
_ESCAPE: Final = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
# Copied rows of a full dump, and psql's meta-commands: not DDL.
_COPY: Final = re.compile(r"^COPY [^\n]* FROM stdin;\n.*?^\\\.$", re.MULTILINE | re.DOTALL)
_META: Final = re.compile(r"^\\[^\n]*$", re.MULTILINE)


def _literal(token: Any) -> str | None:
    """The value of one token of a call's argument list."""
    if token["str"] is not None:
        return str(token["str"][1:-1].replace("''", "'"))
    if token["estr"] is not None:
        inner = token["estr"][2:-1].replace("''", "'")
        return re.sub(r"\\(.)", lambda m: _ESCAPE.get(m[1], m[1]), inner)
    if token["num"] is not None:
        return str(token["num"])
    word = str(token["word"]).lower()
    return None if word == "null" else word


def _calls(text: str) -> tuple[list[tuple[str, dict[str, str | None]]], list[tuple[int, int]]]:
    """Each restore call of ``text`` (its kind and named arguments), and the spans of the
    statements that hold them (left out of the DDL)."""
    calls: list[tuple[str, dict[str, str | None]]] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    while (m := _CALL.search(text, pos)) is not None:
        values: list[str | None] = []
        at = m.end()
        closed = False
        while (t := _TOKEN.match(text, at)) is not None:
            at = t.end()
            if t["close"] is not None:
                closed = True
                break
            if t["comma"] is None and t["cast"] is None:
                values.append(_literal(t))
        if not closed or len(values) % 2:
            where = text.count("\n", 0, m.start()) + 1
            raise ConfigurationError(
                f"pg_dump statistics: cannot read the call on line {where} "
                f"(pg_restore_{m[1]}_stats with arguments in name/value pairs expected)"
            )
        args = {str(values[i]).lower(): values[i + 1] for i in range(0, len(values), 2)}
        calls.append((m[1].lower(), args))
        end = text.find(";", at)
        spans.append((m.start(), len(text) if end < 0 else end + 1))
        pos = at
    return calls, spans


def _array(text: str | None) -> list[str | None]:
    """The elements of a PostgreSQL array literal (``{a,"b c",NULL}``), as text."""
    if not text or not text.startswith("{") or not text.endswith("}"):
        return []
    body, i = text[1:-1], 0
    out: list[str | None] = []
    while i < len(body):
        if body[i] == '"':
            chars: list[str] = []
            i += 1
            while i < len(body) and body[i] != '"':
                if body[i] == "\\" and i + 1 < len(body):
                    i += 1
                chars.append(body[i])
                i += 1
            out.append("".join(chars))
            i += 1  # the closing quote
        else:
            j = body.find(",", i)
            j = len(body) if j < 0 else j
            token = body[i:j].strip(" \t\n\r\f\v")  # (ASCII spaces only, as array_in)
            out.append(None if token.upper() == "NULL" else token)
            i = j
        i += 1  # the comma
    return out


def _number(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def _relation(args: dict[str, str | None]) -> str | None:
    """The relation's name (``relname``, or an early 18 beta's ``relation`` regclass)."""
    name = args.get("relname")
    if name is None and args.get("relation"):
        name = str(args["relation"]).rsplit(".", 1)[-1].strip('"')
    return name


def _table(schema: Schema, name: str) -> Table | None:
    return schema.tables.get(name) or schema.tables.get(name.lower())


def read_pg_dump(text: str, dialect: str = "postgresql") -> Schema:
    """The schema (when the dump holds DDL) and statistics of a ``pg_dump`` script; a
    :class:`ConfigurationError` when it holds neither."""
    calls, spans = _calls(text)
    pieces, last = [], 0
    for start, end in spans:
        pieces.append(text[last:start])
        last = end
    pieces.append(text[last:])
    ddl = _META.sub("", _COPY.sub("", "".join(pieces)))
    schema = Schema.from_ddl(ddl, dialect) if "CREATE" in ddl.upper() else Schema(dialect=dialect)
    if not calls and not schema.tables:
        raise ConfigurationError(
            "neither a statistics snapshot (backendperf stats) nor a pg_dump with statistics "
            "(PostgreSQL 18: pg_dump --statistics-only, or --schema-only --statistics)"
        )
    rows: dict[str, float | None] = {}
    inherited: set[tuple[str, str]] = set()  # columns read from a parent's inherited row
    for kind, args in calls:
        name = _relation(args)
        if not name:
            continue
        if kind == "relation":
            tuples = _number(args.get("reltuples"))
            rows[name] = None if tuples is None or tuples < 0 else tuples  # -1: never analyzed
            continue
        attname = args.get("attname")
        if not attname:  # an expression index's column (attnum): not a table's
            continue
        table = _table(schema, name)
        if table is None:
            table = schema.tables[name] = Table(name)
        column = table.column(attname)
        if column is None:
            column = table.columns[attname] = Column(attname)
        whole = args.get("inherited") in ("t", "true")
        if whole and column.n_distinct is not None and (name, attname) not in inherited:
            continue  # the table's own row wins over its children's
        if whole:
            inherited.add((name, attname))
        else:
            inherited.discard((name, attname))
        column.n_distinct = _number(args.get("n_distinct"))
        column.null_frac = _number(args.get("null_frac"))
        values = _array(args.get("most_common_vals"))
        freqs = [_number(f) for f in _array(args.get("most_common_freqs"))]
        column.common = {
            str(v): f
            for v, f in zip(values, freqs, strict=False)
            if v is not None and f is not None
        }
        column.bounds = tuple(str(v) for v in _array(args.get("histogram_bounds")) if v is not None)
    for name, count in rows.items():
        table = _table(schema, name)
        if table is not None:  # (an index's row count is not a table's)
            table.rows = count
    return schema

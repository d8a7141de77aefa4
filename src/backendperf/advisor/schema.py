"""The schema the advisor reasons about: tables, columns, existing indexes, row statistics.

From DDL (parsed with sqlglot, in the file's dialect)::

    >>> schema = Schema.from_ddl('''
    ...     CREATE TABLE users (id bigint PRIMARY KEY, email text UNIQUE, status text,
    ...                         created_at timestamptz, deleted_at timestamptz);
    ...     CREATE INDEX users_status ON users (status, created_at DESC) WHERE deleted_at IS NULL;
    ... ''')
    >>> for index in schema.tables["users"].indexes:
    ...     print(index)
    users_pkey (id) UNIQUE
    users_email_key (email) UNIQUE
    users_status (status, created_at DESC) WHERE deleted_at IS NULL

or from a live database (:meth:`Schema.from_url`: PostgreSQL, MySQL/MariaDB, SQLite), which adds
row counts and column statistics where the server keeps them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import sqlglot
from sqlglot import exp

from backendperf.exceptions import ConfigurationError, MissingDependencyError

if TYPE_CHECKING:
    import os

__all__ = ["Column", "Index", "Schema", "Table", "sqlglot_dialect"]

_SQLGLOT_DIALECT = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql"}
STATS_FORMAT: Final = "backendperf-stats"
STATS_VERSION: Final = 1
"""The statistics snapshot's format (:meth:`Schema.to_json`); a change bumps the version."""


def sqlglot_dialect(dialect: str) -> str:
    """sqlglot's name for one of ours (``postgresql`` -> ``postgres``)."""
    return _SQLGLOT_DIALECT.get(dialect, dialect)


_BYTEWISE: Final = frozenset({"C", "POSIX"})


@dataclass(slots=True)
class Column:
    name: str
    type: str = ""
    n_distinct: float | None = None
    """Distinct values: a count, or (as in pg_stats) a negative fraction of the rows."""
    null_frac: float | None = None
    common: dict[str, float] = field(default_factory=dict)
    """Most common values (as text) and their frequencies (pg_stats)."""
    collation: str | None = None
    """The collation (``COLLATE`` in the DDL, or the one the database applies), when known."""
    bounds: tuple[str, ...] = ()
    """The histogram's bucket bounds (as text, ascending; pg_stats ``histogram_bounds``):
    equal shares of the rows that are not among the most common values."""

    @property
    def bytewise(self) -> bool:
        """Whether it is known to sort by bytes (``C``, ``POSIX``): then a plain B-tree
        serves ``LIKE 'x%'``, which under any other collation needs ``text_pattern_ops``
        (PostgreSQL 15 treats even ``C.UTF-8`` as linguistic here)."""
        return self.collation in _BYTEWISE

    def distinct(self, rows: float | None) -> float | None:
        """The number of distinct values, when known."""
        if self.n_distinct is None:
            return None
        if self.n_distinct < 0:
            return -self.n_distinct * rows if rows else None
        return self.n_distinct


@dataclass(frozen=True, slots=True)
class Index:
    """An index: key columns (names, or expression SQL like ``lower(email)``) in order."""

    name: str
    table: str
    columns: tuple[str, ...]
    desc: tuple[bool, ...] = ()
    unique: bool = False
    include: tuple[str, ...] = ()
    where: str | None = None
    """The predicate of a partial index (SQL)."""

    def __str__(self) -> str:
        cols = ", ".join(
            c + (" DESC" if i < len(self.desc) and self.desc[i] else "")
            for i, c in enumerate(self.columns)
        )
        text = f"{self.name} ({cols})"
        if self.include:
            text += f" INCLUDE ({', '.join(self.include)})"
        if self.unique:
            text += " UNIQUE"
        if self.where:
            text += f" WHERE {self.where}"
        return text


@dataclass(slots=True)
class Table:
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    indexes: list[Index] = field(default_factory=list)
    rows: float | None = None
    """Estimated rows (pg_class.reltuples, information_schema TABLE_ROWS, sqlite_stat1)."""
    foreign_keys: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    """``(columns, referenced table)`` for each foreign key."""
    unused: list[str] = field(default_factory=list)
    """Indexes never scanned since statistics were reset (PostgreSQL, pg_stat_user_indexes)."""

    def column(self, name: str) -> Column | None:
        return self.columns.get(name) or self.columns.get(name.lower())


@dataclass(slots=True)
class Schema:
    """Tables by (lower-case, unqualified) name."""

    tables: dict[str, Table] = field(default_factory=dict)
    dialect: str = "postgresql"
    statement_timeouts: dict[tuple[str | None, str | None], float] = field(default_factory=dict)
    """``statement_timeout`` in ms by ``(role, database)`` (``None``: any), from ``--db``:
    ``ALTER ROLE/DATABASE ... SET`` (pg_db_role_setting) and the server's own value under
    ``(None, None)``. 0 (no timeout) is left out."""

    def statement_timeout(self, role: str | None, database: str | None) -> float | None:
        """The timeout a session of ``role`` on ``database`` starts with, as PostgreSQL
        picks it (role and database, then role, then database, then the server), or None.

        >>> s = Schema(statement_timeouts={("app", None): 5000.0, (None, None): 60000.0})
        >>> s.statement_timeout("app", "shop"), s.statement_timeout("report", "shop")
        (5000.0, 60000.0)
        """
        for key in ((role, database), (role, None), (None, database), (None, None)):
            if key in self.statement_timeouts:
                return self.statement_timeouts[key]
        return None

    def table(self, name: str) -> Table | None:
        bare = name.rsplit(".", maxsplit=1)[-1].strip('"`')
        return self.tables.get(bare) or self.tables.get(bare.lower())

    def mapping(self) -> dict[str, dict[str, str]]:
        """``{table: {column: type}}`` for sqlglot's qualifier."""
        return {  # sqlglot rejects a table without columns (one known only by its indexes)
            t.name: {c.name: (c.type or "text") for c in t.columns.values()}
            for t in self.tables.values()
            if t.columns
        }

    # -- DDL ------------------------------------------------------------------------------

    @classmethod
    def from_ddl(cls, ddl: str, dialect: str = "postgresql") -> Schema:
        """Tables, keys and indexes from ``CREATE TABLE`` / ``CREATE INDEX`` statements.

        Statements sqlglot cannot parse, and other statements, are skipped.
        """
        schema = cls(dialect=dialect)
        read = sqlglot_dialect(dialect)
        for statement in sqlglot.parse(ddl, read=read, error_level=sqlglot.ErrorLevel.IGNORE):
            if isinstance(statement, exp.Create):
                kind = (statement.args.get("kind") or "").upper()
                if kind == "TABLE":
                    schema._add_table(statement, read)
                elif kind == "INDEX":
                    index = _index_of(statement, read)
                    if index is not None:
                        table = schema._get(index.table)
                        table.indexes.append(index)
            elif isinstance(statement, exp.Alter) and isinstance(statement.this, exp.Table):
                # pg_dump writes every key this way: ALTER TABLE ONLY t ADD CONSTRAINT ...
                items = [
                    item
                    for action in statement.args.get("actions") or []
                    if isinstance(action, exp.AddConstraint)
                    for item in action.expressions
                ]
                if items:
                    schema._add_keys(schema._get(statement.this.name), items, read)
        return schema

    @classmethod
    def from_ddl_file(cls, path: str | os.PathLike[str], dialect: str = "postgresql") -> Schema:
        with open(path, encoding="utf-8") as f:
            return cls.from_ddl(f.read(), dialect)

    def _get(self, name: str) -> Table:
        key = _name(name)
        table = self.tables.get(key)
        if table is None:
            table = self.tables[key] = Table(key)
        return table

    def _add_table(self, statement: exp.Create, read: str) -> None:
        target = statement.this
        table_expr = target.this if isinstance(target, exp.Schema) else target
        if not isinstance(table_expr, exp.Table):
            return
        table = self._get(table_expr.name)
        if not isinstance(target, exp.Schema):
            return
        constraints: list[exp.Expression] = []
        for item in target.expressions:
            if isinstance(item, exp.ColumnDef):
                name = _name(item.name)
                kind = item.args.get("kind")
                column = table.columns[name] = Column(
                    name, kind.sql(read) if kind is not None else ""
                )
                for constraint in item.args.get("constraints") or []:
                    ckind = constraint.args.get("kind")
                    if isinstance(ckind, exp.CollateColumnConstraint):  # COLLATE "C"
                        column.collation = ckind.this.name if ckind.this is not None else None
                    elif isinstance(ckind, exp.PrimaryKeyColumnConstraint):
                        constraints.append(exp.PrimaryKey(expressions=[exp.to_identifier(name)]))
                    elif isinstance(ckind, exp.UniqueColumnConstraint):
                        constraints.append(
                            exp.UniqueColumnConstraint(
                                this=exp.Schema(expressions=[exp.to_identifier(name)])
                            )
                        )
                    elif isinstance(ckind, exp.Reference):
                        table.foreign_keys.append(((name,), _referenced(ckind)))
            elif isinstance(item, exp.Identifier):  # SQLite: a column without a type
                table.columns[_name(item.name)] = Column(_name(item.name), "")
            else:
                constraints.append(item)
        self._add_keys(table, constraints, read)

    def _add_keys(self, table: Table, items: list[exp.Expression], read: str) -> None:
        """Primary keys, unique keys, plain keys (MySQL) and foreign keys of ``table``, from
        a ``CREATE TABLE``'s table constraints or an ``ALTER TABLE ... ADD CONSTRAINT``."""
        primary: tuple[str | None, list[str]] | None = None
        keys: list[tuple[str | None, list[str], bool]] = []  # (name, columns, unique)
        for item in items:
            given = _name(item.name) if isinstance(item, exp.Constraint) and item.name else None
            for sub in item.expressions if isinstance(item, exp.Constraint) else [item]:
                if isinstance(sub, exp.PrimaryKey):
                    primary = (given, [_name(e.name) for e in sub.expressions])
                elif isinstance(sub, exp.ForeignKey):
                    fk = tuple(_name(e.name) for e in sub.expressions)
                    table.foreign_keys.append((fk, _referenced(sub.args.get("reference"))))
                elif isinstance(sub, exp.UniqueColumnConstraint):  # UNIQUE (a, b), UNIQUE KEY u (a)
                    this = sub.this
                    named = isinstance(this, exp.Schema) and this.name
                    cols = [_name(e.name) for e in getattr(this, "expressions", [])]
                    keys.append((given or (_name(this.name) if named else None), cols, True))
                elif isinstance(sub, exp.IndexColumnConstraint):  # MySQL: KEY ix (a, b)
                    cols = [_name(e.name) for e in sub.expressions]
                    keys.append((_name(sub.name) if sub.name else None, cols, False))
        if primary is not None and primary[1]:
            pk_name = "PRIMARY" if read == "mysql" else primary[0] or f"{table.name}_pkey"
            table.indexes.insert(0, Index(pk_name, table.name, tuple(primary[1]), unique=True))
        for given, cols, unique in keys:
            if cols:
                name = given or f"{table.name}_{'_'.join(cols)}_{'key' if unique else 'idx'}"
                table.indexes.append(Index(name, table.name, tuple(cols), unique=unique))

    # -- statistics snapshots ---------------------------------------------------------------

    def to_json(self, *, values: bool = True) -> dict[str, Any]:
        """The schema and its statistics as a JSON document (``backendperf stats``): what
        :meth:`from_url` read, to advise offline with later (:meth:`from_json`). ``values``:
        keep the most common values and histogram bounds of each column (real data from the
        database: leave them out to share the file; partial-index advice then has no value
        shares, and the cost model the planner's default share for a range).

        >>> s = Schema.from_ddl("CREATE TABLE t (id int PRIMARY KEY, a text)")
        >>> s.tables["t"].rows = 5000.0
        >>> Schema.from_json(s.to_json()) == s
        True
        """
        return {
            "format": STATS_FORMAT,
            "version": STATS_VERSION,
            "dialect": self.dialect,
            "statement_timeouts": [
                {"role": role, "database": db, "ms": ms}
                for (role, db), ms in sorted(
                    self.statement_timeouts.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))
                )
            ],
            "tables": [
                {
                    "name": t.name,
                    "rows": t.rows,
                    "columns": [
                        {
                            "name": c.name,
                            "type": c.type,
                            "n_distinct": c.n_distinct,
                            "null_frac": c.null_frac,
                            "common": dict(c.common) if values else {},
                            "collation": c.collation,
                            "bounds": list(c.bounds) if values else [],
                        }
                        for c in t.columns.values()
                    ],
                    "indexes": [
                        {
                            "name": ix.name,
                            "columns": list(ix.columns),
                            "desc": list(ix.desc),
                            "unique": ix.unique,
                            "include": list(ix.include),
                            "where": ix.where,
                        }
                        for ix in t.indexes
                    ],
                    "foreign_keys": [
                        {"columns": list(cols), "references": ref} for cols, ref in t.foreign_keys
                    ],
                    "unused": list(t.unused),
                }
                for t in self.tables.values()
            ],
        }

    @classmethod
    def from_json(cls, data: Any) -> Schema:
        """A schema from :meth:`to_json`'s document; a clear error for anything else."""
        if not isinstance(data, dict) or data.get("format") != STATS_FORMAT:
            raise ConfigurationError(
                "not a statistics snapshot (write one with: backendperf stats --db URL -o FILE)"
            )
        if data.get("version") != STATS_VERSION:
            raise ConfigurationError(
                f"statistics snapshot version {data.get('version')!r}: this backendperf reads "
                f"version {STATS_VERSION}"
            )
        try:
            schema = cls(dialect=str(data["dialect"]))
            for item in data["statement_timeouts"]:
                schema.statement_timeouts[item["role"], item["database"]] = float(item["ms"])
            for t in data["tables"]:
                table = schema.tables[t["name"]] = Table(
                    t["name"], rows=None if t["rows"] is None else float(t["rows"])
                )
                for c in t["columns"]:
                    table.columns[c["name"]] = Column(
                        c["name"],
                        c["type"],
                        None if c["n_distinct"] is None else float(c["n_distinct"]),
                        None if c["null_frac"] is None else float(c["null_frac"]),
                        {str(k): float(v) for k, v in c["common"].items()},
                        c["collation"],
                        tuple(str(b) for b in c.get("bounds", ())),
                    )
                table.indexes = [
                    Index(
                        ix["name"],
                        t["name"],
                        tuple(ix["columns"]),
                        tuple(bool(d) for d in ix["desc"]),
                        bool(ix["unique"]),
                        tuple(ix["include"]),
                        ix["where"],
                    )
                    for ix in t["indexes"]
                ]
                table.foreign_keys = [
                    (tuple(fk["columns"]), fk["references"]) for fk in t["foreign_keys"]
                ]
                table.unused = list(t["unused"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigurationError(f"statistics snapshot is damaged: {exc!r}") from exc
        return schema

    @classmethod
    def from_stats_file(cls, path: str | os.PathLike[str]) -> Schema:
        """The schema and statistics of a file ``backendperf stats`` wrote (:meth:`from_json`),
        or of a PostgreSQL 18 ``pg_dump --statistics-only`` / ``--statistics`` script
        (:func:`~backendperf.advisor.pgdump.read_pg_dump`)."""
        import json
        import pathlib

        try:
            text = pathlib.Path(path).read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read statistics snapshot {path}: {exc}") from exc
        if not text.lstrip().startswith(("{", "[")):
            from backendperf.advisor.pgdump import read_pg_dump

            return read_pg_dump(text)
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"cannot read statistics snapshot {path}: {exc}") from exc
        return cls.from_json(data)

    def add_statistics(self, other: Schema) -> Schema:
        """This schema with ``other``'s row counts and column statistics where ``other`` has
        them (a statistics-only dump over the DDL), for the tables and columns this one
        has. Returns ``self``."""
        for name, theirs in other.tables.items():
            mine = self.table(name)
            if mine is None:
                continue
            if theirs.rows is not None:
                mine.rows = theirs.rows
            for column in theirs.columns.values():
                own = mine.column(column.name)
                if own is not None and column.n_distinct is not None:
                    own.n_distinct, own.null_frac = column.n_distinct, column.null_frac
                    own.common = dict(column.common)
                    own.bounds = column.bounds
        self.statement_timeouts = {**other.statement_timeouts, **self.statement_timeouts}
        return self

    # -- live databases -------------------------------------------------------------------

    @classmethod
    def from_url(cls, url: str, *, schema: str | None = None) -> Schema:
        """Read a live database: PostgreSQL (``postgresql://``), MySQL/MariaDB
        (``mysql://``) or SQLite (``sqlite:///path``). Nothing is written."""
        try:
            import sqlalchemy as sa
        except ImportError as exc:  # pragma: no cover - the extra is missing
            raise MissingDependencyError("sqlalchemy", "sqlalchemy", "--db URL") from exc
        engine = sa.create_engine(_driver_url(url))
        try:
            with engine.connect() as conn:
                name = engine.dialect.name
                if name == "postgresql":
                    return _from_postgres(conn, schema)
                if name in ("mysql", "mariadb"):
                    return _from_mysql(conn)
                if name == "sqlite":
                    return _from_sqlite(conn)
                raise ConfigurationError(f"--db: {name} databases are not supported")
        finally:
            engine.dispose()


def _name(text: str) -> str:
    return text.strip('"`').lower() if not text.startswith('"') else text.strip('"')


def _referenced(reference: Any) -> str:
    target = getattr(reference, "this", None)
    table = target.this if isinstance(target, exp.Schema) else target
    return _name(table.name) if isinstance(table, exp.Table) else ""


def _index_of(statement: exp.Create, read: str) -> Index | None:
    index = statement.this
    if not isinstance(index, exp.Index):
        return None
    table = index.args.get("table")
    params = index.args.get("params")
    if table is None or params is None:
        return None
    columns: list[str] = []
    desc: list[bool] = []
    for item in params.args.get("columns") or []:
        inner = item.this if isinstance(item, exp.Ordered) else item
        columns.append(
            _name(inner.name) if isinstance(inner, exp.Column) else inner.sql(read).lower()
        )
        desc.append(bool(isinstance(item, exp.Ordered) and item.args.get("desc")))
    include = tuple(_name(i.name) for i in params.args.get("include") or [])
    where = params.args.get("where")
    return Index(
        name=_name(index.name) if index.name else f"{table.name}_idx",
        table=_name(table.name),
        columns=tuple(columns),
        desc=tuple(desc),
        unique=bool(statement.args.get("unique")),
        include=include,
        where=where.this.sql(read) if where is not None else None,
    )


def _driver_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("mysql://", "mariadb://")):
        return "mysql+pymysql://" + url.split("://", 1)[1]
    return url


def _from_postgres(conn: Any, schema_name: str | None) -> Schema:
    import sqlalchemy as sa

    schema = Schema(dialect="postgresql")
    namespace = schema_name or conn.exec_driver_sql("SELECT current_schema()").scalar()
    rows = conn.execute(
        sa.text(
            "SELECT c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind IN ('r', 'p')"
        ),
        {"s": namespace},
    )
    for name, reltuples in rows:
        schema.tables[name] = Table(name, rows=float(reltuples) if reltuples >= 0 else None)
    columns = conn.execute(
        sa.text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = :s ORDER BY table_name, ordinal_position"
        ),
        {"s": namespace},
    )
    for table_name, column, data_type in columns:
        if table_name in schema.tables:
            schema.tables[table_name].columns[column] = Column(column, data_type)
    # the collation each text column sorts by: its own, or the database's for "default"
    # (an ICU default has no byte order; pg_database has datlocprovider from PostgreSQL 15,
    # read through to_jsonb so that older servers give NULL: libc)
    collations = conn.execute(
        sa.text(
            "SELECT c.relname, a.attname, CASE WHEN co.collname <> 'default' THEN "
            "coalesce(co.collcollate, co.collname) "
            "WHEN coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') = 'c' THEN d.datcollate END "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_collation co ON co.oid = a.attcollation "
            "JOIN pg_database d ON d.datname = current_database() "
            "WHERE n.nspname = :s AND a.attnum > 0 AND NOT a.attisdropped"
        ),
        {"s": namespace},
    )
    for table_name, column, collation in collations:
        table = schema.tables.get(table_name)
        if table is not None and column in table.columns:
            table.columns[column].collation = collation
    stats = conn.execute(
        sa.text(
            "SELECT tablename, attname, n_distinct, null_frac, "
            "most_common_vals::text::text[], most_common_freqs, "
            "histogram_bounds::text::text[] FROM pg_stats WHERE schemaname = :s"
        ),
        {"s": namespace},
    )
    for table_name, column, n_distinct, null_frac, values, freqs, bounds in stats:
        table = schema.tables.get(table_name)
        if table is not None and column in table.columns:
            col = table.columns[column]
            col.n_distinct = float(n_distinct)
            col.null_frac = float(null_frac)
            if values and freqs:
                col.common = {str(v): float(f) for v, f in zip(values, freqs, strict=False)}
            if bounds:
                col.bounds = tuple(str(b) for b in bounds)
    indexes = conn.execute(
        sa.text("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = :s"),
        {"s": namespace},
    )
    for table_name, indexdef in indexes:
        parsed = sqlglot.parse_one(indexdef, read="postgres", error_level=sqlglot.ErrorLevel.IGNORE)
        index = _index_of(parsed, "postgres") if isinstance(parsed, exp.Create) else None
        if index is not None and table_name in schema.tables:
            schema.tables[table_name].indexes.append(index)
    foreign = conn.execute(
        sa.text(
            "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, "
            "array_agg(a.attname ORDER BY k.n) FROM pg_constraint c "
            "JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, n) ON true "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
            "JOIN pg_namespace ns ON ns.oid = c.connamespace "
            "WHERE c.contype = 'f' AND ns.nspname = :s GROUP BY c.oid, 1, 2"
        ),
        {"s": namespace},
    )
    for table_name, referenced, columns in foreign:
        table = schema.table(table_name)
        if table is not None:
            table.foreign_keys.append((tuple(columns), referenced.split(".")[-1]))
    unused = conn.execute(
        sa.text(
            "SELECT s.relname, s.indexrelname FROM pg_stat_user_indexes s "
            "JOIN pg_index i ON i.indexrelid = s.indexrelid "
            "WHERE s.schemaname = :s AND s.idx_scan = 0 AND NOT i.indisunique"
        ),
        {"s": namespace},
    )
    for table_name, index_name in unused:
        table = schema.tables.get(table_name)
        if table is not None:
            table.unused.append(index_name)
    settings = conn.execute(
        sa.text(
            "SELECT r.rolname, d.datname, s.setconfig FROM pg_db_role_setting s "
            "LEFT JOIN pg_roles r ON r.oid = s.setrole "
            "LEFT JOIN pg_database d ON d.oid = s.setdatabase"
        )
    )
    for role, database, config in settings:
        for item in config or ():
            name, _, value = item.partition("=")
            if name == "statement_timeout":
                ms = _milliseconds(value)
                if ms:
                    schema.statement_timeouts[role, database] = ms
    # the value a session starts with (the server's, unless our own role or database sets it)
    server = conn.execute(
        sa.text("SELECT reset_val, unit FROM pg_settings WHERE name = 'statement_timeout'")
    ).first()
    if server is not None:
        ms = _milliseconds(f"{server[0]}{server[1] or ''}")
        if ms:
            schema.statement_timeouts[None, None] = ms
    return schema


_UNITS: Final = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0}


def _milliseconds(value: str) -> float | None:
    """A ``statement_timeout`` value (``5s``, ``1min``, ``250``: ms) in ms.

    >>> _milliseconds("5s"), _milliseconds("250"), _milliseconds("1.5min"), _milliseconds("x")
    (5000.0, 250.0, 90000.0, None)
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*", value)
    if m is None:
        return None
    unit = m[2] or "ms"
    factor = 86_400_000.0 if unit == "d" else _UNITS[unit]
    return float(m[1]) * factor


def _from_mysql(conn: Any) -> Schema:
    schema = Schema(dialect="mysql")
    database = conn.exec_driver_sql("SELECT DATABASE()").scalar()
    for name, rows in conn.exec_driver_sql(
        "SELECT table_name, table_rows FROM information_schema.tables "
        "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
        (database,),
    ):
        schema.tables[name.lower()] = Table(name.lower(), rows=float(rows or 0))
    for table_name, column, data_type in conn.exec_driver_sql(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = %s ORDER BY table_name, ordinal_position",
        (database,),
    ):
        table = schema.tables.get(table_name.lower())
        if table is not None:
            table.columns[column.lower()] = Column(column.lower(), data_type)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for table_name, index, non_unique, column, cardinality in conn.exec_driver_sql(
        "SELECT table_name, index_name, non_unique, column_name, cardinality "
        "FROM information_schema.statistics WHERE table_schema = %s "
        "ORDER BY table_name, index_name, seq_in_index",
        (database,),
    ):
        entry = found.setdefault(
            (table_name.lower(), index), {"columns": [], "unique": not non_unique}
        )
        entry["columns"].append((column or "").lower())
        table = schema.tables.get(table_name.lower())
        if table is not None and column and len(entry["columns"]) == 1 and cardinality:
            col = table.columns.get(column.lower())
            if col is not None:  # the index's cardinality: MariaDB's distinct-value estimate
                col.n_distinct = float(cardinality)
    for (table_name, index), entry in found.items():
        if table_name in schema.tables:
            schema.tables[table_name].indexes.append(
                Index(index, table_name, tuple(entry["columns"]), unique=entry["unique"])
            )
    return schema


def _from_sqlite(conn: Any) -> Schema:
    ddl = [
        sql
        for (sql,) in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type IN ('table', 'index') AND sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"  # sqlite_stat1, sqlite_sequence
        )
    ]
    schema = Schema.from_ddl(";\n".join(ddl), "sqlite")
    try:
        rows = conn.exec_driver_sql("SELECT tbl, idx, stat FROM sqlite_stat1").all()
    except Exception:  # no ANALYZE yet: no statistics table
        rows = []
    for tbl, _idx, stat in rows:
        table = schema.table(tbl)
        if table is not None and stat and re.match(r"\d+", stat):
            table.rows = float(stat.split()[0])
    return schema

"""How one statement uses each table: the columns its predicates, joins and sorts touch.

Each distinct statement shape is parsed once, with sqlglot, and every column is qualified to
its table through aliases, joins, subqueries, CTEs, ``UNION``, ``EXISTS``/``IN`` subqueries,
``UPDATE``/``DELETE ... WHERE`` and ``INSERT ... SELECT``.

>>> from backendperf.advisor.schema import Schema
>>> schema = Schema.from_ddl("CREATE TABLE orders (id int PRIMARY KEY, user_id int, "
...                          "status text, created_at timestamp, total numeric)")
>>> use = extract("SELECT id, total FROM orders o WHERE o.user_id = $1 AND status IN ('a', 'b') "
...               "AND created_at > now() - interval '1 day' ORDER BY created_at DESC LIMIT 20",
...               schema)
>>> t = use.tables["orders"]
>>> t.equality, t.ranges, t.order_by, t.limit
(['user_id', 'status'], ['created_at'], [('created_at', True)], True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from backendperf.advisor.schema import sqlglot_dialect

if TYPE_CHECKING:
    from backendperf.advisor.schema import Schema

__all__ = ["StatementUsage", "TableUsage", "extract"]

# pyformat placeholders become ``?`` (which sqlglot reads); string literals are left alone
_PLACEHOLDERS = re.compile(r"'(?:[^']|'')*'|%\(\w+\)s|%s")
# ``?::integer`` (psycopg's ``%(p)s::INTEGER``, fingerprinted): sqlglot reads a cast only of
# ``$1``, so on PostgreSQL a ``?`` before ``::`` becomes ``$1`` (literals left alone)
_CAST_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?(?=\s*::)")


@dataclass(slots=True)
class TableUsage:
    """One table's part in one statement."""

    table: str
    equality: list[str] = field(default_factory=list)
    """Columns compared with ``=`` or ``IN`` to a value (or a parameter)."""
    ranges: list[str] = field(default_factory=list)
    """Columns with ``<``, ``>``, ``BETWEEN`` or ``LIKE 'prefix%'``."""
    like_prefix: list[str] = field(default_factory=list)
    bounds: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """column -> ``(operator, value)`` of each range compared with a constant the statement
    spells out (``<``, ``<=``, ``>``, ``>=``; a ``BETWEEN`` is two): a literal, a date, or
    arithmetic on them (``date '1994-01-01' + interval '3' month`` is ``1994-04-01``)."""
    is_null: list[str] = field(default_factory=list)
    is_not_null: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)
    """Columns of this table equated with another table's columns."""
    join_partners: dict[str, str] = field(default_factory=dict)
    """join column -> the table on the other side (``""`` for an ``IN (SELECT ...)``)."""
    order_by: list[tuple[str, bool]] = field(default_factory=list)
    """``(column, descending)`` when the sort is on this table's columns only."""
    limit: bool = False
    group_by: list[str] = field(default_factory=list)
    selected: set[str] | None = field(default_factory=set)
    """Every column of this table the statement reads; ``None`` for ``*``."""
    expressions: list[str] = field(default_factory=list)
    """Indexable expressions compared with a value: ``lower(email)``."""
    constants: dict[str, str] = field(default_factory=dict)
    """column -> the predicate SQL when compared with a literal (partial-index material)."""
    unindexable: list[tuple[str, str]] = field(default_factory=list)
    """``(predicate, reason)`` for predicates no B-tree index can serve."""


def _filtered(use: TableUsage) -> bool:
    return bool(use.equality or use.ranges or use.expressions or use.is_null)


@dataclass(slots=True)
class StatementUsage:
    kind: str
    """``select``, ``insert``, ``update``, ``delete`` or ``other``."""
    tables: dict[str, TableUsage] = field(default_factory=dict)
    error: str | None = None
    """Why the statement could not be analysed (it then has no tables)."""
    writes: str | None = None
    """The table an INSERT/UPDATE/DELETE writes to."""

    def drives(self, table: str) -> bool:
        """Whether ``table``'s rows are narrowed by a filter (so a join probes the others)."""
        use = self.tables.get(table)
        return use is not None and _filtered(use)

    def usage(self, table: str) -> TableUsage:
        found = self.tables.get(table)
        if found is None:
            found = self.tables[table] = TableUsage(table)
        return found


def extract(sql: str, schema: Schema, dialect: str | None = None) -> StatementUsage:
    """The per-table usage of ``sql`` (never raises: parse errors land in ``.error``)."""
    dialect = dialect or schema.dialect
    if sql.startswith("administrator command: "):  # a slow log's Ping, Quit, Init DB, ...
        return StatementUsage("other")
    read = sqlglot_dialect(dialect)
    text = (
        _PLACEHOLDERS.sub(lambda m: m[0] if m[0].startswith("'") else "?", sql)
        if "%" in sql
        else sql
    )
    if read == "postgres" and "::" in text:
        text = _CAST_PLACEHOLDER.sub(lambda m: m[0] if m[0].startswith("'") else "$1", text)
    try:
        tree = cast("exp.Expression", sqlglot.parse_one(text, read=read))
    except SqlglotError as exc:
        return StatementUsage("other", error=f"unparseable: {str(exc).splitlines()[0][:200]}")
    except (RecursionError, ValueError, TypeError) as exc:  # deep nesting, odd tokens
        return StatementUsage("other", error=f"unparseable: {type(exc).__name__}")
    kind = _kind(tree)
    out = StatementUsage(kind)
    if isinstance(tree, exp.Insert | exp.Update | exp.Delete):
        target = tree.this
        while isinstance(target, exp.Schema):  # INSERT INTO t (a, b)
            target = target.this
        if isinstance(target, exp.Table):
            out.writes = target.name.lower()
    try:
        tree = qualify(
            tree,
            schema=cast("dict[str, object]", schema.mapping()) or None,
            dialect=read,
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
    except SqlglotError as exc:
        out.error = f"cannot resolve columns: {str(exc).splitlines()[0][:200]}"
        return out
    except Exception as exc:  # sqlglot's optimizer on an unusual tree: report, never crash
        out.error = f"cannot resolve columns: {type(exc).__name__}: {exc}"[:200]
        return out
    if isinstance(tree, exp.Update | exp.Delete) and out.writes:
        _dml(tree, out, schema, read)
    for scope in traverse_scope(tree):
        _scope(scope, out, read)
    if read == "mysql":
        _type_mismatches(out, schema)
    return out


_TEXT_TYPE = re.compile(r"^(char|varchar|text|tinytext|mediumtext|longtext|enum|set)", re.I)
_NUMBER = re.compile(r"^[\w.]+ = -?\d+(\.\d+)?$")


def _type_mismatches(out: StatementUsage, schema: Schema) -> None:
    """MySQL compares a string column with a number as numbers: every row is converted and
    the column's index is not used. Such an equality is reported, not indexed."""
    for use in out.tables.values():
        table = schema.table(use.table)
        if table is None:
            continue
        for column, predicate in list(use.constants.items()):
            col = table.column(column)
            if col is None or not _TEXT_TYPE.match(col.type or "") or not _NUMBER.match(predicate):
                continue
            if column in use.equality:
                use.equality.remove(column)
            use.unindexable.append(
                (
                    predicate,
                    f"type mismatch: {column} is {col.type} but is compared with a number, so "
                    "no index on it is used; quote the value",
                )
            )


def _kind(tree: exp.Expression) -> str:
    if isinstance(tree, exp.Select | exp.Union | exp.Intersect | exp.Except):
        return "select"
    for cls, name in ((exp.Insert, "insert"), (exp.Update, "update"), (exp.Delete, "delete")):
        if isinstance(tree, cls):
            return name
    return "other"


def _dml(tree: exp.Expression, out: StatementUsage, schema: Schema, read: str) -> None:
    """UPDATE/DELETE: no scope is built for them; their WHERE columns are the target's."""
    assert out.writes is not None
    where = tree.args.get("where")
    if where is None:
        return
    table = out.writes
    for predicate in _conjuncts(where.this):
        if predicate.find(exp.Select):
            continue  # subqueries get their own scopes
        _predicate(predicate, lambda column: table, out, read)


def _scope(scope: Scope, out: StatementUsage, read: str) -> None:
    select = scope.expression
    if not isinstance(select, exp.Select):
        return

    projections = {
        p.alias: p.this
        for p in select.expressions
        if isinstance(p, exp.Alias) and isinstance(p.this, exp.Column)
    }

    def table_of(column: exp.Column) -> str | None:
        alias = column.table
        if not alias and column.name in projections:  # ORDER BY a select-list name
            column = projections[column.name]
            alias = column.table
        current: Scope | None = scope
        while current is not None:  # correlated subqueries see the outer scopes' tables
            source = current.sources.get(alias)
            if isinstance(source, exp.Table):
                return source.name.lower()
            if source is not None:
                return None  # a derived table or CTE: its own scope handles it
            current = current.parent
        return None

    tables = {
        alias: source.name.lower()
        for alias, source in scope.sources.items()
        if isinstance(source, exp.Table)
    }
    for name in tables.values():
        out.usage(name)
    # what is read, per table
    for column in scope.columns:
        owner = table_of(column)
        if owner is not None:
            use = out.usage(owner)
            if use.selected is not None:
                use.selected.add(column.name)
    for star in select.expressions:
        if isinstance(star, exp.Star) or (isinstance(star, exp.Column) and star.is_star):
            owner = star.table if isinstance(star, exp.Column) else ""
            for alias, name in tables.items():
                if not owner or owner == alias:
                    out.usage(name).selected = None
    # predicates: WHERE, JOIN ... ON
    predicates: list[exp.Expression] = []
    where = select.args.get("where")
    if where is not None:
        predicates.extend(_conjuncts(where.this))
    for join in select.args.get("joins") or []:
        on = join.args.get("on")
        if isinstance(on, exp.Expression):
            predicates.extend(_conjuncts(on))
    for predicate in predicates:
        if predicate.find(exp.Select):
            _subquery_predicate(predicate, table_of, out)
            continue
        _predicate(predicate, table_of, out, read)
    # ORDER BY ... [LIMIT], GROUP BY
    order = select.args.get("order")
    if order is not None:
        keys: list[tuple[str, str, bool]] = []
        for ordered in order.expressions:
            column = ordered.this
            owner = table_of(column) if isinstance(column, exp.Column) else None
            if owner is None:
                keys = []
                break
            if not column.table and column.name in projections:
                column = projections[column.name]
            keys.append((owner, column.name, bool(ordered.args.get("desc"))))
        if keys and len({t for t, _, _ in keys}) == 1:
            use = out.usage(keys[0][0])
            use.order_by = [(c, d) for _, c, d in keys]
            use.limit = select.args.get("limit") is not None
    group = select.args.get("group")
    if group is not None:
        for item in group.expressions:
            if isinstance(item, exp.Column):
                owner = table_of(item)
                if owner is not None:
                    out.usage(owner).group_by.append(item.name)


def _conjuncts(node: Any) -> list[exp.Expression]:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return [*_conjuncts(node.left), *_conjuncts(node.right)]
    return [node]


def _is_value(node: exp.Expression | None) -> bool:
    """A literal, a parameter, or an expression of them (no column)."""
    if node is None:
        return False
    return node.find(exp.Column) is None and node.find(exp.Select) is None


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


def _predicate(node: exp.Expression, table_of: Any, out: StatementUsage, read: str) -> None:
    negated = isinstance(node, exp.Not)
    if negated:
        node = node.this
    if isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Or):
        columns = {c.name for c in node.find_all(exp.Column)}
        owner = {table_of(c) for c in node.find_all(exp.Column)} - {None}
        if len(owner) == 1:
            (table,) = owner
            out.usage(table).unindexable.append(
                (node.sql(read)[:120], "OR across columns: rewrite as UNION, or index each")
                if len(columns) > 1
                else (node.sql(read)[:120], "OR on one column: write it as IN (...)")
            )
        return
    if isinstance(node, exp.Is):
        column = node.this
        # `x IS NOT NULL` is Is(negate=True) in newer sqlglot, Not(Is) in older ones
        not_null = negated != bool(node.args.get("negate"))
        if isinstance(column, exp.Column) and isinstance(node.expression, exp.Null):
            table = table_of(column)
            if table is not None:
                use = out.usage(table)
                target = use.is_not_null if not_null else use.is_null
                _add(target, column.name)
                use.constants.setdefault(
                    column.name, f"{column.name} IS {'NOT ' if not_null else ''}NULL"
                )
        return
    if negated:
        return
    if isinstance(node, exp.EQ):
        left, right = node.this, node.expression
        if isinstance(left, exp.Column) and isinstance(right, exp.Column):
            lt, rt = table_of(left), table_of(right)
            if lt is not None and rt is not None and (lt != rt or left.table != right.table):
                _add(out.usage(lt).joins, left.name)
                _add(out.usage(rt).joins, right.name)
                out.usage(lt).join_partners.setdefault(left.name, rt)
                out.usage(rt).join_partners.setdefault(right.name, lt)
            return
        if not isinstance(left, exp.Column) and isinstance(right, exp.Column):
            left, right = right, left
        if isinstance(left, exp.Column) and _is_value(right):
            table = table_of(left)
            if table is not None:
                use = out.usage(table)
                _add(use.equality, left.name)
                if isinstance(right, exp.Literal | exp.Boolean):
                    bare = node.transform(
                        lambda n: exp.column(n.name) if isinstance(n, exp.Column) else n
                    )
                    use.constants.setdefault(left.name, bare.sql(read))
            return
        _function_predicate(left, right, table_of, out, read)
        return
    if isinstance(node, exp.In):
        column = node.this
        if isinstance(column, exp.Column):
            table = table_of(column)
            if table is not None:
                _add(out.usage(table).equality, column.name)
        return
    if isinstance(node, exp.GT | exp.GTE | exp.LT | exp.LTE | exp.Between):
        left = node.this
        right = node.args.get("expression") if not isinstance(node, exp.Between) else None
        op = _OPERATORS.get(type(node), "")
        if not isinstance(left, exp.Column) and isinstance(right, exp.Column):
            left, right = right, left
            op = _FLIPPED.get(op, op)
        if isinstance(left, exp.Column):
            table = table_of(left)
            if table is not None:
                use = out.usage(table)
                _add(use.ranges, left.name)
                sides = (
                    [(">=", node.args.get("low")), ("<=", node.args.get("high"))]
                    if isinstance(node, exp.Between)
                    else [(op, right)]
                )
                for operator, side in sides:
                    value = _constant(side)
                    if value is not None:
                        use.bounds.setdefault(left.name, []).append((operator, value))
        return
    if isinstance(node, exp.Like | exp.ILike):
        column, pattern = node.this, node.expression
        if not isinstance(column, exp.Column):
            return
        table = table_of(column)
        if table is None:
            return
        use = out.usage(table)
        text = pattern.this if isinstance(pattern, exp.Literal) and pattern.is_string else None
        if isinstance(node, exp.ILike):
            use.unindexable.append(
                (node.sql(read)[:120], "ILIKE: index lower(column) and compare lower(...)")
            )
        elif text is not None and text[:1] in ("%", "_"):
            use.unindexable.append(
                (
                    node.sql(read)[:120],
                    "leading wildcard LIKE: a B-tree cannot help; consider a pg_trgm GIN index",
                )
            )
        else:  # a prefix, or a parameter (usually a prefix)
            _add(use.ranges, column.name)
            _add(use.like_prefix, column.name)


_OPERATORS: dict[type, str] = {exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}
_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
_UNITS = {"day": "days", "days": "days", "week": "weeks", "weeks": "weeks"}


def _constant(node: exp.Expression | None) -> str | None:
    """The value of a constant expression, as text: a literal, a cast of one (``date
    '1994-01-01'``), arithmetic on numbers, a date plus or minus an interval of days,
    weeks, months or years; ``None`` for anything else (a parameter, ``now()``)."""
    import calendar
    import datetime as dt

    if node is None:
        return None
    if isinstance(node, exp.Paren):
        return _constant(node.this)
    if isinstance(node, exp.Literal):
        return str(node.this)
    if isinstance(node, exp.Neg):
        inner = _constant(node.this)
        return None if inner is None else f"-{inner}"
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
        return str(node.this.this)
    if not isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
        return None
    if isinstance(node.expression, exp.Interval) and isinstance(node, exp.Add | exp.Sub):
        base = _constant(node.this)
        amount = _constant(node.expression.this)
        unit = node.expression.args.get("unit")
        try:
            day = dt.date.fromisoformat(base or "")
            n = int(float(amount or "")) * (1 if isinstance(node, exp.Add) else -1)
        except ValueError:
            return None
        name = unit.name.lower() if unit is not None else ""
        if name in _UNITS:
            return (day + dt.timedelta(**{_UNITS[name]: n})).isoformat()
        months = {"month": 1, "months": 1, "year": 12, "years": 12}.get(name)
        if months is None:
            return None
        total = day.year * 12 + day.month - 1 + n * months
        year, month = divmod(total, 12)
        last = calendar.monthrange(year, month + 1)[1]  # Jan 31 + 1 month: Feb 28 (or 29)
        return day.replace(year=year, month=month + 1, day=min(day.day, last)).isoformat()
    a, b = _constant(node.this), _constant(node.expression)
    try:
        x, y = float(a or ""), float(b or "")
    except ValueError:
        return None
    if isinstance(node, exp.Add):
        return repr(x + y)
    if isinstance(node, exp.Sub):
        return repr(x - y)
    if isinstance(node, exp.Mul):
        return repr(x * y)
    return repr(x / y) if y else None


def _function_predicate(
    left: exp.Expression, right: exp.Expression, table_of: Any, out: StatementUsage, read: str
) -> None:
    """``f(column) = value``: lower()/upper() get an expression index; others are reported."""
    columns = list(left.find_all(exp.Column))
    if len(columns) != 1 or not _is_value(right):
        return
    table = table_of(columns[0])
    if table is None:
        return
    use = out.usage(table)
    if isinstance(left, exp.Lower | exp.Upper) and isinstance(left.this, exp.Column):
        bare = left.transform(lambda n: exp.column(n.name) if isinstance(n, exp.Column) else n)
        _add(use.expressions, bare.sql(read).lower())
    else:
        use.unindexable.append(
            (
                f"{left.sql(read)} = ..."[:120],
                "function on a column: compare the column itself, or add an expression index",
            )
        )


def _subquery_predicate(node: exp.Expression, table_of: Any, out: StatementUsage) -> None:
    """``col IN (SELECT ...)``: the outer column is probed like a join column."""
    if isinstance(node, exp.In) and isinstance(node.this, exp.Column):
        table = table_of(node.this)
        if table is not None:
            _add(out.usage(table).joins, node.this.name)
            out.usage(table).join_partners.setdefault(node.this.name, "")

"""Candidate indexes for one statement's use of one table.

Column order follows what a B-tree can use: equality columns first (the most selective first
when statistics say so), then one range column, then the ORDER BY columns when that lets the
index return rows in order for ``ORDER BY ... LIMIT``.

>>> from backendperf.advisor.schema import Schema
>>> from backendperf.advisor.usage import extract
>>> schema = Schema.from_ddl("CREATE TABLE orders (id int PRIMARY KEY, user_id int, "
...                          "status text, created_at timestamp, total numeric)")
>>> use = extract("SELECT id FROM orders WHERE user_id = 1 AND status = 'paid' "
...               "ORDER BY created_at DESC LIMIT 20", schema).tables["orders"]
>>> [str(c) for c in candidates(use, schema.tables["orders"], "postgresql")]
['orders (user_id, status, created_at DESC) INCLUDE (id)']
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from backendperf.advisor.schema import Index, Table
    from backendperf.advisor.usage import TableUsage

__all__ = ["Candidate", "candidates"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")
_TEXT_TYPES = re.compile(r"^(text|varchar|character varying|char|character|citext)", re.I)
PARTIAL_MAX_SHARE = 0.2
"""A constant predicate selecting at most this share of the rows makes a partial index."""
PARTIAL_MAX_DISTINCT = 20
MAX_INCLUDE = 3
"""Offline, a covering index carries at most this many extra columns."""
MAX_COVER = 5
"""What-if validation tries covering variants of up to this many INCLUDE columns."""


@dataclass(frozen=True, slots=True)
class Candidate:
    table: str
    columns: tuple[str, ...]
    desc: tuple[bool, ...] = ()
    include: tuple[str, ...] = ()
    where: str | None = None
    pattern_ops: tuple[str, ...] = ()
    """Columns that need ``text_pattern_ops`` for ``LIKE 'x%'`` (PostgreSQL, non-C collation)."""

    @property
    def key(self) -> tuple[str, tuple[str, ...], tuple[bool, ...], str | None]:
        """Identity without the INCLUDE list (merged across statements)."""
        return (self.table, self.columns, self.desc, self.where)

    def is_prefix_of(self, columns: tuple[str, ...], desc: tuple[bool, ...]) -> bool:
        n = len(self.columns)
        if n > len(columns) or columns[:n] != self.columns:
            return False
        mine = self.desc or (False,) * n
        theirs = (desc or (False,) * len(columns))[:n]
        # a reversed scan serves the all-flipped order as well
        return mine == theirs or mine == tuple(not d for d in theirs)

    def served_by(self, index: Index) -> bool:
        """An existing index already gives this one's access path (leftmost prefix)."""
        if index.where != self.where and index.where is not None:
            return False
        if self.where is not None and index.where is None and len(index.columns) > 0:
            return self.is_prefix_of(index.columns, index.desc)
        return self.is_prefix_of(index.columns, index.desc)

    def name(self) -> str:
        """The index's name: readable (``ix_<table>_<columns>``, ``_desc`` after a descending
        column, ``_partial``), and distinct for distinct indexes, so that ``IF NOT EXISTS``
        never skips one suggestion because another took its name. Where the readable part
        could be another index's (a partial index's predicate, an expression, a name cut at
        PostgreSQL's 63 characters), a short hash of the whole definition follows it.

        >>> Candidate("orders", ("status", "created_at"), (False, True)).name()
        'ix_orders_status_created_at_desc'
        >>> Candidate("orders", ("status",), where="deleted_at IS NULL").name()
        'ix_orders_status_partial_e0290e'
        """
        parts = []
        for i, column in enumerate(self.columns):
            part = re.sub(r"\W+", "_", column).strip("_")
            if i < len(self.desc) and self.desc[i]:
                part += "_desc"
            parts.append(part)
        text = f"ix_{self.table}_{'_'.join(parts)}" + ("_partial" if self.where else "")
        ambiguous = self.where is not None or any(not _IDENTIFIER.match(c) for c in self.columns)
        if ambiguous or len(text) > 63:
            definition = repr((self.table, self.columns, self.desc, self.where, self.pattern_ops))
            digest = hashlib.blake2s(definition.encode(), digest_size=3).hexdigest()
            text = f"{text[: 63 - 7]}_{digest}"
        return text

    def ddl(self, dialect: str, *, concurrently: bool = True) -> str:
        cols = []
        for i, column in enumerate(self.columns):
            part = column
            if dialect == "postgresql" and column in self.pattern_ops:
                part += " text_pattern_ops"
            if i < len(self.desc) and self.desc[i]:
                part += " DESC"
            cols.append(part)
        if dialect == "postgresql":
            how = "CONCURRENTLY " if concurrently else ""
            sql = (
                f"CREATE INDEX {how}IF NOT EXISTS {self.name()} ON {self.table} ({', '.join(cols)})"
            )
            if self.include:
                sql += f" INCLUDE ({', '.join(self.include)})"
        elif dialect == "sqlite":
            sql = f"CREATE INDEX IF NOT EXISTS {self.name()} ON {self.table} ({', '.join(cols)})"
        else:
            cols = [f"({c})" if "(" in c else c for c in cols]  # MySQL 8 functional keys
            sql = f"CREATE INDEX {self.name()} ON {self.table} ({', '.join(cols)})"
        if self.where and dialect != "mysql":
            sql += f" WHERE {self.where}"
        return sql + ";"

    def __str__(self) -> str:
        cols = ", ".join(
            c + (" DESC" if i < len(self.desc) and self.desc[i] else "")
            for i, c in enumerate(self.columns)
        )
        text = f"{self.table} ({cols})"
        if self.include:
            text += f" INCLUDE ({', '.join(self.include)})"
        if self.where:
            text += f" WHERE {self.where}"
        return text


def _distinct(table: Table | None, column: str) -> float | None:
    if table is None:
        return None
    col = table.column(column)
    return col.distinct(table.rows) if col is not None else None


def candidates(
    use: TableUsage,
    table: Table | None,
    dialect: str,
    drives: Callable[[str], bool] | None = None,
    fixed: set[str] | None = None,
    partial_share: float = PARTIAL_MAX_SHARE,
) -> list[Candidate]:
    """The indexes that would serve ``use`` best (usually one; more for expressions/joins).
    ``partial_share``: the largest share of the rows a partial index may hold.

    ``drives(table)`` says whether the statement filters that table; a join column is worth
    an index only when the table on the other side is filtered (it drives the join) or is an
    ``IN (SELECT ...)``. ``fixed`` holds the constant predicates written in the statement's
    SQL itself (not bound parameters): partial-index material.
    """
    out: list[Candidate] = []
    equality = list(use.equality)
    stats = [_distinct(table, c) for c in equality]
    if all(s is not None for s in stats) and len(equality) > 1:
        # most selective first; ties keep the statement's order
        ranked = sorted(range(len(equality)), key=lambda i: -(stats[i] or 0.0))
        equality = [equality[i] for i in ranked]
    keys = list(equality)
    desc = [False] * len(keys)
    range_column = next((c for c in use.ranges if c not in keys), None)
    order = [(c, d) for c, d in use.order_by if c not in keys]
    if use.limit and order and (range_column is None or range_column == order[0][0]):
        # the index returns rows in ORDER BY order: no sort, and LIMIT stops early
        for column, is_desc in order:
            keys.append(column)
            desc.append(is_desc)
    elif range_column is not None:
        keys.append(range_column)
        desc.append(False)
    where = None
    for column in use.is_null:  # `deleted_at IS NULL`: a partial index, not a key column
        if column not in keys:
            where = f"{column} IS NULL"
            break
    for column in use.is_not_null if where is None else ():
        # `deleted_at IS NOT NULL` where the statistics say few rows have a value
        col = table.column(column) if table is not None else None
        null_frac = col.null_frac if col is not None else None
        if column not in keys and null_frac is not None and 1.0 - null_frac <= partial_share:
            where = f"{column} IS NOT NULL"
            break
    if where is None and fixed is not None:
        # `status = 'pending'` written in the SQL, on a column of few values where this one
        # is rare: a partial index holds just those rows, and status leaves the key
        for column in equality:
            predicate = use.constants.get(column)
            if predicate is None or predicate not in fixed or len(keys) < 2:
                continue
            share = _constant_share(table, column, predicate)
            if share is not None and share <= partial_share:
                where = predicate
                at = keys.index(column)
                del keys[at]
                del desc[at]
                break
    if keys:
        pattern = tuple(
            c
            for c in use.like_prefix
            if c in keys and table is not None and _needs_pattern_ops(table, c, dialect)
        )
        include: tuple[str, ...] = ()
        need = reads(use, table, where) if dialect == "postgresql" else None
        if need is not None:
            extra = sorted(need - set(keys))
            if 0 < len(extra) <= MAX_INCLUDE:
                include = tuple(extra)
        if not any(desc):
            desc = []
        out.append(Candidate(use.table, tuple(keys), tuple(desc), include, where, pattern))
    elif where is not None:
        out.append(Candidate(use.table, (where.split()[0],), (), (), where))
    for expression in use.expressions:
        out.append(Candidate(use.table, (expression, *equality)))
    for column in use.joins:  # the probed side of a join (or an IN-subquery column)
        partner = use.join_partners.get(column, "")
        if column in keys or not (partner == "" or drives is None or drives(partner)):
            continue
        # the driving side's rows probe this table by the join column: it leads, as an
        # equality, followed by this table's own equality and range columns
        probe = [column, *(c for c in equality if c != column)]
        if range_column is not None and range_column != column:
            probe.append(range_column)
        out.append(Candidate(use.table, tuple(probe)))
    return out


def reads(use: TableUsage, table: Table | None, where: str | None) -> frozenset[str] | None:
    """The columns of ``use.table`` the statement reads, but the one a partial index's
    ``where`` already implies: an index holding them all serves it with an index-only scan.
    ``None`` when it reads every column (``SELECT *``): no index can cover it."""
    if use.selected is None or (
        table is not None and bool(table.columns) and use.selected >= set(table.columns)
    ):
        return None
    return frozenset(use.selected - ({where.split()[0]} if where else set()))


def _constant_share(table: Table | None, column: str, predicate: str) -> float | None:
    """The share of rows ``column = 'value'`` selects, from the most common values, for a
    column of few distinct values; ``None`` when the statistics cannot say."""
    col = table.column(column) if table is not None else None
    if col is None or not col.common or table is None:
        return None
    distinct = col.distinct(table.rows)
    if distinct is None or distinct > PARTIAL_MAX_DISTINCT:
        return None
    value = predicate.split("=", 1)[1].strip().strip("'")
    if value in col.common:
        return col.common[value]
    return 1.0 - sum(col.common.values())  # a rarer value than all the common ones


def _needs_pattern_ops(table: Table, column: str, dialect: str) -> bool:
    """``LIKE 'x%'`` on a PostgreSQL text column needs ``text_pattern_ops`` unless the
    column is known to sort bytewise (``COLLATE "C"``, or a ``C`` database)."""
    col = table.column(column)
    return (
        dialect == "postgresql"
        and col is not None
        and bool(_TEXT_TYPES.match(col.type or ""))
        and not col.bytewise
    )

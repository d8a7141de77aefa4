"""An offline cost model: the what-if pick's :class:`~backendperf.advisor.whatif.Coster`
from the statistics a schema carries (row counts, ``n_distinct``, ``null_frac``, most
common values, column types), with no database to ask.

It prices each table a statement reads the way PostgreSQL's planner prices a scan, with
its default cost constants: a sequential scan; an index scan or a bitmap scan on the
columns an index's key serves (equalities first, then one range), or an index-only scan
when the index holds every column the statement reads of that table; an index that gives
the ``ORDER BY`` under a ``LIMIT``; and the probes of a nested loop into an index on a join
column, once per row the other table's own filters leave. A statement's cost is the sum of
its tables' cheapest access, times its calls (a cancelled call counts too). Join order,
aggregation and the rest of a plan do not depend on the indexes tried here, so they are
left out: the model ranks index sets, it does not predict a plan's cost. Without a
statistic it uses the planner's own defaults (``DEFAULT_EQ_SEL`` 0.005, ``DEFAULT_INEQ_SEL``
1/3). Writes are charged as the what-if pick charges them (a row into each index).

>>> from backendperf.advisor.schema import Schema
>>> from backendperf.advisor.candidates import Candidate
>>> schema = Schema.from_ddl("CREATE TABLE orders (id int PRIMARY KEY, user_id int, "
...                          "status text, total numeric)")
>>> schema.tables["orders"].rows = 1_000_000
>>> schema.tables["orders"].columns["user_id"].n_distinct = 50_000
>>> coster = ModelCoster(schema, [("q1", "SELECT total FROM orders WHERE user_id = 7", 10)])
>>> before = coster.costs([])["q1"]
>>> after = coster.costs([Candidate("orders", ("user_id",))])["q1"]
>>> round(before / after) > 100
True
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from backendperf.advisor.usage import extract
from backendperf.advisor.whatif.base import samples
from backendperf.advisor.whatif.pick import MIN_GAIN, settle
from backendperf.advisor.whatif.postgres import UPKEEP_PAGES, _write_of, vacuum_pages

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from backendperf.advisor.candidates import Candidate
    from backendperf.advisor.report import Advice
    from backendperf.advisor.schema import Column, Schema, Table
    from backendperf.advisor.usage import TableUsage
    from backendperf.workload.workload import Workload

__all__ = ["ModelCoster", "estimate"]

# PostgreSQL's default planner constants (postgresql.conf) and selectivities (selfuncs.h).
SEQ_PAGE: Final = 1.0
RANDOM_PAGE: Final = 4.0
CPU_TUPLE: Final = 0.01
CPU_INDEX_TUPLE: Final = 0.005
CPU_OPERATOR: Final = 0.0025
DEFAULT_EQ_SEL: Final = 0.005
DEFAULT_INEQ_SEL: Final = 1 / 3
DEFAULT_MATCH_SEL: Final = 0.005
"""A ``LIKE 'prefix%'`` without statistics (the planner's ``DEFAULT_MATCH_SEL``)."""
PAGE: Final = 8192
TUPLE_OVERHEAD: Final = 28
"""Heap tuple header and line pointer, bytes."""
INDEX_TUPLE_OVERHEAD: Final = 16
"""Index tuple header, line pointer and alignment, bytes."""
FILL: Final = 0.9
"""B-tree leaf fill factor."""
LIMIT_ROWS: Final = 20.0
"""Rows a ``LIMIT`` is taken to want (the log's statements are fingerprinted without it)."""

_WIDTHS: Final = (
    ("bigint", 8),
    ("int8", 8),
    ("bigserial", 8),
    ("smallint", 2),
    ("int2", 2),
    ("int", 4),
    ("serial", 4),
    ("timestamp", 8),
    ("date", 4),
    ("time", 8),
    ("double", 8),
    ("float", 8),
    ("real", 4),
    ("numeric", 8),
    ("decimal", 8),
    ("bool", 1),
    ("uuid", 16),
    ("char(", 12),
    ("character(", 12),
)
_TEXT_WIDTH: Final = 32
"""A column of another type (text, varchar, json): the planner's own guess is 32 bytes."""


def width(column: Column | None) -> int:
    """Bytes a value of ``column`` takes, from its type."""
    kind = (column.type if column is not None else "").lower()
    return next((w for prefix, w in _WIDTHS if kind.startswith(prefix)), _TEXT_WIDTH)


def _eq_selectivity(table: Table, name: str, literal: str | None) -> float:
    """The share of rows ``name = literal`` keeps (``literal`` ``None``: a parameter)."""
    rows = max(table.rows or 1.0, 1.0)
    if any(ix.unique and ix.where is None and ix.columns == (name,) for ix in table.indexes):
        return 1.0 / rows  # a key: one row (the planner knows it from the unique index)
    column = table.column(name)
    if column is None:
        return DEFAULT_EQ_SEL
    common = column.common
    if literal is not None and literal in common:
        return common[literal]
    distinct = column.distinct(table.rows)
    if distinct is None or distinct <= 0:
        return DEFAULT_EQ_SEL
    rest = max(0.0, 1.0 - sum(common.values()) - (column.null_frac or 0.0))
    others = distinct - len(common)
    if others >= 1:
        return max(rest / others, 1.0 / rows)
    return 1.0 / distinct


def _literal(predicate: str | None) -> str | None:
    """The quoted value of ``col = 'value'`` (the form :attr:`TableUsage.constants` keeps)."""
    if predicate is None or "=" not in predicate:
        return None
    value = predicate.split("=", 1)[1].strip()
    if value.startswith("'") and value.endswith("'") and len(value) >= 2:
        return value[1:-1].replace("''", "'")
    return value or None


def _sortable(text: str) -> tuple[int, float | str]:
    """A key that orders values as the database does for numbers, dates and timestamps
    (ISO text), and as text otherwise (kind 0: numbers and times, 1: text)."""
    try:
        return (0, float(text))
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return (1, text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return (0, when.timestamp())


def _below(bounds: tuple[str, ...], value: str) -> float | None:
    """The share of a histogram's rows below ``value``: the buckets below it, and the part
    of its own bucket below it where values are numbers or times (PostgreSQL's
    ``ineq_histogram_selectivity``); ``None`` when the value does not compare with them."""
    keys = [_sortable(b) for b in bounds]
    key = _sortable(value)
    if len(keys) < 2 or any(k[0] != key[0] for k in keys):
        return None
    if key <= keys[0]:
        return 0.0
    if key >= keys[-1]:
        return 1.0
    i = next(j for j in range(1, len(keys)) if key < keys[j])
    low, high = keys[i - 1][1], keys[i][1]
    part = 0.5
    if isinstance(low, float) and isinstance(high, float) and isinstance(key[1], float):
        part = (key[1] - low) / (high - low) if high > low else 0.5
    return (i - 1 + part) / (len(keys) - 1)


def _range_selectivity(column: Column | None, bounds: list[tuple[str, str]]) -> float | None:
    """The share of rows the ranges ``bounds`` (``(operator, value)``) on ``column`` keep,
    from its histogram and most common values; ``None`` without a histogram or a value."""
    if column is None or not column.bounds or not bounds:
        return None
    low, high = 0.0, 1.0  # of the histogram's rows
    for op, value in bounds:
        share = _below(column.bounds, value)
        if share is None:
            return None
        if op in (">", ">="):
            low = max(low, share)
        else:
            high = min(high, share)
    common = column.common
    rest = max(0.0, 1.0 - sum(common.values()) - (column.null_frac or 0.0))
    kept = sum(
        freq
        for text, freq in common.items()
        if all(_holds(text, op, value) for op, value in bounds)
    )
    # never quite 0: a bucket's worth of the histogram, as the planner's clamp does
    return max(kept + rest * max(high - low, 0.0), rest / (10 * len(column.bounds)), 1e-6)


def _holds(text: str, op: str, value: str) -> bool:
    """Whether the value ``text`` meets ``op value`` (values that do not compare: no)."""
    a, b = _sortable(text), _sortable(value)
    return a[0] == b[0] and _COMPARE[op](a, b)


_COMPARE: Final = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_NULL_TEST: Final = re.compile(r'"?(\w+)"? IS (NOT )?NULL', re.IGNORECASE)
"""A partial index's ``col IS [NOT] NULL`` predicate."""


def _implied(where: str, use: TableUsage) -> tuple[str, ...] | None:
    """The columns whose predicates in ``use`` imply a partial index's ``where`` (``None``:
    they do not, and the index cannot serve the statement)."""
    text = " ".join(where.split())
    null = _NULL_TEST.fullmatch(text)
    if null is not None:
        column = null[1].lower()
        if null[2] is None:
            return (column,) if column in use.is_null else None
        valued = (*use.is_not_null, *use.equality, *use.ranges)
        return (column,) if column in valued else None
    for column, predicate in use.constants.items():
        if " ".join(predicate.split()).lower() == text.lower():
            return (column,)
    return None


def _where_share(table: Table, where: str) -> float:
    """The share of ``table``'s rows a partial index's ``where`` keeps, from the statistics
    (half when they do not say)."""
    text = " ".join(where.split())
    null = _NULL_TEST.fullmatch(text)
    if null is not None:
        column = table.column(null[1])
        frac = column.null_frac if column is not None else None
        if frac is None:
            return 0.5
        return frac if null[2] is None else 1.0 - frac
    equal = re.fullmatch(r'"?(\w+)"? = (.+)', text)
    if equal is not None:
        return _eq_selectivity(table, equal[1], _literal(text))
    return 0.5


def _mackert_lohman(pages: float, tuples: float) -> float:
    """Heap pages ``tuples`` random fetches touch in a table of ``pages`` pages (the
    planner's ``index_pages_fetched``, with the whole table in cache)."""
    if tuples <= 0:
        return 0.0
    return min(pages, 2.0 * pages * tuples / (2.0 * pages + tuples))


@dataclass(slots=True)
class _Access:
    """One table's part in one statement, with what the model needs of it."""

    table: Table
    use: TableUsage
    rows: float
    pages: float
    sel: dict[str, float]
    """column -> the share of rows its own predicate keeps."""
    kept: float
    """Rows left after every predicate on this table."""
    reads: frozenset[str] | None
    """The columns the statement reads of this table (``None``: every one)."""
    conditions: int


@dataclass(slots=True)
class _Shape:
    fingerprint: str
    calls: float
    accesses: dict[str, _Access] = field(default_factory=dict)
    writes: tuple[str, frozenset[str] | None] | None = None
    """``(table, columns set)`` of an INSERT (``None``) or UPDATE."""
    rows_written: float = 1.0
    deletes: bool = False
    """A DELETE: each index pays again when VACUUM removes the entries (:func:`vacuum_pages`)."""


class ModelCoster:
    """The pick's :class:`~backendperf.advisor.whatif.Coster` from ``schema``'s statistics:
    ``statements`` are ``(fingerprint, sql, calls)``. A statement that reads no table with
    a row count is left out of :meth:`costs` (it has no cost, and no index changes that)."""

    def __init__(self, schema: Schema, statements: Iterable[tuple[str, str, float]]) -> None:
        self.schema = schema
        self.sizes: dict[str, int] = {}
        self.failed: dict[str, str] = {}
        self.generic: set[str] = set()
        self.shapes: list[_Shape] = []
        self.cache: dict[frozenset[str], dict[str, float]] = {}
        self.each: dict[tuple[str, frozenset[str]], float] = {}
        for fingerprint, sql, calls in statements:
            shape = self._shape(fingerprint, sql, calls)
            if shape is not None:
                self.shapes.append(shape)

    # -- the statements ---------------------------------------------------------------------

    def _shape(self, fingerprint: str, sql: str, calls: float) -> _Shape | None:
        usage = extract(sql, self.schema)
        if usage.error is not None:
            self.failed[fingerprint] = usage.error
            return None
        shape = _Shape(fingerprint, calls)
        for name, use in usage.tables.items():
            table = self.schema.table(name)
            if table is None or not table.rows:
                continue
            shape.accesses[table.name] = self._access(table, use)
        if usage.writes is not None and usage.kind in ("insert", "update", "delete"):
            table = self.schema.table(usage.writes)
            if table is not None:
                found = _write_of(sql, {table.name.lower()})
                if found is not None:
                    shape.writes = (table.name, found[1])
                    shape.deletes = found[2]
                    access = shape.accesses.get(table.name)
                    if usage.kind != "insert" and access is not None:
                        shape.rows_written = max(1.0, access.kept)
        if not shape.accesses and shape.writes is None:
            return None
        return shape

    def _access(self, table: Table, use: TableUsage) -> _Access:
        rows = float(table.rows or 1.0)
        row_width = sum(width(c) for c in table.columns.values()) or _TEXT_WIDTH
        pages = max(1.0, math.ceil(rows * (row_width + TUPLE_OVERHEAD) / PAGE))
        sel: dict[str, float] = {}
        for name in use.equality:
            sel[name] = _eq_selectivity(table, name, _literal(use.constants.get(name)))
        for name in use.ranges:
            if name not in sel:
                known = _range_selectivity(table.column(name), use.bounds.get(name, []))
                if known is not None:
                    sel[name] = known
                else:
                    sel[name] = DEFAULT_MATCH_SEL if name in use.like_prefix else DEFAULT_INEQ_SEL
        for name in use.is_null:
            column = table.column(name)
            frac = column.null_frac if column is not None else None
            sel[name] = frac if frac else DEFAULT_EQ_SEL
        for expression in use.expressions:
            sel[expression] = DEFAULT_EQ_SEL
        kept = rows * math.prod(sel.values())
        reads = None if use.selected is None else frozenset(c.lower() for c in use.selected)
        conditions = len(sel) + len(use.unindexable)
        return _Access(table, use, rows, pages, sel, max(kept, 1.0), reads, conditions)

    # -- the Coster protocol ------------------------------------------------------------------

    def costs(self, indexes: list[Candidate]) -> dict[str, float]:
        key = frozenset(c.ddl("postgresql") for c in indexes)
        found = self.cache.get(key)
        if found is not None:
            return found
        on: dict[str, list[tuple[tuple[str, ...], frozenset[str], str | None]]] = {}
        for candidate in indexes:
            table = self.schema.table(candidate.table)
            if table is None:
                continue
            self.sizes.setdefault(candidate.ddl("postgresql"), self.size(table, candidate))
            held = frozenset(c.lower() for c in (*candidate.columns, *candidate.include))
            keys = tuple(c.lower() for c in candidate.columns)
            on.setdefault(table.name, []).append((keys, held, candidate.where))
        result: dict[str, float] = {}
        for shape in self.shapes:
            total = 0.0
            for name, access in shape.accesses.items():
                mine = on.get(name, [])
                sub = (shape.fingerprint + "\0" + name, frozenset(map(repr, mine)))
                cost = self.each.get(sub)
                if cost is None:
                    cost = self.each[sub] = self._cheapest(access, shape, mine)
                total += cost
            if shape.writes is not None:
                total += self._upkeep(shape, on)
            result[shape.fingerprint] = total * shape.calls
        self.cache[key] = result
        return result

    def served(self, candidate: Candidate) -> bool:
        table = self.schema.table(candidate.table)
        indexes = table.indexes if table is not None else []
        return not candidate.include and any(candidate.served_by(ix) for ix in indexes)

    def upkeep(self, candidate: Candidate) -> float:
        """What ``candidate`` costs the workload's writes (in the model's cost units)."""
        table = self.schema.table(candidate.table)
        if table is None:
            return 0.0
        held = frozenset(c.lower() for c in (*candidate.columns, *candidate.include))
        return sum(
            self._rows_into(shape, held, candidate.where)
            * shape.calls
            * self._pages_a_row(shape, held, candidate.where)
            * SEQ_PAGE
            for shape in self.shapes
            if shape.writes is not None and shape.writes[0] == table.name
        )

    def _pages_a_row(self, shape: _Shape, held: frozenset[str], where: str | None) -> float:
        """Pages one row ``shape`` writes costs an index holding ``held``: its leaf page,
        and for a DELETE the share of VACUUM's scans of the whole index."""
        if not shape.deletes or shape.writes is None:
            return UPKEEP_PAGES
        table = self.schema.table(shape.writes[0])
        if table is None or not table.rows:
            return UPKEEP_PAGES
        entry = sum(width(table.column(c)) for c in held) + INDEX_TUPLE_OVERHEAD
        share = 1.0 if where is None else _where_share(table, where)
        pages = table.rows * share * entry / (PAGE * FILL)
        return UPKEEP_PAGES + vacuum_pages(pages, table.rows)

    def size(self, table: Table, candidate: Candidate) -> int:
        """Bytes of a B-tree on ``candidate``: its rows x (the columns' widths + the tuple
        overhead), at the leaf fill factor."""
        entry = sum(width(table.column(c)) for c in (*candidate.columns, *candidate.include))
        rows = float(table.rows or 0.0)
        if candidate.where is not None:
            rows *= _where_share(table, candidate.where)
        pages = math.ceil(rows * (entry + INDEX_TUPLE_OVERHEAD) / (PAGE * FILL)) + 1
        return int(pages * PAGE)

    # -- the model ------------------------------------------------------------------------------

    def _existing(self, table: Table) -> list[tuple[tuple[str, ...], frozenset[str], str | None]]:
        return [
            (
                tuple(c.lower() for c in ix.columns),
                frozenset(c.lower() for c in (*ix.columns, *ix.include)),
                ix.where,
            )
            for ix in table.indexes
            if ix.columns
        ]

    def _cheapest(
        self,
        access: _Access,
        shape: _Shape,
        extra: list[tuple[tuple[str, ...], frozenset[str], str | None]],
    ) -> float:
        """The cheapest way to read ``access``'s table with its own indexes and ``extra``."""
        use = access.use
        sort = self._sort(access.kept) if use.order_by else 0.0
        best = (
            access.pages * SEQ_PAGE
            + access.rows * (CPU_TUPLE + CPU_OPERATOR * access.conditions)
            + sort
        )
        for keys, held, where in [*self._existing(access.table), *extra]:
            implied = () if where is None else _implied(where, use)
            if implied is None:
                continue  # a partial index this statement's predicates do not imply
            best = min(best, self._through(access, shape, keys, held, implied))
        return best

    def _through(
        self,
        access: _Access,
        shape: _Shape,
        keys: tuple[str, ...],
        held: frozenset[str],
        implied: tuple[str, ...] = (),
    ) -> float:
        """The cheapest use of one index with key ``keys`` holding ``held`` (partial, on the
        rows the predicates on ``implied`` keep): a scan on the predicates its key serves,
        in its order under a LIMIT, or a nested loop's probes."""
        use = access.use
        covering = access.reads is not None and access.reads <= held | set(implied)
        best = math.inf
        # the predicates the key serves: equalities, then one range (a partial index's own
        # predicate is served by its rows)
        sel = math.prod(access.sel.get(c, 1.0) for c in implied)
        matched = len(implied)
        for column in keys:
            if column in implied:
                continue
            if column in use.equality or column in use.is_null or column in use.expressions:
                sel *= access.sel.get(column, DEFAULT_EQ_SEL)
                matched += 1
                continue
            if column in use.ranges:
                sel *= access.sel.get(column, DEFAULT_INEQ_SEL)
                matched += 1
            break
        ordered = self._gives_order(use, keys)
        if matched:
            scan = self._scan(access, held, sel, matched, covering)
            if use.order_by and not ordered:
                scan += self._sort(access.kept)
            best = min(best, scan)
        if ordered and use.limit:
            # an ordered scan that stops after LIMIT rows pass the other predicates
            others = access.kept / max(access.rows * sel, 1.0)
            want = min(1.0, LIMIT_ROWS / max(access.rows * sel * others, 1.0))
            best = min(best, want * self._scan(access, held, sel, matched, covering))
        # a nested loop's probes, from the rows another table's own filters leave: the key's
        # leading columns joined to that table (or equal to a value) narrow each probe
        partners = use.join_partners
        for partner in {partners[k] for k in keys[:1] if partners.get(k)}:
            other = shape.accesses.get(partner) or shape.accesses.get(partner.lower())
            if other is None or other is access:
                continue
            per, used = 1.0, 0
            for column in keys:
                if partners.get(column) == partner:
                    stats = access.table.column(column)
                    distinct = stats.distinct(access.rows) if stats is not None else None
                    per *= 1.0 / distinct if distinct else DEFAULT_EQ_SEL
                elif column in use.equality:
                    per *= access.sel.get(column, DEFAULT_EQ_SEL)
                elif column in use.ranges:  # a range ends what the key narrows
                    per *= access.sel.get(column, DEFAULT_INEQ_SEL)
                    used += 1
                    break
                else:
                    break
                used += 1
            best = min(best, self._probes(access, keys, per, other.kept, covering, used))
        return best

    @staticmethod
    def _gives_order(use: TableUsage, keys: tuple[str, ...]) -> bool:
        """Whether an index on ``keys`` returns the rows in the ``ORDER BY`` order, after
        the equality columns it is led by (one value each)."""
        if not use.order_by:
            return False
        lead = 0
        while lead < len(keys) and keys[lead] in use.equality:
            lead += 1
        wanted = tuple(c.lower() for c, _ in use.order_by)
        return keys[lead : lead + len(wanted)] == wanted

    @staticmethod
    def _index_pages(access: _Access, held: frozenset[str]) -> float:
        """Leaf pages of an index holding the columns ``held`` (key and INCLUDE)."""
        entry = sum(width(access.table.column(c)) for c in held)
        return max(1.0, access.rows * (entry + INDEX_TUPLE_OVERHEAD) / (PAGE * FILL))

    def _scan(
        self,
        access: _Access,
        held: frozenset[str],
        sel: float,
        matched: int,
        covering: bool,
    ) -> float:
        """An index scan (or a bitmap scan) of an index holding ``held`` that fetches
        ``sel`` of the rows (a wide covering index has more leaf pages to read)."""
        fetched = max(1.0, access.rows * sel)
        leaf = self._index_pages(access, held)
        index = RANDOM_PAGE * max(1.0, math.ceil(leaf * sel)) + fetched * (
            CPU_INDEX_TUPLE + CPU_OPERATOR * matched
        )
        residual = fetched * (CPU_TUPLE + CPU_OPERATOR * max(0, access.conditions - matched))
        if covering:  # an index-only scan: no heap page (all visible), each row still paid
            return index + residual
        pages = _mackert_lohman(access.pages, fetched)
        plain = pages * RANDOM_PAGE
        per_page = RANDOM_PAGE - (RANDOM_PAGE - SEQ_PAGE) * math.sqrt(pages / access.pages)
        bitmap = pages * per_page + fetched * CPU_OPERATOR
        return index + min(plain, bitmap) + residual

    def _probes(
        self,
        access: _Access,
        keys: tuple[str, ...],
        per: float,
        probes: float,
        covering: bool,
        used: int = 1,
    ) -> float:
        """``probes`` index lookups (on ``used`` key columns) that each fetch ``per`` of the
        rows."""
        each = max(1.0, access.rows * per)
        total = each * probes
        descent = RANDOM_PAGE + each * (CPU_INDEX_TUPLE + CPU_OPERATOR * used)
        cost = probes * descent
        if not covering:
            cost += _mackert_lohman(access.pages, total) * RANDOM_PAGE
        return cost + total * (CPU_TUPLE + CPU_OPERATOR * access.conditions)

    @staticmethod
    def _sort(rows: float) -> float:
        rows = max(rows, 2.0)
        return 2.0 * CPU_OPERATOR * rows * math.log2(rows)

    def _rows_into(self, shape: _Shape, held: frozenset[str], where: str | None) -> float:
        """The rows ``shape``'s write puts into an index holding ``held``: none for an
        UPDATE of other columns (HOT), and for a partial index only the share of rows its
        ``where`` keeps (from the statistics)."""
        assert shape.writes is not None
        columns = shape.writes[1]
        if columns is not None and not columns & held:
            return 0.0  # an UPDATE of other columns: HOT leaves the index alone
        if where is None:
            return shape.rows_written
        table = self.schema.table(shape.writes[0])
        share = _where_share(table, where) if table is not None else 1.0
        return shape.rows_written * share

    def _upkeep(
        self,
        shape: _Shape,
        on: Mapping[str, list[tuple[tuple[str, ...], frozenset[str], str | None]]],
    ) -> float:
        assert shape.writes is not None
        return sum(
            self._rows_into(shape, held, where) * self._pages_a_row(shape, held, where) * SEQ_PAGE
            for _, held, where in on.get(shape.writes[0], ())
        )


def estimate(
    advice: Advice,
    workload: Workload,
    schema: Schema,
    *,
    max_indexes: int | None = None,
    max_size: int | None = None,
    min_gain: float = MIN_GAIN,
) -> Advice:
    """The what-if pick on ``advice``'s suggestions, with :class:`ModelCoster`'s costs from
    ``schema``'s statistics instead of a database's plans (``advise --stats``, or ``--db``
    without ``--validate``). Give it what :func:`~backendperf.advisor.whatif.validate` takes
    (``advise(..., whatif=True, min_share=0)``, more suggestions than ``max_indexes``)."""
    texts = {f: s.normalized for f, s in workload.stats.items()}
    statements = [(f, sql, float(calls)) for f, (sql, calls) in samples(workload).items()]
    suggestions = [s for s in advice.indexes if s.candidate is not None]
    if suggestions:
        wanted = {f for s in suggestions for f in s.fingerprints}
        coster = ModelCoster(schema, [s for s in statements if s[0] in wanted])
        settle(coster, "model", advice, suggestions, (max_indexes, max_size, min_gain), texts)
    advice.settle(texts)
    advice.mark_suggested_keys()
    return advice

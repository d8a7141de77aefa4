"""The advisor as a pipeline: ``STAGES`` is a tuple of plain functions over one state.

>>> from backendperf.events import QueryEvent
>>> from backendperf.workload import Workload
>>> from backendperf.advisor.schema import Schema
>>> w = Workload().extend(
...     QueryEvent(statement=f"SELECT * FROM orders WHERE user_id = {i}", duration_ms=5.0)
...     for i in range(10))
>>> schema = Schema.from_ddl("CREATE TABLE orders (id int PRIMARY KEY, user_id int, total int)")
>>> [s.ddl for s in advise(w, schema=schema).indexes]
['CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_orders_user_id ON orders (user_id);']

Pass ``stages=`` to run your own tuple (drop a stage, add one); each takes and returns the
:class:`State`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from backendperf.advisor.candidates import MAX_COVER, MAX_INCLUDE, Candidate, candidates, reads
from backendperf.advisor.report import (
    NO_ROWS,
    NOT_A_QUERY,
    Advice,
    NoSuggestion,
    Reason,
    Redundant,
    Suggestion,
    Unindexable,
)
from backendperf.advisor.schema import _milliseconds
from backendperf.advisor.usage import StatementUsage, extract

if TYPE_CHECKING:
    from collections.abc import Callable

    from backendperf.advisor.schema import Schema, Table
    from backendperf.advisor.usage import TableUsage
    from backendperf.workload.workload import Workload

__all__ = ["CONTRACTS", "STAGES", "Contract", "Inputs", "Query", "State", "advise"]

MIN_SHARE = 0.01
"""Candidates serving less than this share of the workload's time are not suggested."""
WHATIF_PARTIAL: Final = 0.5
"""For a what-if pick, a partial index is also offered on a constant predicate holding up to
this share of the rows (the offline rule's 20% decides nothing near its edge: a status of
20% of the rows by one ANALYZE sample is 21% by the next)."""
LOW_SELECTIVITY = 10
"""A single-column index on a column with fewer distinct values than this is not suggested."""


@dataclass(slots=True)
class Query:
    """One statement shape of the workload."""

    fingerprint: str
    normalized: str
    sample: str
    calls: int
    total_ms: float
    usage: StatementUsage | None = None
    raw: str = ""
    """The sample as logged, parameters not bound: its literals are written in the SQL."""
    raws: tuple[str, ...] = ()
    """Every kept sample as logged: a literal all of them hold is taken as written in the
    SQL (a log without parameters cannot tell a bound value from a written one)."""


@dataclass(slots=True)
class Pick:
    """A candidate and the statements it serves (built up by the stages)."""

    candidate: Candidate
    queries: dict[str, Query] = field(default_factory=dict)
    covers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """fingerprint -> the columns that statement reads from the table, for the statements
    an index could serve with an index-only scan (what INCLUDE may add)."""
    score: float = 0.0
    size: int | None = None
    notes: list[str] = field(default_factory=list)
    replaces: list[str] = field(default_factory=list)
    extra: bool = False
    """A what-if candidate (:func:`single_columns`): outside ``max_indexes``, which ranks the
    heuristic ones; the what-if pick decides whether it pays."""


@dataclass(frozen=True, slots=True)
class Inputs:
    """What one run of the pipeline is asked: every stage may read it, none changes it."""

    workload: Workload
    schema: Schema
    dialect: str
    max_indexes: int | None
    min_share: float = MIN_SHARE
    max_size: int | None = None
    whatif: bool = False
    """The advice goes to a what-if pick: add the candidates only plans can rank."""


@dataclass(slots=True)
class State:
    """The frozen :class:`Inputs` and the working part the stages fill in. What each stage
    of :data:`STAGES` reads and writes is :data:`CONTRACTS` (a test holds every stage to
    its writes); the inputs are read through ``state.inputs`` or, as before the split, as
    read-only attributes of the state (``state.schema``)."""

    inputs: Inputs
    queries: list[Query] = field(default_factory=list)
    picks: dict[Any, Pick] = field(default_factory=dict)
    advice: Advice = field(default_factory=Advice)
    total_ms: float = 0.0
    basis: str = "time"
    """What a statement weighs: its logged ``time``, or, in a workload without durations (a
    ``.sql`` file, a general log, pg_stat_statements without timing), its ``calls``."""

    @property
    def workload(self) -> Workload:
        return self.inputs.workload

    @property
    def schema(self) -> Schema:
        return self.inputs.schema

    @property
    def dialect(self) -> str:
        return self.inputs.dialect

    @property
    def max_indexes(self) -> int | None:
        return self.inputs.max_indexes

    @property
    def min_share(self) -> float:
        return self.inputs.min_share

    @property
    def max_size(self) -> int | None:
        return self.inputs.max_size

    @property
    def whatif(self) -> bool:
        return self.inputs.whatif


@dataclass(frozen=True, slots=True)
class Contract:
    """What a stage reads (input and working fields) and writes (working fields only)."""

    reads: frozenset[str]
    writes: frozenset[str]


WORKING: Final = frozenset(("queries", "picks", "advice", "total_ms", "basis"))
"""The fields of :class:`State` the stages write; the rest is :class:`Inputs`."""


# -- stages ------------------------------------------------------------------------------------


_RAN_LONG: Final = frozenset(
    ("statement timeout", "lock timeout", "user request", "recovery conflict")
)
"""Why a statement was cancelled after running a long time (a deadlock or an error need not)."""


def collect(state: State) -> State:
    """One Query per fingerprint, with a real sample (parameters bound) to parse.

    A statement cancelled by a timeout (or a user, or recovery) has no logged duration, but it
    ran at least as long as the slowest statement that completed (each of those finished
    before the timeout): it weighs that much per cancelled call, so the statements that never
    finish, often the ones that matter most, are not invisible to the advice. One cancelled by
    ``statement_timeout`` ran for the timeout itself: where the schema knows it (``--db``:
    the role's and database's settings, or the server's) or the log shows sessions setting
    it (``SET statement_timeout = ...``), it weighs at least the smallest of those.
    """
    logged = _logged_timeouts(state.workload)
    floor = max((s.max_ms for s in state.workload.stats.values() if s.timed), default=0.0)
    untimed = not any(s.timed and s.total_ms > 0 for s in state.workload.stats.values())
    if untimed:  # no durations at all: each call weighs the same (1 "ms")
        state.basis = "calls"
        floor = 1.0
    for stats in state.workload.stats.values():
        long_cancels = sum(n for why, n in stats.cancelled.items() if why in _RAN_LONG)
        calls = stats.count + long_cancels
        if not calls:  # only errors and deadlocks: nothing ran to serve
            continue
        sample = stats.samples[0].bound() if stats.samples else stats.normalized
        raw = stats.samples[0].statement if stats.samples else stats.normalized
        raws: tuple[str, ...] = (raw,)
        if stats.samples and not stats.samples[0].params:
            # no parameters logged (a MySQL log, a plain statement): a literal is constant
            # only if every kept sample has it (the other values may differ)
            raws = tuple(s.statement for s in stats.samples)
        total_ms = (stats.count if untimed else stats.total_ms) + long_cancels * floor
        timeouts = stats.cancelled.get("statement timeout", 0)
        if timeouts and not untimed:
            known = [*logged, state.schema.statement_timeout(*_who(stats))]
            timeout = min((t for t in known if t is not None), default=None)
            if timeout is not None and timeout > floor:
                total_ms += timeouts * (timeout - floor)
        state.queries.append(
            Query(stats.fingerprint, stats.normalized, sample, calls, total_ms, raw=raw, raws=raws)
        )
    state.total_ms = sum(q.total_ms for q in state.queries) or 1.0
    return state


_SET_TIMEOUT: Final = re.compile(
    r"^\s*set\s+(?:session\s+|local\s+)?statement_timeout\s*(?:=|\bto\b)\s*'?([^';\s]+)'?",
    re.IGNORECASE,
)


def _logged_timeouts(workload: Workload) -> list[float]:
    """The ``statement_timeout`` values (ms, 0 left out) the log's sessions set themselves:
    ``SET [SESSION|LOCAL] statement_timeout = 5000`` / ``TO '5s'``, from the kept samples."""
    out = []
    for stats in workload.stats.values():
        if "statement_timeout" not in stats.normalized:
            continue
        for sample in stats.samples:
            m = _SET_TIMEOUT.match(sample.bound())
            value = _milliseconds(m[1]) if m else None
            if value:
                out.append(value)
    return out


def _who(stats: Any) -> tuple[str | None, str | None]:
    """The role and database a statement ran as most often (a statement that never completed
    has only its samples' database)."""
    user = stats.users.most_common(1)[0][0] if stats.users else None
    database = stats.databases.most_common(1)[0][0] if stats.databases else None
    if database is None:
        database = next((s.database for s in stats.samples if s.database), None)
    return user, database


def parse(state: State) -> State:
    """Usage per table, parsing each distinct shape once."""
    for query in state.queries:
        query.usage = extract(query.sample, state.schema, state.dialect)
        if query.usage.error:
            state.advice.skipped["statements"] = state.advice.skipped.get("statements", 0) + 1
            state.advice.no_suggestion.append(
                NoSuggestion(query.fingerprint, query.normalized, query.usage.error)
            )
    return state


def generate(state: State) -> State:
    """Candidates for every (statement, table); unindexable predicates are reported."""
    for query in state.queries:
        usage = query.usage
        if usage is None or usage.error:
            continue
        found = False
        for use in usage.tables.values():
            table = state.schema.table(use.table)
            if table is None:
                state.advice.warnings.append(f"table {use.table} is not in the schema")
                continue
            for predicate, reason in use.unindexable:
                state.advice.unindexable.append(
                    Unindexable(query.fingerprint, use.table, predicate, reason)
                )
            fixed = {
                p
                for p in use.constants.values()
                if all(_holds(raw, _literal_of(p)) for raw in query.raws or (query.raw,))
            }
            found_here = candidates(use, table, state.dialect, usage.drives, fixed)
            extra = []
            if state.whatif and fixed:  # near the partial-index threshold, let the plans say
                wider = candidates(use, table, state.dialect, usage.drives, fixed, WHATIF_PARTIAL)
                extra = [c for c in wider if c.where and c not in found_here]
            for candidate in [*found_here, *extra]:
                found = True
                pick = state.picks.get(candidate.key)
                if pick is None:
                    pick = state.picks[candidate.key] = Pick(candidate, extra=candidate in extra)
                pick.queries[query.fingerprint] = query
                need = None if state.dialect != "postgresql" else reads(use, table, candidate.where)
                if (
                    need is not None
                    and len(need - set(candidate.columns)) <= MAX_COVER
                    and not any("(" in c for c in candidate.columns)
                ):
                    pick.covers[query.fingerprint] = tuple(sorted(need))
        if not found:
            if usage.kind in ("select", "update", "delete"):
                reason = (
                    "only unindexable predicates"
                    if any(u.unindexable for u in usage.tables.values())
                    else "no filter, join or sort an index could serve"
                )
            else:
                reason = NO_ROWS if usage.kind == "insert" else NOT_A_QUERY
            state.advice.no_suggestion.append(
                NoSuggestion(query.fingerprint, query.normalized, reason)
            )
    state.advice.warnings = sorted(set(state.advice.warnings))
    return state


def prune(state: State) -> State:
    """Drop what an existing index already serves, and low-selectivity single columns."""
    for key, pick in list(state.picks.items()):
        candidate = pick.candidate
        table = state.schema.table(candidate.table)
        if table is None:
            continue
        served = next((ix for ix in table.indexes if candidate.served_by(ix)), None) or next(
            (  # a unique key among the columns: at most one row is found already
                ix
                for ix in table.indexes
                if ix.unique and ix.where is None and set(ix.columns) <= set(candidate.columns)
            ),
            None,
        )
        if served is not None:
            del state.picks[key]
            _none(state, pick, f"already served by {served.name} on {candidate.table}")
            continue
        if (
            len(candidate.columns) == 1
            and candidate.where is None
            and _few_values(table, candidate.columns[0])
        ):
            del state.picks[key]
            _none(
                state,
                pick,
                f"{candidate.table}.{candidate.columns[0]} has only "
                f"{_distinct(table, candidate.columns[0]):.0f} distinct values: an index would "
                "not be used",
            )
    return state


def _holds(raw: str, literal: str) -> bool:
    """Whether ``raw`` holds ``literal`` as a whole token (``5`` is not in ``15``)."""
    if literal.startswith("'"):
        return literal in raw
    return re.search(rf"(?<![\w.$]){re.escape(literal)}(?![\w.])", raw) is not None


def _literal_of(predicate: str) -> str:
    """``'pending'`` of ``status = 'pending'``."""
    return predicate.split("=", 1)[1].strip() if "=" in predicate else "\0"


SMALL_TABLE_ROWS: Final = 1_000
"""A table with statistics saying at most this many rows gets no index: the planner scans a
few pages as cheaply (TPC-H's ``nation`` and ``region``, lookup tables)."""


def _tiny(state: State, pick: Pick) -> float | None:
    """The rows of ``pick``'s table when the statistics say it is small
    (:data:`SMALL_TABLE_ROWS`), else None."""
    table = state.schema.table(pick.candidate.table)
    rows = table.rows if table is not None else None
    return rows if rows is not None and 0 < rows <= SMALL_TABLE_ROWS else None


def _none(state: State, pick: Pick, reason: str) -> None:
    """Say, for each statement of a dropped candidate, why it gets no index."""
    for query in pick.queries.values():
        state.advice.no_suggestion.append(NoSuggestion(query.fingerprint, query.normalized, reason))


def merge(state: State) -> State:
    """A candidate that is a leftmost prefix of another is served by it: keep the longer.
    Then, when there are more candidates than ``max_indexes``, candidates with the same
    selective leading column (a key such as ``user_id``) become one index: it serves both
    statements well enough, and the budget goes to other access paths."""

    def prefix(host: Candidate, c: Candidate) -> bool:
        return c.is_prefix_of(host.columns, host.desc)

    def same_key(host: Candidate, c: Candidate) -> bool:
        return host.columns[0] == c.columns[0] and _selective(state, c.table, c.columns[0])

    kept = _fold(sorted(state.picks.values(), key=lambda p: -len(p.candidate.columns)), prefix)
    if state.max_indexes is not None and len(kept) > state.max_indexes:
        # only under budget pressure: the second fold trades precision for coverage
        kept.sort(key=lambda p: -sum(q.total_ms for q in p.queries.values()))
        kept = _fold(kept, same_key)
    state.picks = {p.candidate.key: p for p in kept}
    return state


def _indexable(use: TableUsage, table: Table) -> list[str]:
    """The columns of ``table`` an index key could use for ``use``: equality, range, join,
    sort and group columns, in that order, once each."""
    named = [*use.equality, *use.ranges, *use.joins, *(c for c, _ in use.order_by), *use.group_by]
    return [c for c in dict.fromkeys(named) if c in table.columns]


def single_columns(state: State) -> State:
    """For a what-if pick (``state.whatif``): a single-column candidate on every column a
    statement filters, joins, sorts or groups a table by, unless an index leads with it
    already, as Extend's search starts (Schlosser et al., 2019). The heuristics write one
    key per table access; the plans can tell when two narrow indexes beat it, or serve
    statements the heuristics gave none (a join column whose other side is not filtered)."""
    if not state.whatif:
        return state
    for query in state.queries:
        usage = query.usage
        if usage is None or usage.error:
            continue
        for use in usage.tables.values():
            table = state.schema.table(use.table)
            if table is None:
                continue
            need = reads(use, table, None) if state.dialect == "postgresql" else None
            for column in _indexable(use, table):
                candidate = Candidate(use.table, (column,))
                pick = state.picks.get(candidate.key)
                if pick is None:
                    leads = any(  # a partial index serves only its own rows
                        ix.columns[:1] == (column,) and ix.where is None for ix in table.indexes
                    )
                    if leads or _few_values(table, column):
                        continue
                    pick = state.picks[candidate.key] = Pick(candidate, extra=True)
                pick.queries[query.fingerprint] = query
                if need is not None and len(need - {column}) <= MAX_COVER:
                    pick.covers[query.fingerprint] = tuple(sorted(need))
    return state


def _distinct(table: Table, column: str) -> float | None:
    """The number of distinct values the statistics give ``column``, if any."""
    col = table.column(column)
    return col.distinct(table.rows) if col is not None else None


def _few_values(table: Table, column: str) -> bool:
    """Whether the statistics say ``column`` has too few distinct values for an index alone."""
    distinct = _distinct(table, column)
    return distinct is not None and distinct < LOW_SELECTIVITY and (table.rows or 0) > 1000


def _fold(picks: list[Pick], serves: Callable[[Candidate, Candidate], bool]) -> list[Pick]:
    """Fold each pick into an earlier one on the same table and predicate that ``serves`` it."""
    kept: list[Pick] = []
    for pick in picks:
        c = pick.candidate
        host = next(
            (
                k
                for k in kept
                if k.candidate.table == c.table
                and k.candidate.where == c.where
                and serves(k.candidate, c)
            ),
            None,
        )
        if host is None:
            kept.append(pick)
            continue
        host.queries.update(pick.queries)
        host.covers.update(pick.covers)  # what they read, whatever key serves them
    return kept


def _selective(state: State, table_name: str, column: str) -> bool:
    """Whether equality on ``column`` alone narrows to few rows: from statistics when known
    (at most 100 rows per value), else a key-like name (``id``, ``..._id``)."""
    table = state.schema.table(table_name)
    col = table.column(column) if table is not None else None
    rows = table.rows if table is not None else None
    distinct = col.distinct(rows) if col is not None else None
    if distinct and rows:
        return rows / distinct <= 100
    return column == "id" or column.endswith("_id")


def score(state: State) -> State:
    """Benefit: the time of the statements served; write-heavy tables count less."""
    writes: dict[str, float] = {}
    for query in state.queries:
        if query.usage is not None and query.usage.writes:
            writes[query.usage.writes] = writes.get(query.usage.writes, 0.0) + query.total_ms
    for pick in state.picks.values():
        served = sum(q.total_ms for q in pick.queries.values())
        share = writes.get(pick.candidate.table, 0.0) / state.total_ms
        pick.score = served * (1.0 - min(share, 0.5))
        if share >= 0.1:
            pick.notes.append(
                f"{pick.candidate.table} is write-heavy ({share:.0%} of the workload's "
                f"{state.basis} writes it): every index slows those writes"
            )
        table = state.schema.table(pick.candidate.table)
        if table is not None:
            pick.replaces = [
                ix.name
                for ix in table.indexes
                if not ix.unique
                and ix.where == pick.candidate.where
                and ix.columns != pick.candidate.columns
                and pick.candidate.columns[: len(ix.columns)] == ix.columns
            ]
    return state


def select(state: State) -> State:
    """The best candidates within ``max_indexes``, as suggestions."""
    ranked = sorted(state.picks.values(), key=lambda p: (-p.score, str(p.candidate)))
    kept = []
    for pick in ranked:
        rows = _tiny(state, pick)
        if rows is None:
            kept.append(pick)
            continue
        _none(
            state,
            pick,
            f"{pick.candidate.table} has {rows:,.0f} rows: a scan reads it in a few "
            "pages, as fast as an index would",
        )
    ranked = kept
    small = [p for p in ranked if p.score < state.min_share * state.total_ms]
    for pick in small:
        share = sum(q.total_ms for q in pick.queries.values()) / state.total_ms
        _none(
            state,
            pick,
            f"{pick.candidate} would serve {share:.1%} of the workload's {state.basis}: "
            f"below --min-share {state.min_share:.0%}, not worth its writes",
        )
    ranked = [p for p in ranked if p not in small]
    extra = [p for p in ranked if p.extra]  # the what-if pick's own: not ranked here
    ranked = [p for p in ranked if not p.extra]
    if state.max_indexes is not None:
        for pick in ranked[state.max_indexes :]:
            _none(
                state,
                pick,
                f"{pick.candidate} is outranked: --max-indexes {state.max_indexes} went to "
                "indexes that serve more of the workload's time",
            )
        ranked = ranked[: state.max_indexes]
    ranked += extra
    budget = state.max_size
    for pick in list(ranked):
        size = _estimated_size(state, pick.candidate)
        pick.size = size
        if budget is None:
            continue
        if size is None or size <= budget:
            budget -= size or 0
            continue
        ranked.remove(pick)
        _none(
            state,
            pick,
            f"{pick.candidate} (~{size / 1e6:.0f} MB) does not fit in what is left of "
            f"--max-size ({budget / 1e6:.0f} MB)",
        )
    for pick in ranked:
        candidate = pick.candidate
        include = _include(pick)
        final = Candidate(
            candidate.table,
            candidate.columns,
            candidate.desc,
            include,
            candidate.where,
            candidate.pattern_ops,
        )
        served = sum(q.total_ms for q in pick.queries.values())
        why = _reason(pick, final, state)
        state.advice.indexes.append(
            Suggestion(
                table=final.table,
                columns=final.columns,
                desc=final.desc,
                include=final.include,
                where=final.where,
                ddl=final.ddl(state.dialect),
                reason=str(why),
                fingerprints=sorted(pick.queries),
                queries_helped=len(pick.queries),
                share=served / state.total_ms,
                calls=sum(q.calls for q in pick.queries.values()),
                notes=[*pick.notes]
                + (
                    [f"makes {', '.join(pick.replaces)} redundant: drop it after this one"]
                    if pick.replaces
                    else []
                ),
                candidate=final,
                covers=dict(pick.covers),
                keys=_keys(pick, state),
                size_bytes=pick.size,
                statements=sorted(
                    ((q.normalized, q.total_ms / state.total_ms) for q in pick.queries.values()),
                    key=lambda x: -x[1],
                ),
                why=why,
            )
        )
    return state


def _keys(pick: Pick, state: State) -> tuple[str, ...]:
    """The columns the statements ``pick`` serves filter, join, sort or group its table by:
    what the what-if pick may add to its key (Extend's extension step)."""
    table = state.schema.table(pick.candidate.table)
    if table is None:
        return ()
    out: dict[str, None] = {}
    for query in pick.queries.values():
        use = query.usage.tables.get(pick.candidate.table) if query.usage else None
        if use is not None:
            out.update(dict.fromkeys(_indexable(use, table)))
    return tuple(out)


def _include(pick: Pick) -> tuple[str, ...]:
    """The offline INCLUDE list: what the statements it serves read beyond the key, the
    heaviest first, as long as the list stays within ``MAX_INCLUDE`` columns. A statement
    under a tenth of the index's time does not widen it (what-if validation tries every
    statement's list, and the planner decides)."""
    keys = set(pick.candidate.columns)
    served = sum(q.total_ms for q in pick.queries.values()) or 1.0
    chosen: set[str] = set()
    for fingerprint in sorted(pick.covers, key=lambda f: (-pick.queries[f].total_ms, f)):
        extra = set(pick.covers[fingerprint]) - keys
        if pick.queries[fingerprint].total_ms < 0.1 * served:
            break
        if len(chosen | extra) <= MAX_INCLUDE:
            chosen |= extra
    return tuple(sorted(chosen))


_WIDTHS = (
    ("bigint", 8),
    ("int8", 8),
    ("smallint", 2),
    ("int", 4),
    ("serial", 4),
    ("timestamp", 8),
    ("date", 4),
    ("double", 8),
    ("real", 4),
    ("numeric", 8),
    ("decimal", 8),
    ("bool", 1),
    ("uuid", 16),
    ("char(", 4),
)


def _estimated_size(state: State, candidate: Candidate) -> int | None:
    """Bytes of a B-tree on ``candidate``: rows x (key width + tuple overhead) / fill factor;
    ``None`` without a row count (DDL only)."""
    table = state.schema.table(candidate.table)
    if table is None or not table.rows:
        return None
    width = 0
    for name in (*candidate.columns, *candidate.include):
        col = table.column(name)
        kind = (col.type if col is not None else "").lower()
        width += next((w for prefix, w in _WIDTHS if kind.startswith(prefix)), 16)
    rows = table.rows
    if candidate.where is not None:
        rows *= 0.5  # a partial index: without statistics on its predicate, say half
    return int(rows * (width + 16) / 0.9)


def redundant(state: State) -> State:
    """Existing indexes that a longer one with the same leading columns makes useless."""
    for table in state.schema.tables.values():
        for a in table.indexes:
            if a.unique:
                continue
            for b in table.indexes:
                if (
                    b is not a
                    and b.where == a.where
                    and len(b.columns) >= len(a.columns)
                    and b.columns[: len(a.columns)] == a.columns
                    and (len(b.columns) > len(a.columns) or b.unique)
                ):
                    state.advice.redundant_indexes.append(
                        Redundant(table.name, a.name, b.name, f"{a} is a prefix of {b}")
                    )
                    break
    return state


def hygiene(state: State) -> State:
    """Unused indexes (when the schema came from a server that counts scans) and foreign
    keys that the workload joins on but no index leads with."""
    joined: set[tuple[str, str]] = {
        (use.table, column)
        for q in state.queries
        if q.usage is not None
        for use in q.usage.tables.values()
        for column in use.joins
    }
    for table in state.schema.tables.values():
        for name in table.unused:
            state.advice.unused_indexes.append({"table": table.name, "index": name})
        for columns, referenced in table.foreign_keys:
            if (table.name, columns[0]) not in joined:
                continue
            if any(ix.columns[: len(columns)] == columns for ix in table.indexes):
                continue
            state.advice.unindexed_foreign_keys.append(
                {
                    "table": table.name,
                    "columns": list(columns),
                    "references": referenced,
                }
            )
    state.advice.mark_suggested_keys()
    return state


def account(state: State) -> State:
    """Every statement shape is served by a suggestion or listed, with why, once."""
    state.advice.settle({q.fingerprint: q.normalized for q in state.queries})
    return state


STAGES: tuple[Callable[[State], State], ...] = (
    collect,
    parse,
    generate,
    prune,
    merge,
    single_columns,
    score,
    select,
    redundant,
    hygiene,
    account,
)


def _contract(reads: str, writes: str) -> Contract:
    return Contract(frozenset(reads.split()), frozenset(writes.split()))


CONTRACTS: Final[dict[Callable[[State], State], Contract]] = {
    collect: _contract("workload schema queries total_ms basis", "queries total_ms basis"),
    parse: _contract("schema dialect queries advice", "queries advice"),
    generate: _contract("schema dialect whatif queries picks advice", "picks advice"),
    prune: _contract("schema picks advice", "picks advice"),
    merge: _contract("schema max_indexes picks", "picks"),
    single_columns: _contract("schema dialect whatif queries picks", "picks"),
    score: _contract("schema queries picks total_ms basis", "picks"),
    select: _contract(
        "schema dialect max_indexes max_size min_share picks total_ms basis advice",
        "picks advice",
    ),
    redundant: _contract("schema advice", "advice"),
    hygiene: _contract("schema queries advice", "advice"),
    account: _contract("queries advice", "advice"),
}
"""What each stage of :data:`STAGES` reads and writes (``tests/unit/test_advisor.py`` holds
each stage to its writes: every other working field is left as it was)."""


def _reason(pick: Pick, candidate: Candidate, state: State) -> Reason:
    claims: list[tuple[str, tuple[str, ...]]] = []
    uses = [
        q.usage.tables[candidate.table]
        for q in pick.queries.values()
        if q.usage is not None and candidate.table in q.usage.tables
    ]
    eq = sorted({c for u in uses for c in u.equality if c in candidate.columns})
    rng = sorted({c for u in uses for c in u.ranges if c in candidate.columns and c not in eq})
    sort = any(u.order_by and u.limit for u in uses)
    joins = sorted({c for u in uses for c in u.joins if c in candidate.columns})
    for kind, columns in (("equality on", eq), ("range on", rng), ("join on", joins)):
        if columns:
            claims.append((kind, tuple(columns)))
    expressions = tuple(c for c in candidate.columns if "(" in c)
    if expressions:
        claims.append(("expression index on", expressions))
    if sort and len(candidate.columns) > len(eq) + len(rng):
        claims.append(("sorts", ()))
    if candidate.where:
        claims.append(("partial", (candidate.where,)))
    if candidate.include:
        claims.append(("covering", ()))
    if candidate.pattern_ops:
        claims.append(("pattern_ops", ()))
    served = sum(q.total_ms for q in pick.queries.values())
    return Reason(
        len(pick.queries),
        served / state.total_ms,
        state.basis,
        (candidate.table, *candidate.columns),
        tuple(claims),
    )


def advise(
    workload: Workload,
    *,
    schema: Schema,
    dialect: str | None = None,
    max_indexes: int | None = 10,
    min_share: float = MIN_SHARE,
    max_size: int | None = None,
    stages: tuple[Callable[[State], State], ...] = STAGES,
    whatif: bool = False,
) -> Advice:
    """Index advice for ``workload`` over ``schema`` (offline: heuristics, no database).

    The dialect is the schema's unless given. For what-if validation against a live
    PostgreSQL, pass the result to :func:`backendperf.advisor.whatif.validate`, with
    ``whatif=True`` here: the advice then also holds a single-column candidate for every
    column the statements filter, join, sort or group by (outside ``max_indexes``), for the
    what-if pick to try, to extend by a column, or to leave out.
    """
    inputs = Inputs(
        workload, schema, dialect or schema.dialect, max_indexes, min_share, max_size, whatif
    )
    state = State(inputs)
    for stage in stages:
        state = stage(state)
    state.advice.summary = {
        "statements": len(state.queries),
        "indexes": len(state.advice.indexes),
        "dialect": state.dialect,
        "workload_ms": round(state.total_ms, 3) if state.basis == "time" else 0.0,
        "weighted_by": state.basis,
    }
    if state.basis == "calls":
        state.advice.warnings.append(
            "the workload has no durations: statements are weighed by how often they ran"
        )
    return state.advice

"""What-if costs on PostgreSQL: HypoPG hypothetical indexes, or real ones built inside a
transaction that is always rolled back (under ``lock_timeout`` and ``statement_timeout``);
every statement EXPLAINed (never executed) with its logged values."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backendperf.advisor.whatif.base import samples as workload_samples
from backendperf.advisor.whatif.pick import settle

if TYPE_CHECKING:
    from collections.abc import Mapping

    from backendperf.advisor.candidates import Candidate
    from backendperf.advisor.report import Advice, Suggestion
    from backendperf.advisor.schema import Index
    from backendperf.workload.workload import Workload

_PLACEHOLDER = re.compile(r"\$(\d+)")


@dataclass(slots=True)
class _Statement:
    fingerprint: str
    sql: str
    calls: int
    generic: int = 0
    """Parameters ``$1..$n`` without logged values: costed with a generic plan."""
    tables: frozenset[str] | None = None
    """The tables it reads or writes (bare, lower case); ``None``: not known for sure (a
    view, a function, a statement sqlglot cannot parse), so every index may change its plan."""
    columns: frozenset[str] | None = None
    """Every column name it mentions (lower case, any table); ``None``: not known. A B-tree
    index whose leading column it never mentions cannot change its plan: PostgreSQL 15 has
    no skip scan, and an index-only scan of the whole index reads that column too."""


@dataclass(slots=True)
class _Write:
    """A statement that writes rows into a table's indexes. PostgreSQL's plans leave index
    upkeep out, so the pick charges each index on ``table`` for every row written into it
    (:data:`UPKEEP_PAGES` pages' cost a row; a deleted row also its share of VACUUM's scans
    of the index)."""

    statement: _Statement
    table: str
    columns: frozenset[str] | None
    """The columns an UPDATE sets (an index holding none of them is not charged: a HOT
    update leaves it alone); ``None``: every index (an INSERT, a DELETE)."""
    rows: float = 1.0
    """Rows written per call: the plan's estimate."""
    deletes: bool = False
    """A DELETE: its index entries are removed later, by VACUUM (:func:`vacuum_pages`)."""


AUTOVACUUM_SCALE = 0.2
AUTOVACUUM_THRESHOLD = 50.0
"""PostgreSQL's defaults: autovacuum cleans a table once this share of its rows plus this
many are dead (``autovacuum_vacuum_scale_factor``, ``autovacuum_vacuum_threshold``)."""


def vacuum_pages(index_pages: float, table_rows: float) -> float:
    """The pages of an index VACUUM reads per row a DELETE leaves dead: each autovacuum run
    scans every index of the table whole, once per (scale x rows + threshold) dead rows."""
    return index_pages / (AUTOVACUUM_SCALE * max(table_rows, 0.0) + AUTOVACUUM_THRESHOLD)


_SHARE = "\0partial-index share"
"""The fingerprint under which :meth:`_Coster._share` EXPLAINs (none of the workload's)."""

UPKEEP_PAGES = 1.0
"""What one row written into an index costs, in pages (``seq_page_cost`` each): the descent
is cheap, but the leaf page it dirties is WAL-logged and written back."""


def _write_of(sql: str, tables: set[str]) -> tuple[str, frozenset[str] | None, bool] | None:
    """``(table, columns, deletes)`` when ``sql`` is an INSERT (columns ``None``), an UPDATE
    (the columns it sets) or a DELETE (``deletes``: every index, through VACUUM) on one of
    ``tables``; else ``None``."""
    import sqlglot
    from sqlglot import exp

    head = sql.lstrip()[:6].upper()
    if head not in ("INSERT", "UPDATE", "DELETE"):
        return None
    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except Exception:  # sqlglot's errors: not charged
        return None
    target = tree.this
    if isinstance(target, exp.Schema):
        target = target.this
    if not isinstance(target, exp.Table) or target.name.lower() not in tables:
        return None
    if isinstance(tree, exp.Insert):
        return target.name.lower(), None, False
    if isinstance(tree, exp.Update):
        sets = [e.this for e in tree.expressions if isinstance(e, exp.EQ)]
        columns = frozenset(c.name.lower() for c in sets if c is not None)
        return target.name.lower(), columns, False
    if isinstance(tree, exp.Delete):
        return target.name.lower(), None, True
    return None


def _bare(table: str) -> str:
    """A suggestion's table without its schema or quotes: its ``pg_class.relname``."""
    return table.rsplit(".", 1)[-1].strip('"')


def _tables_of(sql: str, real: set[str]) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """The ``real`` tables ``sql`` names, or ``None`` when it names anything else (a view
    or a set-returning function hides the tables an index would serve); and the column
    names it mentions (``None`` when it could not be parsed, or reads ``*``)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except Exception:  # sqlglot's errors, or a recursion limit: assume every table
        return None, None
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    columns: frozenset[str] | None = frozenset(c.name.lower() for c in tree.find_all(exp.Column))
    if any(not isinstance(star.parent, exp.Count) for star in tree.find_all(exp.Star)):
        columns = None  # SELECT *, t.*: every column (count(*) reads none)
    names = set()
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if name in ctes and not table.db:
            continue
        if name not in real:
            return None, columns
        names.add(name)
    return frozenset(names), columns


def _validate_postgres(
    advice: Advice,
    workload: Workload,
    url: str,
    create_extension: bool,
    timeouts: tuple[int, int],
    budget: tuple[int | None, int | None, float],
    texts: Mapping[str, str],
) -> None:
    import psycopg

    statement_timeout_ms, lock_timeout_ms = timeouts

    # values bound when logged; else a generic plan (which NULLs cannot skew)
    statements = {
        fingerprint: _Statement(
            fingerprint, sql, calls, max(map(int, _PLACEHOLDER.findall(sql)), default=0)
        )
        for fingerprint, (sql, calls) in workload_samples(workload).items()
    }
    suggestions = [s for s in advice.indexes if s.candidate is not None]
    if not suggestions:
        return
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.prepare_threshold = None  # our PREPAREs only (DEALLOCATE ALL is then safe)
        method, ns = _prepare(conn, create_extension)
        # tables an index can be built on (views and functions are not), and their columns
        # (a name two schemas use: not known, as a statement may mean either)
        found: dict[str, list[frozenset[str]]] = {}
        for name, columns in conn.execute(
            "SELECT c.relname, array_agg(a.attname::text) FROM pg_class c JOIN pg_attribute a "
            "ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE c.relkind IN ('r', 'p', 'm', 'f') GROUP BY c.oid, c.relname"
        ):
            found.setdefault(str(name).lower(), []).append(
                frozenset(str(c).lower() for c in columns)
            )
        real = set(found)
        columns_of = {name: sets[0] if len(sets) == 1 else None for name, sets in found.items()}
        on = {_bare(s.table).lower() for s in suggestions}  # the tables the pick may index
        existing = _existing_btrees(conn, {name for name in on if columns_of.get(name)})
        for fingerprint in {f for s in suggestions for f in s.fingerprints}:
            if fingerprint in statements:  # parsed again only for what will be costed
                statement = statements[fingerprint]
                statement.tables, statement.columns = _tables_of(statement.sql, real)
        writes = [
            _Write(s, write[0], write[1], deletes=write[2])
            for s in statements.values()
            if (write := _write_of(s.sql, on)) is not None
        ]
        try:
            conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
            conn.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
            advice.warnings += _visibility(conn, suggestions)
            _greedy(
                conn,
                (method, ns, columns_of, existing),
                advice,
                suggestions,
                statements,
                budget,
                texts,
                writes,
            )
        finally:
            conn.rollback()  # an aborted transaction first, then HypoPG's backend-local state
            if method == "hypopg":
                conn.execute(f"SELECT {ns}hypopg_reset()")
                conn.rollback()


VISIBLE_MIN = 0.5
"""Below this share of all-visible pages, index-only scans are costed as plain index scans."""


def _visibility(conn: Any, suggestions: list[Suggestion]) -> list[str]:
    """One warning naming the tables whose visibility map is mostly unset (loaded or
    rewritten, and not vacuumed since): the planner then costs an index-only scan like an
    index scan that visits the heap, so what-if plans undervalue covering (INCLUDE) indexes
    until (auto)vacuum has run."""
    names = sorted(
        {_bare(s.table) for s in suggestions if s.candidate is not None and (s.covers or s.include)}
    )
    if not names:
        return []
    rows = conn.execute(
        "SELECT relname, relpages, relallvisible FROM pg_class "
        "WHERE relkind IN ('r', 'm') AND relname = ANY(%s) AND pg_table_is_visible(oid) "
        "ORDER BY relname",
        (names,),
    ).fetchall()
    stale = [
        f"{name} ({visible / pages:.0%} of its pages all-visible)"
        for name, pages, visible in rows
        if pages >= 128 and visible < VISIBLE_MIN * pages
    ]
    if not stale:
        return []
    return [
        f"not vacuumed since loaded or rewritten: {', '.join(stale)}. The planner costs "
        "index-only scans there like index scans, so covering indexes look worth less than "
        "they will after VACUUM: run VACUUM (ANALYZE) on them first for steady-state costs"
    ]


def _prepare(conn: Any, create_extension: bool) -> tuple[str, str]:
    """``(method, schema prefix of HypoPG's functions)``."""
    query = (
        "SELECT quote_ident(n.nspname) || '.' FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'hypopg'"
    )
    have = conn.execute(query).fetchone()
    if have is None and create_extension:
        available = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'"
        ).fetchone()
        if available is not None:
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
            conn.commit()
            have = conn.execute(query).fetchone()
    conn.rollback()
    return ("hypopg", str(have[0])) if have is not None else ("rollback", "")


class _Coster:
    """Workload cost under a set of (hypothetical or rolled-back) indexes, cached."""

    def __init__(
        self,
        conn: Any,
        method: str,
        ns: str,
        statements: list[_Statement],
        columns_of: Mapping[str, frozenset[str] | None] | None = None,
        existing: Mapping[str, list[Index]] | None = None,
    ) -> None:
        self.conn = conn
        self.columns_of = columns_of or {}
        """table -> its columns (lower case): to tell which indexes can change a plan."""
        self.existing = existing or {}
        """table -> its B-tree indexes: a variant one of them serves is not tried."""
        self.method = method
        self.ns = ns
        self.statements = statements
        self.cache: dict[frozenset[str], dict[str, float]] = {}
        # (fingerprint, the DDL of the indexes on its tables) -> cost: an index on another
        # table cannot change a plan, so most trials re-use most statements' costs
        self.each: dict[tuple[str, frozenset[str]], float] = {}
        self.sizes: dict[str, int] = {}
        self.failed: dict[str, str] = {}
        self.generic: set[str] = set()
        self.writes: list[_Write] = []
        """The workload's writes on the tables the pick may index (:meth:`charge`)."""
        self.page = 1.0  # seq_page_cost, once :meth:`charge` has read it
        self.shares: dict[tuple[str, str], float] = {}
        self.table_rows: dict[str, float] = {}
        """(table, partial index predicate) -> the share of rows it keeps (:meth:`_share`)."""

    def charge(self, writes: list[_Write]) -> None:
        """Charge every index for the rows ``writes`` put into it (each write's rows per
        call from its plan, as EXPLAIN estimates them; never run)."""
        if not writes:
            return
        row = self.conn.execute("SELECT current_setting('seq_page_cost')::float8").fetchone()
        self.page = float(row[0]) if row else 1.0
        for write in writes:
            plan = self._plan(write.statement)  # ModifyTable, over the rows it writes
            below = plan.get("Plans") if plan is not None else None
            if below:
                write.rows = float(below[0].get("Plan Rows", 1.0))
        self.writes = writes
        self.cache.clear()

    def upkeep(self, candidate: Candidate) -> float:
        """What ``candidate`` costs the workload's writes (in the plans' cost units)."""
        return sum(self._upkeep(write, candidate) for write in self.writes)

    def _upkeep(self, write: _Write, candidate: Candidate) -> float:
        """What ``candidate`` costs ``write``: its rows a run, if they go into the index."""
        if _bare(candidate.table).lower() != write.table:
            return 0.0
        if write.columns is not None and not write.columns & _held(candidate):
            return 0.0  # an UPDATE of other columns: HOT leaves the index alone
        share = 1.0 if candidate.where is None else self._share(candidate)
        pages = UPKEEP_PAGES
        if write.deletes:  # VACUUM removes the entry later, and scans the whole index for it
            size = self.sizes.get(candidate.ddl("postgresql"), 0)
            pages += vacuum_pages(size / 8192, self._rows(candidate.table))
        return write.rows * share * write.statement.calls * pages * self.page

    def _rows(self, table: str) -> float:
        """The planner's row count of ``table`` (0 when it cannot say)."""
        found = self.table_rows.get(table)
        if found is None:
            plan = self._plan(_Statement(_SHARE, f"SELECT 1 FROM {table}", 1))  # noqa: S608
            self.failed.pop(_SHARE, None)
            found = self.table_rows[table] = (
                float(plan.get("Plan Rows", 0.0)) if plan is not None else 0.0
            )
        return found

    def _share(self, candidate: Candidate) -> float:
        """The share of its table's rows a partial index's ``WHERE`` keeps, as the planner
        estimates it (the rows a write puts into the index are that share of its rows);
        1 when it cannot say."""
        key = (candidate.table, candidate.where or "")
        found = self.shares.get(key)
        if found is None:
            # the index's own table and predicate, EXPLAINed (never run) like the statements
            rows = self._rows(candidate.table)
            sql = f"SELECT 1 FROM {candidate.table} WHERE {candidate.where}"  # noqa: S608
            part = self._plan(_Statement(_SHARE, sql, 1))
            self.failed.pop(_SHARE, None)  # not a statement of the workload
            some = float(part.get("Plan Rows", 0.0)) if part is not None else rows
            found = self.shares[key] = min(1.0, some / rows) if rows > 0 else 1.0
        return found

    def costs(self, indexes: list[Candidate]) -> dict[str, float]:
        ddl = [(c.ddl("postgresql"), _bare(c.table).lower(), c) for c in indexes]
        key = frozenset(d for d, _, _ in ddl)
        found = self.cache.get(key)
        if found is not None:
            return found
        # what each index can reach, worked out once per call, not once per statement
        reach = [(d, table, _lead(c), _held(c)) for d, table, c in ddl]
        keys = {
            s.fingerprint: frozenset(
                d for d, table, lead, held in reach if self._reaches(s, table, lead, held)
            )
            for s in self.statements
        }
        todo = [s for s in self.statements if (s.fingerprint, keys[s.fingerprint]) not in self.each]
        # build only what can change those plans, or has no size yet (a rolled-back CREATE
        # INDEX is a real build: indexes on other tables would be built for nothing)
        tables = (
            None
            if any(s.tables is None for s in todo)
            else {t for s in todo for t in s.tables or ()}
        )
        build = [
            c
            for c, (d, table, _) in zip(indexes, ddl, strict=True)
            if d not in self.sizes or (todo and (tables is None or table in tables))
        ]
        if build or todo:
            self._explain(build, todo, keys)
        failed = self.failed  # a statement that could not be EXPLAINed has no cost, not 0
        result = {
            s.fingerprint: self.each[s.fingerprint, keys[s.fingerprint]]
            for s in self.statements
            if s.fingerprint not in failed
        }
        for write in self.writes:  # what the indexes add to each write (plans leave it out)
            upkeep = sum(self._upkeep(write, c) for c in indexes)
            if upkeep:
                fingerprint = write.statement.fingerprint
                result[fingerprint] = result.get(fingerprint, 0.0) + upkeep
        self.cache[key] = result
        return result

    def served(self, candidate: Candidate) -> bool:
        """Whether an existing index already gives ``candidate``'s access path (its key a
        leftmost prefix of that index's; a covering variant is another path). HypoPG sizes
        a hypothetical ``(a)`` below a real ``(a, b)``, so the plans would take the copy."""
        indexes = self.existing.get(_bare(candidate.table).lower(), [])
        return not candidate.include and any(candidate.served_by(ix) for ix in indexes)

    def _may_change(self, statement: _Statement, table: str, index: Candidate) -> bool:
        """Whether ``index`` (on ``table``) can change ``statement``'s plan: it is on a
        table the statement reads, and the statement mentions its leading column, or every
        column it mentions of that table is in the index (an index-only scan of the whole
        index). Unknown tables or columns: it can."""
        return self._reaches(statement, table, _lead(index), _held(index))

    def _reaches(
        self, statement: _Statement, table: str, lead: str | None, held: frozenset[str]
    ) -> bool:
        """:meth:`_may_change` for an index leading with ``lead`` and holding ``held``."""
        if statement.tables is not None and table not in statement.tables:
            return False
        mentioned = statement.columns
        if mentioned is None or lead is None or lead in mentioned:
            return True
        columns = self.columns_of.get(table)
        if columns is None:
            return True
        return (mentioned & columns) <= held

    def _explain(
        self,
        indexes: list[Candidate],
        todo: list[_Statement],
        keys: dict[str, frozenset[str]],
    ) -> None:
        """Create ``indexes`` (hypothetical, or real in a savepoint) and cost ``todo``."""
        conn = self.conn
        if self.method == "hypopg":
            ns = self.ns
            conn.execute(f"SELECT {ns}hypopg_reset()")
            for candidate in indexes:
                row = conn.execute(  # ns: the extension's schema, from pg_namespace
                    f"SELECT indexrelid FROM {ns}hypopg_create_index(%s)",  # noqa: S608
                    (_plain_ddl(candidate),),
                ).fetchone()
                if row is not None and candidate.ddl("postgresql") not in self.sizes:
                    size = conn.execute(
                        f"SELECT {ns}hypopg_relation_size(%s)", (row[0],)
                    ).fetchone()
                    self.sizes[candidate.ddl("postgresql")] = int(size[0]) if size else 0
        else:
            conn.execute("SAVEPOINT bp_whatif")
            for i, candidate in enumerate(indexes):
                name = f"bp_whatif_{i}"  # rolled back below with the index
                conn.execute(_plain_ddl(candidate).replace(" INDEX ON ", f" INDEX {name} ON ", 1))
                if candidate.ddl("postgresql") not in self.sizes:
                    size = conn.execute("SELECT pg_relation_size(%s::regclass)", (name,)).fetchone()
                    self.sizes[candidate.ddl("postgresql")] = int(size[0]) if size else 0
        try:
            for statement in todo:
                self.each[statement.fingerprint, keys[statement.fingerprint]] = self._cost(
                    statement
                )
        finally:
            if self.method != "hypopg":
                conn.execute("ROLLBACK TO SAVEPOINT bp_whatif")

    def _cost(self, statement: _Statement) -> float:
        if statement.fingerprint in self.failed:
            return 0.0
        plan = self._plan(statement)
        return 0.0 if plan is None else float(plan["Total Cost"]) * statement.calls

    def _plan(self, statement: _Statement) -> dict[str, Any] | None:
        """The top node of ``statement``'s plan (EXPLAINed, never run), or ``None`` when it
        cannot be planned (the reason kept in :attr:`failed`)."""
        conn = self.conn
        conn.execute("SAVEPOINT bp_explain")
        try:
            # the user's own logged statement, EXPLAINed (never run) in a rolled-back transaction
            if statement.generic:
                # PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN): a forced generic plan of a
                # prepared statement does not look at the NULLs it is executed with
                conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                conn.execute(f"PREPARE bp_generic AS {statement.sql}")
                nulls = ", ".join(["NULL"] * statement.generic)
                row = conn.execute(f"EXPLAIN (FORMAT JSON) EXECUTE bp_generic({nulls})").fetchone()
                conn.execute("DEALLOCATE bp_generic")
                self.generic.add(statement.fingerprint)
            else:
                row = conn.execute(f"EXPLAIN (FORMAT JSON) {statement.sql}").fetchone()
        except Exception as exc:  # a statement this database cannot plan: report, go on
            conn.execute("ROLLBACK TO SAVEPOINT bp_explain")
            conn.execute("DEALLOCATE ALL")  # a PREPARE outlives the rollback
            self.failed[statement.fingerprint] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            return None
        conn.execute("RELEASE SAVEPOINT bp_explain")
        plan = row[0] if not isinstance(row[0], str) else json.loads(row[0])
        top: dict[str, Any] = plan[0]["Plan"]
        return top


def _lead(candidate: Candidate) -> str | None:
    """The leading key column's name (lower case; quotes off), or ``None`` for an expression
    (whose columns a statement may mention in another form)."""
    first = candidate.columns[0]
    return None if "(" in first else first.strip('"').lower()


def _held(candidate: Candidate) -> frozenset[str]:
    """The column names an index holds, key and INCLUDE (lower case; quotes off)."""
    return frozenset(c.strip('"').lower() for c in (*candidate.columns, *candidate.include))


def _plain_ddl(candidate: Candidate) -> str:
    """``CREATE INDEX ON ...``: no name, no CONCURRENTLY (HypoPG, and inside a transaction)."""
    ddl = candidate.ddl("postgresql", concurrently=False)
    return re.sub(r"^CREATE INDEX IF NOT EXISTS \S+ ON ", "CREATE INDEX ON ", ddl).rstrip(";")


def _existing_btrees(conn: Any, tables: set[str]) -> dict[str, list[Index]]:
    """The B-tree indexes of ``tables`` (names one schema only uses), as the schema reader
    reads them: what a variant the pick would try may already be. (A name two schemas use is
    left out: the statement may mean either table.)"""
    import sqlglot
    from sqlglot import exp

    from backendperf.advisor.schema import _index_of

    out: dict[str, list[Index]] = {}
    if not tables:
        return {}
    rows = conn.execute(
        "SELECT tablename, indexdef FROM pg_indexes WHERE lower(tablename) = ANY(%s)",
        (sorted(tables),),
    )
    for table, indexdef in rows:
        name = str(table).lower()
        if name not in tables or " USING btree " not in indexdef:
            continue
        parsed = sqlglot.parse_one(indexdef, read="postgres", error_level=sqlglot.ErrorLevel.IGNORE)
        index = _index_of(parsed, "postgres") if isinstance(parsed, exp.Create) else None
        if index is not None:
            out.setdefault(name, []).append(index)
    conn.rollback()
    return out


def _greedy(
    conn: Any,
    how: tuple[str, str, Mapping[str, frozenset[str] | None], Mapping[str, list[Index]]],
    advice: Advice,
    suggestions: list[Suggestion],
    statements: dict[str, _Statement],
    budget: tuple[int | None, int | None, float],
    texts: Mapping[str, str],
    writes: list[_Write] | None = None,
) -> None:
    relevant = sorted({f for s in suggestions for f in s.fingerprints if f in statements})
    method, ns, columns_of, existing = how
    coster = _Coster(conn, method, ns, [statements[f] for f in relevant], columns_of, existing)
    coster.charge(writes or [])
    settle(coster, method, advice, suggestions, budget, texts)

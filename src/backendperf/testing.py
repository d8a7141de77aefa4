"""Query assertions for tests: count, budget and N+1-check the SQL a block of code runs.

Usable from pytest (the plugin's fixtures are thin wrappers over this module), from unittest,
and from plain scripts. Every SQLAlchemy engine is instrumented while a capture is active
(``instrument(Engine)``, the same recorder as production timing), so statements of engines
created inside the block, of other threads, and of asyncio tasks are all seen.

>>> import sqlalchemy as sa
>>> engine = sa.create_engine("sqlite://")
>>> with capture_queries() as queries:
...     with engine.connect() as conn:
...         _ = conn.execute(sa.text("SELECT 1")).all()
>>> queries.count, queries.statements[0].statement
(1, 'SELECT 1')
>>> with assert_max_queries(1):
...     with engine.connect() as conn:
...         _ = conn.execute(sa.text("SELECT 1")).all()

What counts, by default: every statement a driver executes, with an ``executemany`` as one
round trip, and without transaction control (``BEGIN``, ``COMMIT``, ``ROLLBACK``,
``SAVEPOINT``, ``RELEASE``): ``include_transaction=True`` counts those too. ``table=`` and
``kind=`` narrow what is counted; ``engine=`` takes one engine's statements only.

Everything here needs only the standard library until a capture starts; SQLAlchemy is
imported then.
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from backendperf.exceptions import ConfigurationError, QueryBudgetError
from backendperf.profiling import (
    LAZY_OPTION,
    FingerprintSummary,
    NPlusOne,
    _attach,
    _detach,
    origin,
    record_event,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from types import TracebackType

    from backendperf.events import QueryEvent
    from backendperf.profiling import _Record

__all__ = [
    "Kind",
    "QueryRecorder",
    "Queries",
    "allow_nplusone",
    "assert_max_queries",
    "assert_no_nplusone",
    "assert_num_queries",
    "capture_queries",
    "describe_nplusone",
    "format_queries",
    "kind_of",
    "over_budget",
    "tables_of",
]

Kind = Literal["SELECT", "INSERT", "UPDATE", "DELETE", "DDL", "TRANSACTION", "OTHER"]
"""What a statement does, from its first keyword (``WITH`` looks at its main statement)."""

_KINDS: Final = ("SELECT", "INSERT", "UPDATE", "DELETE", "DDL", "TRANSACTION", "OTHER")
_VERBS: Final[dict[str, Kind]] = {
    "select": "SELECT",
    "values": "SELECT",
    "table": "SELECT",
    "insert": "INSERT",
    "replace": "INSERT",
    "update": "UPDATE",
    "delete": "DELETE",
    "create": "DDL",
    "alter": "DDL",
    "drop": "DDL",
    "truncate": "DDL",
    "comment": "DDL",
    "begin": "TRANSACTION",
    "start": "TRANSACTION",
    "commit": "TRANSACTION",
    "end": "TRANSACTION",
    "rollback": "TRANSACTION",
    "savepoint": "TRANSACTION",
    "release": "TRANSACTION",
}
_FIRST_WORD = re.compile(r"[\s(]*([a-z]+)")
_CTE_MAIN = re.compile(r"\)\s*(select|insert|update|delete)\b")
_NAME = r'(?:"[^"]+"|`[^`]+`|\[[^\]]+\]|[\w$]+)'
_TABLE_AFTER = re.compile(
    rf"\b(?:join|into|update|table(?:\s+if\s+(?:not\s+)?exists)?)\s+(?:only\s+)?({_NAME}(?:\.{_NAME})*)"
)
_FROM_LIST = re.compile(
    r"\bfrom\s+(.*?)(?=\s+(?:where|group|order|limit|having|join|inner|left|right|full|cross|"
    r"natural|union|intersect|except|on|using|returning|for|offset|window|fetch)\b|[();]|$)"
)
_FIRST_NAME = re.compile(rf"\s*(?:only\s+)?({_NAME}(?:\.{_NAME})*)")


_KIND_CACHE: dict[str, Kind] = {}


def _kind_cached(normalized: str) -> Kind:
    kind = _KIND_CACHE.get(normalized)
    if kind is None:
        if len(_KIND_CACHE) > 20_000:
            _KIND_CACHE.clear()
        kind = _KIND_CACHE[normalized] = kind_of(normalized)
    return kind


def kind_of(normalized: str) -> Kind:
    """The :data:`Kind` of a statement (any case).

    >>> kind_of("WITH a AS (SELECT 1) DELETE FROM t WHERE id IN (SELECT * FROM a)")
    'DELETE'
    >>> kind_of("savepoint sa_savepoint_1"), kind_of("create index ix on t (a)")
    ('TRANSACTION', 'DDL')
    """
    text = normalized.lower()
    m = _FIRST_WORD.match(text)
    if m is None:
        return "OTHER"
    word = m[1]
    if word == "with":
        main = _CTE_MAIN.search(text)
        return _VERBS[main[1]] if main else "SELECT"
    if word == "set" and text.startswith("set transaction"):
        return "TRANSACTION"
    return _VERBS.get(word, "OTHER")


_TABLES_CACHE: dict[str, frozenset[str]] = {}


def _tables_cached(normalized: str) -> frozenset[str]:
    tables = _TABLES_CACHE.get(normalized)
    if tables is None:
        if len(_TABLES_CACHE) > 20_000:
            _TABLES_CACHE.clear()
        tables = _TABLES_CACHE[normalized] = tables_of(normalized)
    return tables


def tables_of(normalized: str) -> frozenset[str]:
    """The tables a statement names after ``FROM`` (each of a comma list), ``JOIN``,
    ``INTO``, ``UPDATE`` and ``TABLE``: lower case, unquoted, both ``schema.table`` and
    ``table``. A regular expression, not a parser: it serves filters, not the advisor.

    >>> sorted(tables_of('SELECT * FROM "Users" u JOIN app.orders o ON o.uid = u.id'))
    ['app.orders', 'orders', 'users']
    """
    text = normalized.lower()
    names: list[str] = [m[1] for m in _TABLE_AFTER.finditer(text)]
    for m in _FROM_LIST.finditer(text):
        for part in m[1].split(","):
            first = _FIRST_NAME.match(part)
            if first is not None and first[1] not in ("select", "lateral", "unnest"):
                names.append(first[1])
    out: set[str] = set()
    for name in names:
        parts = [p.strip('"`[]') for p in re.findall(_NAME, name)]
        if not parts:
            continue
        out.add(".".join(parts))
        out.add(parts[-1])
    return frozenset(out)


# --------------------------------------------------------------------------------------------
# Recording


@dataclass(slots=True)  # not frozen: a frozen dataclass costs 2x to build, once per statement
class _Entry:
    record: _Record
    normalized: str
    kind: Kind
    engine: object
    lazy: tuple[str, str, str, bool] | None
    test: str | None  # the innermost frame in a test file, when the caller is elsewhere
    allowed: bool  # recorded inside allow_nplusone()


_ALLOWED = [0]  # allow_nplusone() blocks open, process-wide (as the recording is)


def _engine_of(context: Any) -> object:
    try:
        return context.root_connection.engine
    except AttributeError:
        return None


class _Recording:
    """The statements one capture saw (shared by a :class:`QueryRecorder` and its views)."""

    def __init__(self, name: str | None, limit: int) -> None:
        self.name = name
        self.entries: list[_Entry] = []
        self.dropped = 0
        self.limit = limit
        self.lock = threading.Lock()

    def _add(self, record: _Record, normalized: str, context: Any) -> _Record:
        """Called by the instrumentation for every statement while attached."""
        test, app = origin(2)
        if record[6] is None and app is not None:
            record = (*record[:6], app, *record[7:])
        options = getattr(context, "execution_options", None)
        lazy = options.get(LAZY_OPTION) if options else None
        entry = _Entry(
            record,
            normalized,
            _kind_cached(normalized),
            _engine_of(context),
            lazy,
            test if test != record[6] else None,
            _ALLOWED[0] > 0,
        )
        entries = self.entries  # list.append is atomic: no lock on the per-statement path
        if len(entries) < self.limit:
            entries.append(entry)
        else:
            self.dropped += 1
        return record


class Queries(Protocol):
    """What :func:`capture_queries` gives, and the ``backendperf_queries`` fixture: the
    statements seen, through the recorder's filters."""

    @property
    def count(self) -> int: ...
    @property
    def total_ms(self) -> float: ...
    @property
    def statements(self) -> list[QueryEvent]: ...
    @property
    def nplusone(self) -> list[NPlusOne]: ...
    def by_fingerprint(self) -> list[FingerprintSummary]: ...
    def filter(
        self,
        *,
        table: str | Sequence[str] | None = None,
        kind: Kind | Sequence[Kind] | None = None,
        engine: object | None = None,
        include_transaction: bool | None = None,
    ) -> QueryRecorder: ...
    def report(self, *, verbose: bool = False, limit: int = 30) -> str: ...


class QueryRecorder:
    """The statements a capture saw, through filters; see :func:`capture_queries`.

    Live: while the capture is open, each read reflects the statements so far.
    """

    def __init__(
        self,
        recording: _Recording,
        *,
        table: str | Iterable[str] | None = None,
        kind: Kind | Iterable[Kind] | None = None,
        engine: object | None = None,
        include_transaction: bool = False,
        nplusone: int | None = 5,
        nplusone_lazy: int = 2,
        ignore: Sequence[str] = (),
    ) -> None:
        self._recording = recording
        self._tables = _names(table)
        kinds = _names(kind, upper=True)
        for k in kinds or ():
            if k not in _KINDS:
                raise ConfigurationError(f"kind={k!r}: use one of {', '.join(_KINDS)}")
        self._kinds = kinds
        self._engine = getattr(engine, "sync_engine", engine)
        self._include_transaction = include_transaction or (
            kinds is not None and "TRANSACTION" in kinds
        )
        if nplusone is not None and nplusone < 2:
            raise ConfigurationError(f"nplusone={nplusone}: a repeat needs at least 2 statements")
        if nplusone_lazy < 2:
            raise ConfigurationError(f"nplusone_lazy={nplusone_lazy}: must be at least 2")
        self.nplusone_threshold = nplusone
        self.nplusone_lazy = nplusone_lazy
        self.ignore = tuple(ignore)

    @property
    def name(self) -> str | None:
        return self._recording.name

    # -- filtering --------------------------------------------------------------------------

    def filter(
        self,
        *,
        table: str | Iterable[str] | None = None,
        kind: Kind | Iterable[Kind] | None = None,
        engine: object | None = None,
        include_transaction: bool | None = None,
    ) -> QueryRecorder:
        """A live view of the same statements, narrowed further (filters given here replace
        this recorder's for that dimension)."""
        return QueryRecorder(
            self._recording,
            table=table if table is not None else self._tables,
            kind=kind if kind is not None else self._kinds,  # type: ignore[arg-type]
            engine=engine if engine is not None else self._engine,
            include_transaction=self._include_transaction
            if include_transaction is None
            else include_transaction,
            nplusone=self.nplusone_threshold,
            nplusone_lazy=self.nplusone_lazy,
            ignore=self.ignore,
        )

    def _entries(self) -> list[_Entry]:
        with self._recording.lock:
            entries = list(self._recording.entries)
        return [e for e in entries if self._matches(e)]

    def _matches(self, e: _Entry) -> bool:
        if e.kind == "TRANSACTION" and not self._include_transaction:
            return False
        if self._kinds is not None and e.kind not in self._kinds:
            return False
        if self._engine is not None and e.engine is not self._engine:
            return False
        return self._tables is None or not self._tables.isdisjoint(_tables_cached(e.normalized))

    # -- results ----------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Statements that match the filters (an ``executemany`` counts once)."""
        return len(self._entries())

    def __len__(self) -> int:
        return self.count

    @property
    def total_ms(self) -> float:
        """Their total execution time, in milliseconds."""
        return sum(e.record[1] for e in self._entries())

    @property
    def dropped(self) -> int:
        """Statements not kept because the capture's ``max_statements`` was reached."""
        return self._recording.dropped

    @property
    def statements(self) -> list[QueryEvent]:
        """The matching statements, in order, as QueryEvents (``caller`` is the application
        line; ``extra["test"]`` the test line that led there, when different)."""
        out = []
        for e in self._entries():
            event = record_event(e.record, self.name)
            event.extra["kind"] = e.kind
            if e.test:
                event.extra["test"] = e.test
            out.append(event)
        return out

    def __iter__(self) -> Iterator[QueryEvent]:
        return iter(self.statements)

    def by_fingerprint(self) -> list[FingerprintSummary]:
        """Per statement shape: count, total, mean, p50/p95/p99 and max; by total time."""
        groups: dict[str, list[_Entry]] = {}
        for e in self._entries():
            groups.setdefault(e.record[3], []).append(e)
        out = []
        for fingerprint, entries in groups.items():
            ms = sorted(e.record[1] for e in entries)
            total = sum(ms)

            def q(p: float, ms: list[float] = ms) -> float:
                return ms[min(len(ms) - 1, int(p * len(ms)))]

            out.append(
                FingerprintSummary(
                    fingerprint=fingerprint,
                    normalized=entries[0].normalized,
                    statement=entries[0].record[2],
                    count=len(entries),
                    total_ms=total,
                    mean_ms=total / len(entries),
                    p50_ms=q(0.5),
                    p95_ms=q(0.95),
                    p99_ms=q(0.99),
                    max_ms=ms[-1],
                    caller=entries[0].record[6],
                )
            )
        out.sort(key=lambda s: (-s.total_ms, s.fingerprint))
        return out

    @property
    def nplusone(self) -> list[NPlusOne]:
        """N+1 findings among the matching SELECTs: one relationship lazy-loaded for at least
        ``nplusone_lazy`` parents, or one statement shape run ``nplusone`` times. Statements
        run inside :func:`allow_nplusone`, and findings an ``ignore`` pattern matches, are
        left out."""
        return _nplusone(self._entries(), self)

    def slowest(self, n: int = 5) -> list[QueryEvent]:
        """The ``n`` slowest matching statements, slowest first."""
        return sorted(self.statements, key=lambda e: -(e.duration_ms or 0.0))[:n]

    def report(self, *, verbose: bool = False, limit: int = 30) -> str:
        """The statements as a numbered listing (see :func:`format_queries`)."""
        return format_queries(self._entries(), self.nplusone, verbose=verbose, limit=limit)

    def clear(self) -> None:
        """Forget every statement seen so far (of every view of this capture)."""
        with self._recording.lock:
            self._recording.entries.clear()
            self._recording.dropped = 0

    def _describe(self) -> str:
        parts = []
        if self._tables is not None:
            parts.append("table=" + ",".join(sorted(self._tables)))
        if self._kinds is not None:
            parts.append("kind=" + ",".join(sorted(self._kinds)))
        if self._engine is not None:
            url = getattr(self._engine, "url", None)
            parts.append(f"engine={url!r}" if url is not None else "one engine")
        if self._include_transaction:
            parts.append("with transaction control")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"<QueryRecorder {self.count} statements, {self.total_ms:.1f} ms>"


def _names(value: str | Iterable[str] | None, *, upper: bool = False) -> frozenset[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    return frozenset(i.upper() if upper else i.lower().strip('"`') for i in items)


def _nplusone(entries: list[_Entry], rec: QueryRecorder) -> list[NPlusOne]:
    by_shape: dict[str, list[tuple[int, _Entry]]] = {}
    for i, e in enumerate(entries):
        if e.kind == "SELECT" and not e.allowed:
            by_shape.setdefault(e.record[3], []).append((i, e))
    found: list[tuple[int, NPlusOne]] = []
    for shape in by_shape.values():
        first_i, first = shape[0]
        lazy = next((e.lazy for _, e in shape if e.lazy is not None), None)
        n = len(shape)
        if lazy is not None:
            if n < rec.nplusone_lazy:
                continue
        elif rec.nplusone_threshold is None or n < rec.nplusone_threshold:
            continue
        relationship = suggestion = loaded_at = None
        if lazy is not None:
            parent, key, table, many_to_one = lazy
            relationship = f"{parent}.{key}"
            loader = "joinedload" if many_to_one else "selectinload"
            suggestion = f".options({loader}({relationship}))"
            needle = table.lower()
            for e in reversed(entries[:first_i]):
                if e.kind == "SELECT" and needle in _tables_cached(e.normalized):
                    loaded_at = e.record[6]
                    break
        finding = NPlusOne(
            fingerprint=first.record[3],
            normalized=first.normalized,
            statement=first.record[2],
            count=n,
            caller=first.record[6],
            relationship=relationship,
            parents_loaded_at=loaded_at,
            suggestion=suggestion,
        )
        if not _ignored(finding, rec.ignore):
            found.append((first_i, finding))
    return [f for _, f in sorted(found, key=lambda t: t[0])]


def _ignored(finding: NPlusOne, patterns: Sequence[str]) -> bool:
    """An ignore pattern matches a finding's relationship (``User.addresses``), its caller's
    path (``app/reports.py``, ``app/reports.py:*``) or its statement (``*FROM audit*``),
    as a shell-style glob, case-insensitively for the statement."""
    caller_path = (finding.caller or "").split(":", 1)[0]
    for pattern in patterns:
        if finding.relationship and fnmatchcase(finding.relationship, pattern):
            return True
        if finding.caller and (
            fnmatchcase(caller_path, pattern) or fnmatchcase(finding.caller, pattern)
        ):
            return True
        low = pattern.lower()
        if fnmatchcase(finding.normalized, low) or fnmatchcase(finding.statement.lower(), low):
            return True
    return False


# --------------------------------------------------------------------------------------------
# Messages


def _sql(text: str, verbose: bool, width: int = 110) -> str:
    one = " ".join(text.split())
    if verbose or len(one) <= width:
        return one
    return one[: width - 3] + "..."


def _where(e: _Entry) -> str:
    app = e.record[6]
    if app is None:
        return ""
    app = _short_caller(app)
    return f"  — {_short_caller(e.test)} via {app}" if e.test else f"  — {app}"


def _short_caller(where: str | None) -> str:
    """``path:line:function`` -> ``path:line`` (the function is in the source line)."""
    if not where:
        return ""
    path, _, rest = where.partition(":")
    line = rest.split(":", 1)[0]
    return f"{path}:{line}" if line else path


def describe_nplusone(finding: NPlusOne) -> str:
    """One line: ``Author.books lazy-loaded 5 times at app/views.py:14 (parents loaded at
    app/views.py:13); fix: .options(selectinload(Author.books))``."""
    if finding.relationship:
        text = f"{finding.relationship} lazy-loaded {finding.count} times"
    else:
        text = f"{finding.count} x {_sql(finding.statement, False, 90)}"
    if finding.caller:
        text += f" at {_short_caller(finding.caller)}"
    if finding.parents_loaded_at:
        text += f" (parents loaded at {_short_caller(finding.parents_loaded_at)})"
    if finding.suggestion:
        text += f"; fix: {finding.suggestion}"
    return text


def format_queries(
    entries: Sequence[_Entry],
    findings: Sequence[NPlusOne] = (),
    *,
    verbose: bool = False,
    limit: int = 30,
) -> str:
    """A numbered listing: one line per statement with its duration and caller; a run of the
    same statement shape from the same line is one line, ``x 50``. With ``verbose``, every
    statement in full with its parameters (when captured), no grouping."""
    lines: list[str] = []
    if verbose:
        for i, e in enumerate(entries, 1):
            params = f"  params={e.record[4]!r}" if e.record[4] else ""
            batch = f"  (executemany x {e.record[8]})" if e.record[8] else ""
            lines.append(
                f"{i:>4}. {e.record[1]:8.3f} ms  {_sql(e.record[2], True)}{batch}{params}"
                f"{_where(e)}"
            )
    else:
        runs: list[tuple[int, int, list[_Entry]]] = []
        for i, e in enumerate(entries, 1):
            if runs and runs[-1][2][0].record[3] == e.record[3]:
                last = runs[-1][2][0]
                if last.record[6] == e.record[6] and last.test == e.test:
                    runs[-1][2].append(e)
                    runs[-1] = (runs[-1][0], i, runs[-1][2])
                    continue
            runs.append((i, i, [e]))
        shown = runs[:limit]
        for start, end, run in shown:
            number = f"{start}." if start == end else f"{start}-{end}."
            times = f"x {len(run)}" if len(run) > 1 else ""
            ms = sum(e.record[1] for e in run)
            lines.append(
                f"{number:>8} {times:>6} {ms:8.3f} ms  {_sql(run[0].record[2], False)}"
                f"{_where(run[0])}"
            )
        if len(runs) > limit:
            rest = sum(len(r[2]) for r in runs[limit:])
            lines.append(f"         ... and {rest} more statements")
    for finding in findings:
        head = f"N+1: {finding.count} x "
        if finding.relationship:
            head = f"N+1: {finding.relationship} lazy-loaded {finding.count} times, "
        text = f"  {head}{_sql(finding.statement, False, 90)}"
        if finding.caller:
            text += f"\n       at {_short_caller(finding.caller)}"
        if finding.parents_loaded_at:
            text += f"; parents loaded at {_short_caller(finding.parents_loaded_at)}"
        if finding.suggestion:
            text += f"\n       fix: load it up front: {finding.suggestion}"
        lines.append(text)
    return "\n".join(lines)


def budget_message(
    what: str,
    recorder: QueryRecorder,
    *,
    verbose: bool = False,
    info: str | None = None,
    hint: str = "pass verbose=True",
) -> str:
    """The failure text of a budget: the headline, the listing, and how to see more."""
    entries = recorder._entries()
    filters = recorder._describe()
    head = what + (f" ({filters})" if filters else "") + (f": {info}" if info else "")
    ms = sum(e.record[1] for e in entries)
    shapes = len({e.record[3] for e in entries})
    body = format_queries(entries, recorder.nplusone, verbose=verbose)
    text = f"{head}\n\n  {len(entries)} queries, {shapes} distinct, {ms:.2f} ms:\n{body}"
    if not verbose:
        text += f"\n\n  ({hint} to see each statement in full, with its parameters)"
    return text


# --------------------------------------------------------------------------------------------
# Capturing


_OWNED: list[Any] = []  # the Instrumentation this module installed, while captures need it
_USERS = [0]
_LOCK = threading.Lock()


def _acquire() -> None:
    """Instrument every engine (once, shared by nested captures)."""
    from backendperf.sqlalchemy import _INSTALLED, instrument

    with _LOCK:
        _USERS[0] += 1
        if _USERS[0] > 1:
            return
        from sqlalchemy.engine import Dialect, Engine

        before = _INSTALLED.get(Dialect)
        handle = instrument(Engine, capture_params=True)
        if handle is not before:
            _OWNED.append(handle)


def _release() -> None:
    with _LOCK:
        _USERS[0] -= 1
        if _USERS[0] > 0:
            return
        while _OWNED:
            _OWNED.pop().uninstrument()


class _Capture(contextlib.AbstractContextManager["QueryRecorder"]):
    def __init__(self, recorder: QueryRecorder, check: Any = None) -> None:
        self.recorder = recorder
        self.check = check
        self.active = False

    def __enter__(self) -> QueryRecorder:
        _acquire()
        _attach(self.recorder._recording, first=True)
        self.active = True
        return self.recorder

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True
        if self.active:
            self.active = False
            _detach(self.recorder._recording)
            _release()
        if exc_type is None and self.check is not None:
            self.check(self.recorder)


def capture_queries(
    *,
    table: str | Sequence[str] | None = None,
    kind: Kind | Sequence[Kind] | None = None,
    engine: object | None = None,
    include_transaction: bool = False,
    nplusone: int | None = 5,
    nplusone_lazy: int = 2,
    ignore: Sequence[str] = (),
    max_statements: int = 100_000,
    name: str | None = None,
) -> contextlib.AbstractContextManager[QueryRecorder]:
    """Record every statement every SQLAlchemy engine runs inside the block (all threads).

    Args:
        table: count only statements that name this table (or any of these tables).
        kind: only ``"SELECT"``, ``"INSERT"``, ``"UPDATE"``, ``"DELETE"``, ``"DDL"``,
            ``"TRANSACTION"``, ``"OTHER"`` (or several).
        engine: only this ``Engine`` / ``AsyncEngine``'s statements.
        include_transaction: count ``BEGIN``/``COMMIT``/``ROLLBACK``/``SAVEPOINT``/``RELEASE``.
        nplusone: repeats of one SELECT shape that make an N+1 finding (``None``: only
            relationship lazy loads count).
        nplusone_lazy: lazy loads of one relationship that make a finding.
        ignore: glob patterns of findings to leave out (relationship, caller path, or SQL).
        max_statements: statements kept (more are counted in ``dropped``).
    """
    recording = _Recording(name, max_statements)
    recorder = QueryRecorder(
        recording,
        table=table,
        kind=kind,
        engine=engine,
        include_transaction=include_transaction,
        nplusone=nplusone,
        nplusone_lazy=nplusone_lazy,
        ignore=ignore,
    )
    return _Capture(recorder)


def over_budget(op: Literal["==", "<="], n: int, count: int) -> str | None:
    """The headline of a missed budget (``==``: exactly ``n``; ``<=``: at most), or ``None``.

    >>> over_budget("<=", 2, 7)
    'expected at most 2 queries, 7 ran (5 over budget)'
    """
    queries = f"{n} quer{'y' if n == 1 else 'ies'}"
    if op == "==" and count != n:
        return f"expected {queries}, {count} ran"
    if op == "<=" and count > n:
        return f"expected at most {queries}, {count} ran ({count - n} over budget)"
    return None


def _budget(
    op: Literal["==", "<="],
    n: int,
    *,
    info: str | None,
    verbose: bool,
    hint: str,
    **filters: Any,
) -> contextlib.AbstractContextManager[QueryRecorder]:
    if n < 0:
        raise ConfigurationError(f"a query budget cannot be negative (got {n})")
    capture = capture_queries(**filters)
    assert isinstance(capture, _Capture)

    def check(recorder: QueryRecorder) -> None:
        __tracebackhide__ = True
        what = over_budget(op, n, recorder.count)
        if what is not None:
            raise QueryBudgetError(
                budget_message(what, recorder, verbose=verbose, info=info, hint=hint), recorder
            )

    capture.check = check
    return capture


def assert_num_queries(
    n: int,
    *,
    info: str | None = None,
    verbose: bool = False,
    table: str | Sequence[str] | None = None,
    kind: Kind | Sequence[Kind] | None = None,
    engine: object | None = None,
    include_transaction: bool = False,
) -> contextlib.AbstractContextManager[QueryRecorder]:
    """Fail (:class:`~backendperf.exceptions.QueryBudgetError`, an ``AssertionError``) unless
    the block runs exactly ``n`` statements (with :func:`capture_queries`'s filters).

    The message lists the statements, numbered, with durations and callers; repeats grouped.
    """
    return _budget(
        "==",
        n,
        info=info,
        verbose=verbose,
        hint="pass verbose=True",
        table=table,
        kind=kind,
        engine=engine,
        include_transaction=include_transaction,
    )


def assert_max_queries(
    n: int,
    *,
    info: str | None = None,
    verbose: bool = False,
    table: str | Sequence[str] | None = None,
    kind: Kind | Sequence[Kind] | None = None,
    engine: object | None = None,
    include_transaction: bool = False,
) -> contextlib.AbstractContextManager[QueryRecorder]:
    """Like :func:`assert_num_queries`, but at most ``n`` statements."""
    return _budget(
        "<=",
        n,
        info=info,
        verbose=verbose,
        hint="pass verbose=True",
        table=table,
        kind=kind,
        engine=engine,
        include_transaction=include_transaction,
    )


@contextlib.contextmanager
def assert_no_nplusone(
    *, nplusone: int | None = 5, nplusone_lazy: int = 2, ignore: Sequence[str] = ()
) -> Iterator[QueryRecorder]:
    """Fail (:class:`~backendperf.exceptions.NPlusOneError`) if the block shows an N+1."""
    from backendperf.exceptions import NPlusOneError

    __tracebackhide__ = True
    with capture_queries(nplusone=nplusone, nplusone_lazy=nplusone_lazy, ignore=ignore) as rec:
        yield rec
    findings = rec.nplusone
    if findings:
        text = budget_message(f"{len(findings)} N+1 pattern(s)", rec)
        raise NPlusOneError(text, findings)


@contextlib.contextmanager
def allow_nplusone() -> Iterator[None]:
    """Statements run inside this block never make an N+1 finding (an intentional loop),
    in any capture or pytest check; they are still counted."""
    with _LOCK:
        _ALLOWED[0] += 1
    try:
        yield
    finally:
        with _LOCK:
            _ALLOWED[0] -= 1

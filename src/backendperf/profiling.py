"""Query profiles: per-request (per-task, per-block) statement statistics and N+1 findings.

A :class:`Profile` is a scope. While one is active (``with profile() as p:``, or the
``@profile()`` decorator, or the web middleware of :mod:`backendperf.web`), every statement
that an instrumented engine runs in *this* context (thread or asyncio task) is recorded into it,
and into every enclosing profile too. Scopes live in a :class:`contextvars.ContextVar`, so
concurrent requests and tasks never mix; a task created inside a scope reports to it.

The records are :class:`~backendperf.events.QueryEvent` (built lazily, on first access to
:attr:`Profile.statements`): the same type the log readers produce and the JSONL file holds.

>>> with profile("example") as p:
...     pass  # statements run through an instrumented engine land here
>>> p.count, p.total_ms, p.nplusone
(0, 0.0, [])

This module needs only the standard library; :mod:`backendperf.sqlalchemy` feeds it.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import datetime as dt
import functools
import inspect
import logging
import os
import re
import sys
import sysconfig
import threading
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeVar

from backendperf.events import QueryEvent
from backendperf.exceptions import ConfigurationError, NPlusOneError, NPlusOneWarning

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import FrameType, TracebackType

    from backendperf.workload.sketch import Sketch

__all__ = [
    "FingerprintSummary",
    "JsonlSink",
    "NPlusOne",
    "OnNPlusOne",
    "Profile",
    "Sink",
    "caller",
    "current_profiles",
    "profile",
    "record_event",
    "origin",
]

logger = logging.getLogger("backendperf")

OnNPlusOne = Literal["log", "warn", "raise", "ignore"]
"""What a profile does with its N+1 findings when it closes."""


class Sink(Protocol):
    """What ``instrument(sinks=...)`` takes: any callable of one :class:`QueryEvent`
    (for example a :class:`JsonlSink`, or ``list.append``)."""

    def __call__(self, event: QueryEvent, /) -> None: ...


F = TypeVar("F", bound="Callable[..., Any]")

_SCOPES: Final[contextvars.ContextVar[tuple[Profile, ...]]] = contextvars.ContextVar(
    "backendperf_profiles", default=()
)

# Raw durations kept per fingerprint before they are folded into a quantile sketch: exact
# percentiles for the usual request-sized scope, bounded memory for a long-lived one.
_EXACT: Final = 2048
# Statements that repeat by nature, never an N+1.
_NOT_NPLUSONE: Final = ("savepoint", "release", "rollback", "begin", "commit", "set ", "show ")


# Process-wide recorders (backendperf.testing, the pytest plugin): they see every statement of
# every thread and task, not just this context's. One list holding one tuple, replaced whole, so
# the per-statement check is a single load and never sees a half-updated sequence.
_PROCESS: Final[list[tuple[Any, ...]]] = [()]
_PROCESS_LOCK: Final = threading.Lock()


def _attach(recorder: Any, *, first: bool = False) -> None:
    """Make ``recorder`` (anything with ``name`` and ``_add``) see every statement."""
    with _PROCESS_LOCK:
        current = _PROCESS[0]
        _PROCESS[0] = (recorder, *current) if first else (*current, recorder)


def _detach(recorder: Any) -> None:
    with _PROCESS_LOCK:
        _PROCESS[0] = tuple(r for r in _PROCESS[0] if r is not recorder)


def current_profiles() -> tuple[Profile, ...]:
    """The profiles active in this context, outermost first."""
    return _SCOPES.get()


# --------------------------------------------------------------------------------------------
# Callers


def _library_roots() -> tuple[str, ...]:
    roots = {str(Path(__file__).resolve().parent)}
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib"):
        if key in paths:
            roots.add(str(Path(paths[key]).resolve()))
    for name in (
        "sqlalchemy",
        "greenlet",
        "anyio",
        "starlette",
        "werkzeug",
        "flask",
        "asyncpg",
        "_pytest",
        "pluggy",
    ):
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if file:
            roots.add(str(Path(file).resolve().parent))
    return tuple(sorted(roots))


_ROOTS: list[tuple[str, ...]] = []
_DISPLAY: dict[object, str | None] = {}  # code object -> "path" for application code, None else


def _display(code: Any) -> str | None:
    if not _ROOTS:  # first capture: SQLAlchemy & co. are imported by now
        _ROOTS.append(_library_roots())
    filename: str = code.co_filename
    shown: str | None = None
    if not filename.startswith("<"):  # <frozen ...>, <string>: not the application's line
        real = os.path.realpath(filename)
        if not real.startswith(_ROOTS[0]):
            try:
                rel = os.path.relpath(real)
            except ValueError:  # another drive (Windows)
                rel = real
            shown = real if rel.startswith("..") else rel
    if len(_DISPLAY) > 10_000:
        _DISPLAY.clear()
    _DISPLAY[code] = shown
    return shown


def _walk(frame: FrameType | None) -> str | None:
    display = _DISPLAY
    while frame is not None:
        code = frame.f_code
        shown = display[code] if code in display else _display(code)
        if shown is not None:
            return f"{shown}:{frame.f_lineno}:{code.co_name}"
        frame = frame.f_back
    return None


_TEST_FILE: Final = re.compile(r"(?:^|[/\\])(?:test_[^/\\]*|[^/\\]*_test)\.py$")
_IS_TEST: dict[object, bool] = {}
_UNSEEN: Final[Any] = object()  # code object -> is it in a test file (test_*.py, *_test.py)


def origin(depth: int = 1) -> tuple[str | None, str | None]:
    """``(test line, application line)`` of the current statement, as ``path:line:function``.

    The application line is the innermost application frame (what :func:`caller` returns);
    the test line, the innermost frame in a test file (``test_*.py``, ``*_test.py``) — the walk
    stops there, so pytest's own frames below a test are never visited. Either is ``None``
    when there is none; the test line is ``None`` too when it is the application line.
    Follows an ``AsyncEngine``'s child greenlet to the application's coroutine.
    """
    app: str | None = None
    frame: FrameType | None = sys._getframe(depth)
    parent = None
    greenlet = sys.modules.get("greenlet")
    if greenlet is not None:
        parent = getattr(greenlet.getcurrent(), "parent", None)
    display = _DISPLAY.get
    is_test = _IS_TEST
    while True:
        if frame is None:
            if parent is None:
                return None, app
            frame, parent = parent.gr_frame, parent.parent
            continue
        code = frame.f_code
        shown = display(code, _UNSEEN)
        if shown is _UNSEEN:
            shown = _display(code)
        if shown is not None:
            test = is_test.get(code)
            if test is None:
                if len(is_test) > 10_000:
                    is_test.clear()
                test = is_test[code] = _TEST_FILE.search(shown) is not None
            if test:
                here = f"{shown}:{frame.f_lineno}:{code.co_name}"
                return (None, here) if app is None else (here, app)
            if app is None:
                app = f"{shown}:{frame.f_lineno}:{code.co_name}"
        frame = frame.f_back


def caller(depth: int = 1) -> str | None:
    """``path:line:function`` of the innermost frame that belongs to the application.

    Frames of the standard library, SQLAlchemy and backendperf are skipped (paths are relative
    to the working directory when below it). Under an ``AsyncEngine``, SQLAlchemy runs the
    driver in a child greenlet whose stack ends inside SQLAlchemy; the application's
    coroutine is then found through the parent greenlet's suspended frame. Code without a
    source file (``<string>``, ``<doctest ...>``) is skipped too; ``None`` when nothing is left.
    """
    found = _walk(sys._getframe(depth))
    if found is not None:
        return found
    greenlet = sys.modules.get("greenlet")
    if greenlet is not None:
        current = greenlet.getcurrent()
        parent = getattr(current, "parent", None)
        while parent is not None:
            found = _walk(parent.gr_frame)
            if found is not None:
                return found
            parent = parent.parent
    return None


# --------------------------------------------------------------------------------------------
# Statistics


class _Stats:
    """One fingerprint's figures inside one profile (mutable, internal)."""

    __slots__ = (
        "caller",
        "count",
        "durations",
        "fingerprint",
        "first",
        "max_ms",
        "normalized",
        "sketch",
        "statement",
        "total_ms",
    )

    def __init__(self, fingerprint: str, normalized: str, statement: str, first: int) -> None:
        self.fingerprint = fingerprint
        self.normalized = normalized
        self.statement = statement
        self.count = 0
        self.total_ms = 0.0
        self.max_ms = 0.0
        self.durations: list[float] = []
        self.sketch: Sketch | None = None
        self.caller: str | None = None
        self.first = first  # the profile's count when this shape first came

    def fold(self) -> None:
        from backendperf.workload.sketch import Sketch

        if self.sketch is None:
            self.sketch = Sketch()
        add = self.sketch.add
        for value in self.durations:
            add(value)
        self.durations = []

    def quantile(self, q: float) -> float:
        if self.sketch is not None:
            self.fold()
            assert self.sketch is not None
            return min(self.sketch.quantile(q), self.max_ms)
        values = sorted(self.durations)
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(q * len(values)))]

    def summary(self) -> FingerprintSummary:
        return FingerprintSummary(
            fingerprint=self.fingerprint,
            normalized=self.normalized,
            statement=self.statement,
            count=self.count,
            total_ms=self.total_ms,
            mean_ms=self.total_ms / self.count if self.count else 0.0,
            p50_ms=self.quantile(0.50),
            p95_ms=self.quantile(0.95),
            p99_ms=self.quantile(0.99),
            max_ms=self.max_ms,
            caller=self.caller,
        )


@dataclass(frozen=True, slots=True)
class FingerprintSummary:
    """One statement shape's figures in a profile (:meth:`Profile.by_fingerprint`)."""

    fingerprint: str
    normalized: str
    statement: str
    """The first statement of this shape, as executed."""
    count: int
    total_ms: float
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    caller: str | None
    """Where the first statement of this shape came from."""


@dataclass(frozen=True, slots=True)
class NPlusOne:
    """One statement shape executed ``count`` times inside one profile: an N+1 pattern."""

    fingerprint: str
    normalized: str
    statement: str
    count: int
    caller: str | None
    """The application line that ran the repeated statement."""
    relationship: str | None = None
    """``Parent.attribute`` when the statements are ORM lazy loads of that relationship."""
    parents_loaded_at: str | None = None
    """Where the parent rows were loaded (the caller of the earlier query on their table)."""
    suggestion: str | None = None
    """A paste-ready loader option, e.g. ``.options(selectinload(User.addresses))``."""

    def __str__(self) -> str:
        where = f" at {self.caller}" if self.caller else ""
        text = f"N+1: {self.count} x {_short(self.normalized)}{where}"
        if self.relationship:
            text += f" (lazy load of {self.relationship}"
            if self.parents_loaded_at:
                text += f"; parents loaded at {self.parents_loaded_at}"
            text += ")"
        if self.suggestion:
            text += f"; load it up front: {self.suggestion}"
        return text


def _short(sql: str, limit: int = 120) -> str:
    return sql if len(sql) <= limit else sql[: limit - 3] + "..."


# A statement as recorded: built on the hot path as a plain tuple, turned into a QueryEvent
# only when someone reads Profile.statements.
_Record = tuple[
    float,  # wall-clock time (time.time())
    float,  # duration in ms
    str,  # statement
    str,  # fingerprint id
    Any,  # params (None unless captured)
    "int | None",  # rowcount
    "str | None",  # caller
    "str | None",  # error class name
    int,  # executemany batch size (0: a single execute)
    "QueryContext",
]


@dataclass(frozen=True, slots=True)
class QueryContext:
    """What is constant for an engine: dialect and database (shared by its records)."""

    dialect: str
    database: str | None


def record_event(r: _Record, scope: str | None) -> QueryEvent:
    """The QueryEvent of a recorded statement."""
    ctx = r[9]
    extra: dict[str, Any] = {}
    if r[7] is not None:
        extra["error"] = r[7]
    if r[8]:
        extra["executemany"] = r[8]
    return QueryEvent(
        statement=r[2],
        duration_ms=r[1],
        ts=dt.datetime.fromtimestamp(r[0], dt.timezone.utc),
        fingerprint=r[3],
        params=r[4],
        rowcount=r[5],
        dialect=ctx.dialect,
        database=ctx.database,
        caller=r[6],
        scope=scope,
        extra=extra,
    )


LAZY_OPTION: Final = "_backendperf_lazy_load"
"""Execution option the ORM hook sets on lazy loads: ``(parent, key, table, many_to_one)``."""


class Profile:
    """The statements one scope ran, with per-fingerprint statistics and N+1 findings.

    Use it through :func:`profile`. ``count`` and ``total_ms`` are live; everything else is
    computed when read.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        nplusone: int | None = 5,
        on_nplusone: OnNPlusOne = "log",
        max_statements: int | None = 10_000,
        log: bool = False,
    ) -> None:
        if nplusone is not None and nplusone < 2:
            raise ConfigurationError(f"nplusone={nplusone}: a repeat needs at least 2 statements")
        if on_nplusone not in ("log", "warn", "raise", "ignore"):
            raise ConfigurationError(
                f"on_nplusone={on_nplusone!r}: use 'log', 'warn', 'raise' or 'ignore'"
            )
        self.name = name
        self.log = log
        self.count = 0
        """Statements recorded (an ``executemany`` counts once)."""
        self.total_ms = 0.0
        """Their total execution time, in milliseconds."""
        self.errors = 0
        """Statements that failed."""
        self.nplusone_threshold = nplusone
        self.on_nplusone: OnNPlusOne = on_nplusone
        self.max_statements = max_statements
        self.dropped = 0
        """Statements counted but not kept because ``max_statements`` was reached."""
        self._stats: dict[str, _Stats] = {}
        self._records: list[_Record] = []
        self._keep = max_statements is None or max_statements > 0
        self._limit = sys.maxsize if max_statements is None else max_statements
        self._findings: list[tuple[_Stats, str | None, str | None, str | None, str | None]] = []
        self._token: contextvars.Token[tuple[Profile, ...]] | None = None
        self._events: list[QueryEvent] | None = None

    # -- recording (called by the instrumentation, once per statement) ----------------------

    def _tally(
        self, fingerprint: str, normalized: str, statement: str, ms: float, failed: bool
    ) -> _Stats:
        """Count one statement into this profile and its shape's figures (one call on the
        per-statement path: no further calls unless the shape is new)."""
        self.count += 1
        self.total_ms += ms
        if failed:
            self.errors += 1
        stats = self._stats.get(fingerprint)
        if stats is None:
            # setdefault: two threads meeting a new shape at once must share one entry
            stats = self._stats.setdefault(
                fingerprint, _Stats(fingerprint, normalized, statement, self.count)
            )
        stats.count += 1
        stats.total_ms += ms
        stats.max_ms = max(stats.max_ms, ms)
        durations = stats.durations
        durations.append(ms)
        if len(durations) >= _EXACT:
            stats.fold()
        return stats

    def _add(self, record: _Record, normalized: str, context: Any) -> _Record:
        stats = self._tally(record[3], normalized, record[2], record[1], record[7] is not None)
        if stats.count == 1:  # the first statement of a shape in this profile: find its caller
            if record[6] is None:
                record = (*record[:6], caller(3), *record[7:])
            stats.caller = record[6]
        if self._keep:
            if len(self._records) < self._limit:
                self._records.append(record)
            else:
                self.dropped += 1
        if stats.count == self.nplusone_threshold and not normalized.startswith(_NOT_NPLUSONE):
            self._found(stats, record, context)
        return record

    def _found(self, stats: _Stats, record: _Record, context: Any) -> None:
        where = record[6] or caller(4)
        relationship = suggestion = loaded_at = None
        options = getattr(context, "execution_options", None)
        lazy = options.get(LAZY_OPTION) if options else None
        if lazy is not None:
            parent, key, table, many_to_one = lazy
            relationship = f"{parent}.{key}"
            loader = "joinedload" if many_to_one else "selectinload"
            suggestion = f".options({loader}({relationship}))"
            needle = f"from {table.lower()}"
            for other in self._stats.values():
                if other is not stats and other.first < stats.first and needle in other.normalized:
                    loaded_at = other.caller
                    break
        self._findings.append((stats, where, relationship, loaded_at, suggestion))

    # -- results ----------------------------------------------------------------------------

    @property
    def statements(self) -> list[QueryEvent]:
        """Every statement recorded (up to ``max_statements``), in order, as QueryEvents."""
        if self._events is None or len(self._events) != len(self._records):
            self._events = [record_event(r, self.name) for r in self._records]
        return list(self._events)

    def by_fingerprint(self) -> list[FingerprintSummary]:
        """Per statement shape: count, total, mean, p50/p95/p99 and max; by total time."""
        out = [s.summary() for s in self._stats.values()]
        out.sort(key=lambda s: (-s.total_ms, s.fingerprint))
        return out

    def slowest(self, n: int = 5) -> list[QueryEvent]:
        """The ``n`` slowest statements kept, slowest first."""
        order = sorted(self._records, key=lambda r: -r[1])[:n]
        return [record_event(r, self.name) for r in order]

    @property
    def nplusone(self) -> list[NPlusOne]:
        """N+1 findings: each statement shape run at least ``nplusone`` times in this scope."""
        return [
            NPlusOne(
                fingerprint=stats.fingerprint,
                normalized=stats.normalized,
                statement=stats.statement,
                count=stats.count,
                caller=where,
                relationship=relationship,
                parents_loaded_at=loaded_at,
                suggestion=suggestion,
            )
            for stats, where, relationship, loaded_at, suggestion in self._findings
        ]

    def summary(self) -> str:
        """One line: ``GET /users: 12 statements, 3.4 ms; N+1: 1``."""
        head = f"{self.name}: " if self.name else ""
        text = f"{head}{self.count} statements, {self.total_ms:.1f} ms"
        if self.errors:
            text += f", {self.errors} failed"
        if self._findings:
            text += f"; N+1: {len(self._findings)}"
        return text

    def server_timing(self) -> str:
        """A ``Server-Timing`` header value: ``db;dur=3.4;desc="12 queries"``."""
        return f'db;dur={self.total_ms:.1f};desc="{self.count} queries"'

    # -- scope ------------------------------------------------------------------------------

    def __enter__(self) -> Profile:
        if self._token is not None:
            raise ConfigurationError("this profile is already active; use a new profile()")
        self._token = _SCOPES.set((*_SCOPES.get(), self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is not None:
            try:
                _SCOPES.reset(token)
            except ValueError:  # exited in another context (e.g. an async generator)
                _SCOPES.set(tuple(p for p in _SCOPES.get() if p is not self))
        if self.log:
            logger.info("%s", self.summary(), extra={"profile": self})
        if self._findings and exc_type is None:
            self._report()

    async def __aenter__(self) -> Profile:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _report(self) -> None:
        findings = self.nplusone
        if self.on_nplusone == "ignore":
            return
        text = "; ".join(str(f) for f in findings)
        scope = f" in {self.name}" if self.name else ""
        if self.on_nplusone == "raise":
            raise NPlusOneError(f"N+1 pattern{scope}: {text}", findings)
        if self.on_nplusone == "warn":
            warnings.warn(NPlusOneWarning(f"N+1 pattern{scope}: {text}"), stacklevel=3)
            return
        for finding in findings:
            logger.warning(
                "%s%s",
                f"[{self.name}] " if self.name else "",
                finding,
                extra={
                    "fingerprint": finding.fingerprint,
                    "count": finding.count,
                    "caller": finding.caller,
                    "relationship": finding.relationship,
                },
            )

    def __call__(self, fn: F) -> F:
        """Decorate ``fn``: each call runs in a fresh profile with this one's options."""
        name = self.name or getattr(fn, "__qualname__", None)

        def fresh() -> Profile:
            return Profile(
                name,
                nplusone=self.nplusone_threshold,
                on_nplusone=self.on_nplusone,
                max_statements=self.max_statements,
                log=self.log,
            )

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                with fresh():
                    return await fn(*args, **kwargs)

            return awrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with fresh():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"<Profile {self.summary()}>"


def profile(
    name: str | None = None,
    *,
    nplusone: int | None = 5,
    on_nplusone: OnNPlusOne = "log",
    max_statements: int | None = 10_000,
    log: bool = False,
) -> Profile:
    """A profiling scope: a context manager (sync and async) and a decorator.

    Args:
        name: shown in summaries and N+1 reports, and stored as each event's ``scope``
            (a decorated function's qualified name by default).
        nplusone: repeats of one statement shape that make an N+1 finding (``None``: off).
        on_nplusone: on closing with findings: ``"log"``, ``"warn"``, ``"raise"``, ``"ignore"``.
        max_statements: statements kept for :attr:`Profile.statements` (all are counted).
        log: log the one-line summary when the scope closes.

    >>> with profile("report") as p:
    ...     pass
    >>> p.summary()
    'report: 0 statements, 0.0 ms'

    As a decorator, each call runs in a fresh :class:`Profile` with these options.

    >>> @profile(log=True)
    ... def job() -> int:
    ...     return 1
    >>> job()
    1
    """
    return Profile(
        name, nplusone=nplusone, on_nplusone=on_nplusone, max_statements=max_statements, log=log
    )


# --------------------------------------------------------------------------------------------
# JSONL sink


class JsonlSink:
    """Append QueryEvents to a JSONL file (the format ``backendperf digest``/``advise`` read).

    Buffered (``buffer`` events), thread-safe, flushed on :meth:`close`, on interpreter exit
    and every ``flush_every`` events; with ``max_bytes`` the file rotates to ``path.1`` ...
    ``path.{backups}`` like :class:`logging.handlers.RotatingFileHandler`.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "q.jsonl"
    >>> with JsonlSink(path) as sink:
    ...     sink(QueryEvent(statement="SELECT 1", duration_ms=0.2))
    >>> QueryEvent.from_json(path.read_text()).statement
    'SELECT 1'
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        buffer: int = 256,
        max_bytes: int | None = None,
        backups: int = 3,
    ) -> None:
        if buffer < 1:
            raise ConfigurationError(f"buffer={buffer}: must be at least 1")
        if max_bytes is not None and max_bytes < 1:
            raise ConfigurationError(f"max_bytes={max_bytes}: must be positive")
        self.path = Path(path)
        self.buffer = buffer
        self.max_bytes = max_bytes
        self.backups = backups
        self.written = 0
        """Events written to disk so far."""
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._size = self.path.stat().st_size if self.path.exists() else 0
        _SINKS.add(self)

    def __call__(self, event: QueryEvent) -> None:
        line = event.to_json()
        with self._lock:
            if self._closed:
                raise ValueError(f"JsonlSink({self.path}) is closed")
            self._pending.append(line)
            if len(self._pending) >= self.buffer:
                self._flush()

    def write_many(self, events: Iterable[QueryEvent]) -> None:
        """Write several events (one lock round)."""
        lines = [e.to_json() for e in events]
        with self._lock:
            self._pending.extend(lines)
            self._flush()

    def flush(self) -> None:
        """Write what is buffered."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        data = "".join(line + "\n" for line in self._pending).encode()
        count = len(self._pending)
        self._pending = []
        if self.max_bytes is not None and self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        with self.path.open("ab") as f:
            f.write(data)
        self._size += len(data)
        self.written += count

    def _rotate(self) -> None:
        for i in range(self.backups - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                src.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.backups > 0:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()
        self._size = 0

    def close(self) -> None:
        """Flush and stop accepting events."""
        with self._lock:
            self._flush()
            self._closed = True

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JsonlSink({str(self.path)!r})"


_SINKS: weakref.WeakSet[JsonlSink] = weakref.WeakSet()


@atexit.register
def _flush_sinks() -> None:
    for sink in list(_SINKS):
        with contextlib.suppress(OSError):  # the disk went away at exit: nothing left to do
            sink.flush()

"""Query timing for SQLAlchemy: :func:`instrument` an engine, read :func:`profile` scopes.

>>> import sqlalchemy as sa
>>> engine = sa.create_engine("sqlite://")
>>> with instrument(engine) as handle, profile("demo") as p:
...     with engine.connect() as conn:
...         for i in range(3):
...             _ = conn.execute(sa.text("SELECT :x"), {"x": i}).all()
>>> p.count, [s.count for s in p.by_fingerprint()]
(3, [3])
>>> handle.stats.count
3

How it works: one ``do_execute`` hook per dialect (plus ``do_executemany`` and
``do_execute_no_params``) times the DBAPI call itself. SQLAlchemy's
``before/after_cursor_execute`` pair costs more than the whole of our recording, because
any engine-level listener switches SQLAlchemy's execution onto its slower, event-dispatching
path (see docs/middleware.md for the figures). The fingerprint is computed once per distinct
statement text; the caller's stack is walked only for slow statements, for the first statement
of each shape in a scope, and for N+1 findings.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final, Literal

from backendperf.exceptions import ConfigurationError, MissingDependencyError

try:
    from sqlalchemy import event
    from sqlalchemy.engine import Dialect, Engine
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("sqlalchemy", "sqlalchemy", "backendperf.sqlalchemy") from exc

from backendperf.profiling import (
    _PROCESS,
    _SCOPES,
    LAZY_OPTION,
    JsonlSink,
    Profile,
    QueryContext,
    Sink,
    caller,
    profile,
    record_event,
)
from backendperf.workload.fingerprinting import Fingerprinter

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Sequence
    from types import TracebackType

    from backendperf.profiling import _Record

__all__ = ["Instrumentation", "instrument", "profile"]

logger = logging.getLogger("backendperf")

Callers = Literal["slow", "all", "never"]

_FP_DIALECT: Final = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}
_MAX_SHAPES: Final = 20_000

# listen target (a Dialect, or the Dialect class for "every engine") -> its instrumentation
_INSTALLED: dict[object, Instrumentation] = {}
_LOCK = threading.Lock()
_ORM_USERS = [0]


class Instrumentation:
    """What :func:`instrument` installed: statistics, options, and :meth:`uninstrument`.

    Also a context manager that uninstruments on exit.
    """

    def __init__(
        self,
        targets: Sequence[object],
        *,
        slow_ms: float | None,
        sinks: Sequence[Sink],
        owned_sinks: Sequence[JsonlSink],
        capture_params: bool,
        redact: Callable[[str, Any], Any] | None,
        explain_slow: bool,
        callers: Callers,
        lazy_loads: bool = True,
    ) -> None:
        if slow_ms is not None and slow_ms < 0:
            raise ConfigurationError(f"slow_ms={slow_ms}: must be >= 0 (or None for no slow log)")
        if callers not in ("slow", "all", "never"):
            raise ConfigurationError(f"callers={callers!r}: use 'slow', 'all' or 'never'")
        self.slow_ms = slow_ms
        self.sinks = tuple(sinks)
        self.capture_params = capture_params
        self.redact = redact
        self.explain_slow = explain_slow
        self.callers: Callers = callers
        self.stats = Profile("instrumentation", nplusone=None, max_statements=0)
        """Every statement since :func:`instrument`, per fingerprint (no statement list kept)."""
        self.errors = 0
        """Errors inside backendperf's own listener code (the queries themselves went on)."""
        self.installed = False
        self._targets = tuple(targets)
        self._owned = tuple(owned_sinks)
        self._shapes: dict[str, tuple[str, str]] = {}
        self._fingerprinters: dict[str, Fingerprinter] = {}
        self._contexts: dict[object, QueryContext] = {}
        self._warned = False
        self._explainer: _Explainer | None = None
        self._global = any(isinstance(t, type) for t in self._targets)
        self._all_callers = callers == "all"
        self.lazy_loads = lazy_loads

    # -- hooks (one call per statement) -----------------------------------------------------

    def _do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        start = perf_counter()
        try:
            context.dialect.do_execute(cursor, statement, parameters, context)
        except BaseException as exc:
            self._record_safely(
                statement, parameters, perf_counter() - start, context, None, 0, exc
            )
            raise
        elapsed = perf_counter() - start
        try:
            self._record(statement, parameters, elapsed, context, cursor, 0, None)
        except Exception as exc:
            self._failed(exc)
        return True

    def _do_executemany(self, cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        start = perf_counter()
        try:
            context.dialect.do_executemany(cursor, statement, parameters, context)
        except BaseException as exc:
            self._record_safely(
                statement, parameters, perf_counter() - start, context, None, len(parameters), exc
            )
            raise
        elapsed = perf_counter() - start
        try:
            self._record(statement, parameters, elapsed, context, cursor, len(parameters), None)
        except Exception as exc:
            self._failed(exc)
        return True

    def _do_execute_no_params(self, cursor: Any, statement: str, context: Any) -> bool:
        start = perf_counter()
        try:
            context.dialect.do_execute_no_params(cursor, statement, context)
        except BaseException as exc:
            self._record_safely(statement, None, perf_counter() - start, context, None, 0, exc)
            raise
        elapsed = perf_counter() - start
        try:
            self._record(statement, None, elapsed, context, cursor, 0, None)
        except Exception as exc:
            self._failed(exc)
        return True

    # With instrument(Engine): an engine instrumented on its own keeps its own handle.
    def _global_do_execute(self, cursor: Any, statement: str, parameters: Any, ctx: Any) -> bool:
        own = _INSTALLED.get(ctx.dialect, self)
        return own._do_execute(cursor, statement, parameters, ctx)

    def _global_do_executemany(
        self, cursor: Any, statement: str, parameters: Any, ctx: Any
    ) -> bool:
        own = _INSTALLED.get(ctx.dialect, self)
        return own._do_executemany(cursor, statement, parameters, ctx)

    def _global_do_execute_no_params(self, cursor: Any, statement: str, ctx: Any) -> bool:
        own = _INSTALLED.get(ctx.dialect, self)
        return own._do_execute_no_params(cursor, statement, ctx)

    # -- recording --------------------------------------------------------------------------

    def _record(
        self,
        statement: str,
        parameters: Any,
        seconds: float,
        context: Any,
        cursor: Any,
        batch: int,
        error: BaseException | None,
    ) -> None:
        ms = seconds * 1000.0
        shape = self._shapes.get(statement)
        if shape is None:
            shape = self._shape(statement, context)
        fingerprint, normalized = shape
        # the handle's own statistics: this is all an unscoped, fast statement costs
        self.stats._tally(fingerprint, normalized, statement, ms, error is not None)
        scopes = _SCOPES.get()
        process = _PROCESS[0]
        if process:  # backendperf.testing and the pytest plugin: every thread and task
            scopes = (*process, *scopes)
        slow = self.slow_ms is not None and ms >= self.slow_ms
        if not (scopes or slow or self.sinks):
            return
        qctx = self._contexts.get(context.dialect)
        if qctx is None:
            qctx = self._context(context)
        if error is None:
            rowcount = cursor.rowcount
            if rowcount is not None and rowcount < 0:
                rowcount = None
        else:
            rowcount = None
        record: _Record = (
            time.time() - seconds,
            ms,
            statement,
            fingerprint,
            self._params(statement, parameters) if self.capture_params else None,
            rowcount,
            caller(2) if self._all_callers or (slow and self.callers == "slow") else None,
            None if error is None else type(error).__name__,
            batch,
            qctx,
        )
        for scope in scopes:
            record = scope._add(record, normalized, context)  # may add the caller
        if slow:
            self._slow(record, normalized, context, parameters)
        if self.sinks:
            query_event = record_event(record, scopes[-1].name if scopes else None)
            for sink in self.sinks:
                sink(query_event)

    def _record_safely(self, *args: Any) -> None:
        try:
            self._record(*args)
        except Exception as exc:
            self._failed(exc)

    def _shape(self, statement: str, context: Any) -> tuple[str, str]:
        name = _FP_DIALECT.get(context.dialect.name, "generic")
        fingerprinter = self._fingerprinters.get(name)
        if fingerprinter is None:
            fingerprinter = self._fingerprinters[name] = Fingerprinter(name)
        shape = fingerprinter(statement)
        if len(self._shapes) >= _MAX_SHAPES:
            self._shapes.clear()
        self._shapes[statement] = shape
        return shape

    def _context(self, context: Any) -> QueryContext:
        dialect = context.dialect
        try:
            database = context.root_connection.engine.url.database
        except AttributeError:
            database = None
        name = "mysql" if dialect.name == "mariadb" else dialect.name
        qctx = self._contexts[dialect] = QueryContext(name, database)
        return qctx

    def _params(self, statement: str, parameters: Any) -> Any:
        if isinstance(parameters, list):
            parameters = tuple(parameters)
        elif isinstance(parameters, dict):
            parameters = dict(parameters)
        if self.redact is not None:
            parameters = self.redact(statement, parameters)
        return parameters

    def _slow(self, record: _Record, normalized: str, context: Any, parameters: Any) -> None:
        qctx = record[9]
        logger.warning(
            "slow query: %.1f ms %s%s",
            record[1],
            normalized[:200],
            f" at {record[6]}" if record[6] else "",
            extra={
                "duration_ms": record[1],
                "fingerprint": record[3],
                "statement": record[2],
                "caller": record[6],
                "database": qctx.database,
                "dialect": qctx.dialect,
            },
        )
        if self.explain_slow and normalized.startswith(("select", "with")):
            if self._explainer is None:
                self._explainer = _Explainer()
            self._explainer.submit(context, record[2], parameters, record[3])

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        if not self._warned:
            self._warned = True
            logger.error(
                "backendperf: error while recording a query (the query itself went on; "
                "further errors are counted in Instrumentation.errors)",
                exc_info=exc,
            )

    # -- install ----------------------------------------------------------------------------

    def _hooks(self) -> tuple[tuple[str, Callable[..., bool]], ...]:
        if self._global:
            return (
                ("do_execute", self._global_do_execute),
                ("do_executemany", self._global_do_executemany),
                ("do_execute_no_params", self._global_do_execute_no_params),
            )
        return (
            ("do_execute", self._do_execute),
            ("do_executemany", self._do_executemany),
            ("do_execute_no_params", self._do_execute_no_params),
        )

    def _install(self) -> None:
        for target in self._targets:
            for name, fn in self._hooks():
                event.listen(target, name, fn)
            _INSTALLED[target] = self
        if self.lazy_loads:
            _orm_hook_acquire()
        self.installed = True

    def uninstrument(self) -> None:
        """Remove exactly what :func:`instrument` added; flush and close its JSONL file.

        Safe to call twice.
        """
        with _LOCK:
            if not self.installed:
                return
            self.installed = False
            for target in self._targets:
                for name, fn in self._hooks():
                    if event.contains(target, name, fn):
                        event.remove(target, name, fn)
                if _INSTALLED.get(target) is self:
                    del _INSTALLED[target]
            if self.lazy_loads:
                _orm_hook_release()
        if self._explainer is not None:
            self._explainer.stop()
        for sink in self._owned:
            sink.close()
        for other in self.sinks:
            flush = getattr(other, "flush", None)
            if callable(flush):
                flush()

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstrument()

    def __repr__(self) -> str:
        state = "installed" if self.installed else "removed"
        return f"<Instrumentation {state}: {self.stats.count} statements>"


def _listen_targets(target: object) -> list[object]:
    """The dialects (or the Dialect class) whose execution hooks serve ``target``."""
    if isinstance(target, type):
        if issubclass(target, Engine):
            return [Dialect]
        raise ConfigurationError(
            f"instrument({target.__name__}): pass an Engine, AsyncEngine, Session, "
            "sessionmaker, or the Engine class itself (every engine)"
        )
    sync_engine = getattr(target, "sync_engine", None)  # AsyncEngine, AsyncConnection
    if isinstance(sync_engine, Engine):
        return [sync_engine.dialect]
    if isinstance(target, Engine):
        return [target.dialect]
    sync_session = getattr(target, "sync_session", None)  # AsyncSession
    if sync_session is not None:
        return _listen_targets(sync_session)
    binds: list[object] = []
    kw = getattr(target, "kw", None)  # sessionmaker, async_sessionmaker
    if isinstance(kw, dict):
        binds = [kw.get("bind"), *(kw.get("binds") or {}).values()]
    elif hasattr(target, "get_bind"):  # Session
        binds = [getattr(target, "bind", None)]
        binds += list(getattr(target, "_Session__binds", {}).values())
    binds = [b for b in binds if b is not None]
    if not binds:
        raise ConfigurationError(
            f"instrument({type(target).__name__}): nothing to instrument; pass an Engine, "
            "AsyncEngine, a Session or sessionmaker with bind=, or the Engine class"
        )
    found: list[object] = []
    for bind in binds:
        for dialect in _listen_targets(getattr(bind, "engine", bind)):
            if dialect not in found:
                found.append(dialect)
    return found


def instrument(
    target: object,
    *,
    slow_ms: float | None = None,
    jsonl: str | os.PathLike[str] | None = None,
    sinks: Sequence[Sink] = (),
    capture_params: bool = False,
    redact: Callable[[str, Any], Any] | None = None,
    explain_slow: bool = False,
    callers: Callers = "slow",
    lazy_loads: bool = True,
) -> Instrumentation:
    """Time every statement that ``target`` runs; return the :class:`Instrumentation`.

    Args:
        target: an ``Engine``, ``AsyncEngine``, ``Session``/``AsyncSession``,
            ``sessionmaker``/``async_sessionmaker`` (their bound engines), or the ``Engine``
            class: every engine, including ones created later.
        slow_ms: statements at least this slow are logged (``logging.getLogger("backendperf")``,
            with ``duration_ms``, ``fingerprint``, ``statement``, ``caller`` in ``extra``).
        jsonl: write every statement as a QueryEvent line to this file (closed by
            :meth:`~Instrumentation.uninstrument`). ``sinks`` take any callables.
        capture_params: keep bound parameter values in the events (off: they may hold
            personal data). ``redact(statement, params)`` rewrites them first.
        explain_slow: EXPLAIN slow SELECTs in a background thread (never ``ANALYZE``, so nothing
            is executed again) and log the plan; once per statement shape.
        callers: whose application line to find: ``"slow"`` statements (and, in a profile,
            the first of each shape and N+1 findings), ``"all"``, or ``"never"``.
        lazy_loads: tag ORM lazy loads through the public ``do_orm_execute`` event, so N+1
            findings name the relationship and the loader option to use. SQLAlchemy then
            prepares every ORM statement of every Session twice (about 5 µs each, see
            docs/benchmarks.md); ``False`` saves that and reports N+1s without the name.

    Instrumenting the same target again returns the same handle (its options stay).
    """
    with _LOCK:
        targets = _listen_targets(target)
        existing = {_INSTALLED[t] for t in targets if t in _INSTALLED}
        if len(existing) == 1:
            (handle,) = existing
            if set(handle._targets) == set(targets):
                return handle
        if existing and not all(isinstance(t, type) for t in targets):
            raise ConfigurationError(
                "part of this target is already instrumented by another handle; call its "
                "uninstrument() first"
            )
        owned = [JsonlSink(jsonl)] if jsonl is not None else []
        handle = Instrumentation(
            targets,
            slow_ms=slow_ms,
            sinks=[*sinks, *owned],
            owned_sinks=owned,
            capture_params=capture_params,
            redact=redact,
            explain_slow=explain_slow,
            callers=callers,
            lazy_loads=lazy_loads,
        )
        handle._install()
        return handle


# --------------------------------------------------------------------------------------------
# ORM: lazy loads are tagged so that an N+1 finding can name its relationship.


def _orm_execute(state: Any) -> None:
    try:
        parent = state.lazy_loaded_from  # public API; is_relationship_load also flags selectin
        if parent is None:
            return
        prop = state.loader_strategy_path[-1]
        mapper = parent.mapper
        table = getattr(mapper.local_table, "name", "") or ""
        many_to_one = getattr(getattr(prop, "direction", None), "name", "") == "MANYTOONE"
        origin = (mapper.class_.__name__, getattr(prop, "key", "?"), table, many_to_one)
        state.update_execution_options(**{LAZY_OPTION: origin})
    except Exception:  # never break the application's load
        logger.debug("backendperf: could not tag a lazy load", exc_info=True)


def _orm_hook_acquire() -> None:
    _ORM_USERS[0] += 1
    if _ORM_USERS[0] == 1:
        from sqlalchemy.orm import Session

        event.listen(Session, "do_orm_execute", _orm_execute)


def _orm_hook_release() -> None:
    _ORM_USERS[0] -= 1
    if _ORM_USERS[0] == 0:
        from sqlalchemy.orm import Session

        if event.contains(Session, "do_orm_execute", _orm_execute):
            event.remove(Session, "do_orm_execute", _orm_execute)


# --------------------------------------------------------------------------------------------
# EXPLAIN of slow statements, off the request's path


class _Explainer:
    """One daemon thread that EXPLAINs slow SELECTs on a separate raw connection."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Any, str, Any, str] | None] = queue.Queue(maxsize=16)
        self._done: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="backendperf-explain", daemon=True)
        self._thread.start()

    def submit(self, context: Any, statement: str, parameters: Any, fingerprint: str) -> None:
        if fingerprint in self._done or getattr(context.dialect, "is_async", False):
            return  # async drivers need their event loop: not from this thread
        self._done.add(fingerprint)
        engine = context.root_connection.engine
        try:
            self._queue.put_nowait((engine, statement, parameters, fingerprint))
        except queue.Full:  # a burst of slow queries: skip rather than queue without bound
            self._done.discard(fingerprint)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            engine, statement, parameters, fingerprint = job
            try:
                plan = explain(engine, statement, parameters)
            except Exception as exc:
                logger.info("backendperf: could not EXPLAIN %s: %s", fingerprint, exc)
                continue
            logger.warning(
                "plan of slow query %s:\n%s",
                fingerprint,
                plan,
                extra={"fingerprint": fingerprint, "statement": statement, "plan": plan},
            )


def explain(engine: Engine, statement: str, parameters: Any = None) -> str:
    """The plan of ``statement`` (DBAPI paramstyle, as logged), without executing it.

    Runs on a raw DBAPI connection (so instrumentation does not record it), inside a
    transaction that is rolled back, with a 5 s statement timeout on PostgreSQL.
    """
    name = engine.dialect.name
    prefix = "EXPLAIN QUERY PLAN " if name == "sqlite" else "EXPLAIN "
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            if name == "postgresql":
                cursor.execute("SET LOCAL statement_timeout = 5000")
            if parameters:
                cursor.execute(prefix + statement, parameters)
            else:
                cursor.execute(prefix + statement)
            rows = cursor.fetchall()
        finally:
            cursor.close()
            raw.rollback()
    finally:
        raw.close()
    return "\n".join(" ".join(str(v) for v in row) for row in rows)

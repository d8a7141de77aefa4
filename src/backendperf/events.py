"""``QueryEvent``: the one record type of backendperf.

Every log reader yields them, the SQLAlchemy middleware will produce them, the JSONL file holds
them one per line, and :class:`~backendperf.workload.Workload` aggregates them.

>>> event = QueryEvent(statement="SELECT 1", duration_ms=0.5, dialect="postgresql")
>>> QueryEvent.from_json(event.to_json()) == event
True
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["EventBatch", "QueryEvent", "logged"]


@dataclass(slots=True)
class QueryEvent:
    """One executed statement (or, from ``pg_stat_statements``, ``calls`` executions of one).

    Treat it as immutable (use ``dataclasses.replace``). It is not ``frozen=True`` because a
    frozen dataclass sets each field through ``object.__setattr__``: 2.5x the construction
    cost, paid once per log line.
    """

    statement: str
    """The SQL as logged (with ``$1``-style placeholders when the server logged them)."""
    duration_ms: float | None = None
    """Execution time; for ``calls > 1``, the total of all calls. ``None`` when not logged."""
    ts: dt.datetime | None = None
    """When the statement was logged (timezone-aware when the log says the zone)."""
    fingerprint: str | None = None
    """The statement's fingerprint id, when the producer computed it."""
    params: tuple[Any, ...] | dict[str, Any] | None = None
    """Bound parameter values, when logged (``DETAIL: parameters:``) or captured."""
    rowcount: int | None = None
    """Rows returned or affected (``Rows_sent`` in a MySQL slow log)."""
    rows_examined: int | None = None
    dialect: str | None = None
    """``postgresql``, ``mysql`` or ``sqlite``."""
    database: str | None = None
    user: str | None = None
    caller: str | None = None
    """``path:line:function`` of the application code that ran it (middleware only)."""
    scope: str | None = None
    calls: int = 1
    source: str | None = None
    """``file:line`` where the event was read."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Format-specific fields (MySQL ``Lock_time``, PostgreSQL ``query_id``, ...)."""
    cancelled: str | None = None
    """Why the statement did not complete, when it did not: ``"statement timeout"``,
    ``"lock timeout"``, ``"user request"``, ``"recovery conflict"``, ``"deadlock"`` or
    ``"error"`` (from an ``ERROR:`` message and its ``STATEMENT:``). Its duration is unknown."""

    def to_json(self) -> str:
        """One JSONL line (the documented file format)."""
        # Built by hand: dataclasses.asdict deep-copies every field, 5x the cost of the dump,
        # and the middleware's JSONL sink calls this once per statement.
        params = self.params
        data = {
            "statement": self.statement,
            "duration_ms": self.duration_ms,
            "ts": self.ts.isoformat() if self.ts else None,
            "fingerprint": self.fingerprint,
            "params": list(params) if isinstance(params, tuple) else params,
            "rowcount": self.rowcount,
            "rows_examined": self.rows_examined,
            "dialect": self.dialect,
            "database": self.database,
            "user": self.user,
            "caller": self.caller,
            "scope": self.scope,
            "calls": self.calls,
            "source": self.source,
        }
        if self.extra:
            data["extra"] = self.extra
        data["cancelled"] = self.cancelled
        return _dumps(data)

    @classmethod
    def from_json(cls, line: str | bytes) -> QueryEvent:
        """Parse one JSONL line; unknown keys go to ``extra``."""
        data = json.loads(line)
        if not isinstance(data, dict) or not isinstance(data.get("statement"), str):
            raise ValueError("not a query event: needs an object with a 'statement' string")
        known = {f.name for f in fields(cls)}
        extra = dict(data.pop("extra", None) or {})
        extra.update({k: data.pop(k) for k in list(data) if k not in known})
        ts = data.get("ts")
        data["ts"] = dt.datetime.fromisoformat(ts) if isinstance(ts, str) else None
        if isinstance(data.get("params"), list):
            data["params"] = tuple(data["params"])
        return cls(**data, extra=extra)


_dumps = json.JSONEncoder(default=str, ensure_ascii=False).encode


def logged(
    statement: str,
    duration_ms: float | None,
    ts: dt.datetime | None,
    params: tuple[Any, ...] | None,
    dialect: str,
    database: str | None,
    user: str | None,
    source: str,
    rowcount: int | None = None,
    rows_examined: int | None = None,
    extra: dict[str, Any] | None = None,
) -> QueryEvent:
    """A QueryEvent read from a log, built positionally: half the cost of keywords, and log
    readers build one per line. (A test pins this against the keyword form.)

    >>> logged("SELECT 1", 0.5, None, None, "mysql", "db", "u", "f:1") == QueryEvent(
    ...     statement="SELECT 1", duration_ms=0.5, dialect="mysql", database="db", user="u",
    ...     source="f:1")
    True
    """
    return QueryEvent(
        statement,
        duration_ms,
        ts,
        None,
        params,
        rowcount,
        rows_examined,
        dialect,
        database,
        user,
        None,
        None,
        1,
        source,
        {} if extra is None else extra,
    )


@dataclass(slots=True, eq=False)
class EventBatch:
    """Many timed events from one log, column by column: the bulk path from a reader to a
    :class:`~backendperf.workload.Workload`.

    A reader that takes a whole chunk of a log with one regex pass hands over its columns, and
    the workload aggregates each column per fingerprint with C-level loops (``sum``, ``min``,
    ``Counter``), instead of building and adding one :class:`QueryEvent` per log line. Events
    are built only where one is kept (a fingerprint's samples), or when a caller of
    :func:`~backendperf.workload.read` asks for events.

    >>> batch = EventBatch("mysql", ["SELECT 1"], [0.5], [None], [1], [0], ["db"], ["u"],
    ...     lambda i: logged("SELECT 1", 0.5, None, None, "mysql", "db", "u", "f:1", 1, 0))
    >>> [e.statement for e in batch.events()]
    ['SELECT 1']
    """

    dialect: str
    statements: list[str]
    """Each event's statement, as :attr:`QueryEvent.statement`."""
    duration_ms: list[float]
    ts: list[dt.datetime | None]
    rowcount: list[int] | None
    """``None``: the log has no row counts."""
    rows_examined: list[int] | None
    databases: list[str | None]
    users: list[str | None]
    """``None`` or ``""`` where the log names no user."""
    event: Callable[[int], QueryEvent]
    """The ``i``-th event, whole (with its ``source`` line and ``extra`` fields)."""

    def __len__(self) -> int:
        return len(self.statements)

    def events(self) -> Iterator[QueryEvent]:
        return map(self.event, range(len(self.statements)))

"""``Workload``: per-fingerprint statistics of a stream of query events, mergeable.

Memory is bounded by the number of distinct fingerprints, never by the number of events: each
fingerprint keeps counters, a log-bucket quantile sketch (1% relative error) and a few samples.

>>> from backendperf.events import QueryEvent
>>> w = Workload()
>>> for ms in (1.0, 2.0, 3.0, 100.0):
...     w.add(QueryEvent(statement=f"SELECT * FROM t WHERE id = {int(ms)}", duration_ms=ms))
>>> (stats,) = w.stats.values()
>>> stats.count, stats.total_ms, stats.normalized
(4, 106.0, 'select * from t where id = ?')
>>> round(stats.quantile(0.5), 1), stats.max_ms
(2.0, 100.0)
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from backendperf.events import EventBatch
from backendperf.workload.fingerprinting import Fingerprinter
from backendperf.workload.load import load
from backendperf.workload.sketch import BUCKET_OF as _BUCKET_OF
from backendperf.workload.sketch import Sketch

if TYPE_CHECKING:
    import datetime as dt
    import os
    from collections.abc import Callable, Iterable

    from backendperf.events import QueryEvent
    from backendperf.workload.readers import ReadStats

__all__ = ["FingerprintStats", "Sketch", "Workload"]

_SAMPLES: Final = 3
_UNSET: Final = object()


@dataclass
class Sample:
    """A real occurrence of a statement (with its parameters when they were logged)."""

    statement: str
    duration_ms: float | None
    params: Any
    ts: dt.datetime | None
    source: str | None
    database: str | None

    def bound(self) -> str:
        """The statement with ``$n`` placeholders replaced by the logged values."""
        return bind_params(self.statement, self.params)


def bind_params(statement: str, params: Any) -> str:
    """Substitute PostgreSQL ``$n`` placeholders with logged parameter values.

    >>> bind_params("SELECT * FROM t WHERE a = $1 AND b = $2", ("x'y", None))
    "SELECT * FROM t WHERE a = 'x''y' AND b = NULL"
    """
    if not params or not isinstance(params, tuple | list):
        return statement
    import re

    def value(m: re.Match[str]) -> str:
        i = int(m[1]) - 1
        if not 0 <= i < len(params):
            return m[0]
        v = params[i]
        if v is None:
            return "NULL"
        if isinstance(v, int | float):
            return str(v)
        return "'" + str(v).replace("'", "''") + "'"

    return re.sub(r"\$(\d+)\b", value, statement)


@dataclass
class FingerprintStats:
    """Everything the workload knows about one statement shape."""

    fingerprint: str
    normalized: str
    dialect: str | None = None
    count: int = 0
    timed: int = 0
    """Calls with a logged duration (the general log has none)."""
    total_ms: float = 0.0
    min_ms: float = math.inf
    max_ms: float = 0.0
    rows: int = 0
    rows_examined: int = 0
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    databases: Counter[str] = field(default_factory=Counter)
    users: Counter[str] = field(default_factory=Counter)
    sketch: Sketch = field(default_factory=Sketch)
    samples: list[Sample] = field(default_factory=list)
    """The slowest occurrence first, then the first ones seen (at most three)."""
    cancelled: Counter[str] = field(default_factory=Counter)
    """Executions that did not complete, by why (``QueryEvent.cancelled``): a statement
    timeout, a lock timeout, a user's cancel, a deadlock, an error. Not in ``count`` or
    ``total_ms``: their durations are unknown."""

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.timed if self.timed else 0.0

    def quantile(self, q: float) -> float:
        """Estimated per-call time at quantile ``q`` (within 1%, and within [min, max])."""
        if not self.timed:
            return 0.0
        return min(max(self.sketch.quantile(q), self.min_ms), self.max_ms)

    def add(self, event: QueryEvent) -> None:
        # Runs once per log line: plain comparisons instead of min()/max() calls, the
        # sketch's bucket update inlined (one dict lookup when the value was seen), and the
        # sample list left alone in the common case (full, and this call not the slowest).
        if event.cancelled is not None:
            self._cancel(event)
            return
        calls = event.calls
        self.count += calls
        ms = event.duration_ms
        per_call = None
        if ms is not None:
            self.timed += calls
            self.total_ms += ms
            per_call = ms if calls == 1 else ms / calls
            sketch = self.sketch
            key = _BUCKET_OF.get(per_call)
            if key is None or calls != 1:
                sketch.add(per_call, calls)
            else:
                sketch.count += 1
                buckets = sketch.buckets
                buckets[key] = buckets.get(key, 0) + 1
            if per_call < self.min_ms:  # noqa: PLR1730 (a compare, not a call)
                self.min_ms = per_call
            if per_call > self.max_ms:  # noqa: PLR1730
                self.max_ms = per_call
        rowcount = event.rowcount
        if rowcount:
            self.rows += rowcount
        examined = event.rows_examined
        if examined:
            self.rows_examined += examined
        ts = event.ts
        if ts is not None and ts is not self.last_seen:
            last = self.last_seen
            if self.first_seen is None or last is None:
                self.first_seen = self.last_seen = ts
            else:
                try:
                    later = last < ts  # the common case: logs are in time order
                except TypeError:  # naive vs aware (logs from different sources)
                    later = _before(last, ts)
                if later:
                    self.last_seen = ts
                elif _before(ts, self.first_seen):
                    self.first_seen = ts
        database = event.database
        if database:
            self.databases[database] += calls
        user = event.user
        if user:
            self.users[user] += calls
        samples = self.samples
        if len(samples) >= _SAMPLES:
            top = samples[0].duration_ms
            if per_call is None or (top is not None and per_call <= top):
                return
        self._sample(event)

    def add_batch(self, batch: EventBatch, rows: list[int], shared: _Shared | None = None) -> None:
        """:meth:`add` for the events ``rows`` of ``batch`` (in order), column by column."""
        if shared is None:
            shared = _Shared.of(batch)
        # itemgetter gathers a column's rows in C (one row: a scalar, so a slice instead)
        pick: Callable[[Any], Any] = (
            operator.itemgetter(*rows)
            if len(rows) > 1
            else operator.itemgetter(slice(rows[0], rows[0] + 1))
        )
        calls = len(rows)
        self.count += calls
        self.timed += calls
        ms: tuple[float, ...] = pick(batch.duration_ms)
        self.total_ms = sum(ms, self.total_ms)  # left to right, as add() does one by one
        sketch = self.sketch
        found = list(map(_BUCKET_OF.get, ms))
        unseen = found.count(None)
        if unseen:  # values not seen before (or zero): added one by one, buckets computed
            for value, key in zip(ms, found, strict=True):
                if key is None:
                    sketch.add(value)
        sketch.count += calls - unseen
        keys: Counter[Any] = Counter(found)
        keys.pop(None, None)
        buckets = sketch.buckets
        for key, n in keys.items():
            buckets[key] = buckets.get(key, 0) + n
        low, high = min(ms), max(ms)
        if low < self.min_ms:  # noqa: PLR1730 (a compare, not a call)
            self.min_ms = low
        if high > self.max_ms:  # noqa: PLR1730
            self.max_ms = high
        if batch.rowcount is not None:
            self.rows += sum(pick(batch.rowcount))
        if batch.rows_examined is not None:
            self.rows_examined += sum(pick(batch.rows_examined))
        stamps = pick(batch.ts)
        if not shared.stamped:
            stamps = [ts for ts in stamps if ts is not None]
        if stamps:
            try:
                first, last = min(stamps), max(stamps)
            except TypeError:  # naive and aware: compare wall times
                first = min(stamps, key=_wall)
                last = max(stamps, key=_wall)
            if self.first_seen is None or _before(first, self.first_seen):
                self.first_seen = first
            if self.last_seen is None or _before(self.last_seen, last):
                self.last_seen = last
        for counter, column, same in (
            (self.databases, batch.databases, shared.database),
            (self.users, batch.users, shared.user),
        ):
            if same is _UNSET:
                names = Counter(pick(column))
                names.pop(None, None)
                names.pop("", None)
                counter.update(names)
            elif same:
                counter[same] += calls  # type: ignore[index]  # a str
        samples = self.samples
        if len(samples) >= _SAMPLES:
            top = samples[0].duration_ms
            if top is not None and high <= top:
                return  # the usual case: none of these is kept
        for row, per_call in zip(rows, ms, strict=True):  # as add() would, one by one
            if len(samples) >= _SAMPLES:
                top = samples[0].duration_ms
                if top is not None and per_call <= top:
                    continue
            self._sample(batch.event(row))

    def _cancel(self, event: QueryEvent) -> None:
        """A statement that did not complete: counted by why; a sample while there is room
        (for a statement that never completed, the only text the advisor can parse)."""
        self.cancelled[event.cancelled or "error"] += event.calls
        if len(self.samples) < _SAMPLES:
            self.samples.append(_sample_of(event, None))

    def _sample(self, event: QueryEvent) -> None:
        samples = self.samples
        ms = event.duration_ms
        per_call = None if ms is None else ms / event.calls
        top = samples[0].duration_ms if samples else None
        if samples and (per_call is None or (top is not None and per_call <= top)):
            if len(samples) < _SAMPLES:  # not the slowest: kept only while there is room
                samples.append(_sample_of(event, per_call))
            return
        samples.insert(0, _sample_of(event, per_call))
        del samples[_SAMPLES:]

    def merge(self, other: FingerprintStats) -> None:
        self.cancelled.update(other.cancelled)
        self.count += other.count
        self.timed += other.timed
        self.total_ms += other.total_ms
        self.min_ms = min(self.min_ms, other.min_ms)
        self.max_ms = max(self.max_ms, other.max_ms)
        self.rows += other.rows
        self.rows_examined += other.rows_examined
        for ts in (other.first_seen, other.last_seen):
            if ts is not None:
                if self.first_seen is None or _before(ts, self.first_seen):
                    self.first_seen = ts
                if self.last_seen is None or _before(self.last_seen, ts):
                    self.last_seen = ts
        self.databases.update(other.databases)
        self.users.update(other.users)
        self.sketch.merge(other.sketch)
        merged = sorted(
            [*self.samples, *other.samples],
            key=lambda s: -1.0 if s.duration_ms is None else s.duration_ms,
            reverse=True,
        )
        self.samples = merged[:_SAMPLES]


class _Shared(NamedTuple):
    """What a whole batch has in common (worked out once, not per fingerprint)."""

    database: object  # the one database of every event, or _UNSET
    user: object
    stamped: bool  # no event without a time

    @classmethod
    def of(cls, batch: EventBatch) -> _Shared:
        return cls(_same(batch.databases), _same(batch.users), None not in batch.ts)


def _same(column: list[Any]) -> object:
    if column and column.count(column[0]) == len(column):
        return column[0]
    return _UNSET


def _sample_of(event: QueryEvent, per_call: float | None) -> Sample:
    return Sample(event.statement, per_call, event.params, event.ts, event.source, event.database)


def _wall(ts: dt.datetime) -> dt.datetime:
    return ts.replace(tzinfo=None)


def _before(a: dt.datetime, b: dt.datetime) -> bool:
    try:
        return a < b
    except TypeError:  # naive vs aware (logs from different sources): compare wall times
        return a.replace(tzinfo=None) < b.replace(tzinfo=None)


class Workload:
    """Per-fingerprint statistics of query events; :meth:`merge` combines two workloads."""

    def __init__(self) -> None:
        self.stats: dict[str, FingerprintStats] = {}
        self.events = 0
        self.read_stats: ReadStats | None = None
        self.sources: list[str] = []
        self._fingerprinters: dict[str, Fingerprinter] = {}

    def _fp(self, dialect: str | None) -> Fingerprinter:
        key = dialect or "postgresql"
        fp = self._fingerprinters.get(key)
        if fp is None:
            fp = self._fingerprinters[key] = Fingerprinter(key)
        return fp

    def add(self, event: QueryEvent) -> None:
        """Count one event (its fingerprint is computed here, cached per statement text)."""
        self.extend((event,))

    def drop_caches(self) -> None:
        """Forget the fingerprint caches (before sending a workload to another process)."""
        self._fingerprinters.clear()

    def extend(self, events: Iterable[QueryEvent | EventBatch]) -> Workload:
        """Count every event: the loop that runs once per log line, so the fingerprinter is
        looked up only when the dialect changes. An :class:`~backendperf.events.EventBatch`
        (a reader's columns) counts as its events."""
        stats = self.stats
        dialect: object = _UNSET
        fp: Fingerprinter | None = None
        n = 0
        try:
            for event in events:
                if isinstance(event, EventBatch):  # a reader's columns: aggregated per column
                    self._add_batch(event)
                    n += len(event)
                    continue
                if event.dialect is not dialect:
                    dialect = event.dialect
                    fp = self._fp(event.dialect)
                fid, text = fp(event.statement)  # type: ignore[misc]  # set on the first event
                per_fp = stats.get(fid)
                if per_fp is None:
                    per_fp = stats[fid] = FingerprintStats(fid, text, event.dialect)
                per_fp.add(event)
                n += 1
        finally:
            self.events += n
        return self

    def _add_batch(self, batch: EventBatch) -> None:
        """The events of ``batch``, grouped by fingerprint (a batch holds a few dozen), each
        group added column by column."""
        hits = self._fp(batch.dialect).many(batch.statements)
        groups: dict[str, list[int]] = {}
        for row, (fid, _) in enumerate(hits):  # the one loop per event
            rows = groups.get(fid)
            if rows is None:
                groups[fid] = [row]
            else:
                rows.append(row)
        stats = self.stats
        shared = _Shared.of(batch)
        for fid, rows in groups.items():
            per_fp = stats.get(fid)
            if per_fp is None:
                per_fp = stats[fid] = FingerprintStats(fid, hits[rows[0]][1], batch.dialect)
            per_fp.add_batch(batch, rows, shared)

    def merge(self, other: Workload) -> Workload:
        """Add ``other``'s statistics into this workload (for many files or parallel parsing)."""
        for fid, theirs in other.stats.items():
            mine = self.stats.get(fid)
            if mine is None:
                mine = self.stats[fid] = FingerprintStats(fid, theirs.normalized, theirs.dialect)
            mine.merge(theirs)
        self.events += other.events
        self.sources += other.sources
        if other.read_stats is not None:
            if self.read_stats is None:
                from backendperf.workload.readers import ReadStats

                self.read_stats = ReadStats()
            self.read_stats.merge(other.read_stats)
        return self

    @classmethod
    def from_logs(
        cls,
        paths: Iterable[str | os.PathLike[str]],
        *,
        format: str = "auto",
        errors: str = "warn",
        log_line_prefix: str | None = None,
        jobs: int = 1,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Workload:
        """Read every log (rotated files, several servers) into one workload; ``jobs > 1``
        parses large files in that many processes (see :mod:`backendperf.workload.load`)."""
        return load(
            cls,
            paths,
            format=format,
            errors=errors,
            log_line_prefix=log_line_prefix,
            jobs=jobs,
            on_bytes=on_bytes,
        )

    # -- totals ------------------------------------------------------------------------------

    @property
    def total_ms(self) -> float:
        return sum(s.total_ms for s in self.stats.values())

    @property
    def calls(self) -> int:
        return sum(s.count for s in self.stats.values())

    @property
    def cancelled(self) -> int:
        """Statements that did not complete (timeouts, cancels, deadlocks, errors)."""
        return sum(sum(s.cancelled.values()) for s in self.stats.values())

    def span(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        firsts = [s.first_seen for s in self.stats.values() if s.first_seen is not None]
        lasts = [s.last_seen for s in self.stats.values() if s.last_seen is not None]
        first = min(firsts, key=_sort_key) if firsts else None
        last = max(lasts, key=_sort_key) if lasts else None
        return first, last

    def top(self, n: int = 20, *, by: str = "total") -> list[FingerprintStats]:
        """The ``n`` heaviest fingerprints by ``total``, ``count``, ``mean``, ``p99`` or ``max``."""
        keys: dict[str, Callable[[FingerprintStats], float]] = {
            "total": lambda s: s.total_ms,
            "count": lambda s: s.count,
            "mean": lambda s: s.mean_ms,
            "p99": lambda s: s.quantile(0.99),
            "max": lambda s: s.max_ms,
        }
        if by not in keys:
            raise ValueError(f"by={by!r}: choose one of {', '.join(keys)}")
        key = keys[by]
        return sorted(self.stats.values(), key=lambda s: (-key(s), s.fingerprint))[:n]


def _sort_key(ts: dt.datetime) -> float:
    try:
        return ts.timestamp()
    except (OverflowError, ValueError, OSError):  # pragma: no cover
        return 0.0

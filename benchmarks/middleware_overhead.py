"""Query-timing middleware overhead: CPU time added per statement, side by side, one run.

Run: python benchmarks/middleware_overhead.py [--quick] [--pg URL]

Each contender gets its own engine; a plain engine (no instrumentation) of the same URL runs
the same block of statements right before it, alternating for many rounds, so machine noise
hits both alike. The figure is the median over rounds of (contender - plain) CPU time
(``time.process_time``) per statement, in microseconds.

Contenders:
- floor: a bare ``before/after_cursor_execute`` listener pair that appends ``perf_counter``
  deltas to a list (SQLAlchemy's own profiling recipe, stripped down);
- backendperf, no scope: ``instrument(engine)`` (per-fingerprint statistics on the handle);
- backendperf, default: ``instrument(engine)`` inside a ``profile()`` scope (fingerprint,
  scope statistics, statement list, N+1 check, callers of slow statements only);
- backendperf + JSONL: the same, writing every statement to a JSONL file;
- OpenTelemetry: ``SQLAlchemyInstrumentor`` with an in-memory span exporter. Its 0.66 release
  instruments SQLAlchemy < 2.1 only: run this script in an environment with SQLAlchemy 2.0.x
  to include it (it is reported as skipped otherwise).

Workloads: Core ``SELECT 1`` and ORM ``session.get`` (``populate_existing``, so SQL runs each
time) on SQLite in memory, and Core ``SELECT 1`` on PostgreSQL over loopback (``--pg``).
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time
from time import perf_counter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from backendperf.sqlalchemy import instrument, profile

if TYPE_CHECKING:
    from collections.abc import Callable


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "bench_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(30))


def make_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        if s.get(Item, 1) is None:
            s.add(Item(id=1, name="one"))
            s.commit()
    return engine


def floor(engine: sa.Engine) -> tuple[Callable[[], None], Callable[[], None]]:
    deltas: list[float] = []

    def before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        context._bench_t0 = perf_counter()

    def after(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        deltas.append(perf_counter() - context._bench_t0)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    return deltas.clear, lambda: None


def ours(engine: sa.Engine) -> tuple[Callable[[], None], Callable[[], None]]:
    handle = instrument(engine)
    return (lambda: None), handle.uninstrument


def ours_jsonl(engine: sa.Engine) -> tuple[Callable[[], None], Callable[[], None]]:
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as f:
        path = pathlib.Path(f.name)
    handle = instrument(engine, jsonl=path)

    def teardown() -> None:
        handle.uninstrument()
        path.unlink()

    return (lambda: None), teardown


def otel(engine: sa.Engine) -> tuple[Callable[[], None], Callable[[], None]]:
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=provider)
    return exporter.clear, SQLAlchemyInstrumentor().uninstrument


def otel_available() -> str | None:
    try:
        import opentelemetry.instrumentation.sqlalchemy
        import opentelemetry.sdk  # noqa: F401
    except ImportError:
        return "pip install opentelemetry-sdk opentelemetry-instrumentation-sqlalchemy"
    if tuple(int(x) for x in sa.__version__.split(".")[:2]) >= (2, 1):
        return f"its 0.66 release instruments SQLAlchemy < 2.1; this is {sa.__version__}"
    return None


def core_select(engine: sa.Engine, n: int) -> float:
    stmt = sa.select(sa.literal(1))
    with engine.connect() as conn:
        start = time.process_time()
        for _ in range(n):
            conn.execute(stmt).scalar()
        return time.process_time() - start


def orm_get(engine: sa.Engine, n: int) -> float:
    with Session(engine) as s:
        start = time.process_time()
        for _ in range(n):
            s.get(Item, 1, populate_existing=True)
        return time.process_time() - start


def measure(
    url: str,
    work: Callable[[sa.Engine, int], float],
    setup: Callable[[sa.Engine], tuple[Callable[[], None], Callable[[], None]]],
    *,
    scoped: bool,
    rounds: int,
    n: int,
) -> tuple[float, float]:
    """(plain µs per statement, added µs per statement), medians over alternating rounds."""
    plain, contender = make_engine(url), make_engine(url)
    reset, teardown = setup(contender)
    work(plain, n // 4)
    work(contender, n // 4)
    plain_times, added = [], []
    for _ in range(rounds):
        base = work(plain, n)
        if scoped:
            with profile(nplusone=None, max_statements=n):
                other = work(contender, n)
        else:
            other = work(contender, n)
        reset()
        plain_times.append(base / n * 1e6)
        added.append((other - base) / n * 1e6)
    teardown()
    plain.dispose()
    contender.dispose()
    return statistics.median(plain_times), statistics.median(added)


def orm_hook_cost(url: str, rounds: int, n: int) -> float:
    """µs that backendperf's ``do_orm_execute`` hook adds to an ORM statement of *any*
    session while some engine is instrumented (it tags lazy loads for N+1 reports)."""
    from backendperf.sqlalchemy import _orm_hook_acquire, _orm_hook_release

    engine = make_engine(url)
    orm_get(engine, n // 4)
    added = []
    for _ in range(rounds):
        base = orm_get(engine, n)
        _orm_hook_acquire()
        other = orm_get(engine, n)
        _orm_hook_release()
        added.append((other - base) / n * 1e6)
    engine.dispose()
    return statistics.median(added)


CONTENDERS: list[
    tuple[str, Callable[[sa.Engine], tuple[Callable[[], None], Callable[[], None]]], bool]
] = [
    ("floor: bare listener pair", floor, False),
    ("backendperf, no scope", ours, False),
    ("backendperf, in a profile()", ours, True),
    ("backendperf, profile() + JSONL", ours_jsonl, True),
    ("OpenTelemetry SQLAlchemyInstrumentor", otel, False),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds only (CI smoke run)")
    parser.add_argument("--pg", help="PostgreSQL URL for the loopback run (psycopg 3)")
    args = parser.parse_args()
    rounds, n = (3, 200) if args.quick else (21, 2000)
    skip_otel = otel_available()
    print(f"Python {sys.version.split()[0]}, SQLAlchemy {sa.__version__}; {rounds} rounds x {n}")
    print("CPU µs added per statement (median of contender - plain, alternating rounds)\n")
    workloads: list[tuple[str, str, Callable[[sa.Engine, int], float]]] = [
        ("SQLite :memory:, Core SELECT 1", "sqlite://", core_select),
        ("SQLite :memory:, ORM session.get", "sqlite://", orm_get),
    ]
    if args.pg:
        url = args.pg.replace("postgresql://", "postgresql+psycopg://", 1)
        workloads.append(("PostgreSQL loopback, Core SELECT 1", url, core_select))
    for title, url, work in workloads:
        print(f"## {title}")
        results: dict[str, float] = {}
        plain_us = 0.0
        for name, setup, scoped in CONTENDERS:
            if setup is otel and skip_otel:
                print(f"  {name:<40} skipped: {skip_otel}")
                continue
            plain_us, added = measure(url, work, setup, scoped=scoped, rounds=rounds, n=n)
            results[name] = added
        base = results["floor: bare listener pair"]
        print(f"  {'plain statement (no instrumentation)':<40} {plain_us:7.2f} µs")
        for name, added in results.items():
            ratio = f"{added / base:5.2f}x floor" if base > 0 else ""
            print(f"  {name:<40} {added:+7.2f} µs   {ratio}")
        if work is orm_get:
            hook = orm_hook_cost(url, rounds, n)
            print(f"  {'(ORM hook, paid by every Session)':<40} {hook:+7.2f} µs")
        otel_us = results.get("OpenTelemetry SQLAlchemyInstrumentor")
        scoped_us = results["backendperf, in a profile()"]
        if otel_us is not None and scoped_us > 0:
            print(f"  OpenTelemetry / backendperf in a profile(): {otel_us / scoped_us:.1f}x")
        print()


if __name__ == "__main__":
    main()

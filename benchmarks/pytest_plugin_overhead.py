"""pytest plugin overhead: time added per statement inside tests, side by side, one run.

Run: python benchmarks/pytest_plugin_overhead.py [--quick]

A generated suite (SQLite in memory; each test runs a loop of Core and ORM statements and
records the loop's CPU time, ``time.process_time``, to a file) runs under pytest once per
contender, every other plugin disabled with ``-p no:NAME``. Contenders alternate over rounds so
machine noise hits them alike; the figure is the median over rounds of
(contender - no plugin) CPU time per statement, in microseconds, and that figure relative to
the plugin's own instrumentation floor (backendperf's production timing inside a profile).

Contenders (those not installed are reported as skipped; to include them, in a separate
virtualenv: ``pip install -e . pytest-queryguard pytest-querycount queryspy``):
- backendperf installed but unused (no marker, fixture or option): must be ~0;
- backendperf checking every test for N+1s (``--backendperf-nplusone=fail``);
- the same plus the run's report and JSONL (``--backendperf-report --backendperf-jsonl``);
- pytest-queryguard (its default: every test checked), pytest-querycount (its default),
  queryspy (``--queryspy-strict``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CONFTEST = """
import os, time
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "bench_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(30))


@pytest.fixture(scope="session")
def engine():
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([Item(id=i, name=f"item {i}") for i in range(1, 101)])
        s.commit()
    return engine


@pytest.fixture
def measure():
    out = []
    yield out
    with open(os.environ["BENCH_OUT"], "a") as f:
        f.write(f"{out[0]!r}\\n")
"""

TEST = """
import time
import sqlalchemy as sa
from sqlalchemy.orm import Session
from conftest import Item

STATEMENTS = {n}

def _loop(engine):
    with engine.connect() as conn, Session(engine) as session:
        start = time.process_time()
        for i in range(STATEMENTS // 2):
            sql = sa.text("SELECT name FROM bench_item WHERE id = :i")
            conn.execute(sql, {{"i": i % 100 + 1}}).all()
            session.execute(sa.select(Item).where(Item.id == i % 100 + 1)).scalar_one()
        return time.process_time() - start
"""

TEST_FN = """
def test_{i}(engine, measure):
    measure.append(_loop(engine))
"""

OTHERS = ("backendperf", "queryguard", "querycount", "queryspy")


def contenders(tmp: Path) -> list[tuple[str, str | None, list[str]]]:
    """(label, the plugin it needs, pytest arguments)."""
    return [
        ("no plugin", None, []),
        ("backendperf, installed, unused", "backendperf", []),
        ("backendperf, N+1 check on every test", "backendperf", ["--backendperf-nplusone=fail"]),
        (
            "backendperf, + report and JSONL",
            "backendperf",
            [
                "--backendperf-nplusone=fail",
                "--backendperf-report",
                f"--backendperf-jsonl={tmp / 'q.jsonl'}",
            ],
        ),
        ("pytest-queryguard (default)", "queryguard", []),
        ("pytest-querycount (default)", "querycount", []),
        ("queryspy --queryspy-strict", "queryspy", ["--queryspy-strict"]),
    ]


_MODULES = {
    "backendperf": "backendperf",
    "queryguard": "pytest_queryguard",
    "querycount": "pytest_querycount",
    "queryspy": "queryspy",
}


def run(suite: Path, plugin: str | None, args: list[str], out: Path) -> list[float]:
    disable = [x for name in OTHERS if name != plugin for x in ("-p", f"no:{name}")]
    out.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_OUT": str(out)}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *disable, *args],
        cwd=suite,
        env=env,
        capture_output=True,
        check=False,
    )
    return [float(x) for x in out.read_text().split()] if out.exists() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (a few seconds)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    opts = parser.parse_args()
    rounds, tests, statements = (1, 3, 200) if opts.quick else (7, 20, 2000)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        suite = tmp / "suite"
        suite.mkdir()
        (suite / "conftest.py").write_text(textwrap.dedent(CONFTEST))
        body = TEST.format(n=statements) + "".join(TEST_FN.format(i=i) for i in range(tests))
        (suite / "test_bench.py").write_text(body)
        (suite / "pytest.ini").write_text("[pytest]\n")
        available = [
            c for c in contenders(tmp) if c[1] is None or importlib.util.find_spec(_MODULES[c[1]])
        ]
        skipped = [c[0] for c in contenders(tmp) if c not in available]
        per_round: dict[str, list[float]] = {c[0]: [] for c in available}
        for _ in range(rounds):
            for label, plugin, args in available:
                times = run(suite, plugin, args, tmp / "out.txt")
                if times:
                    per_round[label].append(statistics.median(times) / statements * 1e6)
        base = statistics.median(per_round["no plugin"])
        figures = {}
        print(f"{tests} tests x {statements} statements (SQLite, Core + ORM), {rounds} rounds")
        print(f"{'contender':40} {'us/stmt':>9} {'added':>9}")
        for label, values in per_round.items():
            if not values:
                print(f"{label:40} {'failed':>9}")
                continue
            med = statistics.median(values)
            figures[label] = {"us_per_statement": med, "added_us": med - base}
            print(f"{label:40} {med:9.2f} {med - base:+9.2f}")
        ours = figures.get("backendperf, N+1 check on every test", {}).get("added_us")
        if ours:
            print("\nadded per statement, relative to backendperf's N+1 check:")
            for label, fig in figures.items():
                if label != "no plugin":
                    print(f"  {label:40} {fig['added_us'] / ours:6.2f}x")
        for label in skipped:
            print(f"{label:40} skipped (not installed)")
        if opts.json:
            Path(opts.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

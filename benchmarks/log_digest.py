"""backendperf digest against pgBadger and pt-query-digest, on the same real logs, one run.

Run: python benchmarks/log_digest.py [--logs DIR] [--max-mb N] [--only SHAPE ...] [--quick]

The logs are every shape users have (``bash benchmarks/make_logs.sh DIR SECONDS`` writes them
from private PostgreSQL 15 and MariaDB servers under pgbench and sysbench; needs root and
``apt-get install pgbadger percona-toolkit sysbench``): PostgreSQL's stderr log with the simple
protocol, with the extended protocol (``execute`` + ``DETAIL: parameters``) and with
``log_statement=all`` + ``log_duration``; the simple-protocol run as csvlog and as jsonlog; a
MariaDB slow log. ``--max-mb`` cuts each to its first N MB at an entry boundary. ``--quick``
reads the bundled samples with our reader only (a smoke run for CI).

For each log and tool: wall time, MB/s, statements/s and peak RSS (of the child process).
Contenders: ``backendperf digest`` (``-j 1`` and ``-j 2``), pgBadger (text output, ``-j 1``
and ``-j 2``), pt-query-digest, and the *floor*: a plain Python loop that reads the records
(lines; ``csv.reader`` rows; ``json.loads`` objects), finds the statement and normalizes its
literals with one compiled regex, caching per distinct raw text (what any Python reader pays
at least). Agreement: the top 10 statements by total time from pgBadger and pt-query-digest,
fingerprinted with our normalizer, against ours.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "fixtures" / "logs"
PREFIX = "%m [%p] %q%u@%d "

FLOOR = r"""
import csv, json, re, sys
# The least any Python reader does: read each record, find the statement, blank its literals
# with one compiled regex (cached per distinct text), count it.
lit = re.compile(r"'(?:[^']|'')*'|(?<![\w$])\d+(?:\.\d+)?")
kind = sys.argv[2]
memo = {}
n = 0
def statement(message):
    i = message.find("statement: ")
    if i < 0:
        i = message.find("execute ")
    return None if i < 0 else message[i:]
with open(sys.argv[1], encoding="utf-8", errors="replace", newline="") as fh:
    if kind == "pg-csv":
        records = (row[13] for row in csv.reader(fh) if len(row) > 13)
    elif kind == "pg-json":
        records = (json.loads(line).get("message", "") for line in fh)
    else:
        records = fh
    for line in records:
        if kind == "mysql":
            if line.startswith(("#", "SET timestamp", "use ")):
                continue
            text = line
        else:
            text = statement(line)
            if text is None:
                continue
        key = memo.get(text)
        if key is None:
            key = memo[text] = lit.sub("?", text).lower()
            if len(memo) > 100000:
                memo.clear()
        n += 1
print(n)
"""

SHAPES = {
    # shape: (file written by make_logs.sh, kind, pgBadger -f)
    "pg-simple": ("postgresql.log", "pg-stderr", "stderr"),
    "pg-extended": ("pg-extended.log", "pg-stderr", "stderr"),
    "pg-statement-all": ("pg-statement-all.log", "pg-stderr", "stderr"),
    "pg-csvlog": ("postgresql.csv", "pg-csv", "csv"),
    "pg-jsonlog": ("postgresql.json", "pg-json", "jsonlog"),
    "mysql-slow": ("mysql-slow.log", "mysql", None),
}
"""Every log shape the benchmark reads."""
ENTRY = {
    "pg-stderr": re.compile(
        rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[\d+\] \S+ LOG:  (?:duration|statement)", re.M
    ),
    "pg-csv": re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", re.M),
    "pg-json": re.compile(rb"^\{", re.M),
    "mysql": re.compile(rb"^# Time: ", re.M),
}
"""Where a log may be cut (``--max-mb``)."""


def cut(src: pathlib.Path, dst: pathlib.Path, size: int, kind: str) -> pathlib.Path:
    """The first ``size`` bytes of ``src``, ended before the last entry that starts there."""
    with src.open("rb") as fh:
        data = fh.read(size)
    if len(data) < size:
        return src
    starts = [m.start() for m in ENTRY[kind].finditer(data, max(0, size - 4_000_000))]
    dst.write_bytes(data[: starts[-1]] if starts else data)
    return dst


def best(cmd: list[str], repeat: int) -> tuple[float, float]:
    """The fastest of ``repeat`` runs (and its peak RSS): on a shared, noisy host one spike
    moves a 4-second run by 20%, while a minute-long run averages it out."""
    return min(run(cmd) for _ in range(repeat))


GNU_TIME = pathlib.Path("/usr/bin/time")


def run(cmd: list[str], *, stdout: Any = subprocess.DEVNULL) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of a child process.

    The RSS comes from GNU time (Debian's ``time`` package) when it is there: Linux counts
    the memory a forked child had *before* its exec (a copy of this benchmark process) in
    its ``ru_maxrss``, so ``wait4`` alone would floor every tool's figure at ours. GNU time
    is a small process whose own children start small."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        wrapped = [str(GNU_TIME), "-f", "%M", "-o", rss.name, *cmd] if GNU_TIME.exists() else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=stdout, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{cmd[0]} failed: {' '.join(cmd)}")
        text = rss.read().strip()
    kib = int(text.splitlines()[-1]) if text else usage.ru_maxrss  # empty: not wrapped
    return elapsed, kib / 1024


def ours(log: pathlib.Path, jobs: int, out: pathlib.Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "backendperf",
        "digest",
        str(log),
        "--output",
        "json",
        "-o",
        str(out),
        "--top",
        "100000",
        "-j",
        str(jobs),
    ]


def coarse(text: str) -> str:
    """pt-query-digest also abstracts digits in identifiers (sbtest1 -> sbtest?); compare on
    that coarser key so that different choices of grouping do not count as disagreement."""
    return re.sub(r"(?<=[a-z_])\d+", "?", text)


def top10(rows: list[tuple[float, str]]) -> list[str]:
    totals: dict[str, float] = {}
    for total, text in rows:
        key = coarse(text)
        totals[key] = totals.get(key, 0.0) + total
    return [k for k, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:10]]


def top_ours(out: pathlib.Path) -> list[str]:
    data = json.loads(out.read_text())
    return top10([(s["total_ms"], s["normalized"]) for s in data["statements"]])


def top_pgbadger(out: pathlib.Path) -> list[str]:
    """pgBadger's 10 most time-consuming normalized queries, in our normal form."""
    from backendperf.workload import normalize

    data = json.loads(out.read_text())
    rows = [
        (float(info.get("duration", 0)), normalize(query))
        for per_db in data.get("normalyzed_info", {}).values()
        for query, info in per_db.items()
    ]
    return top10(rows)


def top_ptqd(out: pathlib.Path) -> list[str]:
    from backendperf.workload import normalize

    data = json.loads(out.read_text())
    return top10(
        [
            (
                float(c["metrics"]["Query_time"]["sum"]) * 1000,
                normalize(c["example"]["query"], "mysql"),
            )
            for c in data.get("classes", [])
        ]
    )


def _share(mine: list[str], theirs: list[str]) -> float:
    """Share of the shorter top list found in the other (pt-query-digest reports only the
    classes that make up 95% of the time, often fewer than ten)."""
    return len(set(mine) & set(theirs)) / max(min(len(mine), len(theirs)), 1)


def statements(log: pathlib.Path) -> int:
    from backendperf.workload import Workload

    return Workload.from_logs([log], errors="ignore").calls


def row(name: str, size_mb: float, n: int, seconds: float, rss: float, base: float) -> str:
    return (
        f"| {name} | {seconds:.1f} | {size_mb / seconds:.1f} | {n / seconds:,.0f} | "
        f"{rss:.0f} | {base / seconds:.1f}x |"
    )


def bench_file(log: pathlib.Path, shape: str, quick: bool, tmp: pathlib.Path, repeat: int) -> None:
    _, kind, badger_format = SHAPES[shape]
    size_mb = log.stat().st_size / 1e6
    n = statements(log)
    print(f"\n### {shape} ({log.name}): {size_mb:.1f} MB, {n:,} statements\n")
    print("| tool | seconds | MB/s | statements/s | peak RSS MB | speed vs reference |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    results: list[tuple[str, float, float]] = []
    ours_json = tmp / "ours.json"
    for jobs in (1, 2):
        s, rss = best(ours(log, jobs, ours_json), repeat)
        results.append((f"backendperf digest -j {jobs}", s, rss))
    floor_py = tmp / "floor.py"
    floor_py.write_text(FLOOR)
    s, rss = best([sys.executable, str(floor_py), str(log), kind], repeat)
    results.append(("floor: Python record loop + regex, cached", s, rss))
    agreement: dict[str, float] = {}
    mine = top_ours(ours_json)
    if not quick and badger_format is not None and shutil.which("pgbadger"):
        prefix = ["--prefix", PREFIX] if badger_format == "stderr" else []
        for jobs in (1, 2):
            out = tmp / f"pgbadger{jobs}.txt"
            s, rss = run(
                [
                    "pgbadger",
                    "-q",
                    "-j",
                    str(jobs),
                    "-f",
                    badger_format,
                    *prefix,
                    "-x",
                    "text",
                    "-o",
                    str(out),
                    str(log),
                ]
            )
            results.append((f"pgBadger -j {jobs} (text)", s, rss))
        out = tmp / "pgbadger.json"
        run(
            ["pgbadger", "-q", "-f", badger_format, *prefix, "-x", "json", "-o", str(out), str(log)]
        )
        agreement["pgBadger"] = _share(mine, top_pgbadger(out))
    if not quick and kind == "mysql" and shutil.which("pt-query-digest"):
        out = tmp / "ptqd.json"
        s, rss = run(["pt-query-digest", "--output", "json", str(log)], stdout=out.open("w"))
        results.append(("pt-query-digest", s, rss))
        agreement["pt-query-digest"] = _share(mine, top_ptqd(out))
    reference = next(
        (s for name, s, _ in results if name.startswith(("pgBadger -j 1", "pt-"))), results[0][1]
    )
    for name, s, rss in results:
        print(row(name, size_mb, n, s, rss, reference))
    floor = next(s for name, s, _ in results if name.startswith("floor"))
    mine_s = results[0][1]
    print(f"\nbackendperf -j 1 over the floor: {mine_s / floor:.2f}x")
    for tool, share in agreement.items():
        print(f"top-10 by total time shared with {tool}: {share:.0%} (digits in names abstracted)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--logs",
        type=pathlib.Path,
        help="a directory of make_logs.sh's logs (default: make them in --workdir)",
    )
    parser.add_argument(
        "--workdir",
        type=pathlib.Path,
        default=pathlib.Path(tempfile.gettempdir()) / "backendperf-logbench",
    )
    parser.add_argument("--seconds", type=int, default=60, help="pgbench/sysbench run time")
    parser.add_argument("--max-mb", type=int, default=0, help="cut each log to its first N MB")
    parser.add_argument("--only", nargs="*", choices=sorted(SHAPES), help="these shapes only")
    parser.add_argument("--quick", action="store_true", help="bundled samples, our reader only")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of ours and the floor (the best counts); the anchors run once",
    )
    args = parser.parse_args(argv)
    shapes = args.only or list(SHAPES)
    if args.quick:
        logs = {
            "pg-simple": SAMPLES / "pg15-stderr.sample.log",
            "pg-extended": SAMPLES / "pg15-extended.sample.log",
            "pg-statement-all": SAMPLES / "pg15-logstatement-all.sample.log",
            "pg-csvlog": SAMPLES / "pg15-csvlog.sample.csv",
            "pg-jsonlog": SAMPLES / "pg15-jsonlog.sample.json",
            "mysql-slow": SAMPLES / "mariadb10.11-slow.sample.log",
        }
    else:
        where = args.logs
        if where is None:
            subprocess.run(
                [
                    "bash",
                    str(ROOT / "benchmarks" / "make_logs.sh"),
                    str(args.workdir),
                    str(args.seconds),
                ],
                check=True,
            )
            where = args.workdir
        logs = {shape: where / SHAPES[shape][0] for shape in shapes}
    # Byte-compile our package as `pip install` does: with PYTHONDONTWRITEBYTECODE set (as on
    # CI hosts) an editable install would otherwise parse its sources in every run.
    import backendperf

    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(pathlib.Path(backendperf.__file__).parent)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"Python {sys.version.split()[0]}; peak RSS is the child process's; ours and the floor")
    print(f"are the best of {args.repeat} runs, the anchors (a minute or more each) run once")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in shapes:
            log = logs[shape]
            if args.max_mb and not args.quick:
                log = cut(
                    log,
                    pathlib.Path(tmp) / f"cut-{log.name}",
                    args.max_mb * 10**6,
                    SHAPES[shape][1],
                )
            bench_file(log, shape, args.quick, pathlib.Path(tmp), args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())

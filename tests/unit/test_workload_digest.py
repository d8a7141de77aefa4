"""Workload statistics (mergeable, bounded) and the digest command's three outputs."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backendperf.cli import main
from backendperf.events import QueryEvent
from backendperf.workload import Sketch, Workload

LOGS = pathlib.Path(__file__).parents[1] / "fixtures" / "logs"


@given(st.lists(st.floats(min_value=0.001, max_value=1e6), min_size=1, max_size=300))
def test_sketch_quantiles_are_within_one_percent(values: list[float]) -> None:
    """p50/p95/p99 from the sketch are within 1% of a value at that rank."""
    s = Sketch()
    for v in values:
        s.add(v)
    ordered = sorted(values)
    for q in (0.5, 0.95, 0.99):
        exact = ordered[int(q * (len(ordered) - 1))]
        assert abs(s.quantile(q) - exact) <= 0.0101 * exact + 1e-9


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0.01, 1000)), max_size=60))
def test_merged_workloads_equal_one_pass(rows: list[tuple[str, float]]) -> None:
    """Splitting events over two workloads and merging gives the single-pass statistics."""
    evs = [
        QueryEvent(statement=f"SELECT {col} FROM t WHERE x = 1", duration_ms=ms) for col, ms in rows
    ]
    whole = Workload().extend(evs)
    half = len(evs) // 2
    merged = Workload().extend(evs[:half]).merge(Workload().extend(evs[half:]))
    assert whole.stats.keys() == merged.stats.keys()
    for fid, a in whole.stats.items():
        b = merged.stats[fid]
        assert (a.count, a.max_ms, a.min_ms) == (b.count, b.max_ms, b.min_ms)
        assert a.total_ms == pytest.approx(b.total_ms)
        assert a.quantile(0.95) == pytest.approx(b.quantile(0.95))
        assert a.samples[0].duration_ms == b.samples[0].duration_ms == a.max_ms


def test_memory_is_bounded_by_distinct_statements() -> None:
    """A million-value spread of one statement keeps a small sketch and three samples."""
    w = Workload()
    for i in range(20_000):
        w.add(
            QueryEvent(
                statement=f"SELECT * FROM t WHERE id = {i}", duration_ms=(i % 997) / 7 + 0.01
            )
        )
    (stats,) = w.stats.values()
    assert stats.count == 20_000
    assert len(stats.samples) == 3
    assert len(stats.sketch.buckets) < 1000


def test_slowest_sample_is_kept_with_bound_parameters() -> None:
    """The worst occurrence is kept, with its logged parameters bound for reading."""
    w = Workload()
    w.add(QueryEvent(statement="SELECT * FROM t WHERE id = $1", duration_ms=1.0, params=("1",)))
    w.add(QueryEvent(statement="SELECT * FROM t WHERE id = $1", duration_ms=9.0, params=("it's",)))
    w.add(QueryEvent(statement="SELECT * FROM t WHERE id = $1", duration_ms=2.0, params=("3",)))
    (stats,) = w.stats.values()
    assert stats.samples[0].bound() == "SELECT * FROM t WHERE id = 'it''s'"


def test_digest_json_schema(tmp_path: pathlib.Path) -> None:
    """--output json: the documented schema, top statements by total time, totals, skips."""
    out = tmp_path / "d.json"
    code = main(
        [
            "digest",
            str(LOGS / "pg15-stderr.sample.log"),
            "--output",
            "json",
            "-o",
            str(out),
            "--top",
            "5",
        ]
    )
    assert code == 0
    data = json.loads(out.read_text())
    assert data["version"] == 1
    assert set(data["totals"]) >= {
        "events",
        "calls",
        "fingerprints",
        "total_ms",
        "first",
        "last",
        "lines",
        "skipped",
    }
    assert len(data["statements"]) == 5
    totals = [s["total_ms"] for s in data["statements"]]
    assert totals == sorted(totals, reverse=True)
    top = data["statements"][0]
    assert top["normalized"] == "select count(*) from pgbench_accounts where bid = any(?::int[])"
    assert top["worst_sample"]["source"].endswith("pg15-stderr.sample.log:11")
    assert data["by_database"]["bench"]["calls"] == data["totals"]["calls"]
    assert data["totals"]["cancelled"] == 3  # the ERROR + STATEMENT pairs
    assert {c["reasons"]["error"] for c in data["cancelled"]} == {1}
    for key in ("count", "mean", "p99", "max"):
        assert (
            main(
                [
                    "digest",
                    str(LOGS / "pg15-stderr.sample.log"),
                    "--sort",
                    key,
                    "--output",
                    "json",
                    "-o",
                    str(out),
                ]
            )
            == 0
        )


def test_digest_text_and_html(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Text goes to stdout as a table; HTML is one self-contained file with a sortable table."""
    assert main(["digest", str(LOGS / "mariadb10.11-slow.sample.log"), "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "top 3 by total" in text and "statement" in text and "not queries" in text
    html = tmp_path / "d.html"
    assert (
        main(["digest", str(LOGS / "pg15-csvlog.sample.csv"), "--output", "html", "-o", str(html)])
        == 0
    )
    page = html.read_text()
    assert page.startswith("<!doctype html>") and '<table id="digest">' in page
    assert '<svg id="histogram"' in page and "http" not in page.split("<body>")[1]


def test_digest_exit_codes(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown format or missing file: exit 2 with the reason on stderr."""
    odd = tmp_path / "odd.txt"
    odd.write_text("hello\n")
    assert main(["digest", str(odd)]) == 2
    assert "--format" in capsys.readouterr().err
    assert main(["digest", str(tmp_path / "missing.log")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["digest"]) == 2
    log = str(LOGS / "pg15-stderr.sample.log")
    assert main(["digest", log, "-o", str(tmp_path / "no" / "such" / "dir.txt")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert main(["digest", log, "--jobs", "-1"]) == 2
    assert "--jobs must be 0 (one per CPU) or more" in capsys.readouterr().err


def test_jobs_zero_is_one_process_per_cpu(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--jobs 0` reads with one process per CPU this process may use, and reports what
    one process reports."""
    import os

    from backendperf.workload import workload as workload_module

    big = tmp_path / "big.log"
    data = (LOGS / "pg15-stderr.sample.log").read_bytes()
    big.write_bytes(data * (12 * 1024 * 1024 // len(data) + 1))
    asked: list[int] = []
    real = workload_module.Workload.from_logs.__func__  # type: ignore[attr-defined]

    def spy(cls: type, *args: object, **kwargs: object) -> object:
        asked.append(int(kwargs.get("jobs", 1)))  # type: ignore[call-overload]
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(workload_module.Workload, "from_logs", classmethod(spy))
    one, auto = tmp_path / "one.json", tmp_path / "auto.json"
    assert main(["digest", str(big), "--output", "json", "-o", str(one)]) == 0
    assert asked[0] == 1
    asked.clear()
    assert main(["digest", str(big), "--output", "json", "-o", str(auto), "-j", "0"]) == 0
    assert asked[0] == len(os.sched_getaffinity(0))  # what the command asked for
    a, b = json.loads(one.read_text()), json.loads(auto.read_text())

    def figures(report: dict[str, Any]) -> dict[str, tuple[int, Any]]:
        # the samples kept may differ (ties between ranges); the statistics may not (the
        # totals up to the order of a float sum)
        return {s["fingerprint"]: (s["calls"], s["total_ms"]) for s in report["statements"]}

    assert figures(a) == {k: (n, pytest.approx(ms)) for k, (n, ms) in figures(b).items()}
    assert a["totals"]["events"] == b["totals"]["events"] > 0


def test_digest_reads_stdin() -> None:
    """'-' reads the log from standard input."""
    result = subprocess.run(
        [sys.executable, "-m", "backendperf", "digest", "-", "--output", "json"],
        input=(LOGS / "mariadb10.11-general.sample.log").read_bytes(),
        capture_output=True,
        check=True,
    )
    assert json.loads(result.stdout)["totals"]["events"] > 1000


@pytest.mark.parametrize(
    "name", ["pg15-stderr.sample.log", "mariadb10.11-slow.sample.log", "pg15-jsonlog.sample.json"]
)
def test_parallel_parsing_gives_the_single_process_result(
    tmp_path: pathlib.Path, name: str
) -> None:
    """--jobs 3 over a large file: ranges start at entry boundaries, so the merged workload
    equals the one-process workload (counts, totals, line numbers of samples)."""
    from backendperf.workload.load import plan_ranges

    big = tmp_path / name
    data = (LOGS / name).read_bytes()
    big.write_bytes(data * (12 * 1024 * 1024 // len(data) + 1))
    fmt = {
        "pg15-stderr.sample.log": "pg-stderr",
        "mariadb10.11-slow.sample.log": "mysql-slow",
        "pg15-jsonlog.sample.json": "pg-json",
    }[name]
    ranges = plan_ranges(str(big), fmt, 3)
    whole = big.read_bytes()
    assert [(start, line) for start, _, line in ranges] == [
        (start, whole.count(b"\n", 0, start) + 1) for start, _, _ in ranges
    ]
    assert ranges[-1][1] == len(whole)
    one = Workload.from_logs([big])
    three = Workload.from_logs([big], jobs=3)
    assert three.calls == one.calls
    assert {k: (s.count, round(s.total_ms, 6)) for k, s in three.stats.items()} == {
        k: (s.count, round(s.total_ms, 6)) for k, s in one.stats.items()
    }
    assert three.read_stats is not None and one.read_stats is not None
    assert three.read_stats.lines == one.read_stats.lines
    lines = big.read_text().splitlines()
    for stats in three.top(10):  # samples from every range point at their real line
        for sample in stats.samples:
            assert sample.source is not None
            lineno = int(sample.source.rsplit(":", 1)[1])
            first_word = sample.statement.split()[0]
            # the entry's first line: the statement itself, or the slow log's header above it
            assert any(first_word in line for line in lines[lineno - 1 : lineno + 30])
            assert lines[lineno - 1].startswith(("20", "{", "# User@Host", "# Time"))


def test_progress_bar_on_a_terminal(tmp_path: pathlib.Path) -> None:
    """On a TTY, a large input shows a progress bar on stderr; the report is unchanged."""
    import os
    import pty

    big = tmp_path / "big.log"
    data = (LOGS / "pg15-stderr.sample.log").read_bytes()
    big.write_bytes(data * (11 * 1024 * 1024 // len(data) + 1))
    out = tmp_path / "report.json"
    script = (
        "import sys; from backendperf.cli import main; "
        f"sys.exit(main(['digest', {str(big)!r}, '--output', 'json', '-o', {str(out)!r}]))"
    )
    captured = bytearray()

    def read(fd: int) -> bytes:
        chunk = os.read(fd, 4096)
        captured.extend(chunk)
        return chunk

    status = pty.spawn([sys.executable, "-c", script], read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"reading" in captured  # the bar's label, drawn on the terminal
    assert json.loads(out.read_text())["totals"]["events"] > 10 * 1639


def test_positional_event_builder_matches_the_keyword_form() -> None:
    """events.logged() builds QueryEvents positionally for speed; every field lands right."""
    import datetime as dt

    from backendperf.events import logged

    ts = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    built = logged("S", 1.5, ts, ("a",), "mysql", "db", "u", "f:1", 3, 4, {"k": 1})
    assert built == QueryEvent(
        statement="S",
        duration_ms=1.5,
        ts=ts,
        params=("a",),
        dialect="mysql",
        database="db",
        user="u",
        source="f:1",
        rowcount=3,
        rows_examined=4,
        extra={"k": 1},
    )
    assert built.extra == {"k": 1} and built.calls == 1 and built.fingerprint is None

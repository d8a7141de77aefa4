"""``digest`` against pt-query-digest and pgBadger, on the same logs: the tools we replace as
oracles (Debian's ``percona-toolkit`` and ``pgbadger``; the test skips without them locally and
fails without them in CI).

The three tools group statements differently (pt-query-digest keeps ``id=?`` and ``id = ?``
apart and abstracts digits in names, ``sbtest1`` -> ``sbtest?``; pgBadger and we differ in
other details), so statement classes are compared at the finest grouping both sides agree on:
each of their classes is linked to our fingerprints of its example statements (and, for
pt-query-digest, each of our fingerprints to pt-fingerprint's class of our sample), and every
connected group must hold the same number of statements and the same total time. What may
differ, and why, is :data:`ACCEPTED`: the table in docs/digest.md lists the same reasons, as
:func:`test_docs_list_every_accepted_difference` checks.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backendperf.workload import Workload, fingerprint, normalize
from tests.conftest import unavailable

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "logs"
DOCS = pathlib.Path(__file__).parent.parent.parent / "docs" / "digest.md"
PREFIX = "%m [%p] %q%u@%d "

ACCEPTED = {
    "comment-only": "a statement that is only a comment: pt-query-digest counts it (an empty "
    "fingerprint); we skip it, as there is nothing to run or index",
    "deallocate": "DEALLOCATE: pgBadger leaves it out of its query statistics; we count it (it "
    "ran, and took time)",
    "auto-explain-plans": "pgBadger counts an auto_explain plan as one more run of its statement "
    "(text plans) or as a statement of its own (JSON plans); we count the statement once",
    "log-duration-pairing": "log_statement=all + log_duration: pgBadger 12 gives the statements no "
    "time in stderr and jsonlog, and the time logged before them in csvlog; we pair each duration "
    "line with the statement its backend logged before it",
    "logplex-other-lines": "pgBadger -f logplex appends the lines of other dynos (heroku[router]) "
    "to the statement before them; its samples are cut back before they are compared",
}
"""Reason -> why: every difference the comparison allows."""

pytestmark = pytest.mark.timeout(600, method="thread")


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        unavailable(tool, "not installed: apt-get install percona-toolkit pgbadger")


# -- each tool's reading ------------------------------------------------------------------------


def ours(path: pathlib.Path, **options: Any) -> dict[str, tuple[int, float, list[str]]]:
    """fingerprint -> (statements, total ms, sample texts)."""
    workload = Workload.from_logs([path], **options)
    return {
        fp: (s.count, s.total_ms, [e.statement for e in s.samples])
        for fp, s in workload.stats.items()
    }


def pt_query_digest(path: pathlib.Path) -> dict[str, tuple[int, float, list[str]]]:
    """pt-query-digest's classes: fingerprint -> (statements, total ms, [example])."""
    out = subprocess.run(
        ["pt-query-digest", "--limit", "100%:100000", "--output", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    classes = json.loads(out)["classes"] if out.strip() else []
    return {
        c["fingerprint"]: (
            int(c["query_count"]),
            float(c["metrics"]["Query_time"]["sum"]) * 1000.0,
            [c["example"]["query"]],
        )
        for c in classes
    }


def pt_fingerprints(statements: list[str]) -> list[str]:
    """pt-fingerprint's class of each statement (one process for all that hold no ``;``)."""
    plain = [s for s in statements if ";" not in s]
    out = subprocess.run(
        ["pt-fingerprint", "-"],
        input="".join(s + ";\n" for s in plain),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    found = dict(zip(plain, out, strict=True)) if len(out) == len(plain) else {}
    result = []
    for s in statements:
        if s not in found:
            found[s] = subprocess.run(  # fails on some statements: no class, no link
                ["pt-fingerprint", "--query", s], capture_output=True, text=True, check=False
            ).stdout.strip()
        result.append(found[s])
    return result


def pgbadger(
    path: pathlib.Path, fmt: str, prefix: str = PREFIX
) -> dict[str, tuple[int, float, list[str]]]:
    """pgBadger's normalized queries: key -> (statements, total ms, every sample)."""
    out = path.with_suffix(".pgbadger.json")
    subprocess.run(
        [
            "pgbadger",
            "-q",
            "-f",
            fmt,
            "--prefix",
            prefix,
            "--sample",
            "100000",
            "-x",
            "json",
            "-o",
            str(out),
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    data = json.loads(out.read_text())
    foreign = re.compile(r"\s*\d{4}-\d\d-\d\dT\S+ (?!app\[postgres)[\w.-]+\[[\w.]+\]:.*", re.DOTALL)
    result: dict[str, tuple[int, float, list[str]]] = {}
    for db, per_db in data.get("normalyzed_info", {}).items():
        for query, info in per_db.items():
            raw = info.get("samples") or {}  # duration -> sample (one per distinct duration)
            samples = [v["query"] for v in (raw.values() if isinstance(raw, dict) else [])]
            if fmt == "logplex":  # see ACCEPTED["logplex-other-lines"]
                samples = [foreign.sub("", s) for s in samples]
            if not samples:  # no durations, no samples: the normalized text links the class
                samples = [query]
            result[f"{db}:{query}"] = (int(info["count"]), float(info["duration"]), samples)
    return result


# -- comparing ----------------------------------------------------------------------------------


def _reason(texts: list[str]) -> str | None:
    """The accepted difference a group of statements falls under, if any."""
    joined = " ".join(texts).strip()
    if not re.sub(r"--[^\n]*|/\*.*?\*/|#[^\n]*|;", "", joined, flags=re.DOTALL).strip():
        return "comment-only"
    if texts and all(t.lstrip().upper().startswith("DEALLOCATE") for t in texts):
        return "deallocate"
    return None


def compare(
    mine: dict[str, tuple[int, float, list[str]]],
    theirs: dict[str, tuple[int, float, list[str]]],
    links: list[tuple[str, str]],
    dialect: str,
    time_differs: str | None = None,
) -> list[str]:
    """Differences between the groups both sides agree on, except the accepted ones.
    ``time_differs``: the accepted reason why a group with the same statements may differ in
    time (the other tool pairs durations wrongly in this log)."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for key in mine:
        find(("o", key))
    for key, (_, _, samples) in theirs.items():
        find(("t", key))
        for sample in samples:  # each example joins our class of it
            fp = fingerprint(sample, dialect)
            if fp in mine:
                parent[find(("t", key))] = find(("o", fp))
    for ours_key, their_key in links:
        if their_key in theirs:
            parent[find(("o", ours_key))] = find(("t", their_key))
    groups: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for node in list(parent):
        groups[find(node)].append(node)
    problems = []
    alone: dict[str, list[tuple[int, float, list[str]]]] = {"o": [], "t": []}
    for nodes in groups.values():
        o = [mine[k] for side, k in nodes if side == "o"]
        t = [theirs[k] for side, k in nodes if side == "t"]
        count_o, count_t = sum(x[0] for x in o), sum(x[0] for x in t)
        total_o, total_t = sum(x[1] for x in o), sum(x[1] for x in t)
        if _same(count_o, total_o, count_t, total_t):
            continue
        if time_differs is not None and o and t and count_o == count_t:
            continue  # ACCEPTED[time_differs]
        texts = [s for x in (o or t) for s in x[2]]
        if _reason(texts) is not None:
            continue
        if not o or not t:  # no sample links it: maybe a class whose sample the tool mangled
            alone["o" if o else "t"].append((count_o or count_t, total_o or total_t, texts))
            continue
        problems.append(
            f"ours {count_o} statements / {total_o:.3f} ms, theirs {count_t} / {total_t:.3f} ms: "
            f"{texts[:2]}"
        )
    if time_differs is not None and sorted(x[0] for x in alone["o"]) == sorted(
        x[0] for x in alone["t"]
    ):
        # no time to match the unlinked classes by (pgBadger's normalized text of a class it
        # timed at 0 ms does not link): the same statements, class for class, by count
        return problems
    # A class of ours and one of theirs that no sample links, with the same numbers: matched by
    # the numbers alone (pgBadger's csvlog samples lose what follows a ``--`` comment).
    for count, total, texts in alone["o"]:
        match = [x for x in alone["t"] if _same(count, total, x[0], x[1])]
        if len(match) == 1:
            alone["t"].remove(match[0])
        else:
            problems.append(f"ours {count} statements / {total:.3f} ms, theirs none: {texts[:2]}")
    problems += [f"theirs {c} / {t:.3f} ms, ours none: {x[:2]}" for c, t, x in alone["t"]]
    return problems


def _same(count_a: int, total_a: float, count_b: int, total_b: float) -> bool:
    """Same statements and time (each tool rounds durations: 1 us a statement)."""
    return count_a == count_b and abs(total_a - total_b) <= 0.002 * max(count_a, 1)


def against_pt(path: pathlib.Path) -> list[str]:
    mine = ours(path, format="mysql-slow")
    theirs = pt_query_digest(path)
    pairs = [(k, sample) for k, (_, _, samples) in mine.items() for sample in samples]
    fps = pt_fingerprints([sample for _, sample in pairs])
    links = [(k, fp) for (k, _), fp in zip(pairs, fps, strict=True)]
    return compare(mine, theirs, links, "mysql")


def _coarse(text: str) -> str:
    """A statement without literals, placeholders, comments and blanks: pgBadger's samples
    drop ``$1`` placeholders (``WHERE aid = ;``), so they are linked on this too."""
    return re.sub(r"\$\d+|\?|\s+|;", "", normalize(text))


def against_pgbadger(
    path: pathlib.Path,
    fmt: str,
    ours_format: str,
    prefix: str = PREFIX,
    time_differs: str | None = None,
) -> list[str]:
    mine = ours(path, format=ours_format)
    theirs = pgbadger(path, fmt, prefix)
    by_coarse: dict[str, list[str]] = defaultdict(list)
    for key, (_, _, samples) in theirs.items():
        for sample in samples:
            by_coarse[_coarse(sample)].append(key)
    links = [
        (k, their_key)
        for k, (_, _, samples) in mine.items()
        for sample in samples
        for their_key in by_coarse.get(_coarse(sample), [])
    ]
    return compare(mine, theirs, links, "postgresql", time_differs)


# -- the logs the real servers wrote ------------------------------------------------------------


def test_pt_query_digest_on_a_mariadb_slow_log() -> None:
    """The MariaDB 10.11 slow log (sysbench, long_query_time=0): same classes, counts, time."""
    _need("pt-query-digest")
    assert against_pt(FIXTURES / "mariadb10.11-slow.sample.log") == []


@pytest.mark.parametrize(
    ("name", "fmt", "ours_format"),
    [
        ("pg15-stderr.sample.log", "stderr", "pg-stderr"),
        ("pg15-extended.sample.log", "stderr", "pg-stderr"),
        ("pg15-csvlog.sample.csv", "csv", "pg-csv"),
        ("pg15-jsonlog.sample.json", "jsonlog", "pg-json"),
    ],
)
def test_pgbadger_on_postgres_logs(
    name: str, fmt: str, ours_format: str, tmp_path: pathlib.Path
) -> None:
    """PostgreSQL 15's stderr, csvlog and jsonlog (log_min_duration_statement=0, pgbench and
    the extended protocol; one log of pgbench -M prepared only, with parse/bind/execute and
    their parameters): same statements and time per class as pgBadger."""
    _need("pgbadger")
    path = tmp_path / name
    path.write_bytes((FIXTURES / name).read_bytes())
    assert against_pgbadger(path, fmt, ours_format) == []


def without_plans(text: str, fmt: str) -> str:
    """The log without its auto_explain plans (``duration: ... ms  plan:`` messages, with
    their continuation lines or as JSON records)."""
    if fmt == "jsonlog":
        return "".join(
            line
            for line in text.splitlines(keepends=True)
            if not re.search(r'"message":"duration: [\d.]+ ms  plan:', line)
        )
    out: list[str] = []
    in_plan = False
    for line in text.splitlines(keepends=True):
        if re.search(r"LOG:  duration: [\d.]+ ms  plan:", line):
            in_plan = True
            continue
        if in_plan and line.startswith("\t"):
            continue
        in_plan = False
        out.append(line)
    return "".join(out)


@pytest.mark.parametrize(
    ("name", "fmt", "ours_format"),
    [
        ("pg15-autoexplain-text.sample.log", "stderr", "pg-stderr"),
        ("pg15-autoexplain-json.sample.log", "stderr", "pg-stderr"),
        ("pg15-autoexplain.sample.json", "jsonlog", "pg-json"),
    ],
)
def test_pgbadger_on_auto_explain_logs(
    name: str, fmt: str, ours_format: str, tmp_path: pathlib.Path
) -> None:
    """auto_explain (text and JSON plans, stderr and jsonlog): the plans change nothing in our
    reading, and pgBadger's reading of the log without them is ours (``auto-explain-plans``:
    pgBadger counts each plan as one more statement)."""
    _need("pgbadger")
    whole = tmp_path / name
    whole.write_bytes((FIXTURES / name).read_bytes())
    plain = tmp_path / f"plain-{name}"
    plain.write_text(without_plans(whole.read_text(), fmt))
    assert len(plain.read_text()) < len(whole.read_text())  # there were plans
    assert ours(whole, format=ours_format) == ours(plain, format=ours_format)
    assert against_pgbadger(plain, fmt, ours_format) == []
    assert against_pgbadger(whole, fmt, ours_format) != []  # the difference is still there


@pytest.mark.parametrize(
    ("name", "fmt", "ours_format"),
    [
        ("pg15-logstatement-all.sample.log", "stderr", "pg-stderr"),
        ("pg15-logstatement-all.sample.csv", "csv", "pg-csv"),
        ("pg15-logstatement-all.sample.json", "jsonlog", "pg-json"),
    ],
)
def test_pgbadger_on_log_statement_all(
    name: str, fmt: str, ours_format: str, tmp_path: pathlib.Path
) -> None:
    """log_statement=all + log_duration (the statement, then its ``duration:`` line; the
    extended protocol's parse/bind/execute durations): the same statements class by class as
    pgBadger (``log-duration-pairing``: pgBadger 12 gives them no time in stderr and jsonlog,
    and the time of the statement before in csvlog); our times are held to the log itself:
    each statement gets the next ``duration:`` line of its backend, every such line once."""
    _need("pgbadger")
    path = tmp_path / name
    path.write_bytes((FIXTURES / name).read_bytes())
    assert against_pgbadger(path, fmt, ours_format, time_differs="log-duration-pairing") == []
    if fmt == "stderr":  # a second reading of the pairing, written separately
        waiting: dict[str, bool] = {}
        expected = 0.0
        for line in path.read_text().splitlines():
            m = re.match(
                r"\S+ \S+ \S+ \[(\d+)\] \S+ LOG:  (statement: |execute |duration: ([\d.]+) ms$)",
                line,
            )
            if m is None:
                continue
            if m[3] is None:
                waiting[m[1]] = True
            elif waiting.pop(m[1], False):
                expected += float(m[3])
        total = sum(t for _, t, _ in ours(path, format=ours_format).values())
        assert abs(total - expected) < 1e-6


def test_pgbadger_on_heroku_logplex(tmp_path: pathlib.Path) -> None:
    """The stderr sample as Heroku's logplex wraps it (``tests/unit/test_readers_cloud.py``
    writes it): pgBadger ``-f logplex`` and we read the same statements and time."""
    from tests.unit.test_readers_cloud import STDERR, logplex

    _need("pgbadger")
    path = tmp_path / "heroku.log"
    path.write_text(logplex(STDERR, with_who=False))
    assert against_pgbadger(path, "logplex", "pg-logplex", "sql_error_code = %e ") == []


# -- logs Hypothesis writes ---------------------------------------------------------------------

_SHAPES = [
    "SELECT c FROM sbtest1 WHERE id={n}",
    "SELECT c FROM sbtest1 WHERE id = {n}",
    "SELECT c, pad FROM orders WHERE user_id = {n} AND status = 'open'",
    "UPDATE sbtest2 SET k=k+1 WHERE id={n}",
    "INSERT INTO events (user_id, kind) VALUES ({n}, 'click')",
    "DELETE FROM sessions WHERE expires < {n}",
    "SELECT *\nFROM orders\nWHERE id IN ({n}, {m}, 3)",
    "SELECT COUNT(*) FROM users WHERE email LIKE 'a{n}%'",
]


@st.composite
def slow_entry(draw: st.DrawFn) -> str:
    parts = []
    if draw(st.booleans()):
        parts.append(f"# Time: 261128  7:{draw(st.integers(10, 59))}:{draw(st.integers(10, 59))}\n")
    with_user = draw(st.integers(0, 3)) > 0
    if with_user:
        parts.append(
            draw(
                st.sampled_from(
                    [
                        "# User@Host: app[app] @ localhost []\n",
                        "# User@Host: root[root] @ localhost []  Id:     8\n",
                    ]
                )
            )
        )
        if draw(st.booleans()):
            parts.append(f"# Thread_id: {draw(st.integers(1, 99))}  Schema: shop  QC_hit: No\n")
    ms = draw(st.integers(1, 5_000_000))
    parts.append(
        f"# Query_time: {ms / 1e6:.6f}  Lock_time: 0.000010  Rows_sent: 1  "
        f"Rows_examined: {draw(st.integers(0, 9999))}\n"
    )
    if with_user and draw(st.integers(0, 4)) == 0:
        parts.append("use shop;\n")
    stamp = draw(st.integers(1795865400, 1795865999))
    parts.append(
        draw(
            st.sampled_from(
                ["", f"SET timestamp={stamp};\n", f"SET insert_id=5,timestamp={stamp};\n"]
            )
        )
    )
    if with_user and draw(st.integers(0, 5)) == 0:  # Ping, Quit, ...: their own classes
        parts.append(f"# administrator command: {draw(st.sampled_from(['Ping', 'Quit']))};\n")
        return "".join(parts)
    shape = draw(st.sampled_from(_SHAPES))
    parts.append(shape.format(n=draw(st.integers(0, 10**6)), m=draw(st.integers(0, 99))) + ";\n")
    return "".join(parts)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(entries=st.lists(slow_entry(), min_size=1, max_size=40))
def test_pt_query_digest_on_generated_slow_logs(entries: list[str], tmp_path: pathlib.Path) -> None:
    """Slow logs in every header layout (with and without ``# User@Host:``, ``# Time:``, Schema,
    ``use``, ``SET timestamp`` and ``SET insert_id``), multi-line statements: pt-query-digest's
    reading, class by class."""
    _need("pt-query-digest")
    path = tmp_path / "generated-slow.log"
    path.write_text("".join(entries))
    assert against_pt(path) == []


_PG_BODIES = [
    "duration: {ms} ms  statement: SELECT abalance FROM pgbench_accounts WHERE aid = {n};",
    "duration: {ms} ms  statement: UPDATE pgbench_tellers SET tbalance = tbalance + {n} "
    "WHERE tid = 3;",
    "duration: {ms} ms  statement: SELECT *\n\tFROM orders\n\tWHERE user_id = {n}",
    "duration: {ms} ms  execute <unnamed>: SELECT * FROM users WHERE id = $1",
    "duration: {ms} ms  statement: INSERT INTO t (a, b) VALUES ({n}, 'x')",
]


@st.composite
def pg_line(draw: st.DrawFn) -> str:
    ms = draw(st.integers(1, 2_000_000)) / 1000
    body = draw(st.sampled_from(_PG_BODIES)).format(ms=f"{ms:.3f}", n=draw(st.integers(0, 9999)))
    second = draw(st.integers(10, 59))
    pid = draw(st.sampled_from([101, 102]))
    line = f"2026-11-28 06:55:{second}.778 UTC [{pid}] app@shop LOG:  {body}\n"
    if "execute" in body:  # its parameters, from the same backend
        line += (
            f"2026-11-28 06:55:{second}.778 UTC [{pid}] app@shop DETAIL:  parameters: "
            f"$1 = '{draw(st.integers(0, 99))}'\n"
        )
    return line


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(lines=st.lists(pg_line(), min_size=1, max_size=40))
def test_pgbadger_on_generated_stderr_logs(lines: list[str], tmp_path: pathlib.Path) -> None:
    """PostgreSQL stderr logs with simple, multi-line and extended-protocol statements:
    pgBadger's reading, class by class."""
    _need("pgbadger")
    path = tmp_path / "generated.log"
    path.write_text("".join(lines))
    assert against_pgbadger(path, "stderr", "pg-stderr") == []


def test_docs_list_every_accepted_difference() -> None:
    """docs/digest.md's table of differences names every reason the comparison accepts."""
    text = DOCS.read_text()
    for reason in ACCEPTED:
        assert f"`{reason}`" in text, reason

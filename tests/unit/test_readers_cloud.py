"""Hosted PostgreSQL logs (Heroku logplex, Google Cloud SQL, CloudNativePG) read exactly as the
plain log they wrap.

Each platform wraps what the server wrote: Heroku and Cloud SQL a stderr line, CloudNativePG a
csvlog row. The wrapped files here are made from the real PostgreSQL 15 samples the way each
platform wraps them, so every statement, duration, parameter list and time can be compared
with the plain reader's reading of the same log.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import pathlib
from typing import TYPE_CHECKING, Any

import pytest

from backendperf.workload import ReadStats, read
from backendperf.workload.readers import detect
from backendperf.workload.readers.postgres import _CSV_COLUMNS, prefix_regex

if TYPE_CHECKING:
    import re

    from backendperf.events import QueryEvent

LOGS = pathlib.Path(__file__).parents[1] / "fixtures" / "logs"
STDERR = LOGS / "pg15-stderr.sample.log"
DEBIAN = prefix_regex("%m [%p] %q%u@%d ")


def events(path: pathlib.Path, **kwargs: Any) -> tuple[list[QueryEvent], ReadStats]:
    stats = ReadStats()
    return list(read(path, stats=stats, **kwargs)), stats


def essence(evs: list[QueryEvent], *, who: bool = True) -> list[tuple[Any, ...]]:
    return [
        (
            e.statement,
            e.duration_ms,
            e.params,
            e.ts,
            e.cancelled,
            (e.user, e.database) if who else None,
        )
        for e in evs
    ]


def messages(path: pathlib.Path) -> list[tuple[re.Match[str], list[str]]]:
    """The stderr sample's messages: the first line's prefix match, and the continuation
    lines (tab-indented) that follow it."""
    out: list[tuple[re.Match[str], list[str]]] = []
    for line in path.read_text().splitlines():
        m = DEBIAN.match(line)
        if m is not None:
            out.append((m, []))
        elif out and line.startswith("\t"):
            out[-1][1].append(line[1:])
    return out


def logplex(path: pathlib.Path, *, with_who: bool) -> str:
    """The stderr sample as Heroku's logplex writes it: ``app[postgres.<pid>]``, the
    attachment, ``[line-part]`` (a continuation line is the next part), Heroku's prefix."""
    out = []
    for n, (m, rest) in enumerate(messages(path), 1):
        when = dt.datetime.strptime(m["ts"], "%Y-%m-%d %H:%M:%S.%f UTC")
        stamp = when.replace(tzinfo=dt.timezone.utc).astimezone(
            dt.timezone(dt.timedelta(hours=-5))
        )  # logplex times carry an offset
        head = f"{stamp.isoformat()} app[postgres.{m['pid']}]: [DATABASE] [{n}-1] "
        who = f'database="{m["db"]}" user="{m["user"]}" ' if with_who and m["user"] else ""
        out.append(f"{head}sql_error_code = 00000 {who}{m['severity']}:  {m['message']}")
        for part, text in enumerate(rest, 2):
            out.append(
                f"{stamp.isoformat()} app[postgres.{m['pid']}]: [DATABASE] [{n}-{part}] {text}"
            )
        if n % 50 == 0:  # other dynos' lines are in the same stream
            out.append(f"{stamp.isoformat()} heroku[router]: at=info method=GET path=/")
    return "\n".join(out) + "\n"


def cloudsql_entries(path: pathlib.Path) -> list[dict[str, Any]]:
    """The stderr sample as Cloud Logging entries of Cloud SQL: the message (with its
    continuation lines) in ``textPayload``, under Cloud SQL's ``log_line_prefix``."""
    entries = []
    for m, rest in messages(path):
        prefix = f"{m['ts']} [{m['pid']}]: [1-1] db={m['db'] or ''},user={m['user'] or ''} "
        text = f"{prefix}{m['severity']}:  {m['message']}" + "".join("\n\t" + r for r in rest)
        entries.append(
            {
                "insertId": "s=1;i=2",
                "logName": "projects/p/logs/cloudsql.googleapis.com%2Fpostgres.log",
                "resource": {"type": "cloudsql_database", "labels": {"database_id": "p:db"}},
                "severity": "INFO",
                "textPayload": text,
                "timestamp": m["ts"].replace(" UTC", "Z").replace(" ", "T"),
            }
        )
    return entries


def cnpg(path: pathlib.Path) -> str:
    """A csvlog as CloudNativePG logs it: each row a ``record`` by column names, among the
    instance manager's own lines."""
    out = []
    with path.open(newline="") as fh:
        for n, row in enumerate(csv.reader(fh)):
            record = dict(zip(_CSV_COLUMNS, row, strict=False))
            out.append(
                json.dumps(
                    {
                        "level": "info",
                        "ts": "2026-11-28T06:55:14.778Z",
                        "logger": "postgres",
                        "msg": "record",
                        "logging_pod": "cluster-example-1",
                        "record": record,
                    }
                )
            )
            if n % 40 == 0:
                out.append(
                    '{"level":"info","ts":"2026-11-28T06:55:14Z","logger":"instance-manager",'
                    '"msg":"Checking for free disk space for WALs","logging_pod":"c-1"}'
                )
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("with_who", [False, True])
def test_heroku_logplex_reads_as_the_stderr_log(tmp_path: pathlib.Path, with_who: bool) -> None:
    """Every statement of a logplex stream, with its duration, parameters, time (offsets
    turned to UTC) and continuation parts joined; the database is Heroku's ``database=`` or,
    without it, the attachment (as pgBadger reports it)."""
    plain, _ = events(STDERR)
    path = tmp_path / "heroku.log"
    path.write_text(logplex(STDERR, with_who=with_who))
    assert detect(path.read_text()[:65536]) == "pg-logplex"
    wrapped, stats = events(path)
    assert essence(wrapped, who=False) == essence(plain, who=False)
    assert stats.malformed == 0 and stats.skipped["not a Heroku Postgres line"] > 0
    who = {(e.user, e.database) for e in wrapped}
    assert who == ({("postgres", "bench")} if with_who else {(None, "DATABASE")})


@pytest.mark.parametrize("layout", ["lines", "array"])
def test_cloud_sql_entries_read_as_the_stderr_log(tmp_path: pathlib.Path, layout: str) -> None:
    """Cloud Logging entries (one per line, or ``gcloud``'s pretty-printed array): each
    ``textPayload`` read under Cloud SQL's prefix, user and database included."""
    plain, _ = events(STDERR)
    entries = cloudsql_entries(STDERR)
    path = tmp_path / "cloudsql.json"
    if layout == "lines":
        path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    else:
        path.write_text(json.dumps(entries, indent=2))
    assert detect(path.read_text()[:65536]) == "pg-cloudsql"
    wrapped, stats = events(path)
    assert essence(wrapped) == essence(plain)
    assert stats.malformed == 0 and not stats.notes


def test_cloud_sql_newest_first_is_pointed_out(tmp_path: pathlib.Path) -> None:
    """Cloud Logging lists the newest entry first; read in that order a DETAIL line would come
    before its statement: the reader says how to export them."""
    path = tmp_path / "desc.json"
    path.write_text("".join(json.dumps(e) + "\n" for e in reversed(cloudsql_entries(STDERR))))
    _, stats = events(path)
    assert any("--order=asc" in note for note in stats.notes)


def test_cloudnativepg_reads_as_the_csvlog(tmp_path: pathlib.Path) -> None:
    """CloudNativePG's ``record`` lines read as the csvlog rows they are; the operator's own
    lines are skipped, and so is the pod name ``stern`` puts first."""
    csvlog = LOGS / "pg15-csvlog.sample.csv"
    plain, _ = events(csvlog)
    path = tmp_path / "cnpg.log"
    text = cnpg(csvlog)
    path.write_text(text)
    assert detect(text[:65536]) == "pg-cnpg"
    wrapped, stats = events(path)
    assert essence(wrapped) == essence(plain)
    assert stats.malformed == 0 and stats.skipped["operator message (not a PostgreSQL record)"]
    stern = tmp_path / "stern.log"
    stern.write_text("".join(f"cluster-example-1 postgres {line}\n" for line in text.splitlines()))
    assert essence(events(stern, format="pg-cnpg")[0]) == essence(plain)


@pytest.mark.parametrize("fmt", ["pg-logplex", "pg-syslog", "pg-cloudsql", "pg-cnpg"])
def test_every_reader_is_a_format_the_command_line_takes(
    fmt: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--format`` names every reader: the command line's own list once lacked these four, so
    a file detection could not place was unreadable from the shell."""
    from backendperf.cli import main
    from backendperf.workload.readers import FORMATS

    path = tmp_path / "heroku.log"
    path.write_text(logplex(STDERR, with_who=True))
    assert fmt in FORMATS
    code = main(["digest", "--format", fmt, "--errors", "ignore", "--output", "json", str(path)])
    out = json.loads(capsys.readouterr().out)
    assert code in (0, 2)
    if fmt == "pg-logplex":
        assert code == 0 and out["totals"]["calls"] > 0

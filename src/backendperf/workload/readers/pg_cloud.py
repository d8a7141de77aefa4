"""PostgreSQL logs as hosted services hand them over: Heroku's logplex, Google Cloud SQL's
Cloud Logging entries, and CloudNativePG's JSON lines.

Each wraps an ordinary PostgreSQL log: logplex and Cloud SQL a stderr line (so the stderr
line reader reads what is inside), CloudNativePG a csvlog record (read as csvlog's rows are).
Statements, durations, parameters, log_statement pairs and cancelled statements therefore
come out exactly as from the plain formats.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from typing import IO, TYPE_CHECKING, Any, Final

from backendperf.workload.readers.base import ErrorLevel, ReadStats
from backendperf.workload.readers.postgres import (
    SEVERITIES,
    _Messages,
    _StderrLines,
    csv_record,
    infer_prefix,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from backendperf.events import QueryEvent

__all__ = ["CNPG_LINE", "LOGPLEX_LINE", "read_cloudsql", "read_cnpg", "read_logplex"]


# -- Heroku logplex ---------------------------------------------------------------------------

LOGPLEX_LINE: Final = (
    r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))\s+(?:\S+\s+)?"
    r"app\[postgres\.(?P<pid>\d+)\]:?\s+\[(?P<attachment>[^\]]+)\]\s+"
    r"\[(?P<line>\d+)-(?P<part>\d+)\]\s?(?P<rest>.*)$"
)
"""A Heroku Postgres line (``heroku logs -p postgres``, or a log drain): the time,
``app[postgres.<pid>]:``, the add-on attachment (``[DATABASE]``), ``[line-part]``, then
Heroku's ``log_line_prefix`` (``sql_error_code = 00000``, on newer plans also
``database=... user=...``), the severity and the message. A long message continues in parts
``[line-2]``, ``[line-3]``..."""
_LOGPLEX: Final = re.compile(LOGPLEX_LINE)
_SEVERITY: Final = re.compile(rf"(?:^|\s)(?P<severity>{SEVERITIES}):\s")
_WHO: Final = re.compile(r'\b(?P<key>database|user)="?(?P<value>[^"\s]*)"?')
_AS_STDERR: Final = "%m [%p] %u@%d "
"""The prefix of the stderr lines the wrapped lines are turned into."""


@functools.lru_cache(maxsize=50_000)  # busy logs repeat a millisecond many times
def _utc(text: str) -> str | None:
    """An ISO time with an offset as a stderr ``%m`` time in UTC."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f") + (" UTC" if when.tzinfo is not None else "")


def read_logplex(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
) -> Iterator[QueryEvent]:
    """Events from Heroku Postgres logs (logplex). Lines of other dynos are skipped.

    The database is the one Heroku's prefix names (``database=``); where it names none, the
    add-on attachment (``DATABASE``, ``HEROKU_POSTGRESQL_RED``), as pgBadger reports it.
    """
    state = _StderrLines(source, stats, errors, _AS_STDERR)
    lineno = first_line - 1
    for lineno, raw in enumerate(stream, first_line):
        m = _LOGPLEX.match(raw.rstrip("\r\n"))
        if m is None:
            stats.skip("not a Heroku Postgres line" if raw.strip() else "blank line")
            continue
        rest = m["rest"]
        if m["part"] != "1":  # the next part of the same message
            line = "\t" + rest
        else:
            stamp = _utc(m["ts"])
            sev = _SEVERITY.search(rest)
            if stamp is None or sev is None:
                stats.bad(errors, f"{source}:{lineno}", "a Heroku Postgres line without a severity")
                continue
            who = {w["key"]: w["value"] for w in _WHO.finditer(rest, 0, sev.start())}
            user = who.get("user", "")
            database = who.get("database") or m["attachment"]
            line = f"{stamp} [{m['pid']}] {user}@{database} {rest[sev.start('severity') :]}"
        yield from state.feed((line,), lineno)
    yield from state.flush()
    yield from state.messages.finish()
    stats.lines += lineno + 1 - first_line


# -- Google Cloud SQL (Cloud Logging entries) -------------------------------------------------

CLOUDSQL_PREFIX: Final = "%m [%p]: [%l-1] db=%d,user=%u "
"""Cloud SQL for PostgreSQL's ``log_line_prefix``."""
_PAYLOAD: Final = re.compile(r'"textPayload"\s*:\s*"(?P<text>[^"\\]*(?:\\.[^"\\]*)*)"')


def read_cloudsql(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
    prefix: str | None = None,
) -> Iterator[QueryEvent]:
    """Events from Cloud SQL for PostgreSQL logs exported from Cloud Logging: one entry per
    line (a sink's export, ``gcloud logging read --format=json`` flattened) or a
    pretty-printed array, read by each entry's ``textPayload`` (a stderr log line).

    Entries are read in file order: export with ``--order=asc`` (Cloud Logging lists the
    newest first), or a ``DETAIL`` line lands before its statement (the reader says so).
    """
    payloads = _payloads(stream, first_line, stats, errors, source)
    head: list[tuple[int, str]] = []
    for item in payloads:
        head.append(item)
        if len(head) >= 200:
            break
    if prefix is None:
        sample = "\n".join(text for _, text in head)
        prefix = infer_prefix(sample, (CLOUDSQL_PREFIX, *_OTHERS)) or CLOUDSQL_PREFIX
    stamps = [text[:23] for _, text in head if text[:4].isdigit()]
    if len(stamps) > 1 and stamps[0] > stamps[-1]:
        note = f"{source}: entries are newest first: export them oldest first (--order=asc)"
        stats.notes.append(note)
    state = _StderrLines(source, stats, errors, prefix)
    for lineno, text in (*head, *payloads):
        yield from state.feed(text.split("\n"), lineno)
    yield from state.flush()
    yield from state.messages.finish()


_OTHERS: Final = ("%m [%p]: [%l-1] user=%u,db=%d ", "%m [%p] %q%u@%d ", "%m [%p] ")


def _payloads(
    stream: IO[str], first_line: int, stats: ReadStats, errors: ErrorLevel, source: str
) -> Iterator[tuple[int, str]]:
    """``(line, textPayload)`` of each entry; other lines are the entries' other fields."""
    for lineno, raw in enumerate(stream, first_line):
        stats.lines += 1
        m = _PAYLOAD.search(raw)
        if m is None:
            continue
        try:
            text = json.loads(f'"{m["text"]}"')
        except ValueError as exc:
            stats.bad(errors, f"{source}:{lineno}", f"textPayload is not a JSON string: {exc}")
            continue
        yield lineno, text.rstrip("\n")


# -- CloudNativePG ----------------------------------------------------------------------------

CNPG_LINE: Final = r'"logger"\s*:\s*"postgres"'
"""What marks a CloudNativePG line holding a PostgreSQL record."""


def read_cnpg(
    stream: IO[str],
    *,
    source: str,
    stats: ReadStats,
    errors: ErrorLevel = ErrorLevel.WARN,
    first_line: int = 1,
) -> Iterator[QueryEvent]:
    """Events from a CloudNativePG instance's log (``kubectl logs``, or ``stern``, which puts
    the pod's name first): the ``record`` of each ``"logger": "postgres"`` line is a csvlog
    row by its column names. The operator's own lines are skipped."""
    messages = _Messages(stats, source)
    for lineno, raw in enumerate(stream, first_line):
        stats.lines += 1
        start = raw.find("{")
        if start < 0:
            stats.skip("blank line" if not raw.strip() else "not a CloudNativePG line")
            continue
        try:
            entry: Any = json.loads(raw[start:])
        except ValueError as exc:
            stats.bad(errors, f"{source}:{lineno}", f"not JSON: {exc}")
            continue
        record = entry.get("record") if isinstance(entry, dict) else None
        if entry.get("logger") != "postgres" or not isinstance(record, dict):
            stats.skip("operator message (not a PostgreSQL record)")
            continue
        yield from csv_record(messages, record, lineno)
    yield from messages.finish()

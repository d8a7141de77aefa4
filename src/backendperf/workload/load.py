"""Logs into a :class:`~backendperf.workload.Workload`: :func:`load` (what
``Workload.from_logs`` does), in one process or, with ``jobs``, in several.

``--jobs N`` parses one large log in N processes, by byte ranges, and merges the workloads.
A range starts at the first line that begins an entry (a timestamped line in PostgreSQL logs,
``# Time:``/``# User@Host:`` in a slow log, ...), so no entry is split. What cannot be split —
compressed files, stdin, ``.sql`` and pg_stat_statements exports — is read by one process. With
``log_statement=all``, a statement whose ``duration:`` line falls in the next range is counted
without its duration (one at most per boundary).
"""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import re
from typing import TYPE_CHECKING, Final

from backendperf.workload.readers import FORMATS, ReadStats, detect, read_batches
from backendperf.workload.readers.base import open_binary

if TYPE_CHECKING:
    import io
    from collections.abc import Callable, Iterable, Sequence

    from backendperf.workload.workload import Workload

# This module does not import workload.py (the class is passed in): workload.py imports this
# one, and nothing imports back.
__all__ = ["load", "plan_ranges", "read_parallel"]


def load(
    into: type[Workload],
    paths: Iterable[str | os.PathLike[str]],
    *,
    format: str = "auto",
    errors: str = "warn",
    log_line_prefix: str | None = None,
    jobs: int = 1,
    on_bytes: Callable[[int], None] | None = None,
) -> Workload:
    """Every log of ``paths`` (rotated files, several servers) read into one new ``into()``;
    ``jobs > 1`` parses each large file in up to that many processes."""
    if jobs > 1:
        return read_parallel(
            into,
            list(paths),
            jobs=jobs,
            format=format,
            errors=errors,
            log_line_prefix=log_line_prefix,
        )
    workload = into()
    workload.read_stats = ReadStats()
    for path in paths:
        workload.sources.append(str(path))
        workload.extend(
            read_batches(
                path,
                format=format,
                errors=errors,
                stats=workload.read_stats,
                log_line_prefix=log_line_prefix,
                on_bytes=on_bytes,
            )
        )
    return workload


_MIN_RANGE: Final = 4 * 1024 * 1024
_CHUNK: Final = 1024 * 1024


def _splittable(path: str) -> bool:
    if path == "-" or not os.path.isfile(path):
        return False
    with open(path, "rb") as fh:
        head = fh.read(6)
    return not head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ"))


def plan_ranges(
    path: str, fmt: str, jobs: int, carries: list[dict[str, str]] | None = None
) -> list[tuple[int, int, int]]:
    """``(start, end, first_line)`` byte ranges of ``path`` that begin at entry starts.

    With ``carries`` (a list to fill), also what each range inherits from the lines before it
    (a slow log's ``use db;`` and ``# Time:``), found in the same pass that numbers the lines.
    """
    size = os.path.getsize(path)
    spec = FORMATS.get(fmt)
    entry = spec.entry_start if spec is not None else None
    if carries is not None:
        carries[:] = [{}]
    if jobs <= 1 or entry is None or size < 2 * _MIN_RANGE:
        return [(0, size, 1)]
    jobs = min(jobs, size // _MIN_RANGE)
    cuts = [0]
    with open(path, "rb") as fh:
        for k in range(1, jobs):
            fh.seek(max(size * k // jobs, cuts[-1]))
            fh.readline()  # to the start of a line
            while True:
                pos = fh.tell()
                line = fh.readline()
                if not line or entry.match(line):
                    break
            if pos > cuts[-1]:
                cuts.append(pos)
    cuts.append(size)
    ranges = []
    lineno = 1
    with open(path, "rb", buffering=0) as fh:
        for start, end in itertools.pairwise(cuts):
            ranges.append((start, end, lineno))
            if end < size:  # the last range's lines number nothing after it
                carry = dict(carries[-1]) if carries is not None else None
                lineno += _count_lines(fh, end - start, carry)
                if carries is not None and carry is not None:
                    carries.append(carry)
    return ranges


def _count_lines(fh: io.FileIO, size: int, carry: dict[str, str] | None = None) -> int:
    """Newlines in the next ``size`` bytes of ``fh``, read through one reused 1 MiB buffer
    (half the time of reading the range into one bytes object, and no 100 MB allocation).

    With ``carry`` (a slow log), also record there the last ``use db;`` and ``# Time:`` values
    of those bytes: what the next range inherits from this one."""
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    count = 0
    tail = b""  # the end of the previous buffer: a line may straddle two
    while size > 0:
        n = fh.readinto(view[: min(size, _CHUNK)])
        if not n:
            break
        count += buf.count(b"\n", 0, n)
        size -= n
        if carry is not None:
            text = tail + bytes(view[:n])
            for key, pattern in _CARRY:
                found = None
                for found in pattern.finditer(text):  # noqa: B007 - the last one counts
                    pass
                if found is not None:
                    carry[key] = found[1].decode("utf-8", "backslashreplace").strip()
            cut = text.rfind(b"\n")
            tail = text[cut + 1 :] if cut >= 0 else text[-4096:]
    return count


_CARRY: Final = (
    ("db", re.compile(rb"(?mi)^use [`\"]?([^`\";\n]+)[`\"]?;[ \t\r]*$")),
    ("time", re.compile(rb"(?m)^# Time: ([^\n]*)$")),
)
"""What a slow log's later entries inherit from earlier lines (see ``read_slow``)."""


def _work(
    into: type[Workload],
    path: str,
    fmt: str,
    byte_range: tuple[int, int, int],
    errors: str,
    prefix: str | None,
    carry: dict[str, str] | None = None,
) -> Workload:
    w = into()
    w.read_stats = ReadStats()
    w.extend(
        read_batches(
            path,
            format=fmt,
            errors=errors,
            stats=w.read_stats,
            log_line_prefix=prefix,
            byte_range=byte_range,
            carry=carry,
        )
    )
    w.drop_caches()
    return w


def read_parallel(
    into: type[Workload],
    paths: Sequence[str | os.PathLike[str]],
    *,
    jobs: int,
    format: str = "auto",
    errors: str = "warn",
    log_line_prefix: str | None = None,
) -> Workload:
    """One workload from ``paths``, each large file parsed by up to ``jobs`` processes."""
    tasks: list[tuple[str, str, tuple[int, int, int], dict[str, str] | None]] = []
    whole: list[str] = []
    for p in map(str, paths):
        if not _splittable(p):
            whole.append(p)
            continue
        fmt = format
        if fmt == "auto":
            with open_binary(p) as fh:
                fmt = detect(fh.read(64 * 1024).decode("utf-8", "backslashreplace"), p)
        carries: list[dict[str, str]] | None = [] if fmt == "mysql-slow" else None
        ranges = plan_ranges(p, fmt, jobs, carries)
        tasks += [(p, fmt, r, carries[i] if carries else None) for i, r in enumerate(ranges)]
    result = load(into, whole, format=format, errors=errors, log_line_prefix=log_line_prefix)
    if len(tasks) == 1:
        path, fmt, byte_range, carry = tasks[0]
        result.merge(_work(into, path, fmt, byte_range, errors, log_line_prefix, carry))
    elif tasks:
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [
                pool.submit(_work, into, p, f, r, errors, log_line_prefix, c)
                for p, f, r, c in tasks
            ]
            for future in futures:
                result.merge(future.result())
    result.sources = [str(p) for p in paths]
    return result

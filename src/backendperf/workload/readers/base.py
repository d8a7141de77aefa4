"""What every reader shares: opening inputs, the error level, and the skip counters."""

from __future__ import annotations

import bz2
import io
import itertools
import logging
import lzma
import operator
import sys
import zlib
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import IO, TYPE_CHECKING, Any, Final, TypeVar

from backendperf.events import EventBatch
from backendperf.exceptions import LogFormatError

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Iterator

    from backendperf.events import QueryEvent

__all__ = [
    "ErrorLevel",
    "ReadStats",
    "chunks",
    "events_of",
    "open_binary",
    "open_text",
    "parse_each",
    "split_lines",
]

logger = logging.getLogger("backendperf")


class ErrorLevel(str, Enum):
    """What a reader does with a line it cannot understand (like sqlglot's ``ErrorLevel``)."""

    IGNORE = "ignore"
    """Count it and go on, silently."""
    WARN = "warn"
    """Count it, go on, and log the first few (the default)."""
    RAISE = "raise"
    """Stop with :class:`~backendperf.exceptions.LogFormatError` naming the file and line."""


@dataclass
class ReadStats:
    """Counters of one read: what was read, what became events, what was skipped and why."""

    lines: int = 0
    events: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    """Reason -> count, for lines (or records) that did not become events."""
    malformed: int = 0
    """Lines that could not be parsed at all (also counted in ``skipped``)."""
    examples: list[str] = field(default_factory=list)
    """``file:line: problem`` for the first few malformed lines."""
    notes: list[str] = field(default_factory=list)
    """What the readers chose for the user (an inferred ``log_line_prefix``, say)."""

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def bad(self, level: ErrorLevel, where: str, problem: str) -> None:
        """Record a malformed line, or raise at :attr:`ErrorLevel.RAISE`."""
        if level is ErrorLevel.RAISE:
            raise LogFormatError(f"{where}: {problem}")
        self.malformed += 1
        self.skipped["malformed"] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{where}: {problem}")
            if level is ErrorLevel.WARN:
                logger.warning("skipping %s: %s", where, problem)

    def merge(self, other: ReadStats) -> None:
        self.lines += other.lines
        self.events += other.events
        self.skipped.update(other.skipped)
        self.malformed += other.malformed
        self.examples.extend(other.examples[: max(0, 5 - len(self.examples))])
        self.notes.extend(n for n in other.notes if n not in self.notes)


def _gzip() -> Any:
    return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)


_MAGIC: Final = (
    (b"\x1f\x8b", _gzip),
    (b"BZh", bz2.BZ2Decompressor),
    (b"\xfd7zXZ\x00", lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ)),
)


class Decompressing(io.RawIOBase):
    """A gzip, bzip2 or xz file decompressed as it is read, keeping everything up to damage.

    ``gzip.open`` and friends raise on trailing garbage or a truncated end, and the read that
    raises loses every byte it had decompressed (up to a whole chunk of log). This feeds the
    file to a decompressor 64 kB at a time and hands out each piece as soon as it is out, as
    ``zcat`` does: concatenated members (``cat a.gz b.gz``) are read on, and at damage (trailing
    garbage, a truncated last block, a corrupt block) the stream ends after what was recovered,
    with :attr:`damage` saying what happened.
    """

    def __init__(self, raw: IO[bytes], make: Callable[[], Any], magic: bytes) -> None:
        self.raw = raw
        self.make = make
        self.magic = magic
        self.decompressor = make()
        self.out = b""
        self.pos = 0  # what of ``out`` was handed out
        self.done = False
        self.damage: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self.pos >= len(self.out) and not self.done:
            self.out, self.pos = b"", 0
            self._step()
        n = min(len(buffer), len(self.out) - self.pos)
        buffer[:n] = memoryview(self.out)[self.pos : self.pos + n]
        self.pos += n
        return n

    def _step(self) -> None:
        d = self.decompressor
        data = d.unused_data if d.eof else self.raw.read(1 << 16)
        if d.eof:  # a member ended: another one follows, or garbage, or nothing
            rest = data + self.raw.read(max(0, len(self.magic) - len(data)))
            if not rest:
                self.done = True
                return
            if not rest.startswith(self.magic):
                self.damage = f"{len(rest)}+ bytes of trailing garbage after the last member"
                self.done = True
                return
            d = self.decompressor = self.make()
            data = rest
        elif not data:  # the file ended inside a member
            self.damage = "truncated: the file ends inside a compressed block"
            self.done = True
            return
        try:
            self.out = d.decompress(data)
        except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
            self.damage = f"corrupt: {exc}"
            self.done = True

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_binary(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open a file (``-``: standard input), decompressing gzip, bzip2 and xz by their magic
    bytes; raise :class:`LogFormatError` for a file that cannot be opened."""
    name = str(path)
    if name == "-":
        return sys.stdin.buffer
    try:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except OSError as exc:
        raise LogFormatError(f"cannot read {name}: {exc.strerror or exc}") from exc
    head = raw.peek(8)[:8] if hasattr(raw, "peek") else b""
    for magic, make in _MAGIC:
        if head.startswith(magic):
            return Decompressing(raw, make, magic)  # type: ignore[return-value]
    return raw


def open_text(path: str | os.PathLike[str]) -> IO[str]:
    """:func:`open_binary` decoded as UTF-8; bytes that are not UTF-8 survive as ``\\xNN``."""
    return io.TextIOWrapper(
        open_binary(path), encoding="utf-8", errors="backslashreplace", newline=""
    )


def events_of(items: Iterable[QueryEvent | EventBatch]) -> Iterator[QueryEvent]:
    """A reader's items with every :class:`~backendperf.events.EventBatch` spelled out as its
    events (for callers that want one event at a time)."""
    for item in items:
        if isinstance(item, EventBatch):
            yield from item.events()
        else:
            yield item


def chunks(stream: IO[str], size: int, cut: Callable[[str], int]) -> Iterator[tuple[str, str]]:
    """``stream`` in pieces that end where ``cut(text)`` says: an offset into the text read
    and not yet handed out (``<= 0``: read on), whose rest starts the next piece. Yields
    ``(piece, the text read after it)``; the last piece, all that is left at the end of the
    stream, comes with ``""``."""
    carry = ""
    while True:
        chunk = stream.read(size)
        buf = carry + chunk
        if not chunk:
            if buf:
                yield buf, ""
            return
        limit = cut(buf)
        if limit <= 0:
            carry = buf  # one entry longer than what was read: read on
            continue
        carry = buf[limit:]
        yield buf[:limit], carry


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` (``\n``-ended; no empty line after the last ``\n``)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


_T = TypeVar("_T")
_MISS: Final = object()


def parse_each(cache: dict[str, _T], texts: list[str], parse: Callable[[str], _T]) -> list[_T]:
    """``parse(text)`` for each of ``texts``: looked up in ``cache`` in one C loop, and each
    text not there parsed once (logs repeat a time many times). ``cache`` is bounded."""
    out: list[object] = list(map(cache.get, texts, itertools.repeat(_MISS)))
    if _MISS in out:
        missing: Iterable[str] = itertools.compress(
            texts, map(operator.is_, out, itertools.repeat(_MISS))
        )
        if len(cache) > 50_000:
            cache.clear()
            missing = texts
        for text in dict.fromkeys(missing):  # each new text once, in C up to here
            cache[text] = parse(text)
        out = list(map(cache.__getitem__, texts))
    return out  # type: ignore[return-value]  # every _MISS replaced

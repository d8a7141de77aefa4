"""No reader crashes on arbitrary bytes: bad input is counted and skipped."""

from __future__ import annotations

import contextlib
import pathlib
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backendperf.exceptions import LogFormatError
from backendperf.workload import FORMATS, ReadStats, Workload, read

LOGS = pathlib.Path(__file__).parents[1] / "fixtures" / "logs"
REAL = [p.read_bytes()[:4000] for p in sorted(LOGS.iterdir())]

# arbitrary bytes, and real log text with bytes flipped, cut or spliced in
noise = st.binary(max_size=2000) | st.builds(
    lambda real, cut, junk: real[:cut] + junk + real[cut:],
    st.sampled_from(REAL),
    st.integers(0, 4000),
    st.binary(max_size=50),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(noise, st.sampled_from(sorted(FORMATS)))
def test_no_reader_crashes_on_arbitrary_bytes(data: bytes, fmt: str) -> None:
    """Every format reader, fed garbage, yields events or counts malformed lines; it never
    raises anything but LogFormatError, and the events aggregate."""
    with tempfile.NamedTemporaryFile(suffix=".log") as fh:
        fh.write(data)
        fh.flush()
        stats = ReadStats()
        workload = Workload()
        with contextlib.suppress(LogFormatError):  # only for unopenable input
            workload.extend(read(fh.name, format=fmt, stats=stats, errors="ignore"))
        assert stats.lines >= 0


@settings(max_examples=40, deadline=None)
@given(noise)
def test_format_detection_never_crashes(data: bytes) -> None:
    """Detection either names a format or raises LogFormatError."""
    with tempfile.NamedTemporaryFile(suffix=".log") as fh:
        fh.write(data)
        fh.flush()
        with contextlib.suppress(LogFormatError):
            list(read(fh.name, errors="ignore"))

"""The HTML digest in a real browser (Debian's headless Chromium): it renders, and the table
sorts when a header is clicked (``#sort=N`` clicks header N on load)."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import tempfile

import pytest

from backendperf.cli import main
from tests.conftest import unavailable

LOGS = pathlib.Path(__file__).parents[1] / "fixtures" / "logs"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        unavailable("chromium (apt-get install chromium)", "not on PATH")
    assert exe is not None
    return exe


def test_html_digest_renders_and_sorts(chromium: str, tmp_path: pathlib.Path) -> None:
    """Screenshot of the page, and the DOM after clicking the 'calls' header: rows in order."""
    page = tmp_path / "digest.html"
    assert (
        main(["digest", str(LOGS / "pg15-stderr.sample.log"), "--output", "html", "-o", str(page)])
        == 0
    )
    with tempfile.TemporaryDirectory() as profile:
        base = [chromium, *FLAGS, f"--user-data-dir={profile}"]
        shot = tmp_path / "digest.png"
        subprocess.run(
            [*base, f"--screenshot={shot}", "--window-size=1280,900", page.as_uri()],
            check=True,
            capture_output=True,
            timeout=120,
        )
        assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
        dom = subprocess.run(
            [*base, "--dump-dom", page.as_uri() + "#sort=1"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    assert 'class="sorted-asc"' in dom
    body = dom.split("<tbody>", 1)[1]
    calls = [
        int(v) for v in re.findall(r"<tr><td data-v=\"\d+\">\d+</td><td data-v=\"(\d+)\"", body)
    ]
    assert len(calls) >= 10
    assert calls == sorted(calls)  # sorted ascending by the clicked column
    assert "<svg" in dom


def test_html_advice_renders(chromium: str, tmp_path: pathlib.Path) -> None:
    """`advise --output html` on the bundled example renders in a real browser, with every
    suggested index and the sections below it."""
    shop = pathlib.Path(__file__).parents[2] / "examples" / "shop"
    page = tmp_path / "advise.html"
    args = ["advise", str(shop / "postgresql.log"), "--schema", str(shop / "schema.sql")]
    assert main([*args, "--output", "html", "-o", str(page)]) == 0
    with tempfile.TemporaryDirectory() as profile:
        base = [chromium, *FLAGS, f"--user-data-dir={profile}"]
        shot = tmp_path / "advise.png"
        subprocess.run(
            [*base, f"--screenshot={shot}", "--window-size=1280,900", page.as_uri()],
            check=True,
            capture_output=True,
            timeout=120,
        )
        assert shot.stat().st_size > 10_000
        dom = subprocess.run(
            [*base, "--dump-dom", page.as_uri()],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    rows = re.findall(r"<tr><td>\d+</td><td><code>(CREATE INDEX[^<]*)</code>", dom)
    assert len(rows) == 5
    assert any("ix_orders_user_id_created_at" in r for r in rows)
    assert "Statements without a suggestion" in dom
    assert "pg_trgm" in dom

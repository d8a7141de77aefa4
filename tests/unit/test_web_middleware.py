"""Per-request profiles in web apps: a bare ASGI app, Starlette, and Flask (WSGI)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from backendperf.sqlalchemy import instrument
from backendperf.web import QueryProfileMiddleware, QueryProfileWSGIMiddleware

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    e = sa.create_engine("sqlite://")
    with instrument(e):
        yield e
    e.dispose()


def queries(engine: sa.Engine, n: int) -> None:
    with engine.connect() as conn:
        for i in range(n):
            conn.execute(sa.text("SELECT :i"), {"i": i}).all()


def summaries(caplog: pytest.LogCaptureFixture) -> dict[str, logging.LogRecord]:
    return {
        r.getMessage().split(":")[0]: r
        for r in caplog.records
        if r.name == "backendperf" and "statements" in r.getMessage()
    }


def test_bare_asgi_app_concurrent_requests(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Concurrent requests each get their own count; Server-Timing carries it."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        n = int(scope["path"].strip("/"))
        for _ in range(n):
            queries(engine, 1)
            await asyncio.sleep(0)  # interleave with the other requests
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    wrapped = QueryProfileMiddleware(app, server_timing=True, nplusone=None)

    async def request(n: int) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": f"/{n}", "headers": []}
        await wrapped(scope, receive, send)
        return sent

    async def main() -> list[list[dict[str, Any]]]:
        return list(await asyncio.gather(*(request(n) for n in (2, 5, 9))))

    with caplog.at_level(logging.INFO, logger="backendperf"):
        results = asyncio.run(main())
    for n, sent in zip((2, 5, 9), results, strict=True):
        headers = dict(sent[0]["headers"])
        assert headers[b"server-timing"].startswith(b"db;dur=")
        assert headers[b"server-timing"].endswith(f'desc="{n} queries"'.encode())
    logged = summaries(caplog)
    for n in (2, 5, 9):
        assert logged[f"GET /{n}"].db_count == n  # type: ignore[attr-defined]


def test_asgi_lifespan_passes_through() -> None:
    """Non-HTTP scopes (lifespan, websocket) are passed on untouched."""
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def nothing() -> dict[str, Any]:
        return {}

    async def ignore(message: Any) -> None:
        return None

    asyncio.run(QueryProfileMiddleware(app)({"type": "lifespan"}, nothing, ignore))
    assert seen == ["lifespan"]


def test_starlette_app_sync_and_async_endpoints(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Starlette: async endpoints and sync ones (run in a thread pool) are both counted, and
    an N+1 in a request is logged with the request's name."""
    pytest.importorskip("starlette")
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def async_view(request: Any) -> PlainTextResponse:
        queries(engine, 3)
        return PlainTextResponse("a")

    def sync_view(request: Any) -> PlainTextResponse:
        queries(engine, 6)  # >= 5 repeats: an N+1
        return PlainTextResponse("s")

    app = Starlette(
        routes=[Route("/a", async_view), Route("/s", sync_view)],
        middleware=[Middleware(QueryProfileMiddleware, server_timing=True)],
    )
    with caplog.at_level(logging.INFO, logger="backendperf"), TestClient(app) as client:
        a = client.get("/a")
        s = client.get("/s")
    assert a.headers["server-timing"].endswith('desc="3 queries"')
    assert s.headers["server-timing"].endswith('desc="6 queries"')
    logged = summaries(caplog)
    assert logged["GET /a"].db_count == 3  # type: ignore[attr-defined]
    assert logged["GET /s"].nplusone == 1  # type: ignore[attr-defined]
    assert any(r.getMessage().startswith("[GET /s] N+1: 6 x select ?") for r in caplog.records)


def test_flask_wsgi(engine: sa.Engine, caplog: pytest.LogCaptureFixture) -> None:
    """Flask through the WSGI middleware: per-request counts and the Server-Timing header."""
    pytest.importorskip("flask")
    from flask import Flask

    app = Flask(__name__)

    @app.get("/users/<int:n>")
    def users(n: int) -> str:
        queries(engine, n)
        return "ok"

    app.wsgi_app = QueryProfileWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, server_timing=True, nplusone=None
    )
    with caplog.at_level(logging.INFO, logger="backendperf"):
        client = app.test_client()
        r1 = client.get("/users/2")
        r2 = client.get("/users/4")
    assert r1.headers["Server-Timing"].endswith('desc="2 queries"')
    assert r2.headers["Server-Timing"].endswith('desc="4 queries"')
    assert summaries(caplog)["GET /users/4"].db_count == 4  # type: ignore[attr-defined]


def test_wsgi_lazy_start_response_and_write() -> None:
    """A WSGI app that starts its response lazily, or uses write(), still gets its header."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        out.append((status, headers))
        return written.append

    def lazy_app(environ: dict[str, Any], start: Any) -> Any:
        def body() -> Iterator[bytes]:
            start("200 OK", [("Content-Type", "text/plain")])
            yield b"x"

        return body()

    def write_app(environ: dict[str, Any], start: Any) -> list[bytes]:
        start("200 OK", [])(b"legacy")
        return []

    env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}
    assert list(QueryProfileWSGIMiddleware(lazy_app, server_timing=True)(env, start_response)) == [
        b"x"
    ]
    QueryProfileWSGIMiddleware(write_app, server_timing=True)(env, start_response)
    assert [dict(h)["Server-Timing"] for _, h in out] == ['db;dur=0.0;desc="0 queries"'] * 2
    assert written == [b"legacy"]


def test_web_and_profiling_import_no_framework() -> None:
    """backendperf.web and backendperf.profiling load no SQLAlchemy and no web framework."""
    import subprocess
    import sys

    code = (
        "import sys, backendperf.web, backendperf.profiling; "
        "print(sorted(m for m in ('sqlalchemy', 'starlette', 'flask', 'sqlglot') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

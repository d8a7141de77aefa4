"""Per-request query profiles for web applications: one ASGI and one WSGI middleware.

Neither imports a web framework. Each request runs in its own
:class:`~backendperf.profiling.Profile` (so the statements an instrumented engine runs while
serving it are counted there), and when it ends one summary line is logged to the
``backendperf`` logger::

    GET /users: 12 statements, 3.4 ms; N+1: 1

with the figures in ``extra`` (``db_count``, ``db_ms``, ``nplusone``, ``profile``), followed by one
line per N+1 finding. ``server_timing=True`` adds a ``Server-Timing: db;dur=3.4;desc="12 queries"``
header, which browsers' developer tools display.

ASGI (Starlette, FastAPI, Litestar, Quart...)::

    app.add_middleware(QueryProfileMiddleware, server_timing=True)   # Starlette/FastAPI
    app = QueryProfileMiddleware(app)                                # any ASGI app

WSGI (Flask, Django, Pyramid...)::

    app.wsgi_app = QueryProfileWSGIMiddleware(app.wsgi_app)          # Flask
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from backendperf.profiling import OnNPlusOne, Profile

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, MutableMapping

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
    StartResponse = Callable[..., Any]
    WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

__all__ = ["QueryProfileMiddleware", "QueryProfileWSGIMiddleware"]

logger = logging.getLogger("backendperf")


class _Middleware:
    """What both middlewares share: their options and the per-request summary line."""

    def __init__(
        self,
        app: Any,
        *,
        server_timing: bool = False,
        nplusone: int | None = 5,
        on_nplusone: OnNPlusOne = "log",
        log_level: int | None = logging.INFO,
        max_statements: int | None = 1_000,
    ) -> None:
        self.app = app
        self.server_timing = server_timing
        self.log_level = log_level
        self._profile_options: dict[str, Any] = {
            "nplusone": nplusone,
            "on_nplusone": on_nplusone,
            "max_statements": max_statements,
        }
        Profile(**self._profile_options)  # validate now, not at the first request

    def _profile(self, name: str) -> Profile:
        return Profile(name, **self._profile_options)

    def _finish(self, p: Profile) -> None:
        if self.log_level is not None and logger.isEnabledFor(self.log_level):
            logger.log(
                self.log_level,
                "%s",
                p.summary(),
                extra={
                    "db_count": p.count,
                    "db_ms": p.total_ms,
                    "nplusone": len(p.nplusone),
                    "profile": p,
                },
            )


class QueryProfileMiddleware(_Middleware):
    """ASGI middleware: profile each HTTP request, log its summary, optionally ``Server-Timing``.

    Args:
        app: the ASGI application.
        server_timing: add a ``Server-Timing`` header (DB time and count so far when the
            response starts).
        nplusone: repeats of one statement shape that make an N+1 finding (``None``: off).
        on_nplusone: ``"log"`` (default), ``"warn"``, ``"raise"`` (a failed request: for
            tests), or ``"ignore"``.
        log_level: level of the per-request summary line (``None``: no line).
        max_statements: statements kept per request for :attr:`Profile.statements`.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        p = self._profile(f"{scope.get('method', 'GET')} {scope.get('path', '')}")

        async def send_with_timing(message: Message) -> None:
            if message.get("type") == "http.response.start":
                headers = list(message.get("headers") or [])
                headers.append((b"server-timing", p.server_timing().encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        with p:
            await self.app(scope, receive, send_with_timing if self.server_timing else send)
        self._finish(p)


class QueryProfileWSGIMiddleware(_Middleware):
    """WSGI middleware: the same as :class:`QueryProfileMiddleware` for WSGI applications.

    The request's profile ends when the application returns its response iterable; queries
    a streamed body runs while it is being sent are not counted.
    """

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        p = self._profile(f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '')}")
        state: dict[str, Any] = {"pending": None, "write": None, "returned": False}

        def send_start() -> Any:
            status, headers, exc_info = state["pending"]
            state["pending"] = None
            headers = [*headers, ("Server-Timing", p.server_timing())]
            state["write"] = start_response(status, headers, exc_info)
            return state["write"]

        def deferred_start(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            # The header needs the request's final figures: hold start_response until the
            # application returns (WSGI allows it: nothing is sent before the first body byte).
            state["pending"] = (status, headers, exc_info)
            if state["returned"]:  # a generator app that starts the response lazily
                return send_start()

            def write(data: bytes) -> None:  # the legacy write() callable
                real = send_start() if state["pending"] is not None else state["write"]
                real(data)

            return write

        with p:
            body: Iterable[bytes] = self.app(
                environ, deferred_start if self.server_timing else start_response
            )
        state["returned"] = True
        if state["pending"] is not None:
            send_start()
        self._finish(p)
        return body

"""Every use of aiohttp's internals, in one place, each checked when the app is served.

aiohttp answers a request it cannot parse with a plain-text 4xx from its connection handler,
and routes every request through ``web.Application``'s router; the mock wants JSON for the
first and a shortcut for the second. Both reach past aiohttp's public API:

- ``RequestHandler.handle_error`` (aiohttp.web_protocol) is overridden in a subclass, and each
  new connection handler is switched to it (``json_errors``);
- ``web.Server.request_handler`` is replaced (``route_fixed_paths``), and the handler it
  installs gets a ``web.Request`` only because ``Application._make_request`` made one.

``check_internals()`` verifies the layout these rely on and raises ``AiohttpChanged`` naming
what moved; ``tests/test_mock_web_internals.py`` pins the aiohttp versions it was checked against.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler

from ..core.sessions import SESSION_PREFIX, split_session_path
from ..core.statuses import JSON_TYPE, error_body
from .exchange import one_line

__all__ = [
    "CHECKED_AIOHTTP",
    "AiohttpChanged",
    "FixedRoutes",
    "ServerHandler",
    "check_internals",
    "json_errors",
    "route_fixed_paths",
]

logger = logging.getLogger("mock_server")

# The aiohttp releases these internals were read in and tested against (major.minor).
CHECKED_AIOHTTP = ("3.14",)

ServerHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
# Path -> method ("*" for any other) -> wrapped handler, called as route(request) or, for a
# path under /sessions/{name}, route(request, name).
FixedRoutes = dict[str, dict[str, Callable[..., Awaitable[web.StreamResponse]]]]


class AiohttpChanged(RuntimeError):
    """The installed aiohttp no longer has an internal the mock relies on."""


class _JsonErrorHandler(RequestHandler):
    """aiohttp's connection handler, answering requests it cannot parse with the mock's JSON.

    It adds no state (hence the empty slots), so an existing handler can become one; anything
    but a 4xx (a handler that escaped the app's wrapper) goes to aiohttp's own method and log.
    """

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not 400 <= status < 500:
            return super().handle_error(request, status, exc, message)
        logger.debug("unparsable request from %s: %s", request.remote, exc)
        if request.writer.output_size > 0:  # as aiohttp: too late for another answer
            raise ConnectionError("Response is sent already")
        text = getattr(exc, "message", None) or message or str(exc)
        field = None
        if isinstance(exc, LineTooLong) or "Too many headers" in str(text):
            status, field = 431, "headers"
            text = (
                "the request line or a header line is longer than 8190 bytes,"
                " or there are more than 128 header lines"
            )
        else:
            text = f"the request is not valid HTTP/1.1: {one_line(text, 160)}"
        response = web.Response(status=status, body=error_body(text, field), content_type=JSON_TYPE)
        response.force_close()
        return response


def check_internals() -> None:
    """Raise ``AiohttpChanged`` if an internal used here is gone or changed shape."""
    if "handle_error" not in vars(RequestHandler):
        raise AiohttpChanged("aiohttp.web_protocol.RequestHandler.handle_error is gone")
    if not hasattr(web.Application, "_make_request"):
        raise AiohttpChanged("aiohttp.web.Application._make_request is gone")
    try:
        # The class switch needs the same instance layout: no new slots in the subclass.
        probe = object.__new__(RequestHandler)
        probe.__class__ = _JsonErrorHandler
    except TypeError as exc:
        raise AiohttpChanged(f"RequestHandler cannot become _JsonErrorHandler: {exc}") from None


def json_errors(handler: RequestHandler) -> RequestHandler:
    """``handler`` switched to answer unparsable requests with JSON (see the module's notes)."""
    if type(handler) is RequestHandler:
        handler.__class__ = _JsonErrorHandler
    return handler


def route_fixed_paths(server: web.Server, fixed: FixedRoutes) -> None:
    """Make ``server`` skip aiohttp's router for the mock's fixed paths.

    Routing through ``web.Application`` (resolve, match info, response signals) is about a
    seventh of the time aiohttp spends on a request. A request to one of the fixed paths (the
    inference endpoints, health, admin...) without an ``Expect`` header goes straight to the
    wrapped handler the router would pick: the route for its method, else the catch-all one.
    So does a fixed path under ``/sessions/{name}``, with the session's name (looked for only
    when the exact lookup misses). Anything else (image files, unknown paths, ``Expect:
    100-continue``) goes to the app's own handler.
    """
    fallback: ServerHandler | None = getattr(server, "request_handler", None)
    if fallback is None:
        raise AiohttpChanged("aiohttp.web.Server has no request_handler attribute")

    # Not a coroutine function: it returns the route's coroutine for aiohttp to await (one
    # coroutine less per request).
    def handle(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        # The request target as sent is the path itself, usually: no need to parse it then.
        raw = request.raw_path
        routes = fixed.get(raw)
        if routes is None:
            if raw.startswith(SESSION_PREFIX):
                return in_session(request)
            routes = fixed.get(request.rel_url.path_safe)
        if routes is None or hdrs.EXPECT in request.headers:
            return fallback(request)
        route = routes.get(request.method) or routes["*"]
        return route(request)

    skip = len(SESSION_PREFIX)

    def in_session(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        name, slash, rest = request.raw_path[skip:].partition("/")  # (split_session_path)
        routes = fixed.get(slash + rest)
        if routes is None:  # a query string, %-escapes...: the path as aiohttp reads it
            split = split_session_path(request.rel_url.path_safe)
            routes = None if split is None else fixed.get(split[1])
            name = "" if split is None else split[0]
        if routes is None or hdrs.EXPECT in request.headers:
            return fallback(request)  # the router has the /sessions/{session}/... routes too
        route = routes.get(request.method) or routes["*"]
        return route(request, name)

    server.request_handler = handle

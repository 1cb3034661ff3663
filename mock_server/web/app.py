"""The aiohttp application: the route table of the mock, over one ``MockState``.

``create_app(**options)`` is the mock as a plain ``aiohttp.web.Application``; ``build_app``
builds one over an existing state (``MockServer`` shares its state with its app this way).
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from websim_core import __version__
from websim_core.routing import CHAT_PATH, IMAGE_PATH

from ..core.config import MockConfig, config_of
from ..core.state import MockState
from .admin import Admin, Handler
from .admin_journal import JournalAdmin
from .exchange import expect_handler, json_http_errors
from .handlers import Route, Routes
from .internals import FixedRoutes
from .openapi import openapi_body

__all__ = ["FIXED_ROUTES_KEY", "STATE_KEY", "build_app", "create_app", "get_state"]

STATE_KEY = web.AppKey("websim_mock_state", MockState)
FIXED_ROUTES_KEY = web.AppKey("websim_mock_fixed_routes", FixedRoutes)


def get_state(app: web.Application) -> MockState:
    """The ``MockState`` behind an app made by ``create_app`` or ``build_app``."""
    return app[STATE_KEY]


def build_app(state: MockState) -> web.Application:
    """The application over an existing state (``MockServer`` uses this to share it)."""
    app = web.Application(
        client_max_size=state.config.max_body_bytes,
        # Bodies are decoded by the handlers (wire.decode_body) so that a bad one gets a JSON
        # 4xx: aiohttp's own decompression fails outside them (plain-text 400, or a hang).
        handler_args={"auto_decompress": False},
        # Only aiohttp's own refusals (no route can match the target) reach it: see exchange.
        middlewares=[json_http_errors],
    )
    app[STATE_KEY] = state
    # Built on the first GET /openapi.json, then cached per configuration (not per app).
    routes = Routes(state, functools.partial(openapi_body, __version__, state.config))
    fixed: FixedRoutes = {}
    expect = expect_handler(state.config.max_body_bytes)

    def add(method: str, path: str, handler: Handler, **kw: Any) -> None:
        route = routes.wrap(handler, **kw)
        in_session = _in_session(route)
        # A GET route answers HEAD too (aiohttp sends no body), as web.get(allow_head=True).
        for each in ("GET", "HEAD") if method == "GET" else (method,):
            app.router.add_route(each, path, route, expect_handler=expect)
            # (MockServer's route_fixed_paths takes the fixed ones before the router does.)
            app.router.add_route(
                each, "/sessions/{session}" + path, in_session, expect_handler=expect
            )
            if "{" not in path:
                fixed.setdefault(path, {})[each] = route

    add("POST", CHAT_PATH, routes.chat, endpoint="chat")
    add("*", CHAT_PATH, routes.method_not_allowed("POST"), endpoint="chat")
    add("POST", IMAGE_PATH, routes.image, endpoint="image")
    add("*", IMAGE_PATH, routes.method_not_allowed("POST"), endpoint="image")
    for path, handler, journal in (
        ("/images/{name}", routes.image_file, True),
        ("/healthz", routes.healthz, False),
        ("/openapi.json", routes.openapi_json, True),
    ):
        add("GET", path, handler, journal=journal)
        add("*", path, routes.method_not_allowed("GET, HEAD"), journal=journal)
    _add_admin(add, Admin(state), routes, one_state=state.config.workers == 1)
    # Last: anything else is a JSON 404 (and still journaled).
    add("*", "/{tail:.*}", routes.not_found)
    app[FIXED_ROUTES_KEY] = fixed
    return app


def _in_session(route: Route) -> Route:
    """``route`` for the router's ``/sessions/{session}/...`` twin of its path."""

    async def in_session(request: web.Request) -> web.StreamResponse:
        return await route(request, request.match_info["session"])

    return in_session


def _add_admin(add: Any, admin: Admin, routes: Routes, *, one_state: bool) -> None:
    guard = admin.guard
    journal = JournalAdmin(admin)
    page = ("since", "limit")
    for method, path, handler, query in (
        ("GET", "/__admin/requests", journal.requests, (*page, "endpoint", "source")),
        ("POST", "/__admin/requests/find", journal.find, ()),
        ("POST", "/__admin/requests/count", journal.count, ()),
        ("GET", "/__admin/requests/unmatched", journal.unmatched, page),
        ("POST", "/__admin/reset", admin.reset, ()),
        ("POST", "/__admin/scenarios", admin.add_scenario, ()),
        ("GET", "/__admin/scenarios", admin.scenarios, page),
        ("GET", "/__admin/sessions", admin.sessions, ()),
        ("GET", "/__admin/sessions/{name}", admin.session, ()),
        ("DELETE", "/__admin/sessions/{name}", admin.end_session, ()),
        ("POST", "/__admin/stubs", admin.add_stubs, ()),
        ("GET", "/__admin/stubs", admin.stubs, ()),
        ("DELETE", "/__admin/stubs", admin.clear_stubs, ()),
        ("DELETE", "/__admin/stubs/{id}", admin.delete_stub, ()),
    ):
        chosen = handler if one_state else admin.one_worker_only
        add(method, path, guard(chosen, query), journal=False)
    for path, allowed in (
        ("/__admin/requests", "GET, HEAD"),
        ("/__admin/requests/find", "POST"),
        ("/__admin/requests/count", "POST"),
        ("/__admin/requests/unmatched", "GET, HEAD"),
        ("/__admin/reset", "POST"),
        ("/__admin/scenarios", "GET, HEAD, POST"),
        ("/__admin/sessions", "GET, HEAD"),
        ("/__admin/sessions/{name}", "GET, HEAD, DELETE"),
        ("/__admin/stubs", "GET, HEAD, POST, DELETE"),
        ("/__admin/stubs/{id}", "DELETE"),
    ):
        add("*", path, guard(routes.method_not_allowed(allowed), None), journal=False)


def create_app(config: MockConfig | None = None, /, **options: Any) -> web.Application:
    """A fresh mock Websim as an ``aiohttp.web.Application``, ready to embed or run.

    Give a ``MockConfig``, or its fields as keywords (``seed``, ``strict_ids``, ...). Serve it
    with ``mock_server.MockServer`` (or ``serve``) to also accept the non-token header names
    real clients send (``websim-flags;``); a plain ``web.AppRunner``/``TCPSite`` answers those
    requests with aiohttp's own 400.
    """
    return build_app(MockState(config_of(config, options)))

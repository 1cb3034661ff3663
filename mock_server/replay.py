"""Serve recorded cassettes over HTTP: ``websim-mock --cassettes DIR``, for apps in any language.

Each request is looked up in a ``websim_cassettes.ReplayIndex`` (the cassette matching
rules, in constant time); a miss answers 404 with JSON naming the closest recorded requests.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any

from aiohttp import web

from websim_cassettes import Hit, ReplayIndex
from websim_cassettes.index import Repeat
from websim_core import __version__

from .app_server import AppServer

__all__ = [
    "CASSETTE_HEADER",
    "INDEX_KEY",
    "REPLAYED_FROM_HEADER",
    "ReplayServer",
    "create_replay_app",
    "replay_openapi",
]

INDEX_KEY = web.AppKey("websim_replay_index", ReplayIndex)
# The last requests served and what answered them, for GET /__admin/requests (bounded).
SEEN_KEY = web.AppKey("websim_replay_seen", deque)
MAX_SEEN = 1000
# Ask for one cassette's answers only (two cassettes may hold the same request).
CASSETTE_HEADER = "X-Websim-Cassette"
# Which recorded interaction answered: "chat_basic.yaml#0".
REPLAYED_FROM_HEADER = "X-Websim-Replayed-From"
# Not the recorded message's to decide: the length is recomputed, the body is stored decoded.
_SKIPPED_HEADERS = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"}
)
_JSON = "application/json"


def _json(status: int, data: Any) -> web.Response:
    import json

    return web.Response(status=status, body=json.dumps(data).encode(), content_type=_JSON)


async def _replay(request: web.Request) -> web.StreamResponse:
    index = request.app[INDEX_KEY]
    body = await request.read()
    found = index.lookup(
        request.method, request.path, body, cassette=request.headers.get(CASSETTE_HEADER)
    )
    seen: dict[str, Any] = {"method": request.method, "path": request.path}
    request.app[SEEN_KEY].append(seen)
    if not isinstance(found, Hit):
        seen["miss"] = found.reason
        return _json(404, found.to_json(request.method, request.path))
    recorded = found.recorded
    seen["replayed_from"] = f"{recorded.cassette}#{recorded.position}"
    answer = recorded.interaction.response
    headers = [
        (name, value)
        for name, values in answer.headers.items()
        if name.lower() not in _SKIPPED_HEADERS
        for value in values
    ]
    headers.append((REPLAYED_FROM_HEADER, f"{recorded.cassette}#{recorded.position}"))
    if answer.media_type != "text/event-stream":
        response = web.Response(
            status=answer.status, reason=answer.reason or None, body=answer.body
        )
        for name, value in headers:
            response.headers.add(name, value)
        return response
    # A recorded stream is sent event by event, so a client sees a stream, not one block.
    stream = web.StreamResponse(status=answer.status, reason=answer.reason or None)
    for name, value in headers:
        stream.headers.add(name, value)
    await stream.prepare(request)
    rest = answer.body
    while rest:
        event, separator, rest = rest.partition(b"\n\n")
        await stream.write(event + separator)
    await stream.write_eof()
    return stream


async def _healthz(request: web.Request) -> web.StreamResponse:
    index = request.app[INDEX_KEY]
    return _json(
        200, {"status": "ok", "cassettes": len(index.cassettes), "interactions": index.size}
    )


async def _requests(request: web.Request) -> web.StreamResponse:
    seen = request.app[SEEN_KEY]
    return _json(200, {"requests": list(seen), "kept": MAX_SEEN})


async def _openapi(request: web.Request) -> web.StreamResponse:
    return _json(200, replay_openapi(request.app[INDEX_KEY]))


def replay_openapi(index: ReplayIndex) -> dict[str, Any]:
    """An honest, minimal OpenAPI document: the recorded routes and the replay server's own."""
    miss = {"description": "nothing recorded matches: JSON naming the closest recorded requests"}
    paths: dict[str, dict[str, Any]] = {}
    for method, path in index.routes:
        paths.setdefault(path, {})[method.lower()] = {
            "summary": f"replays the answers recorded for {method} {path}, in order",
            "responses": {"default": {"description": "the recorded answer"}, "404": miss},
        }
    own = {
        "/healthz": ("get", "liveness, with the number of cassettes and interactions"),
        "/openapi.json": ("get", "this document"),
        "/__admin/cassettes": ("get", "the cassettes loaded, and the interactions set aside"),
        "/__admin/requests": ("get", f"the last {MAX_SEEN} requests and what answered them"),
        "/__admin/reset": ("post", "start every recorded sequence again"),
    }
    for path, (method, summary) in own.items():
        paths[path] = {method: {"summary": summary, "responses": {"200": {"description": "JSON"}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "websim-mock --cassettes: recorded answers",
            "version": __version__,
            "description": "Request and answer shapes are those recorded; none are invented here.",
        },
        "paths": paths,
    }


async def _reset(request: web.Request) -> web.StreamResponse:
    request.app[INDEX_KEY].reset()
    request.app[SEEN_KEY].clear()
    return _json(200, {"reset": True})


async def _cassettes(request: web.Request) -> web.StreamResponse:
    index = request.app[INDEX_KEY]
    return _json(
        200,
        {
            "cassettes": index.cassettes,
            "interactions": index.size,
            "rejected": index.rejected,
            "repeat": index.repeat,
        },
    )


def create_replay_app(
    directory: str | os.PathLike[str] | ReplayIndex,
    *,
    repeat: Repeat = "last",
    strict_ids: bool = False,
) -> web.Application:
    """An app answering from the cassettes of ``directory`` (or from a ready ``ReplayIndex``);
    ``strict_ids`` matches project IDs as ``websim-mock --strict-ids`` accepts them.

    ``POST /__admin/reset`` starts every sequence again; ``GET /__admin/cassettes`` lists them;
    ``GET /__admin/requests`` the last requests served; ``/healthz`` and ``/openapi.json`` too.
    """
    index = (
        directory
        if isinstance(directory, ReplayIndex)
        else ReplayIndex.from_directory(directory, repeat=repeat, strict_ids=strict_ids)
    )
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[INDEX_KEY] = index
    app[SEEN_KEY] = deque(maxlen=MAX_SEEN)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/openapi.json", _openapi)
    app.router.add_post("/__admin/reset", _reset)
    app.router.add_get("/__admin/cassettes", _cassettes)
    app.router.add_get("/__admin/requests", _requests)
    app.router.add_route("*", "/{tail:.*}", _replay)
    return app


class ReplayServer(AppServer):
    """``async with ReplayServer("cassettes") as server: server.url`` serves recorded answers."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | ReplayIndex,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        repeat: Repeat = "last",
        strict_ids: bool = False,
    ) -> None:
        app = create_replay_app(directory, repeat=repeat, strict_ids=strict_ids)
        super().__init__(app, host=host, port=port)
        self.index = self.app[INDEX_KEY]

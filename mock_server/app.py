"""The aiohttp application: routes, handlers, and the wrapper that journals and shapes errors.

Handlers are thin: validate with ``websim_core.protocol``, take the next scripted step from
``mock_server.state``, build the answer with ``mock_server.replies``. There is no aiohttp
middleware (any middleware costs two extra layers per request): each route handler is wrapped
once by ``_Routes.wrap``, and catch-all routes turn unknown paths and methods into JSON 404/405.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict

from websim_core.errors import InvalidRequestError
from websim_core.protocol import (
    DEFAULT_ASPECT_RATIO,
    parse_aspect_ratio,
    validate_chat_body,
    validate_image_body,
)
from websim_core.routing import CHAT_PATH, IMAGE_PATH

from .openapi import openapi_spec
from .replies import (
    JSON_TYPE,
    Answer,
    chat_answer,
    chat_body,
    error_body,
    image_name,
    parse_image_name,
    render_png,
    status_answer,
    stream_events,
)
from .state import (
    DEFAULT_JOURNAL_BODY_BYTES,
    DEFAULT_JOURNAL_SIZE,
    DEFAULT_MAX_BODY_BYTES,
    Endpoint,
    MockConfig,
    MockState,
    StatusStep,
    Step,
    StepError,
    parse_json_strictly,
)
from .wire import BodyDecodeError, decode_body

__all__ = ["STATE_KEY", "build_app", "create_app", "get_state"]

logger = logging.getLogger("mock_server")

STATE_KEY = web.AppKey("websim_mock_state", MockState)
_VERSION = "0.1.0"
_HOST_RE = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
_HEALTH_BODY = b'{"status": "ok"}'
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_MAX_ERRORS = 100  # handler exceptions kept for the pytest plugin (the first ones matter)
_IMAGE_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable"}
# What reading a body aiohttp could not take apart raises (broken chunks): client input.
_UNREADABLE = (web.RequestPayloadError, HttpProcessingError)


def get_state(app: web.Application) -> MockState:
    """The ``MockState`` behind an app made by ``create_app`` or ``build_app``."""
    return app[STATE_KEY]


@dataclass(slots=True)
class _Note:
    """What a handler tells the journal: the body it read, the source, the step, the answer."""

    body: bytes | None = None
    source: str = "reply"
    step: Step | None = None
    answer: bytes | None = None
    content_type: str | None = None


_Handler = Callable[[web.Request, _Note], Awaitable[web.StreamResponse]]


class _BadBody(InvalidRequestError):
    """A body that cannot be read or decoded; answered with ``status`` (400, 413 or 415)."""

    def __init__(self, field: str, problem: str, status: int = 400, close: bool = False) -> None:
        super().__init__(field, problem)
        self.status = status
        self.close = close


# --- small helpers ------------------------------------------------------------------------------


def _json(status: int, body: bytes, note: _Note | None = None) -> web.Response:
    if note is not None:
        note.answer, note.content_type = body, JSON_TYPE
    return web.Response(status=status, body=body, content_type=JSON_TYPE)


def _error(
    status: int, message: str, field: str | None = None, note: _Note | None = None
) -> web.Response:
    return _json(status, error_body(message, field), note)


def _invalid(exc: InvalidRequestError | StepError, note: _Note) -> web.Response:
    note.source = "invalid"
    status = exc.status if isinstance(exc, _BadBody) else 400
    response = _error(status, str(exc), exc.field, note)
    if isinstance(exc, _BadBody) and exc.close:
        response.force_close()  # aiohttp drops such a connection afterwards: say so
    return response


def _answer(answer: Answer, note: _Note) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict(answer.headers)
    if answer.content_type is not None:
        headers["Content-Type"] = answer.content_type
    note.answer, note.content_type = answer.body, answer.content_type
    return web.Response(status=answer.status, body=answer.body, headers=headers)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


async def _read_body(request: web.Request, note: _Note, limit: int) -> bytes:
    """The body, undoing any Content-Encoding; _BadBody when it cannot be read."""
    try:
        body = await request.read()
    except _UNREADABLE as exc:
        raise _BadBody("body", f"could not be read ({_one_line(exc)})", close=True) from None
    note.body = body
    coding = request.headers.get("Content-Encoding")
    if coding:
        try:
            body = decode_body(body, coding, limit)
        except BodyDecodeError as exc:
            raise _BadBody(exc.field, exc.problem, exc.status) from None
    return body


def _parse(body: bytes) -> Any:
    try:
        return parse_json_strictly(body)
    except ValueError as exc:
        raise InvalidRequestError("body", f"is not valid JSON ({exc})") from None


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


# --- what a request body asks for ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Chat:
    """A validated chat body: the generated answer (text and JSON body) and whether to stream."""

    text: str
    body: bytes
    stream: bool


@dataclass(frozen=True, slots=True)
class _Image:
    """A validated image body: the image's file name."""

    name: str


@dataclass(frozen=True, slots=True)
class _Refused:
    """A body that is not a valid request: the 400 to answer."""

    error: InvalidRequestError


def _chat_outcome(config: MockConfig, body: bytes) -> _Chat | _Refused:
    try:
        data = validate_chat_body(_parse(body), strict_ids=config.strict_ids)
    except InvalidRequestError as exc:
        return _Refused(exc)
    text, body = chat_answer(config.seed, data["messages"])
    return _Chat(text, body, data.get("stream") is True)


def _image_outcome(config: MockConfig, body: bytes) -> _Image | _Refused:
    try:
        data = validate_image_body(_parse(body), strict_ids=config.strict_ids)
        ratio = parse_aspect_ratio(data.get("aspect_ratio", DEFAULT_ASPECT_RATIO))
    except InvalidRequestError as exc:
        return _Refused(exc)
    return _Image(image_name(config.seed, data["prompt"], ratio))


# --- the routes ---------------------------------------------------------------------------------


class _Routes:
    """The handlers of one app, closed over its state (and its caches)."""

    def __init__(self, state: MockState) -> None:
        self.state = state
        self.config = state.config
        self.limit = state.config.max_body_bytes
        self.chat_outcome = functools.partial(_chat_outcome, state.config)
        self.image_outcome = functools.partial(_image_outcome, state.config)
        self.openapi = json.dumps(openapi_spec(_VERSION), indent=1).encode()

    # The one wrapper every handler goes through: errors become JSON, requests are journaled.
    def wrap(
        self, handler: _Handler, endpoint: Endpoint | None = None, *, journal: bool = True
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        state = self.state
        record = state.journal.record

        async def route(request: web.Request) -> web.StreamResponse:
            note = _Note()
            try:
                response = await handler(request, note)
            except InvalidRequestError as exc:
                response = _invalid(exc, note)
            except web.HTTPException as exc:  # 413 from request.read()
                response = self._http_error(exc, note)
            except ConnectionError:
                # The client went away mid-request: nothing broken, and nobody to answer.
                response = web.Response(status=499)  # nginx's "client closed request"
                note.source = "disconnected"
            except Exception as exc:
                # A bug in the mock, never the client's input: kept for the pytest plugin.
                if len(state.errors) < _MAX_ERRORS:
                    state.errors.append(exc)
                logger.exception("unhandled error answering %s %s", request.method, request.path)
                message = f"internal error in the mock server: {type(exc).__name__}: {exc}"
                response = _error(500, message, None, note)
                note.source = "error"
            if journal:
                record(
                    time=time.time(),
                    method=request.method,
                    path=request.raw_path,
                    raw_headers=request.raw_headers,
                    body=note.body if note.body is not None else await self._leftover(request),
                    endpoint=endpoint,
                    status=response.status,
                    response_type=note.content_type,
                    response_body=note.answer,
                    source=note.source,
                    step=note.step,
                )
            return response

        return route

    def _http_error(self, exc: web.HTTPException, note: _Note) -> web.Response:
        note.source = "invalid"
        if exc.status == 413:
            return _error(413, f"request body is larger than {self.limit} bytes", "body", note)
        return _error(exc.status, exc.reason, None, note)

    async def _leftover(self, request: web.Request) -> bytes:
        """The body of a request whose handler did not read it (404, 405), for the journal."""
        if not request.body_exists:
            return b""
        try:
            return await request.read()
        except (web.HTTPException, ConnectionError, *_UNREADABLE):
            return b""  # too big, undecodable, or the client is gone

    def _take(self, endpoint: Endpoint, note: _Note) -> Step | None:
        step = self.state.scripts.take(endpoint)
        if step is not None:
            note.source, note.step = "script", step
        return step

    # --- inference ------------------------------------------------------------------------------

    async def chat(self, request: web.Request, note: _Note) -> web.StreamResponse:
        outcome = self.chat_outcome(await _read_body(request, note, self.limit))
        if isinstance(outcome, _Refused):
            return _invalid(outcome.error, note)
        step = self._take("chat", note)
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)
        if step is None:
            if outcome.stream:
                return await self._stream(request, note, outcome.text, ())
            return _json(200, outcome.body, note)
        if isinstance(step, StatusStep):
            return _answer(status_answer(step), note)
        text = outcome.text if step.text is None else step.text
        if outcome.stream:
            return await self._stream(request, note, text, step.headers)
        response = _json(200, chat_body(text), note)
        response.headers.extend(step.headers)
        return response

    async def _stream(
        self, request: web.Request, note: _Note, text: str, headers: tuple[tuple[str, str], ...]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers=_SSE_HEADERS)
        response.headers.extend(headers)
        events = stream_events(text)
        note.answer, note.content_type = b"".join(events), "text/event-stream"
        await response.prepare(request)
        try:
            for event in events:
                await response.write(event)
            await response.write_eof()
        except ConnectionError:
            note.source = "disconnected"  # the client stopped reading: not an error here
        return response

    async def image(self, request: web.Request, note: _Note) -> web.StreamResponse:
        outcome = self.image_outcome(await _read_body(request, note, self.limit))
        if isinstance(outcome, _Refused):
            return _invalid(outcome.error, note)
        step = self._take("image", note)
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)
        if isinstance(step, StatusStep):
            return _answer(status_answer(step), note)
        url = step.text if step is not None else None
        if url is None:
            url = f"{self._origin(request)}/images/{outcome.name}.png"
        response = _json(200, json.dumps({"url": url}).encode(), note)
        if step is not None:
            response.headers.extend(step.headers)
        return response

    def _origin(self, request: web.Request) -> str:
        host = request.headers.get("Host")
        if host is not None and _HOST_RE.fullmatch(host):
            return f"{request.scheme}://{host}"
        if self.state.public_url:
            return self.state.public_url
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            address = f"[{sockname[0]}]" if ":" in str(sockname[0]) else str(sockname[0])
            return f"{request.scheme}://{address}:{sockname[1]}"
        return f"{request.scheme}://127.0.0.1"

    async def image_file(self, request: web.Request, note: _Note) -> web.StreamResponse:
        name = request.match_info["name"]
        parsed = parse_image_name(name[:-4]) if name.endswith(".png") else None
        if parsed is None:
            note.source = "invalid"
            return _error(404, f"no image named {name[:80]!r}", "path", note)
        note.content_type = "image/png"  # the bytes are not journaled
        return web.Response(
            body=render_png(*parsed), content_type="image/png", headers=_IMAGE_HEADERS
        )

    # --- service --------------------------------------------------------------------------------

    async def healthz(self, request: web.Request, note: _Note) -> web.StreamResponse:
        return _json(200, _HEALTH_BODY, note)

    async def openapi_json(self, request: web.Request, note: _Note) -> web.StreamResponse:
        return _json(200, self.openapi, note)

    async def not_found(self, request: web.Request, note: _Note) -> web.StreamResponse:
        note.source = "invalid"
        return _error(404, f"no such path: {request.path[:200]}", "path", note)

    def method_not_allowed(self, allowed: str) -> _Handler:
        async def handler(request: web.Request, note: _Note) -> web.StreamResponse:
            note.source = "invalid"
            message = (
                f"method {request.method[:20]} not allowed for {request.path} (allowed: {allowed})"
            )
            response = _error(405, message, "method", note)
            response.headers["Allow"] = allowed
            return response

        return handler

    # --- admin ----------------------------------------------------------------------------------

    def admin(self, handler: _Handler) -> _Handler:
        async def guarded(request: web.Request, note: _Note) -> web.StreamResponse:
            if self.config.admin_loopback_only and not _is_loopback(request.remote):
                return _error(403, "the admin API answers loopback clients only", "remote", note)
            return await handler(request, note)

        return guarded

    async def admin_requests(self, request: web.Request, note: _Note) -> web.StreamResponse:
        journal = self.state.journal
        entries = [entry.to_json() for entry in journal.entries()]
        data = {
            "requests": entries,
            "count": len(entries),
            "total": journal.total,
            "dropped": journal.dropped,
        }
        return _json(200, json.dumps(data).encode())

    async def admin_reset(self, request: web.Request, note: _Note) -> web.StreamResponse:
        self.state.reset()
        return _json(200, b'{"reset": true}')

    async def admin_add_scenario(self, request: web.Request, note: _Note) -> web.StreamResponse:
        data = _parse(await _read_body(request, note, self.limit))
        try:
            if not isinstance(data, dict):
                raise StepError("body", "must be a JSON object with 'endpoint' and 'responses'")
            unknown = sorted(k for k in data if k not in ("endpoint", "responses"))
            if unknown:
                raise StepError(unknown[0], "unknown key (known: endpoint, responses)")
            if "responses" not in data:
                raise StepError("responses", "is missing")
            queued = self.state.script(data.get("endpoint", "any"), data["responses"])
        except StepError as exc:
            return _invalid(exc, note)
        body = json.dumps({"queued": queued, "pending": len(self.state.scripts)}).encode()
        return _json(200, body)

    async def admin_scenarios(self, request: web.Request, note: _Note) -> web.StreamResponse:
        pending = [
            {"endpoint": scope, "step": step.to_json()}
            for scope, step in self.state.scripts.pending()
        ]
        return _json(200, json.dumps({"pending": pending}).encode())


# --- assembling the app -------------------------------------------------------------------------


def build_app(state: MockState) -> web.Application:
    """The application over an existing state (``MockServer`` uses this to share it)."""
    app = web.Application(
        client_max_size=state.config.max_body_bytes,
        # Bodies are decoded by the handlers (wire.decode_body) so that a bad one gets a JSON
        # 4xx: aiohttp's own decompression fails outside them (plain-text 400, or a hang).
        handler_args={"auto_decompress": False},
    )
    app[STATE_KEY] = state
    routes = _Routes(state)
    wrap = routes.wrap
    router = app.router

    def add(method: str, path: str, handler: _Handler, **kw: Any) -> None:
        router.add_route(method, path, wrap(handler, **kw))

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
    admin = routes.admin
    for method, path, handler in (
        ("GET", "/__admin/requests", routes.admin_requests),
        ("POST", "/__admin/reset", routes.admin_reset),
        ("POST", "/__admin/scenarios", routes.admin_add_scenario),
        ("GET", "/__admin/scenarios", routes.admin_scenarios),
    ):
        add(method, path, admin(handler), journal=False)
    for path, allowed in (
        ("/__admin/requests", "GET, HEAD"),
        ("/__admin/reset", "POST"),
        ("/__admin/scenarios", "GET, HEAD, POST"),
    ):
        add("*", path, admin(routes.method_not_allowed(allowed)), journal=False)
    # Last: anything else is a JSON 404 (and still journaled).
    add("*", "/{tail:.*}", routes.not_found)
    return app


def create_app(
    *,
    seed: int = 0,
    strict_ids: bool = False,
    latency_ms: float = 0.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    journal_size: int = DEFAULT_JOURNAL_SIZE,
    journal_body_bytes: int = DEFAULT_JOURNAL_BODY_BYTES,
    admin_loopback_only: bool = True,
    public_url: str | None = None,
) -> web.Application:
    """A fresh mock Websim as an ``aiohttp.web.Application``, ready to embed or run.

    Serve it with ``mock_server.MockServer`` (or ``serve``) to also accept the non-token header
    names real clients send (``websim-flags;``); a plain ``web.AppRunner``/``TCPSite`` answers
    those requests with aiohttp's own 400.
    """
    config = MockConfig(
        seed=seed,
        strict_ids=strict_ids,
        latency_ms=latency_ms,
        max_body_bytes=max_body_bytes,
        journal_size=journal_size,
        journal_body_bytes=journal_body_bytes,
        admin_loopback_only=admin_loopback_only,
        public_url=public_url,
    )
    return build_app(MockState(config))

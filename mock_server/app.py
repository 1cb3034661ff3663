"""The aiohttp application: routes, handlers and the middleware that journals and shapes errors.

Handlers are thin: parse and validate with ``websim_core.protocol``, take the next scripted step
from ``mock_server.state``, build the answer with ``mock_server.replies``.
"""

from __future__ import annotations

import asyncio
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
    chat_body,
    chat_reply,
    error_body,
    image_name,
    parse_image_name,
    render_png,
    split_chunks,
    sse_events,
    status_answer,
)
from .state import (
    DEFAULT_JOURNAL_BODY_BYTES,
    DEFAULT_JOURNAL_SIZE,
    DEFAULT_MAX_BODY_BYTES,
    Endpoint,
    MockConfig,
    MockState,
    ReplyStep,
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
_ADMIN_PREFIX = "/__admin/"
_UNJOURNALED = frozenset({"/healthz"})
_ENDPOINTS: dict[str, Endpoint] = {CHAT_PATH: "chat", IMAGE_PATH: "image"}
_HOST_RE = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
_HEALTH_BODY = b'{"status": "ok"}'
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


@dataclass(slots=True)
class _Note:
    """What a handler tells the journal beyond the response itself."""

    source: str = "reply"
    step: Step | None = None
    streamed: bytes | None = None


_NOTE = web.RequestKey("websim_mock_note", _Note)


def get_state(app: web.Application) -> MockState:
    """The ``MockState`` behind an app made by ``create_app``."""
    return app[STATE_KEY]


# --- small helpers ------------------------------------------------------------------------------


def _error(status: int, message: str, field: str | None = None, **headers: str) -> web.Response:
    return web.Response(
        status=status, body=error_body(message, field), content_type=JSON_TYPE, headers=headers
    )


class _BadBody(InvalidRequestError):
    """A body that cannot be read or decoded; answered with ``status`` (400, 413 or 415)."""

    def __init__(self, field: str, problem: str, status: int = 400, close: bool = False) -> None:
        super().__init__(field, problem)
        self.status = status
        self.close = close


def _invalid(exc: InvalidRequestError | StepError) -> web.Response:
    if not isinstance(exc, _BadBody):
        return _error(400, str(exc), exc.field)
    response = _error(exc.status, str(exc), exc.field)
    if exc.close:
        response.force_close()  # aiohttp drops such a connection afterwards: say so
    return response


def _json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(data).encode(), content_type=JSON_TYPE)


def _answer(answer: Answer) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict(answer.headers)
    if answer.content_type is not None:
        headers["Content-Type"] = answer.content_type
    return web.Response(status=answer.status, body=answer.body, headers=headers)


# What reading a body aiohttp could not decode raises (bad gzip, broken chunks): client input.
_UNREADABLE = (web.RequestPayloadError, HttpProcessingError)


async def _read_json(request: web.Request) -> Any:
    """The body parsed as JSON whatever the content type; InvalidRequestError if it is not."""
    try:
        body = await request.read()
    except _UNREADABLE as exc:
        raise _BadBody("body", f"could not be read ({_one_line(exc)})", close=True) from None
    coding = request.headers.get("Content-Encoding")
    if coding:
        try:
            body = decode_body(body, coding, request.app[STATE_KEY].config.max_body_bytes)
        except BodyDecodeError as exc:
            raise _BadBody(exc.field, exc.problem, exc.status) from None
    try:
        return parse_json_strictly(body)
    except ValueError as exc:
        raise InvalidRequestError("body", f"is not valid JSON ({exc})") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _origin(request: web.Request, state: MockState) -> str:
    host = request.headers.get("Host")
    if host is not None and _HOST_RE.fullmatch(host):
        return f"{request.scheme}://{host}"
    if state.public_url:
        return state.public_url
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        address = f"[{sockname[0]}]" if ":" in str(sockname[0]) else str(sockname[0])
        return f"{request.scheme}://{address}:{sockname[1]}"
    return f"{request.scheme}://127.0.0.1"


def _note(request: web.Request, step: Step | None) -> None:
    if step is not None:
        request[_NOTE] = _Note("script", step)


# --- inference endpoints ------------------------------------------------------------------------


async def _chat(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    config = state.config
    try:
        data = validate_chat_body(await _read_json(request), strict_ids=config.strict_ids)
    except InvalidRequestError as exc:
        return _invalid(exc)
    step = state.scripts.take("chat")
    _note(request, step)
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    extra: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    if isinstance(step, StatusStep):
        return _answer(status_answer(step))
    if isinstance(step, ReplyStep):
        text, extra = step.text, step.headers
    if text is None:
        text = chat_reply(config.seed, data["messages"])
    if data.get("stream") is True:
        return await _stream(request, text, extra)
    response = web.Response(body=chat_body(text), content_type=JSON_TYPE)
    if extra:
        response.headers.extend(extra)
    return response


async def _stream(
    request: web.Request, text: str, extra: tuple[tuple[str, str], ...]
) -> web.StreamResponse:
    response = web.StreamResponse(headers=_SSE_HEADERS)
    if extra:
        response.headers.extend(extra)
    events = sse_events(split_chunks(text))
    note = request.get(_NOTE) or _Note()
    note.streamed = b"".join(events)
    request[_NOTE] = note
    await response.prepare(request)
    for event in events:
        await response.write(event)
    await response.write_eof()
    return response


async def _image(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    config = state.config
    try:
        data = validate_image_body(await _read_json(request), strict_ids=config.strict_ids)
        ratio = parse_aspect_ratio(data.get("aspect_ratio", DEFAULT_ASPECT_RATIO))
    except InvalidRequestError as exc:
        return _invalid(exc)
    step = state.scripts.take("image")
    _note(request, step)
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    if isinstance(step, StatusStep):
        return _answer(status_answer(step))
    url = step.text if isinstance(step, ReplyStep) else None
    if url is None:
        name = image_name(config.seed, data["prompt"], ratio)
        url = f"{_origin(request, state)}/images/{name}.png"
    response = _json_response({"url": url})
    if isinstance(step, ReplyStep) and step.headers:
        response.headers.extend(step.headers)
    return response


async def _image_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    parsed = parse_image_name(name[:-4]) if name.endswith(".png") else None
    if parsed is None:
        return _error(404, f"no image named {name[:80]!r}", "path")
    body = render_png(*parsed)
    return web.Response(
        body=body,
        content_type="image/png",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


# --- service routes -----------------------------------------------------------------------------


async def _healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(body=_HEALTH_BODY, content_type=JSON_TYPE)


async def _openapi(request: web.Request) -> web.StreamResponse:
    return web.Response(body=request.app[_OPENAPI_KEY], content_type=JSON_TYPE)


_OPENAPI_KEY = web.AppKey("websim_mock_openapi", bytes)


# --- admin API ----------------------------------------------------------------------------------


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


_AdminHandler = Callable[[web.Request, MockState], Awaitable[web.StreamResponse]]


def _admin(handler: _AdminHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def guarded(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE_KEY]
        if state.config.admin_loopback_only and not _is_loopback(request.remote):
            return _error(403, "the admin API answers loopback clients only", "remote")
        return await handler(request, state)

    return guarded


async def _admin_requests(request: web.Request, state: MockState) -> web.StreamResponse:
    journal = state.journal
    entries = [entry.to_json() for entry in journal.entries()]
    return _json_response(
        {
            "requests": entries,
            "count": len(entries),
            "total": journal.total,
            "dropped": journal.dropped,
        }
    )


async def _admin_reset(request: web.Request, state: MockState) -> web.StreamResponse:
    state.reset()
    return _json_response({"reset": True})


_SCENARIO_KEYS = frozenset({"endpoint", "responses"})


async def _admin_add_scenario(request: web.Request, state: MockState) -> web.StreamResponse:
    try:
        data = await _read_json(request)
        if not isinstance(data, dict):
            raise StepError("body", "must be a JSON object with 'endpoint' and 'responses'")
        unknown = sorted(k for k in data if k not in _SCENARIO_KEYS)
        if unknown:
            raise StepError(unknown[0], "unknown key (known: endpoint, responses)")
        if "responses" not in data:
            raise StepError("responses", "is missing")
        queued = state.script(data.get("endpoint", "any"), data["responses"])
    except (InvalidRequestError, StepError) as exc:
        return _invalid(exc)
    return _json_response({"queued": queued, "pending": len(state.scripts)})


async def _admin_scenarios(request: web.Request, state: MockState) -> web.StreamResponse:
    pending = [
        {"endpoint": scope, "step": step.to_json()} for scope, step in state.scripts.pending()
    ]
    return _json_response({"pending": pending})


# --- the middleware -----------------------------------------------------------------------------

_HTTP_MESSAGES = {
    404: ("no such path", "path"),
    405: ("method not allowed", "method"),
}


def _http_error(exc: web.HTTPException, request: web.Request, state: MockState) -> web.Response:
    status = exc.status
    if status == 413:
        limit = state.config.max_body_bytes
        return _error(413, f"request body is larger than {limit} bytes", "body")
    message, field = _HTTP_MESSAGES.get(status, (exc.reason, None))
    if status == 404:
        message = f"no such path: {request.path[:200]}"
    headers = {}
    if status == 405:
        allow = exc.headers.get("Allow", "")
        headers["Allow"] = allow
        message = f"method {request.method} not allowed for {request.path[:200]} (allowed: {allow})"
    return _error(status, message, field, **headers)


async def _body_for_journal(request: web.Request) -> bytes:
    if not request.body_exists:
        return b""
    try:
        return await request.read()  # cached when the handler read it already
    except (web.HTTPException, *_UNREADABLE):
        return b""


@web.middleware
async def _middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    source = "reply"
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = _http_error(exc, request, state)
        source = "http"
    except _UNREADABLE as exc:  # a body aiohttp could not decode (bad gzip, chunks)
        response = _invalid(_BadBody("body", f"could not be read ({_one_line(exc)})", close=True))
        source = "invalid"
    except ConnectionError:
        raise  # the client went away: nothing to answer, nothing broken
    except Exception as exc:
        # A bug in the mock, never the client's input: keep it for the pytest plugin.
        state.errors.append(exc)
        logger.exception("unhandled error answering %s %s", request.method, request.path)
        response = _error(500, f"internal error in the mock server: {type(exc).__name__}: {exc}")
        source = "error"
    path = request.path
    if path.startswith(_ADMIN_PREFIX) or path in _UNJOURNALED:
        return response
    note = request.get(_NOTE)
    if isinstance(response, web.Response):
        content_type = response.content_type
        body = response.body if isinstance(response.body, bytes) else None
        if content_type.startswith("image/"):
            body = None
    else:
        content_type = response.content_type
        body = note.streamed if note is not None else None
    if note is not None:
        source = note.source
    elif response.status == 400 and source == "reply":
        source = "invalid"
    state.journal.record(
        time=time.time(),
        method=request.method,
        path=request.raw_path,
        raw_headers=request.raw_headers,
        body=await _body_for_journal(request),
        endpoint=_ENDPOINTS.get(path),
        status=response.status,
        response_type=content_type,
        response_body=body,
        source=source,
        step=note.step if note is not None else None,
    )
    return response


# --- assembling the app -------------------------------------------------------------------------


def build_app(state: MockState) -> web.Application:
    """The application over an existing state (``MockServer`` uses this to share it)."""
    app = web.Application(
        client_max_size=state.config.max_body_bytes,
        middlewares=[_middleware],
        # Bodies are decoded by the handlers (wire.decode_body), so a bad one gets a JSON 4xx.
        handler_args={"auto_decompress": False},
    )
    app[STATE_KEY] = state
    app[_OPENAPI_KEY] = json.dumps(openapi_spec(_VERSION), indent=1).encode()
    router = app.router
    router.add_post(CHAT_PATH, _chat)
    router.add_post(IMAGE_PATH, _image)
    router.add_get("/images/{name}", _image_file)
    router.add_get("/healthz", _healthz)
    router.add_get("/openapi.json", _openapi)
    router.add_get("/__admin/requests", _admin(_admin_requests))
    router.add_post("/__admin/reset", _admin(_admin_reset))
    router.add_post("/__admin/scenarios", _admin(_admin_add_scenario))
    router.add_get("/__admin/scenarios", _admin(_admin_scenarios))
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
    those requests with aiohttp's 400.
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

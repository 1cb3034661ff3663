"""The aiohttp application: routes, handlers, and the wrapper that journals and shapes errors.

Handlers are thin: validate with ``websim_core.protocol``, take the next scripted step from
``mock_server.state``, build the answer with ``mock_server.replies``. There is no aiohttp
middleware (any middleware costs two extra layers per request): each route handler is wrapped
once by ``_Routes.wrap``, and catch-all routes turn unknown paths and methods into JSON 404/405.
Fault steps are played here on the request's own socket, with bytes from ``mock_server.faults``;
what only misbehaviour needs (directives, rate limits, chaos) is skipped by one flag when off.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import ipaddress
import json
import logging
import re
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict

from websim_core import __version__
from websim_core.errors import InvalidRequestError
from websim_core.protocol import (
    DEFAULT_ASPECT_RATIO,
    parse_aspect_ratio,
    validate_chat_body,
    validate_image_body,
)
from websim_core.routing import CHAT_PATH, IMAGE_PATH

from .directives import parse_directive
from .faults import (
    cut_events,
    garbage_bytes,
    malformed_body,
    malformed_events,
    raw_head,
    split_evenly,
    truncate,
)
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
    STREAM_FAULTS,
    ConnectionReset,
    Delay,
    Dribble,
    EmptyResponse,
    Endpoint,
    FaultStep,
    Garbage,
    MockConfig,
    MockState,
    StatusStep,
    Step,
    StepError,
    StreamCut,
    StreamMalformed,
    TruncatedBody,
    parse_json_strictly,
)
from .wire import BodyDecodeError, decode_body

__all__ = ["STATE_KEY", "build_app", "create_app", "direct_handler", "get_state"]

logger = logging.getLogger("mock_server")

STATE_KEY = web.AppKey("websim_mock_state", MockState)
# Path -> method ("*" for any other) -> wrapped handler, for direct_handler.
FIXED_ROUTES_KEY = web.AppKey("websim_mock_fixed_routes", dict[str, dict[str, "_Route"]])
_HOST_RE = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
_HEALTH_BODY = b'{"status": "ok"}'
_SSE_TYPE = "text/event-stream"
_SSE_HEADERS = {"Content-Type": _SSE_TYPE, "Cache-Control": "no-cache"}
_LINGER_NOW = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends an RST
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
    status: int | None = None  # journaled instead of the response's: 0 when none was sent


_Handler = Callable[[web.Request, _Note], Awaitable[web.StreamResponse]]
_Route = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ServerHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


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


def _one_line(text: object, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters (for error messages and logs)."""
    return " ".join(str(text).split())[:limit]


async def _read_body(request: web.Request, note: _Note, limit: int) -> bytes:
    """The body, undoing any Content-Encoding; _BadBody when it cannot be read."""
    content = request.content
    try:
        if content.is_eof():  # (a stored exception is raised by read_nowait as by read)
            # The whole body came with the headers (the usual small request): take it as it
            # is, without read()'s copy into a bytearray and back.
            body = content.read_nowait()
            if len(body) > limit:
                raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
        else:
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


def _not_json(exc: ValueError) -> InvalidRequestError:
    return InvalidRequestError("body", f"is not valid JSON ({exc})")


def _parse(body: bytes) -> Any:
    try:
        return parse_json_strictly(body)
    except ValueError as exc:
        raise _not_json(exc) from None


@functools.cache
def _openapi_body() -> bytes:
    """The OpenAPI document: the same for every app, so built once (most of build_app's time)."""
    return json.dumps(openapi_spec(__version__), indent=1).encode()


def _is_loopback(remote: str | None) -> bool:
    """Whether an IP address (zone and IPv4-mapped forms too) is this machine's."""
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _bearer_matches(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if header is None:
        return False
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


# --- what a request body asks for ---------------------------------------------------------------


@dataclass(slots=True)
class _Chat:
    """A validated chat body: the generated answer (text and JSON body), whether to stream,
    the project ID, and the step its directive asks for (with ``--directives``)."""

    text: str
    body: bytes
    stream: bool
    project_id: str = ""
    directive: Step | None = None


@dataclass(slots=True)
class _Image:
    """A validated image body: the image's file name, the project ID, its directive's step."""

    name: str
    project_id: str = ""
    directive: Step | None = None


@dataclass(slots=True)
class _Refused:
    """A body that is not a valid request: the 400 to answer."""

    error: InvalidRequestError


def _chat_outcome(config: MockConfig, body: bytes) -> _Chat | _Refused:
    try:
        data = validate_chat_body(parse_json_strictly(body), strict_ids=config.strict_ids)
    except InvalidRequestError as exc:
        return _Refused(exc)
    except ValueError as exc:  # from parse_json_strictly
        return _Refused(_not_json(exc))
    text, body = chat_answer(config.seed, data["messages"])
    return _Chat(text, body, data.get("stream") is True, data["project_id"])


def _image_outcome(config: MockConfig, body: bytes) -> _Image | _Refused:
    try:
        data = validate_image_body(parse_json_strictly(body), strict_ids=config.strict_ids)
        ratio = parse_aspect_ratio(data.get("aspect_ratio", DEFAULT_ASPECT_RATIO))
    except InvalidRequestError as exc:
        return _Refused(exc)
    except ValueError as exc:  # from parse_json_strictly
        return _Refused(_not_json(exc))
    return _Image(image_name(config.seed, data["prompt"], ratio), data["project_id"])


def _directive(text: str, where: str) -> tuple[Step, str] | None:
    try:
        return parse_directive(text)
    except StepError as exc:
        raise InvalidRequestError(where, f"has a bad directive: {exc}") from None


def _strip_directive(messages: list[Any]) -> tuple[Step | None, list[Any]]:
    """The step the last user message's directive asks for, and the messages without it.

    The directive must open the message's content (a string, or its first text part).
    """
    index = next((i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "user"), -1)
    if index < 0:
        return None, messages
    message = messages[index]
    content = message["content"]
    where = f"messages[{index}].content"
    if isinstance(content, str):
        found = _directive(content, where)
        if found is None:
            return None, messages
        step, rest = found
        new_content: Any = rest
    else:
        part_index = next(
            (
                j
                for j, part in enumerate(content)
                if part.get("type", "text") == "text" and isinstance(part.get("text"), str)
            ),
            None,
        )
        if part_index is None:
            return None, messages
        found = _directive(content[part_index]["text"], f"{where}[{part_index}].text")
        if found is None:
            return None, messages
        step, rest = found
        new_content = list(content)
        new_content[part_index] = {**content[part_index], "text": rest}
    changed = list(messages)
    changed[index] = {**message, "content": new_content}
    return step, changed


def _chat_outcome_directed(config: MockConfig, body: bytes) -> _Chat | _Refused:
    """``_chat_outcome`` with ``--directives``: the answer is made without the directive."""
    try:
        data = validate_chat_body(_parse(body), strict_ids=config.strict_ids)
        step, messages = _strip_directive(data["messages"])
    except InvalidRequestError as exc:
        return _Refused(exc)
    text, answer = chat_answer(config.seed, messages)
    return _Chat(text, answer, data.get("stream") is True, data["project_id"], step)


def _image_outcome_directed(config: MockConfig, body: bytes) -> _Image | _Refused:
    """``_image_outcome`` with ``--directives``: a directive may open the prompt."""
    try:
        data = validate_image_body(_parse(body), strict_ids=config.strict_ids)
        ratio = parse_aspect_ratio(data.get("aspect_ratio", DEFAULT_ASPECT_RATIO))
        prompt: str = data["prompt"]
        found = _directive(prompt, "prompt")
        step: Step | None = None
        if found is not None:
            step, prompt = found
            if isinstance(step, STREAM_FAULTS):
                raise InvalidRequestError(
                    "prompt", f"has a bad directive: {step.fault} is for chat streams"
                )
    except InvalidRequestError as exc:
        return _Refused(exc)
    return _Image(image_name(config.seed, prompt, ratio), data["project_id"], step)


def _abort(transport: asyncio.Transport) -> None:
    """Drop the connection with an RST (SO_LINGER 0), not the orderly FIN of close()."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_NOW)
    transport.abort()


# --- the routes ---------------------------------------------------------------------------------


class _Routes:
    """The handlers of one app, closed over its state (and its caches)."""

    def __init__(self, state: MockState) -> None:
        self.state = state
        self.config = state.config
        self.scripts = state.scripts
        self.latency = state.latency
        self.seed = state.config.seed
        self.strict_ids = state.config.strict_ids
        self.limit = state.config.max_body_bytes
        directed = state.config.directives
        chat_outcome = _chat_outcome_directed if directed else _chat_outcome
        image_outcome = _image_outcome_directed if directed else _image_outcome
        self.chat_outcome = functools.partial(chat_outcome, state.config)
        self.image_outcome = functools.partial(image_outcome, state.config)
        # One flag for everything that only misbehaviour needs: the default path checks it once.
        self.arranged = directed or state.limiter is not None or state.chaos is not None
        workers = state.config.workers
        self.health = _HEALTH_BODY
        if workers > 1:  # which process answered, for clients checking the spread
            health = {"status": "ok", "worker": state.config.worker, "workers": workers}
            self.health = json.dumps(health).encode()

    # The one wrapper every handler goes through: errors become JSON, requests are journaled.
    def wrap(
        self, handler: _Handler, endpoint: Endpoint | None = None, *, journal: bool = True
    ) -> _Route:
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
                    status=response.status if note.status is None else note.status,
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

    def _arrange(self, endpoint: Endpoint, outcome: _Chat | _Image, note: _Note) -> Step | None:
        """The step for a valid request, first found: its directive, the script, the rate
        limit, chaos. None: a normal answer."""
        step = outcome.directive
        if step is not None:
            note.source, note.step = "directive", step
            return step
        step = self.scripts.take(endpoint)
        if step is not None:
            note.source, note.step = "script", step
            return step
        limiter = self.state.limiter
        if limiter is not None:
            retry_after = limiter.check(outcome.project_id)
            if retry_after is not None:
                step = StatusStep(429, (("Retry-After", str(retry_after)),))
                note.source, note.step = "rate_limit", step
                return step
        chaos = self.state.chaos
        if chaos is not None:
            step = chaos.draw()
            if step is not None:
                note.source, note.step = "chaos", step
        return step

    async def _wait(self, step: Step | None) -> Step | None:
        """The latency model's delay, then a ``delay`` fault's; what is left to answer."""
        state = self.state
        if state.latency is not None:
            await asyncio.sleep(state.latency.sample(state.latency_rng))
        if isinstance(step, Delay):
            await asyncio.sleep(step.delay_ms / 1000)
            return None
        return step

    # --- inference ------------------------------------------------------------------------------

    async def chat(self, request: web.Request, note: _Note) -> web.StreamResponse:
        body = await _read_body(request, note, self.limit)
        if self.arranged:  # directives, rate limit or chaos
            outcome = self.chat_outcome(body)
            if isinstance(outcome, _Refused):
                return _invalid(outcome.error, note)
            return await self._chat_step(
                request, note, outcome, self._arrange("chat", outcome, note)
            )
        # The usual case, without a call more than needed (this runs for every chat request):
        # what _chat_outcome does, then the generated answer unless a step or latency waits.
        try:
            data = validate_chat_body(parse_json_strictly(body), strict_ids=self.strict_ids)
        except InvalidRequestError as exc:
            return _invalid(exc, note)
        except ValueError as exc:  # from parse_json_strictly
            return _invalid(_not_json(exc), note)
        text, answer = chat_answer(self.seed, data["messages"])
        stream = data.get("stream") is True
        step = self.scripts.take("chat") if self.scripts.waiting else None
        if step is None and self.latency is None:
            if stream:
                return await self._stream(request, note, text, ())
            note.answer, note.content_type = answer, JSON_TYPE
            return web.Response(body=answer, content_type=JSON_TYPE)
        if step is not None:
            note.source, note.step = "script", step
        return await self._chat_step(
            request, note, _Chat(text, answer, stream, data["project_id"]), step
        )

    async def _chat_step(
        self, request: web.Request, note: _Note, outcome: _Chat, step: Step | None
    ) -> web.StreamResponse:
        """A valid chat request answered as ``step`` says (None: the generated answer)."""
        if step is not None or self.latency is not None:
            step = await self._wait(step)
        if step is None:
            if outcome.stream:
                return await self._stream(request, note, outcome.text, ())
            return _json(200, outcome.body, note)
        if isinstance(step, StatusStep):
            return _answer(status_answer(step), note)
        if isinstance(step, FaultStep):
            if outcome.stream or isinstance(step, STREAM_FAULTS):
                # Stream faults answer with a stream even to a plain request: the fault matters.
                return await self._fault(request, note, step, b"", stream_events(outcome.text))
            return await self._fault(request, note, step, outcome.body, None)
        text = outcome.text if step.text is None else step.text
        if outcome.stream:
            return await self._stream(request, note, text, step.headers)
        response = _json(200, chat_body(text), note)
        response.headers.extend(step.headers)
        return response

    async def _stream(
        self, request: web.Request, note: _Note, text: str, headers: tuple[tuple[str, str], ...]
    ) -> web.StreamResponse:
        return await self._send_events(request, note, stream_events(text), headers)

    async def _send_events(
        self,
        request: web.Request,
        note: _Note,
        events: tuple[bytes, ...] | list[bytes],
        headers: tuple[tuple[str, str], ...] = (),
        *,
        end: bool = True,
    ) -> web.StreamResponse:
        """An event stream; ``end=False`` closes the socket after the events instead of ending
        the chunked body (a cut stream)."""
        response = web.StreamResponse(headers=_SSE_HEADERS)
        if headers:
            response.headers.extend(headers)
        body = b"".join(events)
        note.answer, note.content_type = body, _SSE_TYPE
        await response.prepare(request)
        try:
            # All events in one write (one chunk, one send) rather than a send per event; a
            # client meets them in pieces from the `dribble` fault, and from TCP anyway.
            if end:
                await response.write_eof(body)
            else:
                await response.write(body)
                if request.transport is not None:
                    request.transport.close()  # after what is buffered: the events, then EOF
        except ConnectionError:
            note.source = "disconnected"  # the client stopped reading: not an error here
        return response

    async def image(self, request: web.Request, note: _Note) -> web.StreamResponse:
        outcome = self.image_outcome(await _read_body(request, note, self.limit))
        if isinstance(outcome, _Refused):
            return _invalid(outcome.error, note)
        if self.arranged:
            step = self._arrange("image", outcome, note)
        else:
            step = self.scripts.take("image") if self.scripts.waiting else None
            if step is not None:
                note.source, note.step = "script", step
        if step is not None or self.latency is not None:
            step = await self._wait(step)
        if isinstance(step, StatusStep):
            return _answer(status_answer(step), note)
        if isinstance(step, FaultStep):
            generated = f"{self._origin(request)}/images/{outcome.name}.png"
            body = json.dumps({"url": generated}).encode()
            return await self._fault(request, note, step, body, None)
        url = step.text if step is not None else None
        if url is None:
            url = f"{self._origin(request)}/images/{outcome.name}.png"
        response = _json(200, json.dumps({"url": url}).encode(), note)
        if step is not None:
            response.headers.extend(step.headers)
        return response

    # --- faults on the wire ---------------------------------------------------------------------

    async def _fault(
        self,
        request: web.Request,
        note: _Note,
        step: FaultStep,
        body: bytes,
        events: tuple[bytes, ...] | None,
    ) -> web.StreamResponse:
        """Play a fault instead of the answer: ``body`` (JSON) or ``events`` (a stream).

        The faults that close the socket return a response aiohttp then fails to send, quietly
        (it ignores a connection that is gone); the journal gets ``note.status`` instead, 0 when
        no status line went out.
        """
        transport = request.transport
        if transport is None or transport.is_closing():
            note.source = "disconnected"
            return web.Response(status=499)
        if isinstance(step, ConnectionReset):
            note.status = 0
            _abort(transport)
            return web.Response()
        if isinstance(step, EmptyResponse):
            note.status = 0
            transport.close()
            return web.Response()
        if isinstance(step, Garbage):
            data = garbage_bytes(self.state.fault_rng, step.size)
            note.status, note.answer = 0, data
            transport.write(data)
            transport.close()
            return web.Response()
        if isinstance(step, Dribble):
            return await self._dribble(request, note, step, body, events)
        if events is not None and isinstance(step, StreamCut):
            return await self._send_events(
                request, note, cut_events(events, step.after_events), end=False
            )
        if events is not None and isinstance(step, StreamMalformed):
            return await self._send_events(request, note, malformed_events(events, step))
        if isinstance(step, StreamMalformed):  # not a stream: a 200 whose body is not JSON
            return _json(200, malformed_body(body), note)
        # truncated_body, and stream_cut on an answer that is not a stream
        keep = step.keep_bytes if isinstance(step, TruncatedBody) else None
        full, kind = (b"".join(events), _SSE_TYPE) if events is not None else (body, JSON_TYPE)
        sent = truncate(full, keep)
        note.status, note.answer, note.content_type = 200, sent, kind
        transport.write(raw_head(200, "OK", kind, len(full)) + sent)
        transport.close()
        return web.Response()

    async def _dribble(
        self,
        request: web.Request,
        note: _Note,
        step: Dribble,
        body: bytes,
        events: tuple[bytes, ...] | None,
    ) -> web.StreamResponse:
        if events is not None:
            data, response = b"".join(events), web.StreamResponse(headers=_SSE_HEADERS)
        else:
            data, response = body, web.StreamResponse(headers={"Content-Type": JSON_TYPE})
            response.content_length = len(data)
        note.answer, note.content_type = data, response.content_type
        pieces = split_evenly(data, step.chunks)
        pause = step.duration_ms / 1000 / len(pieces)
        await response.prepare(request)
        for piece in pieces:
            await asyncio.sleep(pause)
            await response.write(piece)
        await response.write_eof()
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
        return _json(200, self.health, note)

    async def openapi_json(self, request: web.Request, note: _Note) -> web.StreamResponse:
        return _json(200, _openapi_body(), note)

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
        token = self.config.admin_token

        async def guarded(request: web.Request, note: _Note) -> web.StreamResponse:
            if self.config.admin_loopback_only and not _is_loopback(request.remote):
                if token is None:
                    message = (
                        "the admin API answers loopback clients only"
                        " (start the mock with --admin-token to let others in)"
                    )
                    return _error(403, message, "remote", note)
                if not _bearer_matches(request.headers.get("Authorization"), token):
                    message = "the admin API needs 'Authorization: Bearer <admin token>' here"
                    response = _error(401, message, "authorization", note)
                    response.headers["WWW-Authenticate"] = 'Bearer realm="websim-mock admin"'
                    return response
            return await handler(request, note)

        return guarded

    async def one_worker_only(self, request: web.Request, note: _Note) -> web.StreamResponse:
        """The stateful admin endpoints under ``--workers N``: each process has its own scripts
        and no journal, so an answer from one of them would be wrong for the others."""
        message = (
            "scripted scenarios and the journal need --workers 1;"
            f" this server runs {self.config.workers} workers, each with its own state"
        )
        return _error(409, message, "workers", note)

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
    fixed: dict[str, dict[str, _Route]] = {}

    def add(method: str, path: str, handler: _Handler, **kw: Any) -> None:
        route = wrap(handler, **kw)
        # A GET route answers HEAD too (aiohttp sends no body), as web.get(allow_head=True).
        for each in ("GET", "HEAD") if method == "GET" else (method,):
            router.add_route(each, path, route)
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
    admin = routes.admin
    one_state = state.config.workers == 1
    for method, path, handler in (
        ("GET", "/__admin/requests", routes.admin_requests),
        ("POST", "/__admin/reset", routes.admin_reset),
        ("POST", "/__admin/scenarios", routes.admin_add_scenario),
        ("GET", "/__admin/scenarios", routes.admin_scenarios),
    ):
        add(method, path, admin(handler if one_state else routes.one_worker_only), journal=False)
    for path, allowed in (
        ("/__admin/requests", "GET, HEAD"),
        ("/__admin/reset", "POST"),
        ("/__admin/scenarios", "GET, HEAD, POST"),
    ):
        add("*", path, admin(routes.method_not_allowed(allowed)), journal=False)
    # Last: anything else is a JSON 404 (and still journaled).
    add("*", "/{tail:.*}", routes.not_found)
    app[FIXED_ROUTES_KEY] = fixed
    return app


def direct_handler(app: web.Application, fallback: _ServerHandler) -> _ServerHandler:
    """A request handler for ``app``'s server that skips aiohttp's router for the fixed paths.

    Routing through ``web.Application`` (resolve, match info, response signals) is about a
    seventh of the time aiohttp spends on a request. A request to one of the mock's fixed paths
    (the inference endpoints, health, admin...) without an ``Expect`` header goes straight to the
    wrapped handler the router would pick: the route for its method, else the catch-all one.
    Anything else (image files, unknown paths, ``Expect: 100-continue``) goes to ``fallback``,
    the application's own handler. ``MockServer`` installs it; an app served otherwise routes as
    any aiohttp app.
    """
    fixed = app[FIXED_ROUTES_KEY]

    # Not a coroutine function: it returns the route's coroutine for aiohttp to await (one
    # coroutine less per request).
    def handle(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        # The request target as sent is the path itself, usually: no need to parse it then.
        routes = fixed.get(request.raw_path) or fixed.get(request.rel_url.path_safe)
        if routes is None or hdrs.EXPECT in request.headers:
            return fallback(request)
        route = routes.get(request.method) or routes["*"]
        return route(request)  # type: ignore[arg-type]  # a web.Request: app._make_request

    return handle


def create_app(**options: Any) -> web.Application:
    """A fresh mock Websim as an ``aiohttp.web.Application``, ready to embed or run.

    The keywords are ``MockConfig``'s fields (``seed``, ``strict_ids``, ``rate_limit``, ...).
    Serve it with ``mock_server.MockServer`` (or ``serve``) to also accept the non-token header
    names real clients send (``websim-flags;``); a plain ``web.AppRunner``/``TCPSite`` answers
    those requests with aiohttp's own 400.
    """
    config = MockConfig(**options)
    return build_app(MockState(config))

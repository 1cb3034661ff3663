"""The two ends of every exchange: reading a request's body, and writing a JSON answer.

``read_body`` undoes any Content-Encoding and raises ``RequestRefused`` (400, 413 or 415) for a
body that cannot be read; ``json_response`` and ``render`` turn bytes or a ``Decision``'s answer
into an aiohttp response and tell the journal's ``Note`` what was sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict

from ..core.decision import Decision, refusal
from ..core.errors import FieldError, RequestRefused
from ..core.statuses import JSON_TYPE, error_body
from .playback import Note
from .wire import decode_body

__all__ = [
    "error_response",
    "expect_handler",
    "json_http_errors",
    "json_response",
    "one_line",
    "read_body",
    "refuse",
    "render",
]

# What reading a body aiohttp could not take apart raises (broken chunks): client input.
UNREADABLE = (web.RequestPayloadError, HttpProcessingError)


def one_line(text: object, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters (for error messages and logs)."""
    return " ".join(str(text).split())[:limit]


async def read_body(request: web.BaseRequest, note: Note, limit: int) -> bytes:
    """The body, undoing any Content-Encoding; ``RequestRefused`` when it cannot be read."""
    transfer = request.headers.get("Transfer-Encoding")  # aiohttp reads "gzip, chunked" as
    if transfer is not None and transfer.replace(" ", "").lower() != "chunked":  # plain chunked
        problem = f"{one_line(transfer, 60)!r} is not supported (only chunked)"
        raise RequestRefused("transfer-encoding", problem, close=True)
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
    except UNREADABLE as exc:
        raise RequestRefused("body", f"could not be read ({one_line(exc)})", close=True) from None
    note.body = body
    coding = request.headers.get("Content-Encoding")
    if coding:
        body = decode_body(body, coding, limit)  # RequestRefused for a bad one
    return body


def json_response(status: int, body: bytes, note: Note | None = None) -> web.Response:
    """A JSON answer; ``note`` (when given) journals its body."""
    if note is not None:
        note.answer, note.content_type = body, JSON_TYPE
    return web.Response(status=status, body=body, content_type=JSON_TYPE)


def error_response(
    status: int, message: str, field: str | None = None, note: Note | None = None
) -> web.Response:
    """The mock's JSON error answer."""
    return json_response(status, error_body(message, field), note)


def render(decision: Decision, note: Note) -> web.Response:
    """A decided answer that is neither a stream nor a fault, as a response."""
    note.answer, note.content_type = decision.body, decision.content_type
    if not decision.headers and decision.content_type == JSON_TYPE:  # the usual answer
        response = web.Response(status=decision.status, body=decision.body, content_type=JSON_TYPE)
    else:
        headers: CIMultiDict[str] = CIMultiDict(decision.headers)
        if decision.content_type is not None:
            headers["Content-Type"] = decision.content_type
        response = web.Response(status=decision.status, body=decision.body, headers=headers)
    if decision.close:
        response.force_close()  # aiohttp drops such a connection afterwards: say so
    return response


def expect_handler(limit: int) -> Callable[[web.Request], Awaitable[web.StreamResponse | None]]:
    """aiohttp's ``Expect`` handling, answering in JSON: 417 for anything but 100-continue,
    413 (instead of ``100 Continue``) for a Content-Length over ``limit``."""

    async def expect(request: web.Request) -> web.StreamResponse | None:
        expect = request.headers.get("Expect", "")
        response = None
        if expect.lower() != "100-continue":
            message = f"Expect: {one_line(expect, 60)!r} is not supported (only 100-continue)"
            response = error_response(417, message, "expect")
        elif request.content_length is not None and request.content_length > limit:
            message = f"the body is larger than {limit} bytes (Content-Length)"
            response = error_response(413, message, "content-length")
        if response is not None:
            response.force_close()  # the body, if the client sends it anyway, is not read
            return response
        if request.version >= (1, 1):  # as aiohttp's own handler does
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # an interim answer: the real one is still to come
        return None

    return expect


@web.middleware
async def json_http_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own 4xx (a request target no route can match: ``OPTIONS *``, ``CONNECT``) in
    JSON. The mock's routes answer everything else themselves; the fixed paths skip this."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if not 400 <= exc.status < 500:
            raise
        target = one_line(request.raw_path, 80)
        message = (
            f"{request.method} {target}: {exc.reason} (the mock answers paths that begin with /)"
        )
        response = error_response(exc.status, message, "path")
        response.force_close()
        return response


def refuse(exc: FieldError, note: Note) -> web.Response:
    """The 4xx for input the mock refuses (a bad body, step or option)."""
    decision = refusal(exc)
    note.source = decision.source
    return render(decision, note)

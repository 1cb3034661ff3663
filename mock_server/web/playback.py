"""Playing a decision on the request's own socket: event streams and faults on the wire.

The bytes of each fault come from ``mock_server.core.faults``; what happens to the socket
(an RST, a FIN, a cut after the headers, a dribble) happens here. The faults that close the
socket return a response aiohttp then fails to send, quietly (it ignores a connection that is
gone); the journal gets ``note.status`` instead, 0 when no status line went out.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from ..core.faults import (
    cut_events,
    garbage_bytes,
    malformed_body,
    malformed_events,
    raw_head,
    split_evenly,
    truncate,
)
from ..core.journal_entry import StubRef
from ..core.statuses import JSON_TYPE
from ..core.steps import (
    ConnectionReset,
    Dribble,
    EmptyResponse,
    FaultStep,
    Garbage,
    Step,
    StreamCut,
    StreamMalformed,
    TruncatedBody,
)

__all__ = ["SSE_TYPE", "Note", "play_fault", "send_events", "send_paced"]

SSE_TYPE = "text/event-stream"
_SSE_HEADERS = {"Content-Type": SSE_TYPE, "Cache-Control": "no-cache"}
_LINGER_NOW = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends an RST


@dataclass(slots=True)
class Note:
    """What a handler tells the journal: the body it read, the source, the step, the answer."""

    body: bytes | None = None
    source: str = "reply"
    step: Step | None = None
    answer: bytes | None = None
    content_type: str | None = None
    status: int | None = None  # journaled instead of the response's: 0 when none was sent
    stub: StubRef | None = None  # the stub that answered
    missed: bool = False  # stubs were in force and none matched
    session: str | None = None  # the session's name, once checked (None: the server's own)


def _abort(transport: asyncio.Transport) -> None:
    """Drop the connection with an RST (SO_LINGER 0), not the orderly FIN of close()."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_NOW)
    transport.abort()


async def send_events(
    request: web.BaseRequest,
    note: Note,
    events: Sequence[bytes],
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
    note.answer, note.content_type = body, SSE_TYPE
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


async def send_paced(
    request: web.BaseRequest,
    note: Note,
    events: Sequence[bytes],
    gaps: Sequence[float],
    headers: tuple[tuple[str, str], ...] = (),
) -> web.StreamResponse:
    """An event stream sent one event at a time, each after its gap (a stub's pacing)."""
    response = web.StreamResponse(headers=_SSE_HEADERS)
    if headers:
        response.headers.extend(headers)
    note.answer, note.content_type = b"".join(events), SSE_TYPE
    await response.prepare(request)
    try:
        for event, gap in zip(events, gaps, strict=False):
            if gap > 0:
                await asyncio.sleep(gap)
            await response.write(event)
        await response.write_eof()
    except ConnectionError:
        note.source = "disconnected"
    return response


async def play_fault(
    request: web.BaseRequest,
    note: Note,
    step: FaultStep,
    body: bytes,
    events: tuple[bytes, ...] | None,
    rng: random.Random,
) -> web.StreamResponse:
    """Play a fault instead of the answer: over ``body`` (JSON) or ``events`` (a stream).

    ``rng``: where a ``garbage`` fault's bytes come from (the state's seeded generator).
    """
    transport = request.transport
    if transport is None or transport.is_closing():
        note.source = "disconnected"
        return web.Response(status=499)
    if isinstance(step, ConnectionReset):
        note.status = 0
        _abort(transport)
        return web.Response()
    if isinstance(step, (EmptyResponse, Garbage)):
        note.status = 0
        if isinstance(step, Garbage):
            note.answer = data = garbage_bytes(rng, step.size)
            transport.write(data)
        transport.close()
        return web.Response()
    if isinstance(step, Dribble):
        return await _dribble(request, note, step, body, events)
    if events is not None and isinstance(step, StreamCut):
        return await send_events(request, note, cut_events(events, step.after_events), end=False)
    if events is not None and isinstance(step, StreamMalformed):
        return await send_events(request, note, malformed_events(events, step))
    if isinstance(step, StreamMalformed):  # not a stream: a 200 whose body is not JSON
        body = malformed_body(body)
        note.answer, note.content_type = body, JSON_TYPE
        return web.Response(status=200, body=body, content_type=JSON_TYPE)
    # truncated_body, and stream_cut on an answer that is not a stream
    keep = step.keep_bytes if isinstance(step, TruncatedBody) else None
    full, kind = (b"".join(events), SSE_TYPE) if events is not None else (body, JSON_TYPE)
    sent = truncate(full, keep)
    note.status, note.answer, note.content_type = 200, sent, kind
    transport.write(raw_head(200, "OK", kind, len(full)) + sent)
    transport.close()
    return web.Response()


async def _dribble(
    request: web.BaseRequest,
    note: Note,
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

"""The route handlers: read the bytes, ask the decision, play it; and the wrapper around them.

No aiohttp middleware sees the mock's fixed paths (any middleware costs two extra layers per
request; the one in ``exchange`` only puts aiohttp's own 404s in JSON): each route handler is
wrapped once by ``Routes.wrap``, which turns refused input into a JSON 4xx, a bug in
the mock into a JSON 500 kept for the pytest plugin, and journals the request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from multidict import istr

from websim_core.errors import InvalidRequestError

from ..core.decision import Decider, Decision
from ..core.errors import FieldError, RequestRefused
from ..core.images import parse_image_name, render_png
from ..core.sessions import SESSION_HEADER, SESSION_PREFIX, Session, check_session_name
from ..core.state import MockState
from .admin import Handler
from .exchange import UNREADABLE, error_response, json_response, read_body, refuse, render
from .playback import Note, play_fault, send_events, send_paced

__all__ = ["Route", "Routes"]

logger = logging.getLogger("mock_server")

# A wrapped route: aiohttp calls it with the request; the session routing (web.internals and
# the /sessions/{session}/... routes) also passes the session's name from the path.
Route = Callable[..., Awaitable[web.StreamResponse]]
_SESSION_HEADER = istr(SESSION_HEADER)
_HOST_RE = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
_HEALTH_BODY = b'{"status": "ok"}'
_MAX_ERRORS = 100  # handler exceptions kept for the pytest plugin (the first ones matter)
_IMAGE_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable"}


class Routes:
    """The handlers of one app, closed over its state and its decision."""

    def __init__(self, state: MockState, openapi_body: Callable[[], bytes]) -> None:
        self.state = state
        self.decide = Decider(state)
        self.limit = state.config.max_body_bytes
        self.openapi_body = openapi_body
        workers = state.config.workers
        self.health = _HEALTH_BODY
        if workers > 1:  # which process answered, for clients checking the spread
            health = {"status": "ok", "worker": state.config.worker, "workers": workers}
            self.health = json.dumps(health).encode()

    def wrap(self, handler: Handler, endpoint: str | None = None, *, journal: bool = True) -> Route:
        """The one wrapper every handler goes through: errors become JSON, requests are journaled."""
        state = self.state
        add = state.journal.add
        names = state.sessions.names

        async def route(request: web.Request, session: str | None = None) -> web.StreamResponse:
            note = Note()
            try:
                if session is None:
                    session = request.headers.get(_SESSION_HEADER)
                if session is not None:  # (a name in the table was checked when it began)
                    note.session = session if session in names else check_session_name(session)
                response = await handler(request, note)
            except (FieldError, InvalidRequestError) as exc:
                response = refuse(_field_error(exc), note)
            except web.HTTPException as exc:  # 413 from request.read()
                response = self._http_error(exc, note)
            except ConnectionError:
                # The client went away mid-request: nothing broken, and nobody to answer.
                response = web.Response(status=499)  # nginx's "client closed request"
                note.source = "disconnected"
            except Exception as exc:
                response = self._bug(request, note, exc)
            if journal:
                add(  # (Journal.record's fields, in its order: a call with keywords costs more)
                    (
                        time.time(),
                        request.method,
                        request.raw_path,
                        request.raw_headers,
                        note.body if note.body is not None else await _leftover(request),
                        endpoint,
                        response.status if note.status is None else note.status,
                        note.content_type,
                        note.answer,
                        note.source,
                        note.step,
                        note.stub,
                        note.session,
                        note.missed,
                    )
                )
            return response

        return route

    def _bug(self, request: web.Request, note: Note, exc: Exception) -> web.Response:
        """A bug in the mock, never the client's input: a JSON 500, kept for the pytest plugin."""
        errors = self.state.errors
        if len(errors) < _MAX_ERRORS:
            errors.append(exc)
        logger.exception("unhandled error answering %s %s", request.method, request.path)
        message = f"internal error in the mock server: {type(exc).__name__}: {exc}"
        note.source = "error"
        return error_response(500, message, None, note)

    def _http_error(self, exc: web.HTTPException, note: Note) -> web.Response:
        note.source = "invalid"
        if exc.status == 413:
            message = f"request body is larger than {self.limit} bytes"
            return error_response(413, message, "body", note)
        return error_response(exc.status, exc.reason, None, note)

    # --- inference ------------------------------------------------------------------------------

    async def chat(self, request: web.Request, note: Note) -> web.StreamResponse:
        body = await read_body(request, note, self.limit)
        name = note.session
        session = None if name is None else self.state.sessions.use(name)
        decision = self.decide.chat(body, request.headers, session)
        if _at_once(decision):
            return render(decision, note)  # the usual answer, without a coroutine more
        return await self.play(request, note, decision)

    async def image(self, request: web.Request, note: Note) -> web.StreamResponse:
        body = await read_body(request, note, self.limit)
        origin = self._origin(request)
        if note.session is not None:  # a client following the URL stays in its session
            origin = f"{origin}{SESSION_PREFIX}{note.session}"
        decision = self.decide.image(body, origin, request.headers, self._session(note))
        if _at_once(decision):
            return render(decision, note)
        return await self.play(request, note, decision)

    def _session(self, note: Note) -> Session | None:
        """The request's session, begun now if it is new (see docs/sessions.md for why)."""
        return None if note.session is None else self.state.sessions.use(note.session)

    async def play(
        self, request: web.Request, note: Note, decision: Decision
    ) -> web.StreamResponse:
        """Send what the decision says, after its wait: an answer, a stream or a fault."""
        note.source, note.step, note.stub = decision.source, decision.step, decision.stub
        note.missed = decision.missed
        if decision.wait:
            await asyncio.sleep(decision.wait)
        if decision.fault is not None:
            rng = self.state.fault_rng
            return await play_fault(
                request, note, decision.fault, decision.body, decision.events, rng
            )
        if decision.events is not None and decision.gaps is not None:
            return await send_paced(request, note, decision.events, decision.gaps, decision.headers)
        if decision.events is not None:
            return await send_events(request, note, decision.events, decision.headers)
        return render(decision, note)

    def _origin(self, request: web.Request) -> str:
        """Where image URLs point: the Host the client used, else the public URL or socket."""
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

    async def image_file(self, request: web.Request, note: Note) -> web.StreamResponse:
        name = request.match_info["name"]
        parsed = parse_image_name(name[:-4]) if name.endswith(".png") else None
        if parsed is None:
            note.source = "invalid"
            return error_response(404, f"no image named {name[:80]!r}", "path", note)
        note.content_type = "image/png"  # the bytes are not journaled
        return web.Response(
            body=render_png(*parsed), content_type="image/png", headers=_IMAGE_HEADERS
        )

    # --- service --------------------------------------------------------------------------------

    async def healthz(self, request: web.Request, note: Note) -> web.StreamResponse:
        return json_response(200, self.health, note)

    async def openapi_json(self, request: web.Request, note: Note) -> web.StreamResponse:
        return json_response(200, self.openapi_body(), note)

    async def not_found(self, request: web.Request, note: Note) -> web.StreamResponse:
        note.source = "invalid"
        return error_response(404, f"no such path: {request.path[:200]}", "path", note)

    def method_not_allowed(self, allowed: str) -> Handler:
        async def handler(request: web.Request, note: Note) -> web.StreamResponse:
            note.source = "invalid"
            message = (
                f"method {request.method[:20]} not allowed for {request.path} (allowed: {allowed})"
            )
            response = error_response(405, message, "method", note)
            response.headers["Allow"] = allowed
            return response

        return handler


def _at_once(decision: Decision) -> bool:
    """A generated answer, sent as it is: no stream, wait, fault or stub to play."""
    return (
        decision.source == "reply"
        and decision.events is None
        and not (decision.wait or decision.missed)
    )


def _field_error(exc: FieldError | InvalidRequestError) -> FieldError:
    if isinstance(exc, FieldError):
        return exc
    return RequestRefused(exc.field, exc.problem)


async def _leftover(request: web.Request) -> bytes:
    """The body of a request whose handler did not read it (404, 405), for the journal."""
    if not request.body_exists:
        return b""
    try:
        return await request.read()
    except (web.HTTPException, ConnectionError, *UNREADABLE):
        return b""  # too big, undecodable, or the client is gone

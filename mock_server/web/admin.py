"""The admin API (``/__admin/...``): the journal, scripted scenarios, reset and sessions, behind
a guard; under ``/sessions/{name}`` the journal, scenarios and reset are that session's.

Only loopback clients may use it, unless the mock was started with an admin token, which other
clients then send as ``Authorization: Bearer <token>`` (compared in constant time).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiohttp import web

from ..core.config import MockConfig
from ..core.errors import RequestRefused, StepError
from ..core.jsonbody import parse_json_strictly
from ..core.sessions import Session, check_session_name
from ..core.state import MockState
from .exchange import error_response, json_response, read_body, refuse
from .paging import page_query, stream_page
from .playback import Note

__all__ = ["Admin", "Handler", "bearer_matches", "is_loopback"]

Handler = Callable[[web.Request, Note], Awaitable[web.StreamResponse]]


def is_loopback(remote: str | None) -> bool:
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


def bearer_matches(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if header is None:
        return False
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def _refusal_for_remote(request: web.Request, config: MockConfig) -> web.Response | None:
    """The 401/403 for a client the admin API does not answer; None for one it does."""
    if not config.admin_loopback_only or is_loopback(request.remote):
        return None
    if config.admin_token is None:
        message = (
            "the admin API answers loopback clients only"
            " (start the mock with --admin-token to let others in)"
        )
        return error_response(403, message, "remote")
    if bearer_matches(request.headers.get("Authorization"), config.admin_token):
        return None
    message = "the admin API needs 'Authorization: Bearer <admin token>' here"
    response = error_response(401, message, "authorization")
    response.headers["WWW-Authenticate"] = 'Bearer realm="websim-mock admin"'
    return response


def _check_query(request: web.Request, known: Collection[str]) -> None:
    unknown = sorted({name for name in request.query if name not in known})
    if unknown:
        names = ", ".join(name[:40] for name in unknown[:5])
        which = f"(known: {', '.join(known)})" if known else "(it takes none)"
        plural = "s" if len(unknown) > 1 else ""
        raise RequestRefused(names, f"unknown query parameter{plural} {which}")


class Admin:
    """The admin handlers of one app, over its state."""

    def __init__(self, state: MockState) -> None:
        self.state = state
        self.config = state.config

    def guard(self, handler: Handler, query: Collection[str] | None = ()) -> Handler:
        """``handler`` for the clients allowed in (a 401/403 for the others), and for the
        ``query`` parameters it knows (a 400 naming the others; None: not checked), so a typo
        such as ``?limt=5`` is refused rather than silently ignored, as unknown body keys are."""

        async def guarded(request: web.Request, note: Note) -> web.StreamResponse:
            refused = _refusal_for_remote(request, self.config)
            if refused is not None:
                return refused  # (admin requests are not journaled)
            if query is not None:
                _check_query(request, query)
            return await handler(request, note)

        return guarded

    async def one_worker_only(self, request: web.Request, note: Note) -> web.StreamResponse:
        """The stateful admin endpoints under ``--workers N``: each process has its own scripts
        and no journal, so an answer from one of them would be wrong for the others."""
        message = (
            "scripted scenarios and the journal need --workers 1;"
            f" this server runs {self.config.workers} workers, each with its own state"
        )
        return error_response(409, message, "workers", note)

    def known(self, name: str) -> Session:
        """The live session named so; a 404 naming it when there is none (reading the admin
        API does not begin a session: a name nobody used is more likely a mistake)."""
        session = self.state.sessions.get(check_session_name(name))
        if session is None:
            raise RequestRefused("session", f"no live session named {name!r}", status=404)
        return session

    def _used(self, note: Note) -> Session:
        """The request's session, begun if new (writing begins one, as a request does)."""
        if note.session is None:
            return self.state.own
        return self.state.sessions.use(note.session)

    async def reset(self, request: web.Request, note: Note) -> web.StreamResponse:
        if note.session is None:
            self.state.reset()
            return json_response(200, b'{"reset": true}')
        self._used(note).reset(self.state.journal.last_id)
        return json_response(200, json.dumps({"reset": True, "session": note.session}).encode())

    async def json_body(self, request: web.Request, note: Note, *, empty: object = None) -> object:
        """The request's body as JSON; a 400 (``RequestRefused``) when it is not. ``empty``
        (when not None): what an empty body means, for bodies whose every key is optional."""
        body = await read_body(request, note, self.config.max_body_bytes)
        if empty is not None and not body.strip():
            return empty
        try:
            return parse_json_strictly(body)
        except ValueError as exc:
            raise RequestRefused("body", f"is not valid JSON ({exc})") from None

    async def add_scenario(self, request: web.Request, note: Note) -> web.StreamResponse:
        data = await self.json_body(request, note)
        try:
            if not isinstance(data, dict):
                raise StepError("body", "must be a JSON object with 'endpoint' and 'responses'")
            unknown = sorted(k for k in data if k not in ("endpoint", "responses"))
            if unknown:
                raise StepError(unknown[0], "unknown key (known: endpoint, responses)")
            if "responses" not in data:
                raise StepError("responses", "is missing")
            own = self._used(note)
            queued = self.state.script(data.get("endpoint", "any"), data["responses"], own)
        except StepError as exc:
            return refuse(exc, note)
        body = json.dumps({"queued": queued, "pending": len(own.scripts)}).encode()
        return json_response(200, body)

    async def add_stubs(self, request: web.Request, note: Note) -> web.StreamResponse:
        """One stub or a list, all or none; answers their ids (under a session's prefix, the
        stubs are that session's: no other session sees them)."""
        data = await self.json_body(request, note)
        try:
            own = self._used(note)
            ids = self.state.add_stubs(data, own)
        except StepError as exc:
            return refuse(exc, note)
        return json_response(200, json.dumps({"ids": ids, "count": own.stubs.count}).encode())

    async def stubs(self, request: web.Request, note: Note) -> web.StreamResponse:
        listed = [stub.to_json() for stub in self._scripted(note).stubs.list()]
        return json_response(200, json.dumps({"stubs": listed}).encode())

    async def delete_stub(self, request: web.Request, note: Note) -> web.StreamResponse:
        stub_id = request.match_info["id"]
        if not self._scripted(note).stubs.remove(stub_id):
            return error_response(404, f"no stub with id {stub_id[:80]!r}", "id", note)
        return json_response(200, json.dumps({"deleted": stub_id}).encode())

    async def clear_stubs(self, request: web.Request, note: Note) -> web.StreamResponse:
        stubs = self._scripted(note).stubs
        count = stubs.count
        stubs.clear()
        return json_response(200, json.dumps({"deleted": count}).encode())

    async def scenarios(self, request: web.Request, note: Note) -> web.StreamResponse:
        """The waiting steps, a page at a time like the journal (each step's ``id`` for
        ``since``)."""
        try:
            since, limit = page_query(request)
        except RequestRefused as exc:
            return refuse(exc, note)
        scripts = self._scripted(note).scripts
        page = (
            {"id": seq, "endpoint": scope, "step": step.to_json()}
            for seq, scope, step in scripts.page(since, limit)
        )
        head = {"waiting": len(scripts)}
        return await stream_page(
            request, head, "pending", page, limit=limit, last_id=scripts.last_id
        )

    def _scripted(self, note: Note) -> Session:
        """The request's live session (its steps, stubs), else the server's own."""
        return self.state.own if note.session is None else self.known(note.session)

    # --- sessions -------------------------------------------------------------------------------

    async def sessions(self, request: web.Request, note: Note) -> web.StreamResponse:
        """The live sessions (under a session's prefix: that one), least recently used first."""
        table = self.state.sessions
        live = list(table) if note.session is None else [self.known(note.session)]
        data = {
            "sessions": self._describe(live),
            "max_sessions": table.max_sessions,
            "idle_seconds": table.idle_seconds,
        }
        return json_response(200, json.dumps(data).encode())

    async def session(self, request: web.Request, note: Note) -> web.StreamResponse:
        (described,) = self._describe([self.known(request.match_info["name"])])
        return json_response(200, json.dumps(described).encode())

    async def end_session(self, request: web.Request, note: Note) -> web.StreamResponse:
        name = check_session_name(request.match_info["name"])
        if not self.state.sessions.end(name):
            raise RequestRefused("session", f"no live session named {name!r}", status=404)
        return json_response(200, json.dumps({"ended": name}).encode())

    def _describe(self, live: list[Session]) -> list[dict[str, Any]]:
        counts = self.state.journal.session_counts({s.name: s.floor for s in live})
        table = self.state.sessions
        return [
            {
                "name": session.name,
                "pending": len(session.scripts),
                "requests": counts[session.name],
                "idle_seconds": round(table.idle(session), 3),
            }
            for session in live
        ]

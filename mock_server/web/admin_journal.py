"""The admin API's journal reads: ``GET /__admin/requests`` (a page, filtered),
``POST /__admin/requests/find`` and ``/count`` (the stubs' matching language over the journal),
and ``GET /__admin/requests/unmatched`` (the requests no stub matched, with the closest stubs).

Under ``/sessions/{name}`` each reads that session's entries only. Scanning the journal yields
to the event loop every ``_SCAN_BATCH`` entries, so a long scan never stalls other requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from aiohttp import web

from ..core.errors import RequestRefused
from ..core.journal_entry import ENDPOINTS, SOURCES, JournalEntry
from ..core.matching import Predicate
from ..core.nearmiss import near_misses
from ..core.patterns import parse_match
from ..core.sessions import Session
from ..core.stubset import StubSet
from ..core.verify import entry_facts
from .admin import Admin
from .exchange import json_response, refuse
from .paging import (
    MAX_PAGE_SIZE,
    MAX_SINCE,
    PAGE_SIZE,
    body_int,
    page_query,
    query_choice,
    stream_page,
)
from .playback import Note

__all__ = ["MAX_UNMATCHED_PAGE", "UNMATCHED_PAGE", "JournalAdmin"]

# Near misses cost one explanation per stub per request: smaller pages.
UNMATCHED_PAGE = 20
MAX_UNMATCHED_PAGE = 100
_SCAN_BATCH = 64
_FIND_KEYS = ("match", "limit", "since")


class JournalAdmin:
    """The journal's admin handlers, over an ``Admin`` (its state, its sessions)."""

    def __init__(self, admin: Admin) -> None:
        self.admin = admin
        self.state = admin.state

    def _scope(self, note: Note, since: int) -> tuple[int, str | None]:
        """``since`` and the session to read (the request's, a 404 when it is not live):
        a session's own entries run from its beginning (or reset) on."""
        name = note.session
        if name is not None:
            since = max(since, self.admin.known(name).floor)
        return since, name

    def _head(self) -> dict[str, Any]:
        journal = self.state.journal
        return {"total": journal.total, "dropped": journal.dropped}

    async def requests(self, request: web.Request, note: Note) -> web.StreamResponse:
        """A page of the journal, streamed: ``limit`` entries (default ``PAGE_SIZE``) with ids
        above ``since``, of an ``endpoint`` and a ``source`` if given; ``next`` is the
        ``since`` of the next page (null: none yet)."""
        try:
            since, limit = page_query(request)
            endpoint = query_choice(request, "endpoint", ENDPOINTS)
            source = query_choice(request, "source", SOURCES)
        except RequestRefused as exc:
            return refuse(exc, note)
        since, name = self._scope(note, since)
        journal = self.state.journal
        chosen = journal.page(since, limit, name, endpoint=endpoint, source=source)
        page = (entry.to_json(verbatim=True) for entry in chosen)
        return await stream_page(
            request, self._head(), "requests", page, limit=limit, last_id=journal.last_id
        )

    async def _query(self, request: web.Request, note: Note) -> tuple[Predicate, int, int]:
        """The pattern, ``since`` and ``limit`` of a find or count body (400 naming a bad one)."""
        data = await self.admin.json_body(request, note, empty={})  # every key is optional
        if not isinstance(data, Mapping):
            raise RequestRefused(
                "body", "must be a JSON object with 'match' (and 'limit', 'since')"
            )
        unknown = sorted(str(key) for key in data if key not in _FIND_KEYS)
        if unknown:
            raise RequestRefused(unknown[0][:40], "unknown key (known: match, limit, since)")
        pattern = parse_match(data.get("match", {}))
        since = body_int(data, "since", 0, MAX_SINCE)
        return pattern, since, body_int(data, "limit", PAGE_SIZE, MAX_PAGE_SIZE)

    def _entries(self, note: Note, since: int) -> Iterable[JournalEntry]:
        since, name = self._scope(note, since)
        return self.state.journal.page(since, None, name)

    async def find(self, request: web.Request, note: Note) -> web.StreamResponse:
        """The entries ``match`` selects, a page at a time like ``GET /__admin/requests``."""
        pattern, since, limit = await self._query(request, note)
        found = _matching(self._entries(note, since), pattern, limit)
        page = (entry.to_json(verbatim=True) async for entry in found)
        return await stream_page(
            request, self._head(), "requests", page, limit=limit, last_id=self.state.journal.last_id
        )

    async def count(self, request: web.Request, note: Note) -> web.StreamResponse:
        """``{"count": N}``: how many entries after ``since`` ``match`` selects."""
        pattern, since, _ = await self._query(request, note)
        count = 0
        async for _entry in _matching(self._entries(note, since), pattern, None):
            count += 1
        return json_response(200, f'{{"count": {count}}}'.encode())

    async def unmatched(self, request: web.Request, note: Note) -> web.StreamResponse:
        """The requests no stub matched while stubs were in force, each with its closest
        stubs among those in force now (its session's first), a page at a time."""
        try:
            since, limit = page_query(request, UNMATCHED_PAGE, MAX_UNMATCHED_PAGE)
        except RequestRefused as exc:
            return refuse(exc, note)
        since, name = self._scope(note, since)
        journal = self.state.journal
        page = self._explained(journal.page(since, limit, name, missed=True))
        return await stream_page(
            request, self._head(), "requests", page, limit=limit, last_id=journal.last_id
        )

    async def _explained(self, entries: Iterable[JournalEntry]) -> AsyncIterator[dict[str, Any]]:
        for entry in entries:
            facts = entry_facts(entry)
            misses = [] if facts is None else near_misses(self._stubsets(entry.session), facts)
            yield {
                **entry.to_json(verbatim=True),
                "near_misses": [miss.to_json() for miss in misses],
            }
            await asyncio.sleep(0)

    def _stubsets(self, name: str | None) -> list[StubSet]:
        """The stubs a request in session ``name`` is matched against now: its own, if it is
        still live, then the server's."""
        session: Session | None = None if name is None else self.state.sessions.get(name)
        own = self.state.stubs
        return [own] if session is None else [session.stubs, own]


async def _matching(
    entries: Iterable[JournalEntry], pattern: Predicate, limit: int | None
) -> AsyncIterator[JournalEntry]:
    """The entries ``pattern`` matches, at most ``limit``, letting others in as it scans."""
    found = 0
    for scanned, entry in enumerate(entries, start=1):
        if scanned % _SCAN_BATCH == 0:
            await asyncio.sleep(0)
        facts = entry_facts(entry)
        if facts is not None and pattern.match(facts):
            yield entry
            found += 1
            if limit is not None and found >= limit:
                return

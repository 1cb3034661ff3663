"""The mock on a local port: ``MockServer`` (an async context manager), with its state at hand
for tests (``script``, ``stub``, ``requests``, ``find``, ``verify``) without HTTP.

``ThreadedMockServer`` (mock_server.threaded) runs one in a thread; ``AppServer``
(mock_server.app_server) is the runner underneath.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from .app_server import AppServer
from .core.config import MockConfig, config_of
from .core.errors import SessionError
from .core.journal import JournalEntry
from .core.patterns import parse_match
from .core.state import MockState
from .core.steps import Step
from .core.stubs import stub_data
from .core.stubset import StubSet
from .core.verify import find, verify
from .stubfiles import StubsFile, stubs_option, watch_stub_files
from .web.app import FIXED_ROUTES_KEY, build_app
from .web.internals import route_fixed_paths

__all__ = ["MockServer", "StepLike", "StubHandle"]

StepLike = int | str | Mapping[str, Any] | Step


class MockServer(AppServer):
    """A mock Websim on a local port; ``async with MockServer(seed=1) as server: server.url``.

    ``port=0`` (the default) picks a free port. The options are a ``MockConfig`` given first,
    or its fields as keywords besides the ``AppServer`` ones (``seed``, ``strict_ids``,
    ``rate_limit``, ``chaos``, ...); ``stubs`` may also be a stubs file or folder's path, read
    as ``websim-mock --stubs`` reads it and reloaded while the server runs when it changes.
    ``script``, ``reset``, ``requests`` and ``errors`` work on the state directly, without HTTP.
    """

    def __init__(
        self,
        config: MockConfig | None = None,
        /,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lenient_headers: bool = True,
        access_log: bool = False,
        shutdown_timeout: float = 2.0,
        sock: socket.socket | None = None,
        **options: Any,
    ) -> None:
        # The stubs file (None: no file) watched while the server runs; the CLI sets it too.
        self.stubs_file: StubsFile | None = None
        if config is None:
            options, self.stubs_file = stubs_option(options)
        self._watcher: asyncio.Task[None] | None = None
        self.config = config_of(config, options)
        self.state = MockState(self.config)
        super().__init__(
            build_app(self.state),
            host=host,
            port=port,
            lenient_headers=lenient_headers,
            access_log=access_log,
            shutdown_timeout=shutdown_timeout,
            sock=sock,
            idle_timeout=self.config.idle_timeout,
            read_timeout=self.config.read_timeout,
        )

    def _set_up(self, runner: web.AppRunner) -> None:
        server = runner.server
        assert server is not None
        # Requests to the fixed paths skip aiohttp's router (see web.internals).
        route_fixed_paths(server, self.app[FIXED_ROUTES_KEY])

    def _started(self) -> None:
        # Where image URLs point without a usable Host header: the one given, else where we listen.
        self.state.public_url = self.state.config.public_url or self.url
        file = self.stubs_file
        if file is not None:
            watch = watch_stub_files(self.state, file.path, file.seen)
            self._watcher = asyncio.get_running_loop().create_task(watch)

    async def close(self) -> None:
        """Stop watching the stubs file, then close as ``AppServer.close``; safe twice."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await super().close()

    # --- the state, without HTTP -------------------------------------------------------------

    def script(self, endpoint: str, steps: Iterable[StepLike]) -> None:
        """Queue answers for the next requests to ``"chat"``, ``"image"`` or ``"any"``.

        ``server.script("chat", [429, 429, 200])``; a step is a status (200 = normal answer),
        ``{"status": ..., "headers": ..., "body": ...}``, ``{"reply": "text"}``, a fault
        ``{"fault": "stream_cut", "after_events": 2}`` or a fault's name (``"connection_reset"``).
        """
        self.state.script(endpoint, list(steps))

    def stub(
        self,
        *,
        match: Mapping[str, Any] | None = None,
        respond: Mapping[str, Any],
        name: str | None = None,
        priority: int = 0,
        times: int | None = None,
    ) -> StubHandle:
        """Answer the requests ``match`` picks with ``respond`` until removed (or reset).

        ``server.stub(match={"last_user_message": {"contains": "hi"}}, respond={"reply": "yo"})``;
        a bad stub raises ``StubError`` naming the field. The handle's ``remove()`` takes it out.
        """
        data = stub_data(match, respond, name, priority, times)
        (stub_id,) = self.state.add_stubs(data)
        return StubHandle(stub_id, self.state.stubs)

    def reset(self) -> None:
        """Empty the journal and the scripts; the standing stubs (``stubs=``) are put back."""
        self.state.reset()

    @property
    def journal(self) -> list[JournalEntry]:
        """The journal entries themselves (``entry.json``, ``entry.headers``, ``entry.status``)."""
        return self.state.journal.entries()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The journal as ``GET /__admin/requests`` shows it: one dict per request, oldest first."""
        return [entry.to_json() for entry in self.state.journal.entries()]

    def journal_of(self, session: str | None) -> list[JournalEntry]:
        """The journal entries of ``session`` (from its beginning or last reset on); the whole
        journal for None. ``SessionError`` when no session of that name is live."""
        if session is None:
            return self.journal
        live = self.state.sessions.get(session)
        if live is None:
            raise SessionError(f"no live session named {session!r}")
        return list(self.state.journal.page(live.floor, None, session))

    def find(
        self, match: Mapping[str, Any], *, since: int = 0, session: str | None = None
    ) -> list[JournalEntry]:
        """The journaled requests ``match`` (the stubs' language) selects, oldest first; with
        ``session``, among that session's requests only."""
        return find(self.journal_of(session), parse_match(match), since=since)

    def verify(
        self,
        match: Mapping[str, Any],
        *,
        times: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
        session: str | None = None,
    ) -> list[JournalEntry]:
        """Assert how many requests ``match`` selects (default: at least one; with
        ``session``, among that session's); the ``AssertionError`` lists what came and, for
        the closest misses, what did not match."""
        entries = self.journal_of(session)
        return verify(entries, match, times=times, at_least=at_least, at_most=at_most)

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised inside handlers (each answered with a 500)."""
        return self.state.errors

    def raise_errors(self) -> None:
        """Re-raise the first handler exception, if any (the pytest fixture does at teardown)."""
        if self.state.errors:
            first = self.state.errors[0]
            more = len(self.state.errors) - 1
            if more and hasattr(first, "add_note"):
                first.add_note(f"(and {more} more exception(s) in the websim mock's handlers)")
            raise first


class StubHandle:
    """A stub put in force by ``server.stub(...)``: its ``id``, ``answered`` and ``remove()``."""

    def __init__(
        self, stub_id: str, stubs: StubSet, run: Callable[[Callable[[], Any]], Any] | None = None
    ) -> None:
        self.id = stub_id
        self._stubs = stubs
        # Where the set may be changed: the server's loop (ThreadedMockServer passes its own).
        self._run = run or (lambda fn: fn())

    def remove(self) -> bool:
        """Take the stub out; False when it was gone already (removed, retired or reset)."""
        removed: bool = self._run(lambda: self._stubs.remove(self.id))
        return removed

"""Run the mock: ``MockServer`` (async context manager) and ``ThreadedMockServer`` (its own thread).

Both listen through ``web.listen.serve``: the header names real clients send (``websim-flags;``)
are accepted, and requests aiohttp cannot parse get the mock's JSON errors.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from .core.config import DEFAULT_IDLE_TIMEOUT, DEFAULT_READ_TIMEOUT, MockConfig, config_of
from .core.journal import JournalEntry
from .core.patterns import parse_match
from .core.state import MockState
from .core.steps import Step
from .core.stubs import stub_data
from .core.stubset import StubSet
from .core.verify import find, verify
from .web.accept import Listener
from .web.admin import is_loopback
from .web.app import FIXED_ROUTES_KEY, build_app
from .web.internals import route_fixed_paths
from .web.listen import listening_url, serve

__all__ = [
    "AppServer",
    "MockServer",
    "StubHandle",
    "ThreadedMockServer",
    "is_loopback_host",
]

_T = TypeVar("_T")
_S = TypeVar("_S", bound="AppServer")
StepLike = int | str | Mapping[str, Any] | Step


def is_loopback_host(host: str | None) -> bool:
    """Whether binding ``host`` keeps the server to this machine (``localhost``, 127.x, ::1).

    An empty host or ``0.0.0.0``/``::`` means every interface; any other name may resolve to a
    public address: both are not loopback.
    """
    if not host:
        return False
    return host.lower() == "localhost" or is_loopback(host.strip("[]"))


class AppServer:
    """Run an aiohttp app on a local port (0: a free one) through ``serve``; or on ``sock``, a
    bound socket (``websim-mock --workers`` hands each worker one).

    ``idle_timeout``: seconds a connection may wait for its next request (or its first);
    ``read_timeout``: seconds a request may take to arrive (see ``web.listen``).
    ``async with AppServer(app) as server: server.url``; the mock, the cassette replay server
    and the recording proxy are all one of these.
    """

    def __init__(
        self,
        app: web.Application,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lenient_headers: bool = True,
        access_log: bool = False,
        shutdown_timeout: float = 2.0,
        sock: socket.socket | None = None,
        auto_decompress: bool = True,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
    ) -> None:
        self.app = app
        # False: request bodies reach the handler as sent (the recording proxy forwards them).
        self._auto_decompress = auto_decompress
        self._idle_timeout = idle_timeout
        self._read_timeout = read_timeout
        self.host = host
        self._port = port
        self._sock = sock
        self._lenient = lenient_headers
        self._access_log = access_log
        # Seconds an answer in flight gets to finish when the server closes (read by start()).
        self.shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self._server: Listener | None = None
        self.url = ""

    @property
    def port(self) -> int:
        """The bound port once started (the requested one before)."""
        if self._server is not None and self._server.sockets:
            port: int = self._server.sockets[0].getsockname()[1]
            return port
        return self._port

    async def start(self: _S) -> _S:
        if self._runner is not None:
            raise RuntimeError("the server is already started")
        options: dict[str, Any] = {} if self._access_log else {"access_log": None}
        if not self._auto_decompress:
            options["auto_decompress"] = False
        runner = web.AppRunner(
            self.app,
            shutdown_timeout=self.shutdown_timeout,
            keepalive_timeout=self._idle_timeout,  # also closes a connection that sends nothing
            **options,
        )
        await runner.setup()
        try:
            self._set_up(runner)
            self._server = await serve(
                runner,
                self.host,
                self._port,
                lenient_headers=self._lenient,
                sock=self._sock,
                read_timeout=self._read_timeout,
            )
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.url = listening_url(self.host, self._server.sockets)
        self._started()
        return self

    def _set_up(self, runner: web.AppRunner) -> None:
        """Called once the runner is set up, before listening."""

    def _started(self) -> None:
        """Called once the URL is known."""

    async def close(self) -> None:
        """Stop listening, close the connections and clean up; safe to call twice."""
        server, self._server = self._server, None
        runner, self._runner = self._runner, None
        if server is not None:
            server.close()
        if runner is not None:
            await runner.cleanup()
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self: _S) -> _S:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class MockServer(AppServer):
    """A mock Websim on a local port; ``async with MockServer(seed=1) as server: server.url``.

    ``port=0`` (the default) picks a free port. The options are a ``MockConfig`` given first,
    or its fields as keywords besides the ``AppServer`` ones (``seed``, ``strict_ids``, ``rate_limit``, ``chaos``, ...).
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

    def find(self, match: Mapping[str, Any], *, since: int = 0) -> list[JournalEntry]:
        """The journaled requests ``match`` (the stubs' language) selects, oldest first."""
        return find(self.journal, parse_match(match), since=since)

    def verify(
        self,
        match: Mapping[str, Any],
        *,
        times: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
    ) -> list[JournalEntry]:
        """Assert how many requests ``match`` selects (default: at least one); the
        ``AssertionError`` lists what came and, for the closest misses, what did not match."""
        return verify(self.journal, match, times=times, at_least=at_least, at_most=at_most)

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


class ThreadedMockServer:
    """A ``MockServer`` on its own event loop in a daemon thread, for synchronous code.

    ``with ThreadedMockServer(seed=1) as server: requests.post(server.url + ...)``; takes the
    same keywords as ``MockServer``.
    """

    def __init__(self, config: MockConfig | None = None, /, **options: Any) -> None:
        self._config = config
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.server: MockServer | None = None

    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> ThreadedMockServer:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="websim-mock", daemon=True)
        self._thread.start()
        ready.wait()

        async def start() -> MockServer:
            return await MockServer(self._config, **self._options).start()

        try:
            self.server = self._call(start())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._loop = self._thread = None

    def stop(self) -> None:
        if self.server is not None:
            self._call(self.server.close())
        self._stop_loop()

    def __enter__(self) -> ThreadedMockServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _server(self) -> MockServer:
        if self.server is None:
            raise RuntimeError("the server is not started")
        return self.server

    @property
    def url(self) -> str:
        return self._server().url

    def _on_loop(self, fn: Any, *args: Any) -> Any:
        async def call() -> Any:
            return fn(*args)

        return self._call(call())

    def script(self, endpoint: str, steps: Iterable[StepLike]) -> None:
        self._on_loop(self._server().script, endpoint, list(steps))

    def stub(
        self,
        *,
        match: Mapping[str, Any] | None = None,
        respond: Mapping[str, Any],
        name: str | None = None,
        priority: int = 0,
        times: int | None = None,
    ) -> StubHandle:
        """``MockServer.stub``, from any thread."""
        server = self._server()
        handle: StubHandle = self._on_loop(
            lambda: server.stub(
                match=match, respond=respond, name=name, priority=priority, times=times
            )
        )
        return StubHandle(handle.id, server.state.stubs, self._on_loop)

    def reset(self) -> None:
        self._on_loop(self._server().reset)

    @property
    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._on_loop(lambda: self._server().requests)
        return result

    def find(self, match: Mapping[str, Any], *, since: int = 0) -> list[JournalEntry]:
        """``MockServer.find``, from any thread."""
        found: list[JournalEntry] = self._on_loop(lambda: self._server().find(match, since=since))
        return found

    def verify(self, match: Mapping[str, Any], **bounds: int | None) -> list[JournalEntry]:
        """``MockServer.verify`` (``times``, ``at_least``, ``at_most``), from any thread."""
        server = self._server()
        matched: list[JournalEntry] = self._on_loop(lambda: server.verify(match, **bounds))
        return matched

    @property
    def errors(self) -> list[BaseException]:
        return list(self._server().errors)

    def raise_errors(self) -> None:
        self._server().raise_errors()

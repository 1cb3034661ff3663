"""``ThreadedMockServer``: a ``MockServer`` on its own event loop in a daemon thread, for
synchronous code (and the session-scoped pytest fixture)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from .core.config import MockConfig
from .core.journal import JournalEntry
from .server import MockServer, StepLike, StubHandle

__all__ = ["ThreadedMockServer"]

_T = TypeVar("_T")


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

    def find(
        self, match: Mapping[str, Any], *, since: int = 0, session: str | None = None
    ) -> list[JournalEntry]:
        """``MockServer.find``, from any thread."""
        server = self._server()
        found: list[JournalEntry] = self._on_loop(
            lambda: server.find(match, since=since, session=session)
        )
        return found

    def verify(
        self,
        match: Mapping[str, Any],
        *,
        times: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
        session: str | None = None,
    ) -> list[JournalEntry]:
        """``MockServer.verify``, from any thread."""
        server = self._server()
        matched: list[JournalEntry] = self._on_loop(
            lambda: server.verify(
                match, times=times, at_least=at_least, at_most=at_most, session=session
            )
        )
        return matched

    @property
    def errors(self) -> list[BaseException]:
        return list(self._server().errors)

    def raise_errors(self) -> None:
        self._server().raise_errors()

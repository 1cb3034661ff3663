"""Run an aiohttp app on a local port: ``AppServer``, which the mock, the cassette replay server
and the recording proxy all are; it listens through ``web.listen.serve``, so the header names
real clients send (``websim-flags;``) are accepted, and requests aiohttp cannot parse get the
mock's JSON errors."""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from .core.config import DEFAULT_IDLE_TIMEOUT, DEFAULT_READ_TIMEOUT
from .web.accept import Listener
from .web.admin import is_loopback
from .web.listen import listening_url, serve

__all__ = ["AppServer", "is_loopback_host"]

_S = TypeVar("_S", bound="AppServer")


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

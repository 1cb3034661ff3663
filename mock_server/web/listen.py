"""Listening: aiohttp's connection protocol behind the ``HeaderFixer``, on a socket of ours.

``serve`` is ``web.TCPSite`` with two differences: each connection goes through a
``LenientProtocol`` (the header names real clients send, such as ``websim-flags;``, are
accepted; see ``wire``) and answers requests aiohttp cannot parse with the mock's JSON
(``internals.json_errors``).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from .internals import check_internals, json_errors
from .wire import HeaderFixer

__all__ = ["BACKLOG", "LenientProtocol", "listening_url", "serve"]


class LenientProtocol(asyncio.Protocol):
    """An aiohttp connection protocol behind a ``HeaderFixer``; everything else passes through."""

    __slots__ = ("_deliver", "_feed", "_fixer", "_inner")

    def __init__(self, inner: asyncio.Protocol) -> None:
        self._inner = inner
        self._fixer = HeaderFixer()
        self._feed = self._fixer.feed  # bound once: these two run for every chunk read
        self._deliver = inner.data_received

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        data = self._feed(data)
        if data:
            self._deliver(data)

    def eof_received(self) -> bool | None:
        rest = self._fixer.flush()
        if rest:
            self._inner.data_received(rest)
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


# Connections waiting to be accepted. asyncio's default (100) overflows when a load generator
# opens 256 connections at once: the kernel drops the SYNs past it and the clients retry a
# second later (measured: 50 of 256 wrk connections). The kernel caps it at somaxconn.
BACKLOG = 1024


async def serve(
    runner: web.BaseRunner,
    host: str | None,
    port: int,
    *,
    lenient_headers: bool = True,
    backlog: int = BACKLOG,
    sock: socket.socket | None = None,
) -> asyncio.Server:
    """Listen for a set-up runner; like ``web.TCPSite`` but with the header fix.

    ``sock``: an already bound socket to listen on instead of ``host``/``port``.
    """
    server = runner.server
    if server is None:
        raise RuntimeError("call runner.setup() first")
    check_internals()
    if lenient_headers:

        def factory() -> asyncio.Protocol:
            return LenientProtocol(json_errors(server()))

    else:

        def factory() -> asyncio.Protocol:
            return json_errors(server())

    loop = asyncio.get_running_loop()
    if sock is not None:
        return await loop.create_server(factory, sock=sock, backlog=backlog)
    return await loop.create_server(factory, host, port, backlog=backlog)


def listening_url(host: str | None, sockets: Iterable[Any]) -> str:
    """The URL clients use for these listening sockets (``host`` as given, when it is one)."""
    names = [sock.getsockname() for sock in sockets]
    if not names:
        raise RuntimeError("the server has no listening socket")
    address, port = names[0][0], names[0][1]
    if host and len({n[1] for n in names}) == 1:
        address = host  # the name the user gave, unless its sockets got different ports
    if ":" in address and not address.startswith("["):
        address = f"[{address}]"
    return f"http://{address}:{port}"

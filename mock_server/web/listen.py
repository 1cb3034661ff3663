"""Listening: aiohttp's connection protocol behind the ``HeaderFixer``, on a socket of ours.

``serve`` is ``web.TCPSite`` with two differences: each connection goes through a
``LenientProtocol`` (the header names real clients send, such as ``websim-flags;``, are
accepted; see ``wire``) and answers requests aiohttp cannot parse with the mock's JSON
(``internals.json_errors``). The ``LenientProtocol`` sees the bytes first, so it also answers
what aiohttp would wait on forever: bytes that are not HTTP (400) and a request whose head and
body take longer than ``read_timeout`` to arrive (408); both close the connection.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from ..core.statuses import error_body
from .accept import Listener
from .internals import check_internals, json_errors
from .wire import HeaderFixer

__all__ = ["BACKLOG", "LenientProtocol", "listening_url", "serve"]


def _answer_and_close(
    transport: asyncio.BaseTransport, status: int, reason: str, body: bytes
) -> None:
    """A JSON error written straight to the socket, then an orderly close."""
    if transport.is_closing():
        return
    assert isinstance(transport, asyncio.WriteTransport)
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    transport.write(head.encode("ascii") + body)
    transport.close()


class LenientProtocol(asyncio.Protocol):
    """An aiohttp connection protocol behind a ``HeaderFixer``; everything else passes through.

    ``read_timeout``: seconds a request (head and body) may take to arrive from its first
    byte; None for no limit. Only requests the fixer can frame are timed (a chunked body is
    not: aiohttp reads it after the fixer has switched to pass-through).
    """

    __slots__ = ("_deliver", "_feed", "_fixer", "_inner", "_read_timeout", "_timer", "_transport")

    def __init__(self, inner: asyncio.Protocol, read_timeout: float | None = None) -> None:
        self._inner = inner
        self._fixer = HeaderFixer()
        self._feed = self._fixer.feed  # bound once: these two run for every chunk read
        self._deliver = inner.data_received
        self._read_timeout = read_timeout
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        data = self._feed(data)
        if data:
            pieces = self._fixer.pieces
            if pieces is None:
                self._deliver(data)
            else:  # pipelined requests: each parsed before the next can spoil the read
                self._fixer.pieces = None
                for piece in pieces:
                    self._deliver(piece)
        elif self._fixer.refused is not None:
            self._refuse(self._fixer.refused)
            return
        if self._read_timeout is not None:
            self._time_reading()

    def _time_reading(self) -> None:
        """Start the clock when a request begins; stop it once all of it has arrived."""
        if self._fixer.reading:
            if self._timer is None:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(self._read_timeout or 0.0, self._too_slow)
        elif self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self) -> None:
        self._timer = None
        message = f"the request did not arrive within {self._read_timeout:g} s (--read-timeout)"
        if self._transport is not None:
            _answer_and_close(
                self._transport, 408, "Request Timeout", error_body(message, "read_timeout")
            )

    def _refuse(self, problem: str) -> None:
        if self._transport is not None:
            _answer_and_close(self._transport, 400, "Bad Request", error_body(problem, "request"))

    def eof_received(self) -> bool | None:
        rest = self._fixer.flush()
        if rest:
            self._inner.data_received(rest)
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


# Connections waiting to be accepted. asyncio's default (100) overflows when a load generator
# opens 256 connections at once: the kernel drops the SYNs past it and the clients retry a
# second later (measured: 50 of 256 wrk connections). The kernel caps it at somaxconn. (It is
# only the kernel's queue: the Listener accepts ACCEPT_BATCH per wakeup, not a backlog's worth.)
BACKLOG = 1024


async def serve(
    runner: web.BaseRunner,
    host: str | None,
    port: int,
    *,
    lenient_headers: bool = True,
    backlog: int = BACKLOG,
    sock: socket.socket | None = None,
    read_timeout: float | None = None,
) -> Listener:
    """Listen for a set-up runner; like ``web.TCPSite`` but with the header fix.

    ``sock``: an already bound socket to listen on instead of ``host``/``port``;
    ``read_timeout``: see ``LenientProtocol`` (needs ``lenient_headers``).
    """
    server = runner.server
    if server is None:
        raise RuntimeError("call runner.setup() first")
    check_internals()
    if lenient_headers:

        def factory() -> asyncio.Protocol:
            return LenientProtocol(json_errors(server()), read_timeout)

    else:

        def factory() -> asyncio.Protocol:
            return json_errors(server())

    if sock is not None:
        return Listener([sock], factory, backlog)
    # asyncio resolves and binds (every address of "localhost", IPv6 options...); the
    # Listener accepts on copies of its sockets (see web.accept).
    loop = asyncio.get_running_loop()
    bound = await loop.create_server(factory, host, port, start_serving=False)
    try:
        sockets = [socket.socket(fileno=os.dup(s.fileno())) for s in bound.sockets]
    finally:
        bound.close()
    return Listener(sockets, factory, backlog)


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

"""Accepting connections: asyncio's accept loop, minus its storm when file descriptors run out.

CPython's selector loop (``selector_events._accept_connection``, 3.11 to 3.13) calls
``accept()`` up to ``backlog`` times per wakeup; on EMFILE it logs a traceback, pauses the
listening socket for a second, and then goes on calling ``accept()`` for the rest of the
batch, each failure logging again and scheduling one more restart. With the mock's backlog of
1024 that was about 3,000 ERROR tracebacks a second while ``/healthz`` waited (issue 15).

``Listener`` accepts with public loop APIs (``add_reader``, ``connect_accepted_socket``, so
uvloop works too). Out of descriptors, it answers the waiting clients a JSON 503 through a
spare descriptor it keeps for this (closed, used, reopened), logs once per episode (and once
when it accepts again), and pauses ``RETRY_DELAY`` when even that fails; connections already
open are served throughout, and the idle and read timeouts free descriptors.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
from collections.abc import Callable, Iterable

from ..core.statuses import error_body

__all__ = ["ACCEPT_BATCH", "RETRY_DELAY", "Listener"]

logger = logging.getLogger("mock_server")

ACCEPT_BATCH = 64  # connections accepted per wakeup, then other work runs
RETRY_DELAY = 0.1  # seconds to pause accepting when not even the spare descriptor is left
_OUT_OF = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_BODY = error_body(
    "the mock is out of file descriptors (too many connections); retry later", "connections"
)
_OUT_OF_FDS = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


def _spare() -> int | None:
    with contextlib.suppress(OSError):
        return os.open(os.devnull, os.O_RDONLY)
    return None


class Listener:
    """Listening sockets handing each accepted connection to a protocol from ``factory``.

    Quacks like the ``asyncio.Server`` it replaces where ``AppServer`` uses one: ``sockets``,
    ``close()``, ``wait_closed()``.
    """

    def __init__(
        self,
        sockets: Iterable[socket.socket],
        factory: Callable[[], asyncio.Protocol],
        backlog: int,
    ) -> None:
        self.sockets = list(sockets)
        self._factory = factory
        self._loop = asyncio.get_running_loop()
        self._spare = _spare()
        self._refused = 0  # connections answered 503 in the current episode
        self._exhausted = False
        self._closed = False
        self._connecting: set[asyncio.Task[object]] = set()
        for sock in self.sockets:
            sock.setblocking(False)
            sock.listen(backlog)
            self._loop.add_reader(sock.fileno(), self._readable, sock)

    def _readable(self, sock: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in _OUT_OF or not self._refuse_one(sock, exc):
                    self._pause(sock)
                    return
                continue
            self._accepted(conn)

    def _accepted(self, conn: socket.socket) -> None:
        if self._exhausted:
            self._exhausted = False
            logger.warning("accepting connections again (%d answered 503 meanwhile)", self._refused)
            self._refused = 0
        conn.setblocking(False)
        task = self._loop.create_task(self._connect(conn))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _connect(self, conn: socket.socket) -> object:
        try:
            return await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError:
            conn.close()
            return None

    def _refuse_one(self, sock: socket.socket, exc: OSError) -> bool:
        """Accept one waiting client on the spare descriptor and answer it 503; False when
        that is not possible (no spare), so accepting pauses."""
        if not self._exhausted:
            self._exhausted = True
            logger.error(
                "out of file descriptors (%s): new connections get a 503 until some close",
                exc.strerror,
            )
        if self._spare is None:
            self._spare = _spare()
            return False
        os.close(self._spare)
        try:
            conn, _ = sock.accept()
        except OSError:
            conn = None
        if conn is not None:
            conn.setblocking(False)  # (accepted sockets block by default: never here)
            with contextlib.suppress(OSError), conn:
                with contextlib.suppress(OSError):
                    conn.recv(65536)  # what came already: closing with it unread sends an RST
                conn.send(_OUT_OF_FDS)
            self._refused += 1
        self._spare = _spare()  # its descriptor is free again, unless another thread took it
        return conn is not None and self._spare is not None

    def _pause(self, sock: socket.socket) -> None:
        self._loop.remove_reader(sock.fileno())
        self._loop.call_later(RETRY_DELAY, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        if not self._closed:
            self._loop.add_reader(sock.fileno(), self._readable, sock)

    def close(self) -> None:
        """Stop listening (connections already made are the runner's to close)."""
        if self._closed:
            return
        self._closed = True
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())
            sock.close()
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None

    async def wait_closed(self) -> None:
        """Until the connections being set up are (they are then the runner's)."""
        if self._connecting:
            await asyncio.wait(set(self._connecting))

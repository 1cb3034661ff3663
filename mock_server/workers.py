"""``websim-mock --workers N``: N processes answering on one port, for throughput.

The parent opens N listening sockets on one port with ``SO_REUSEPORT`` (the kernel spreads new
connections over them) and starts one worker per socket: ``python -m mock_server`` with the
same options, the socket handed over as an inherited file descriptor. It prints the URL once
every worker is ready, forwards SIGINT and SIGTERM and waits for them; a worker whose parent
dies stops by itself (it watches a pipe that only the parent holds open). Linux only: elsewhere
``SO_REUSEPORT`` does not spread connections, or does not exist.

Each worker has its own state, so what needs one state is refused rather than approximated (see
``MockConfig.workers``): scripted scenarios and the journal (the admin API answers 409, the
journal is off); the rate limit is split N ways; chaos, latency and fault bytes are seeded per
worker. Normal answers, directives and everything else behave as with one process.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_WORKERS", "WORKER_FLAG", "WorkerSpec", "Workers", "unsupported"]

MAX_WORKERS = 64
# The hidden flag a worker is started with: "INDEX/COUNT:LISTEN_FD:READY_FD:LIFELINE_FD".
WORKER_FLAG = "--worker-of"
_READY = b"ready\n"


def unsupported() -> str | None:
    """Why ``--workers`` above 1 cannot run here, or None when it can."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "SO_REUSEPORT"):
        return "--workers above 1 needs Linux (SO_REUSEPORT spreads connections there only)"
    return None


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker gets from its parent: its index, how many there are, and three inherited
    file descriptors: the listening socket, a pipe to say it is ready, the parent's lifeline."""

    index: int
    count: int
    listen_fd: int
    ready_fd: int
    lifeline_fd: int

    @classmethod
    def parse(cls, text: str) -> WorkerSpec:
        try:
            share, listen_fd, ready_fd, lifeline_fd = text.split(":")
            index, count = share.split("/")
            spec = cls(int(index), int(count), int(listen_fd), int(ready_fd), int(lifeline_fd))
        except ValueError:
            raise ValueError(f"bad worker spec {text!r}") from None
        if not 0 <= spec.index < spec.count <= MAX_WORKERS:
            raise ValueError(f"bad worker spec {text!r}")
        return spec

    def __str__(self) -> str:
        return f"{self.index}/{self.count}:{self.listen_fd}:{self.ready_fd}:{self.lifeline_fd}"

    def socket(self) -> socket.socket:
        return socket.socket(fileno=self.listen_fd)

    def ready(self) -> None:
        """Tell the parent this worker answers now."""
        os.write(self.ready_fd, _READY)
        os.close(self.ready_fd)


def _listen(host: str | None, port: int, count: int, backlog: int) -> list[socket.socket]:
    """``count`` sockets listening on one port (the first one picks it when ``port`` is 0)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    address = _claim(family, kind, proto, address)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(backlog)
            address = sock.getsockname()  # the port the first one got
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _claim(family: int, kind: int, proto: int, address: tuple[Any, ...]) -> tuple[Any, ...]:
    """Bind ``address`` once without ``SO_REUSEPORT``, as a single process does, and free it.

    ``SO_REUSEPORT`` lets every socket that sets it join the port's group, so a second
    ``--workers`` server would bind too and silently take half the connections. A socket
    without it is refused while anything listens there (EADDRINUSE, the single-process
    error). A server starting in the instant between this probe and the bind is not caught.
    Returns the address with the port the probe got when ``address`` asks for port 0.
    """
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio binds
        probe.bind(address)
        claimed: tuple[Any, ...] = probe.getsockname()
    return claimed


class Workers:
    """N worker processes on one port; ``start()`` returns once they all answer.

    ``argv`` are the ``websim-mock`` arguments each worker gets (plus its ``WORKER_FLAG``);
    the parent keeps no state of the mock, only the processes.
    """

    def __init__(
        self,
        argv: Sequence[str],
        count: int,
        *,
        host: str | None,
        port: int,
        backlog: int,
        ready_timeout: float = 60.0,
    ) -> None:
        if not 1 <= count <= MAX_WORKERS:
            raise ValueError(f"workers must be 1..{MAX_WORKERS}, not {count}")
        self.argv = list(argv)
        self.count = count
        self.host = host
        self.port = port
        self.backlog = backlog
        self.ready_timeout = ready_timeout
        self.url = ""
        self.procs: list[subprocess.Popen[bytes]] = []
        self._lifeline = -1

    def start(self) -> Workers:
        from .web.listen import listening_url

        sockets = _listen(self.host, self.port, self.count, self.backlog)
        self.url = listening_url(self.host, sockets)
        lifeline_read, self._lifeline = os.pipe()
        readies: list[int] = []
        try:
            for index, sock in enumerate(sockets):
                ready_read, ready_write = os.pipe()
                readies.append(ready_read)
                spec = WorkerSpec(index, self.count, sock.fileno(), ready_write, lifeline_read)
                try:
                    self.procs.append(
                        subprocess.Popen(
                            [
                                sys.executable,
                                "-m",
                                "mock_server",
                                *self.argv,
                                WORKER_FLAG,
                                str(spec),
                            ],
                            pass_fds=(sock.fileno(), ready_write, lifeline_read),
                        )
                    )
                finally:
                    os.close(ready_write)
        except BaseException:
            self.stop()
            raise
        finally:
            for sock in sockets:
                sock.close()  # the workers hold them now: one that dies leaves the port group
            os.close(lifeline_read)
        try:
            self._wait_ready(readies)
        except BaseException:
            self.stop()
            raise
        finally:
            for fd in readies:
                os.close(fd)
        return self

    def _wait_ready(self, readies: list[int]) -> None:
        waiting = dict.fromkeys(readies, b"")
        deadline = time.monotonic() + self.ready_timeout
        with selectors.DefaultSelector() as selector:
            for fd in readies:
                selector.register(fd, selectors.EVENT_READ)
            while waiting:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"the workers did not start within {self.ready_timeout} s")
                for key, _ in selector.select(left):
                    fd = int(key.fd)
                    data = os.read(fd, 64)
                    if data:
                        waiting[fd] += data
                        if waiting[fd] != _READY:
                            continue
                    else:  # the worker closed its end without a word: it failed
                        index = readies.index(fd)
                        code = self.procs[index].wait(10)
                        raise RuntimeError(f"worker {index} exited with code {code} at start-up")
                    selector.unregister(fd)
                    del waiting[fd]

    def wait(self) -> int:
        """Until SIGINT or SIGTERM (0), or until a worker exits (1); then stop them all."""
        watched = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
        try:
            while True:
                exited = [i for i, proc in enumerate(self.procs) if proc.poll() is not None]
                if exited:
                    index = exited[0]
                    code = self.procs[index].returncode
                    print(
                        f"websim-mock: error: worker {index} exited with code {code};"
                        " stopping the others",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
                info = signal.sigtimedwait(watched, 1.0)
                if info is not None and info.si_signo != signal.SIGCHLD:
                    return 0
        finally:
            self.stop()
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the workers still running, then wait (SIGKILL after ``timeout``)."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._lifeline >= 0:
            os.close(self._lifeline)
            self._lifeline = -1

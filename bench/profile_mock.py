"""Server CPU per request without sockets: the mock and the bare aiohttp app, side by side.

Each server's real protocol stack (for the mock: ``serve``'s ``LenientProtocol`` and JSON error
handler around aiohttp's ``RequestHandler``; for the bare app: aiohttp's own, as ``TCPSite``
builds it) gets keep-alive requests through a fake transport that only collects the bytes
written, one request at a time, ``--connections`` connections in turn. No kernel, no load
generator: what is left is the Python work per request, so differences of a few microseconds
show up run after run on a shared machine. Rounds alternate between the servers; the best
round of each counts.

    python bench/profile_mock.py                      # µs/request: mock, bare, and the ratio
    python bench/profile_mock.py --profile mock       # cProfile of the mock's requests
    python bench/profile_mock.py --mock-args '{"directives": true}' --scenario stream

"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))

import bare_server  # noqa: E402
from _common import SCENARIOS, numbered_bodies, scenario  # noqa: E402

from mock_server.server import MockServer  # noqa: E402

try:
    from mock_server.web.internals import json_errors
    from mock_server.web.listen import LenientProtocol
except ImportError:  # a checkout from before mock_server/web (compared with PYTHONPATH=...)
    from mock_server.server import LenientProtocol  # type: ignore[attr-defined,no-redef]
    from mock_server.server import _with_json_errors as json_errors  # type: ignore[attr-defined,no-redef]


class FakeTransport(asyncio.Transport):
    """Collects what the server writes; ``done`` resolves once a whole answer is in."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.chunks: list[bytes] = []
        self.done: asyncio.Future[None] | None = None
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.chunks.append(bytes(data))
        self._check()

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.chunks.append(bytes(line))
        self._check()

    def _check(self) -> None:
        # Answers here are Content-Length framed or chunked; both end recognisably.
        data = b"".join(self.chunks)
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            return
        lowered = head.lower()
        if b"transfer-encoding: chunked" in lowered:
            complete = body.endswith(b"0\r\n\r\n")
        else:
            marker = lowered.find(b"content-length:")
            length = int(lowered[marker + 15 :].split(b"\r\n", 1)[0]) if marker >= 0 else 0
            complete = len(body) >= length
        if complete and self.done is not None and not self.done.done():
            self.done.set_result(None)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return ("127.0.0.1", 40000)
        if name == "sockname":
            return ("127.0.0.1", 8787)
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return True

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def request_bytes(path: str, body: bytes) -> bytes:
    """What wrk sends: a keep-alive POST with a text/plain JSON body."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:8787\r\n"
        f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class Target:
    """A protocol factory on a running app, and how many requests it has answered."""

    def __init__(self, name: str, factory: Callable[[], asyncio.Protocol], close: Any) -> None:
        self.name = name
        self.factory = factory
        self.close = close


async def mock_target(options: dict[str, Any]) -> Target:
    server = await MockServer(**options).start()
    runner = server._runner
    assert runner is not None
    assert runner.server is not None
    handler_factory = runner.server

    def factory() -> asyncio.Protocol:
        return LenientProtocol(json_errors(handler_factory()))

    return Target("mock", factory, server.close)


async def bare_target(content: str, events: int) -> Target:
    runner = web.AppRunner(bare_server.make_app(content, events))
    await runner.setup()
    assert runner.server is not None
    handler_factory = runner.server

    def factory() -> asyncio.Protocol:
        return handler_factory()

    return Target("bare", factory, runner.cleanup)


async def drive(
    target: Target, requests: list[bytes], connections: int, batch: bool = True
) -> float:
    """Seconds of CPU (process time) to answer every request over ``connections`` connections:
    in batches of one request per connection (``batch``), or one request at a time."""
    loop = asyncio.get_running_loop()
    links = []
    for _ in range(connections):
        transport = FakeTransport(loop)
        protocol = target.factory()
        protocol.connection_made(transport)
        links.append((transport, protocol))
    await asyncio.sleep(0)
    start = time.process_time()
    if batch:
        # As under load: a request arrives on every connection, then all are answered.
        for first in range(0, len(requests), connections):
            waits = []
            for (transport, protocol), data in zip(
                links, requests[first : first + connections], strict=False
            ):
                transport.chunks.clear()
                transport.done = loop.create_future()
                waits.append(transport.done)
                protocol.data_received(data)
            await asyncio.gather(*waits)
    else:
        for i, data in enumerate(requests):
            transport, protocol = links[i % connections]
            transport.chunks.clear()
            transport.done = loop.create_future()
            protocol.data_received(data)
            await transport.done
    elapsed = time.process_time() - start
    first = b"".join(links[0][0].chunks)
    if not first.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{target.name} answered {first[:300]!r}")
    for transport, protocol in links:
        transport.closing = True
        protocol.connection_lost(None)
    await asyncio.sleep(0)
    return elapsed


async def probe_content(target: Target, path: str, body: bytes) -> tuple[str, int]:
    """The mock's chat answer and its number of stream events, for the bare app to match."""
    loop = asyncio.get_running_loop()
    transport = FakeTransport(loop)
    protocol = target.factory()
    protocol.connection_made(transport)
    transport.done = loop.create_future()
    protocol.data_received(request_bytes(path, body))
    await transport.done
    answer = b"".join(transport.chunks).partition(b"\r\n\r\n")[2]
    protocol.connection_lost(None)
    return str(json.loads(answer)["content"]), 11


async def main_async(args: argparse.Namespace) -> int:
    path, body = scenario(args.scenario, args.bodies)
    options = json.loads(args.mock_args)
    mock = await mock_target(options)
    content, events = await probe_content(mock, *SCENARIOS["chat"])
    bare = await bare_target(content, events)
    targets = {"mock": mock, "bare": bare}
    requests = [request_bytes(path, b) for b in numbered_bodies(body, args.requests)]
    loads = dict.fromkeys(targets, requests)
    if args.sessions:
        # The same mock's requests, each in one of N sessions in turn (N live sessions).
        targets["sessions"] = await mock_target({**options, "max_sessions": args.sessions})
        loads["sessions"] = [
            request_bytes(f"/sessions/s{i % args.sessions}{path}", b)
            for i, b in enumerate(numbered_bodies(body, args.requests))
        ]
    for name, target in targets.items():
        await drive(target, loads[name][: min(2000, len(requests))], args.connections, args.batch)
        if name == "sessions":  # every session begun before the measured rounds
            await drive(target, loads[name][: args.sessions], args.connections, args.batch)
    if args.only:
        # One measured drive of one server, nothing else: run under
        # `valgrind --tool=callgrind` with two --requests values, the difference of the two
        # instruction totals is the instructions per request, repeatable on a busy machine.
        seconds = await drive(targets[args.only], loads[args.only], args.connections, args.batch)
        print(f"{args.only} {seconds / len(requests) * 1e6:.2f} us/request")
    elif args.profile:
        target = targets[args.profile]
        profiler = cProfile.Profile()
        profiler.enable()
        await drive(target, loads[args.profile], args.connections, args.batch)
        profiler.disable()
        stats = pstats.Stats(profiler).strip_dirs().sort_stats(args.sort)
        stats.print_stats(args.top)
        if args.callers:
            stats.print_callers(args.callers)
    else:
        best: dict[str, float] = {}
        for round_ in range(args.rounds):
            order = list(targets.items())
            if round_ % 2:
                order.reverse()
            for name, target in order:
                gc.collect()
                seconds = await drive(target, loads[name], args.connections, args.batch)
                per = seconds / len(requests) * 1e6
                best[name] = min(best.get(name, per), per)
                print(f"round {round_ + 1} {name:8} {per:7.2f} us/request", flush=True)
        print(
            f"best: mock {best['mock']:.2f} us, bare {best['bare']:.2f} us; "
            f"bare/mock {best['bare'] / best['mock']:.3f} (what the throughput ratio can be "
            "at best, when the server's CPU is the bottleneck)"
        )
        if "sessions" in best:
            print(
                f"in {args.sessions} sessions: {best['sessions']:.2f} us;"
                f" mock/sessions {best['mock'] / best['sessions']:.3f}"
            )
    for target in targets.values():
        await target.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="chat")
    parser.add_argument(
        "--bodies",
        choices=("fresh", "varied"),
        default="fresh",
        help="fresh: a new project_id per request; varied: and a new conversation or prompt",
    )
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--one-at-a-time",
        dest="batch",
        action="store_false",
        help="one request in flight at a time (default: one per connection, as under load)",
    )
    parser.add_argument("--mock-args", default="{}", help="MockServer keywords, as JSON")
    parser.add_argument(
        "--sessions",
        type=int,
        default=0,
        metavar="N",
        help="also drive the mock with each request in one of N sessions (/sessions/s{i}/...)",
    )
    parser.add_argument(
        "--profile", choices=("mock", "bare", "sessions"), help="cProfile one server instead"
    )
    parser.add_argument(
        "--only", choices=("mock", "bare", "sessions"), help="one drive of one server (callgrind)"
    )
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--callers", help="also print the callers of functions matching this")
    parser.add_argument("--uvloop", action="store_true", help="run under uvloop")
    args = parser.parse_args(argv)
    if args.uvloop:
        import uvloop

        return uvloop.run(main_async(args))
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())

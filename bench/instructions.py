"""CPU instructions per request (chat, stream or image) over real sockets, counted by valgrind: the
mock, the bare aiohttp handler that quotes the last user message (equal work), and optionally
another checkout's mock, side by side.

Wall-clock rates on a shared machine swing by half from one run to the next (other work on the
host takes the cores); instructions do not. Each server runs under ``valgrind --tool=callgrind``
twice, answering ``--few`` and then ``--many`` keep-alive requests over ``--connections``
connections (a fresh conversation in each, as ``bench/run.py --bodies varied`` sends); the
difference of the two totals divided by the difference of the counts is the cost of one request,
start-up and shutdown cancelled out. The kernel's share (the socket calls, the same for every
server) is not counted, so a ratio here is a little harsher than the same ratio in req/s.

    python bench/instructions.py                       # mock and bare-quote, about 5 minutes
    python bench/instructions.py --compare-mock ../old  # and the mock of another checkout

Needs valgrind (``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _common import (  # noqa: E402
    CONTENT_TYPE,
    PYTHON,
    ServerProcess,
    bare_server_argv,
    mock_server_argv,
    numbered_bodies,
    scenario,
)

_SUMMARY = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


async def _one_connection(url: str, path: str, bodies: list[bytes]) -> None:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        for body in bodies:
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {CONTENT_TYPE}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
            if not answer.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"not a 200: {answer[:80]!r}")
            await asyncio.wait_for(_read_body(reader, answer), 60)
    finally:
        writer.close()


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> None:
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if length is not None:
        await reader.readexactly(int(length[1]))
    elif re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        await reader.readuntil(b"\r\n0\r\n\r\n")  # (an SSE chunk never holds "\r\n0\r\n\r\n")
    else:
        raise RuntimeError(f"an answer with no length and not chunked: {head[:200]!r}")


async def _drive(url: str, name: str, requests: int, connections: int) -> None:
    path, body = scenario(name, "varied")
    bodies = numbered_bodies(body, requests)
    shares = [bodies[i::connections] for i in range(connections)]
    await asyncio.gather(*(_one_connection(url, path, share) for share in shares if share))


Place = tuple[Path | None, dict[str, str] | None]  # where a server runs: cwd, environment
Load = tuple[str, int, int]  # scenario, requests, connections


def _instructions(argv: list[str], load: Load, place: Place) -> int:
    with tempfile.TemporaryDirectory(prefix="websim-callgrind-") as tmp:
        out = Path(tmp, "callgrind.out")
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv]
        cwd, env = place
        with ServerProcess(command, ready_timeout=600, cwd=cwd, env=env) as server:
            assert server.url is not None  # (printed by both servers once they listen)
            asyncio.run(_drive(server.url, *load))
        found = _SUMMARY.search(out.read_bytes())
        if found is None:
            raise RuntimeError(f"callgrind wrote no total for {argv}")
        return int(found[1])


def per_request(
    argv: list[str],
    few: int,
    many: int,
    connections: int,
    place: Place = (None, None),
    name: str = "chat",
) -> float:
    """Instructions per ``name`` request of the server ``argv`` starts (see the module's notes)."""
    low = _instructions(argv, (name, few, connections), place)
    high = _instructions(argv, (name, many, connections), place)
    return (high - low) / (many - few)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--few", type=int, default=640)
    parser.add_argument("--many", type=int, default=3200)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--compare-mock", type=Path, metavar="DIR")
    parser.add_argument("--scenario", choices=("chat", "stream", "image"), default="chat")
    parser.add_argument("--skip", default="", help="comma-separated servers not to measure")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    servers: dict[str, tuple[list[str], Place]] = {
        "mock": (mock_server_argv(), (None, None)),
        "bare-quote": (bare_server_argv("--quote"), (None, None)),
    }
    if args.compare_mock is not None:
        other = args.compare_mock.resolve()
        env = {**os.environ, "PYTHONPATH": str(other)}
        servers["mock-other"] = ([PYTHON, "-m", "mock_server", "--port", "0"], (other, env))
    result: dict[str, float] = {}
    for name, (argv, place) in servers.items():
        if name in args.skip.split(","):
            continue
        result[name] = per_request(
            argv, args.few, args.many, args.connections, place, args.scenario
        )
        print(
            f"{name:12} {result[name]:10,.0f} instructions per {args.scenario} request", flush=True
        )
    ratios = {
        f"{other} / mock": result[other] / result["mock"]
        for other in ("bare-quote", "mock-other")
        if other in result and "mock" in result
    }
    for label, ratio in ratios.items():
        print(f"{label}: {ratio:.3f}")
    print(
        json.dumps(
            {"scenario": args.scenario, "instructions_per_request": result, "ratios": ratios}
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""CPU instructions per chat request over real sockets, counted by valgrind: the mock, the bare
aiohttp handler that quotes the last user message (equal work), and optionally another
checkout's mock, side by side.

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
            length = re.search(rb"(?im)^content-length:\s*(\d+)", answer)
            if length is None:
                raise RuntimeError("an answer without Content-Length")
            await asyncio.wait_for(reader.readexactly(int(length[1])), 60)
    finally:
        writer.close()


async def _drive(url: str, requests: int, connections: int) -> None:
    path, body = scenario("chat", "varied")
    bodies = numbered_bodies(body, requests)
    shares = [bodies[i::connections] for i in range(connections)]
    await asyncio.gather(*(_one_connection(url, path, share) for share in shares if share))


Place = tuple[Path | None, dict[str, str] | None]  # where a server runs: cwd, environment


def _instructions(argv: list[str], requests: int, connections: int, place: Place) -> int:
    with tempfile.TemporaryDirectory(prefix="websim-callgrind-") as tmp:
        out = Path(tmp, "callgrind.out")
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv]
        cwd, env = place
        with ServerProcess(command, ready_timeout=600, cwd=cwd, env=env) as server:
            assert server.url is not None  # (printed by both servers once they listen)
            asyncio.run(_drive(server.url, requests, connections))
        found = _SUMMARY.search(out.read_bytes())
        if found is None:
            raise RuntimeError(f"callgrind wrote no total for {argv}")
        return int(found[1])


def per_request(
    argv: list[str], few: int, many: int, connections: int, place: Place = (None, None)
) -> float:
    """Instructions per request of the server ``argv`` starts (see the module's notes)."""
    low = _instructions(argv, few, connections, place)
    high = _instructions(argv, many, connections, place)
    return (high - low) / (many - few)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--few", type=int, default=640)
    parser.add_argument("--many", type=int, default=3200)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--compare-mock", type=Path, metavar="DIR")
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
        result[name] = per_request(argv, args.few, args.many, args.connections, place)
        print(f"{name:12} {result[name]:10,.0f} instructions per chat request", flush=True)
    ratios = {"bare-quote / mock": result["bare-quote"] / result["mock"]}
    if "mock-other" in result:
        ratios["mock-other / mock"] = result["mock-other"] / result["mock"]
    for label, ratio in ratios.items():
        print(f"{label}: {ratio:.3f}")
    print(json.dumps({"instructions_per_request": result, "ratios": ratios}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

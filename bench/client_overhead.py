"""Client overhead: ``WebsimClient.chat`` against a raw ``aiohttp.ClientSession.post`` + ``json()``.

Both talk to the same server, one call at a time over a pooled keep-alive connection, in
alternating rounds (so drift on a shared machine hits both alike). The client's call includes
everything it does: build and validate the request, a fresh project ID, its headers, the
status check, parsing. The raw call posts a fixed JSON payload and decodes the answer.
Reported: per-call time of each (best round and median round) and the ratio client / raw.

``python bench/client_overhead.py [URL]`` starts the mock server (else the bare server) when no
URL is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

import aiohttp
from _common import (
    CHAT_PATH,
    CHAT_PAYLOAD,
    ServerProcess,
    bare_server_argv,
    mock_server_argv,
    mock_server_available,
)

from websim_core import WebsimClient

MESSAGES = CHAT_PAYLOAD["messages"]


async def bench(url: str, *, calls: int = 200, rounds: int = 12) -> dict[str, Any]:
    endpoint = url + CHAT_PATH
    async with WebsimClient(url) as client, aiohttp.ClientSession() as session:

        async def with_client() -> str:
            return await client.chat(MESSAGES)

        async def raw() -> str:
            async with session.post(endpoint, json=CHAT_PAYLOAD) as response:
                data = await response.json(content_type=None)
            return str(data["content"])

        async def timed(call: Any) -> float:
            start = time.perf_counter()
            for _ in range(calls):
                await call()
            return (time.perf_counter() - start) / calls

        client_answer, raw_answer = await with_client(), await raw()
        await timed(with_client)
        await timed(raw)  # warm both connections and code paths
        client_times: list[float] = []
        raw_times: list[float] = []
        for i in range(rounds):
            if i % 2:
                client_times.append(await timed(with_client))
                raw_times.append(await timed(raw))
            else:
                raw_times.append(await timed(raw))
                client_times.append(await timed(with_client))
    best = min(client_times) / min(raw_times)
    median = statistics.median(client_times) / statistics.median(raw_times)
    return {
        "url": url,
        "calls_per_round": calls,
        "rounds": rounds,
        "client_us": min(client_times) * 1e6,
        "raw_us": min(raw_times) * 1e6,
        "client_median_us": statistics.median(client_times) * 1e6,
        "raw_median_us": statistics.median(raw_times) * 1e6,
        "ratio": best,
        "ratio_median": median,
        "answers_match": client_answer == raw_answer.strip(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="server base URL (default: start one)")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args(argv)
    if args.url:
        result = asyncio.run(bench(args.url, calls=args.calls, rounds=args.rounds))
    else:
        argv_ = mock_server_argv() if mock_server_available() else bare_server_argv()
        with ServerProcess(argv_) as server:
            assert server.url is not None
            result = asyncio.run(bench(server.url, calls=args.calls, rounds=args.rounds))
            result["server"] = " ".join(argv_[1:3])
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

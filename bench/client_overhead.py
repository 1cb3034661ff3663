"""Client overhead: ``WebsimClient.chat`` against a raw ``aiohttp.ClientSession.post`` + ``json()``.

All talk to the same server, one call at a time over a pooled keep-alive connection, in
alternating rounds (so drift on a shared machine hits all alike). The client's call includes
everything it does: build and validate the request, a fresh project ID, the status check,
parsing. Two raw calls:

- ``raw``: ``session.post(url, data=body, headers=DEFAULT_HEADERS)`` then ``json()``: the same
  bytes on the wire as the client sends (the browser-like headers are the protocol's, not the
  library's overhead), so the ratio client / raw is the library's own cost. The target.
- ``raw-minimal``: ``session.post(url, json=payload)`` then ``json()``, aiohttp's default
  headers only; shown for context (the extra headers cost both sides some microseconds).

Every call carries a fresh project ID, as the protocol wants (the raw calls draw theirs with
``random.choices``, as gpt4free does): a server that caches answers by body bytes must not
favour the raw calls for repeating one body.

Reported: per-call wall time of each (best round and median round); the ratio client / raw as
the median of the per-round ratios (rounds run back to back), and this process's CPU time per
call (the client side alone; steadier on a busy machine).

``python bench/client_overhead.py [URL]`` starts the mock server (else the bare server) when no
URL is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
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
    dump,
    mock_server_argv,
    mock_server_available,
)

from websim_core import WebsimClient
from websim_core.client import DEFAULT_HEADERS
from websim_core.ids import ID_ALPHABET

MESSAGES = CHAT_PAYLOAD["messages"]


async def bench(url: str, *, calls: int = 200, rounds: int = 12) -> dict[str, Any]:
    endpoint = url + CHAT_PATH
    async with WebsimClient(url) as client, aiohttp.ClientSession() as session:

        async def with_client() -> str:
            return await client.chat(MESSAGES)

        headers = dict(DEFAULT_HEADERS)

        def payload() -> dict[str, Any]:
            chars = random.choices(ID_ALPHABET, k=19)
            return {**CHAT_PAYLOAD, "project_id": f"{''.join(chars[:3])}_{''.join(chars[3:])}"}

        async def raw() -> str:
            body = dump(payload())
            async with session.post(endpoint, data=body, headers=headers) as response:
                data = await response.json(content_type=None)
            return str(data["content"])

        async def raw_minimal() -> str:
            async with session.post(endpoint, json=payload()) as response:
                data = await response.json(content_type=None)
            return str(data["content"])

        cpu: dict[Any, list[float]] = {}

        async def timed(call: Any) -> float:
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                await call()
            cpu.setdefault(call, []).append((time.process_time() - start_cpu) / calls)
            return (time.perf_counter() - start) / calls

        calls_by_name = {"client": with_client, "raw": raw, "raw-minimal": raw_minimal}
        answers = {name: await call() for name, call in calls_by_name.items()}
        for call in calls_by_name.values():
            await timed(call)  # warm connections and code paths
        times: dict[str, list[float]] = {name: [] for name in calls_by_name}
        names = list(calls_by_name)
        for i in range(rounds):
            shift = i % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(await timed(calls_by_name[name]))
        # This process's CPU per call: the client side's own cost, whatever the server does.
        cpu_best = {name: min(cpu[call]) for name, call in calls_by_name.items()}
    best = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    return {
        "url": url,
        "calls_per_round": calls,
        "rounds": rounds,
        "client_us": best["client"] * 1e6,
        "raw_us": best["raw"] * 1e6,
        "raw_minimal_us": best["raw-minimal"] * 1e6,
        "client_median_us": median["client"] * 1e6,
        "raw_median_us": median["raw"] * 1e6,
        "raw_minimal_median_us": median["raw-minimal"] * 1e6,
        # Rounds of each kind run back to back: the median of their ratios is what a burst of
        # outside load skews least (the best rounds may come from different moments).
        "ratio": statistics.median(
            c / r for c, r in zip(times["client"], times["raw"], strict=True)
        ),
        "ratio_best": best["client"] / best["raw"],
        "ratio_median": median["client"] / median["raw"],
        "ratio_vs_minimal": best["client"] / best["raw-minimal"],
        "client_cpu_us": cpu_best["client"] * 1e6,
        "raw_cpu_us": cpu_best["raw"] * 1e6,
        "ratio_cpu": cpu_best["client"] / cpu_best["raw"],
        "answers_match": len({answer.strip() for answer in answers.values()}) == 1,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="server base URL (default: start one)")
    parser.add_argument(
        "--server", choices=("mock", "bare"), default="mock", help="which server to start"
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args(argv)
    if args.url:
        result = asyncio.run(bench(args.url, calls=args.calls, rounds=args.rounds))
    else:
        use_mock = args.server == "mock" and mock_server_available()
        argv_ = mock_server_argv() if use_mock else bare_server_argv()
        with ServerProcess(argv_) as server:
            assert server.url is not None
            result = asyncio.run(bench(server.url, calls=args.calls, rounds=args.rounds))
            result["server"] = " ".join(argv_[1:3])
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

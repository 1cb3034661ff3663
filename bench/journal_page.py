"""A page of a full journal of 64 KiB bodies: ``GET /__admin/requests?limit=100``, timed.

``python bench/journal_page.py [--entries 1000] [--rounds 15] [--body-bytes 62000]``

Two ``websim-mock`` processes, their journals filled alike with chat requests whose bodies are
just under the journal's 64 KiB cut (so each entry carries its body twice: as text and parsed):
"current" is the mock as it is; "baseline" the same mock with the page written as before this
branch: ``json.dumps``, the body's JSON parsed and written again (a bench-only patch). Reads alternate between
the two on one keep-alive connection each, the whole answer read; best and median per side.
Target: the current page under 50 ms. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from _common import CHAT_PATH, PYTHON, ServerProcess, http_post


def _serve(mode: str, argv: list[str]) -> int:
    """Run websim-mock here; ``baseline`` writes its pages with json.dumps (the old way)."""
    from mock_server import cli
    from mock_server.core.jsonbody import parse_json_strictly
    from mock_server.web import paging

    def parsed(value: Any) -> Any:
        return parse_json_strictly(value.raw)

    def dumps(item: dict[str, Any]) -> bytes:
        return json.dumps(item, default=parsed).encode()

    if mode == "baseline":  # json.dumps, the body's JSON parsed and written again
        paging.dumps = dumps
    return int(cli.main(argv) or 0)


def _body(size: int) -> bytes:
    words = ("lorem ipsum dolor sit amet " * (size // 20))[: size - 120]
    message = {"role": "user", "content": words}
    return json.dumps({"project_id": "ke3_xh5gai3gjkmruomu", "messages": [message]}).encode()


def _page_ms(conn: http.client.HTTPConnection, limit: int) -> tuple[float, int, int]:
    """One page read whole: milliseconds, its bytes, its entries."""
    started = time.perf_counter()
    conn.request("GET", f"/__admin/requests?limit={limit}")
    response = conn.getresponse()
    data = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"{response.status}: {data[:200]!r}")
    return elapsed, len(data), int(json.loads(data)["count"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--body-bytes", type=int, default=62_000)
    args = parser.parse_args()
    body = _body(args.body_bytes)
    sides = ("current", "baseline")
    servers = {
        side: ServerProcess([PYTHON, __file__, "--serve", side, "--port", "0"]).start()
        for side in sides
    }
    try:
        times: dict[str, list[float]] = {side: [] for side in sides}
        shape: dict[str, tuple[int, int]] = {}
        conns = {}
        for side, server in servers.items():
            assert server.url is not None
            for _ in range(args.entries):
                status, _, answer = http_post(server.url + CHAT_PATH, body)
                if status != 200:
                    raise RuntimeError(f"{side}: {status} {answer[:200]!r}")
            parts = urlsplit(server.url)
            conns[side] = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        for round_ in range(args.rounds):
            for side in sides if round_ % 2 == 0 else sides[::-1]:
                ms, size, count = _page_ms(conns[side], args.limit)
                times[side].append(round(ms, 2))
                shape[side] = (size, count)
    finally:
        for server in servers.values():
            server.stop()
    result: dict[str, Any] = {
        "entries": args.entries,
        "body_bytes": len(body),
        "limit": args.limit,
        "page_bytes": {side: shape[side][0] for side in sides},
        "page_entries": {side: shape[side][1] for side in sides},
        "best_ms": {side: min(times[side]) for side in sides},
        "median_ms": {side: statistics.median(times[side]) for side in sides},
        "ratio_median": round(
            statistics.median(times["baseline"]) / statistics.median(times["current"]), 2
        ),
        "runs_ms": times,
        "target": "current median < 50 ms",
    }
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        sys.exit(_serve(sys.argv[2], sys.argv[3:]))
    main()

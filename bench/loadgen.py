"""A small HTTP load generator on aiohttp, run as its own process (used when wrk is absent).

``python bench/loadgen.py URL --body '{...}' --concurrency 64 --duration 3`` keeps
CONCURRENCY keep-alive connections busy, each sending the request again as soon as the whole
answer has been read, until DURATION seconds or MAX_REQUESTS, and prints one JSON line:
``{"requests", "errors", "duration_s", "rps", "p50_ms", "p99_ms", "concurrency", "status"}``.
Latency is from sending the request to having read the whole body (a stream to its end).
With ``--fresh-ids`` each request carries a fresh project ID of the body's shape, as real
clients send (a server that caches by body bytes gains nothing from a repeated body then).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections import Counter
from typing import Any

import aiohttp
from _common import id_template

_ID_ALPHABET = b"abcdefghijklmnopqrstuvwxyz0123456789"


def body_factory(body: bytes | None, fresh_ids: bool) -> Any:
    """A function giving the next request body: ``body`` itself, or it with a fresh ID
    wherever its ID appears."""
    template = id_template(body) if body is not None and fresh_ids else None
    if template is None:
        return lambda: body
    pieces, left, right = template  # the ID may also be in the conversation
    rng = random.Random()

    def make() -> bytes:
        chars = bytes(rng.choices(_ID_ALPHABET, k=left + right))
        return (chars[:left] + b"_" + chars[left:]).join(pieces)

    return make


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


async def load(
    url: str,
    *,
    method: str,
    body: bytes | None,
    fresh_ids: bool,
    headers: dict[str, str],
    concurrency: int,
    duration: float,
    max_requests: int,
    timeout: float,
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    errors = 0
    sent = 0
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(
        connector=connector, timeout=client_timeout, skip_auto_headers=("User-Agent",)
    ) as session:
        next_body = body_factory(body, fresh_ids)
        start = time.perf_counter()
        deadline = start + duration

        async def worker() -> None:
            nonlocal errors, sent
            clock = time.perf_counter
            while sent < max_requests:
                begin = clock()
                if begin >= deadline:
                    return
                sent += 1
                try:
                    async with session.request(
                        method, url, data=next_body(), headers=headers
                    ) as resp:
                        await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    errors += 1
                    statuses[type(exc).__name__] += 1
                    continue
                latencies.append(clock() - begin)
                statuses[str(status)] += 1
                if status >= 400:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    done = len(latencies)
    return {
        "requests": done,
        "errors": errors,
        "duration_s": round(elapsed, 4),
        "rps": done / elapsed if elapsed else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "concurrency": concurrency,
        "status": dict(statuses),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--method", default="POST")
    parser.add_argument("--body", help="request body (UTF-8 text); none for GET")
    parser.add_argument("--body-file", help="read the request body from this file")
    parser.add_argument("--content-type", default="text/plain;charset=UTF-8")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds (at most 600)")
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument(
        "--fresh-ids", action="store_true", help="a fresh project_id in every request body"
    )
    parser.add_argument(
        "--uvloop", choices=("auto", "yes", "no"), default="no", help="use uvloop if installed"
    )
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
        parser.error("this load generator only targets loopback addresses")
    body: bytes | None = None
    if args.body_file:
        with open(args.body_file, "rb") as handle:
            body = handle.read()
    elif args.body is not None:
        body = args.body.encode("utf-8")
    headers = {"content-type": args.content_type} if body is not None else {}
    if args.uvloop != "no":
        try:
            import uvloop  # type: ignore[import-not-found]
        except ImportError:
            if args.uvloop == "yes":
                raise
        else:
            uvloop.install()
    result = asyncio.run(
        load(
            args.url,
            method=args.method,
            body=body,
            fresh_ids=args.fresh_ids,
            headers=headers,
            concurrency=max(1, args.concurrency),
            duration=min(600.0, max(0.1, args.duration)),
            max_requests=args.max_requests,
            timeout=args.timeout,
        )
    )
    with contextlib.suppress(BrokenPipeError):
        print(json.dumps(result))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

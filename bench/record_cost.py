"""Recording proxy: cost per interaction as the cassette grows.

One client records N chat interactions one after another through ``ProxyServer`` into one
cassette, against a tiny upstream answering a fixed JSON chat answer. Prints the time of each
interaction at a few cassette sizes and the total; the last line is JSON. ``--baseline DIR``
runs the same work, in the same run, with another checkout's code (e.g. before the fix) and
prints both side by side.

    python bench/record_cost.py [--count 1000] [--baseline /path/to/old/checkout --baseline-count 300]
    python bench/record_cost.py --bomb [--baseline /path/to/old/checkout]   # a 200 KB gzip bomb
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, peak_rss_mib

CHECKPOINTS = (10, 100, 250, 500, 750, 1000, 2000)


def _bytes_in(directory: str) -> int:
    return sum(path.stat().st_size for path in Path(directory).iterdir())


async def measure(count: int) -> dict[str, Any]:
    import aiohttp
    from aiohttp import web

    from mock_server.app_server import AppServer
    from mock_server.record_proxy import ProxyServer

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"content": "A fixed answer of a few words, as a chat gives."})

    upstream = web.Application()
    upstream.router.add_post("/api/v1/inference/run_chat_completion", chat)
    body = {
        "project_id": "ke3_xh5gai3gjkmruomu",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Tell me something about interaction number N."},
        ],
    }
    times: list[float] = []
    with tempfile.TemporaryDirectory() as directory:
        async with (
            AppServer(upstream) as origin,
            ProxyServer(origin.url, directory, cassette="bench") as proxy,
            aiohttp.ClientSession() as session,
        ):
            url = proxy.url + "/api/v1/inference/run_chat_completion"
            started = time.perf_counter()
            for i in range(count):
                body["messages"][1]["content"] = f"Tell me something about interaction {i}."
                t0 = time.perf_counter()
                async with session.post(url, json=body) as response:
                    await response.read()
                    assert response.status == 200, response.status
                times.append(time.perf_counter() - t0)
            total = time.perf_counter() - started
        size = _bytes_in(directory)
    at = {str(n): round(sum(times[n - 5 : n]) / 5 * 1000, 2) for n in CHECKPOINTS if n <= count}
    return {"count": count, "total_s": round(total, 2), "ms_at": at, "cassette_bytes": size}


async def measure_bomb(mib: int = 200) -> dict[str, Any]:
    """One answer that is a gzip bomb (200 MiB decoded is 200 KB): peak memory, cassette size."""
    import zlib

    import aiohttp
    from aiohttp import web

    from mock_server.app_server import AppServer
    from mock_server.record_proxy import ProxyServer

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip, built 1 MiB at a time
    block = b" " * (1024 * 1024)
    bomb = b"".join(packer.compress(block) for _ in range(mib)) + packer.flush()

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return web.Response(body=bomb, headers=headers)

    upstream = web.Application()
    upstream.router.add_post("/api/v1/inference/run_chat_completion", chat)
    before = peak_rss_mib()
    with tempfile.TemporaryDirectory() as directory:
        async with (
            AppServer(upstream) as origin,
            ProxyServer(origin.url, directory, cassette="bomb") as proxy,
            aiohttp.ClientSession(auto_decompress=False) as session,
        ):
            url = proxy.url + "/api/v1/inference/run_chat_completion"
            async with session.post(url, json={"project_id": "ke3_xh5gai3gjkmruomu"}) as answer:
                got = len(await answer.read())
        written = _bytes_in(directory)
    peak = peak_rss_mib()
    return {
        "bomb_bytes": len(bomb),
        "client_got_bytes": got,
        "cassette_bytes": written,
        "peak_rss_growth_mib": round(peak - before, 1),
    }


def _run_elsewhere(root: str, count: int, *flags: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": root}
    out = subprocess.run(
        [sys.executable, __file__, "--count", str(count), "--json-only", *flags],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"{root}: exit {out.returncode}\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bomb_elsewhere(root: str, mib: int) -> dict[str, Any]:
    """``measure_bomb`` in a process of its own (so the peak memory is the bomb's alone)."""
    return _run_elsewhere(root, 0, "--bomb", "--bomb-mib", str(mib))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--baseline", help="another checkout to run the same work with")
    parser.add_argument("--baseline-count", type=int, default=300)
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bomb", action="store_true", help="the gzip bomb case instead")
    parser.add_argument("--bomb-mib", type=int, default=200, help="the bomb's decoded size")
    args = parser.parse_args()
    if str(ROOT) not in sys.path and "PYTHONPATH" not in os.environ:
        sys.path.insert(0, str(ROOT))
    if args.bomb:
        if args.json_only:
            print(json.dumps(asyncio.run(measure_bomb(args.bomb_mib))))
            return
        # Each in a process of its own, so peak memory is that case's alone.
        rows = {"this": bomb_elsewhere(str(ROOT), args.bomb_mib)}
        if args.baseline:
            rows["baseline"] = bomb_elsewhere(args.baseline, args.bomb_mib)
        for name, row in rows.items():
            print(f"{name:<10}", "  ".join(f"{k}: {v}" for k, v in row.items()))
        print(json.dumps(rows))
        return
    results = {"this": asyncio.run(measure(args.count))}
    if args.json_only:
        print(json.dumps(results["this"]))
        return
    if args.baseline:
        # Same work for a like-for-like pair at the baseline's size, then the baseline itself.
        results["this_at_baseline_count"] = asyncio.run(measure(args.baseline_count))
        results["baseline"] = _run_elsewhere(args.baseline, args.baseline_count)
    print(f"{'run':<24}{'count':>7}{'total s':>10}  ms per interaction at n")
    for name, r in results.items():
        points = "  ".join(f"{n}: {ms}" for n, ms in r["ms_at"].items())
        print(f"{name:<24}{r['count']:>7}{r['total_s']:>10}  {points}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()

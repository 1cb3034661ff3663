"""Cassette replay: time per request with 100, 1,000 and 2,000 recorded interactions.

Three ways to replay the same cassette file: the ``ReplayIndex`` lookup alone, the
``websim-mock --cassettes`` server over HTTP (what an app sees), and vcrpy's own replay through
its aiohttp stub (with the same Websim matcher). The index answers in constant time; vcrpy scans
the cassette for each request. Prints a table; the last line is JSON (also written to
``bench/results/replay.json``).

    python bench/replay.py [--quick] [--sizes 100,1000,2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from mock_server.replay import ReplayServer  # noqa: E402
from websim_cassettes import (  # noqa: E402
    Hit,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    ReplayIndex,
    dump_cassette,
    make_vcr,
    provenance,
)
from websim_core.ids import generate_project_id  # noqa: E402
from websim_core.routing import CHAT_PATH  # noqa: E402

HEADERS = {"content-type": "text/plain;charset=UTF-8"}


def _body(i: int, rng: random.Random) -> bytes:
    payload = {
        "project_id": generate_project_id("chat", rng=rng),
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": f"Question number {i}: what is {i} squared?"},
        ],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def write_cassette(directory: Path, size: int) -> Path:
    rng = random.Random(size)
    interactions = []
    for i in range(size):
        answer = json.dumps({"content": f"{i} squared is {i * i}. " + "Some more words. " * 8})
        interactions.append(
            Interaction(
                RecordedRequest("POST", "http://127.0.0.1:9" + CHAT_PATH, _body(i, rng), HEADERS),
                RecordedResponse(
                    200,
                    "OK",
                    {"Content-Type": ["application/json"]},
                    answer.encode(),
                ),
            )
        )
    block = provenance(recorded_against="mock", base_url="http://127.0.0.1:9", tool="bench")
    path = directory / f"bench_{size}.yaml"
    path.write_text(dump_cassette(interactions, block), encoding="utf-8")
    return path


def _sample(size: int, count: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(size) for _ in range(count)]


def bench_index(path: Path, size: int, count: int) -> float:
    """Median seconds per ``ReplayIndex.lookup`` (fresh project IDs, as a client would send)."""
    index = ReplayIndex.from_directory(path.parent, repeat="last")
    rng = random.Random(7)
    bodies = [_body(i, rng) for i in _sample(size, count, 1)]
    times = []
    for body in bodies:
        start = time.perf_counter()
        found = index.lookup("POST", CHAT_PATH, body)
        times.append(time.perf_counter() - start)
        assert isinstance(found, Hit)
    return statistics.median(times)


def _miss_body(i: int, rng: random.Random) -> bytes:
    """A request nothing recorded matches: a recorded conversation with one word changed."""
    return _body(i, rng).replace(b"squared", b"cubed")


def bench_miss(path: Path, size: int, count: int) -> float:
    """Median seconds per ``ReplayIndex.lookup`` that matches nothing (near-miss report built)."""
    index = ReplayIndex.from_directory(path.parent, repeat="last")
    rng = random.Random(11)
    times = []
    for i in _sample(size, count, 4):
        body = _miss_body(i, rng)
        start = time.perf_counter()
        found = index.lookup("POST", CHAT_PATH, body)
        times.append(time.perf_counter() - start)
        assert not isinstance(found, Hit), found
        assert found.closest, found
    return statistics.median(times)


async def bench_hit_behind_misses(path: Path, size: int, rounds: int) -> float:
    """Median seconds for a hit sent together with four misses to the replay server."""
    rng = random.Random(12)
    async with ReplayServer(path.parent) as server, aiohttp.ClientSession() as session:
        url = server.url + CHAT_PATH

        async def post(body: bytes) -> float:
            start = time.perf_counter()
            async with session.post(url, data=body, headers=HEADERS) as response:
                await response.read()
            return time.perf_counter() - start

        times = []
        for i in _sample(size, rounds, 5):
            misses = [post(_miss_body(i + k, rng)) for k in range(4)]
            *_, hit = await asyncio.gather(*misses, post(_body(i, rng)))
            times.append(hit)
        return statistics.median(times)


async def _timed(session: aiohttp.ClientSession, url: str, bodies: list[bytes]) -> float:
    """Median seconds per POST of each body to ``url``, each answered 200."""
    times = []
    for body in bodies:
        start = time.perf_counter()
        async with session.post(url, data=body, headers=HEADERS) as response:
            await response.read()
        times.append(time.perf_counter() - start)
        assert response.status == 200
    return statistics.median(times)


async def bench_server(path: Path, size: int, count: int) -> float:
    """Median seconds per request to the replay server, over HTTP on loopback."""
    rng = random.Random(8)
    bodies = [_body(i, rng) for i in _sample(size, count, 2)]
    async with (
        ReplayServer(path.parent) as server,
        aiohttp.ClientSession() as session,
    ):
        url = server.url + CHAT_PATH
        for body in bodies[:20]:  # warm the connection pool
            async with session.post(url, data=body, headers=HEADERS) as response:
                await response.read()
        return await _timed(session, url, bodies)


async def bench_vcrpy(path: Path, size: int, count: int) -> float:
    """Median seconds per request replayed by vcrpy's aiohttp stub, with the Websim matcher."""
    rng = random.Random(9)
    bodies = [_body(i, rng) for i in _sample(size, count, 3)]
    vcr = make_vcr(cassette_library_dir=path.parent)
    with vcr.use_cassette(path.name, allow_playback_repeats=True):
        async with aiohttp.ClientSession() as session:
            return await _timed(session, "https://websim.ai" + CHAT_PATH, bodies)


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs" if seconds < 0.01 else f"{seconds * 1e3:,.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests per size")
    parser.add_argument("--sizes", default="100,1000,2000")
    parser.add_argument(
        "--miss-size", type=int, default=20000, help="interactions for the miss case (0: skip)"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    fast_count = 200 if args.quick else 1000
    vcr_count = 10 if args.quick else 40
    rounds = 1 if args.quick else 3
    rows: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="websim-bench-replay-") as tmp:
        root = Path(tmp)
        for size in sizes:
            only = root / f"only_{size}"
            only.mkdir()
            path = write_cassette(only, size)
            # Best of a few rounds: noise on a shared machine only ever slows a run down.
            rows[size] = {
                "index_s": min(bench_index(path, size, fast_count) for _ in range(rounds)),
                "server_s": min(
                    asyncio.run(bench_server(path, size, fast_count)) for _ in range(rounds)
                ),
                "vcrpy_s": min(
                    asyncio.run(bench_vcrpy(path, size, vcr_count)) for _ in range(rounds)
                ),
            }
    print(
        f"{'interactions':>12}  {'index lookup':>13}  {'replay server':>13}  {'vcrpy replay':>13}  {'vcrpy/server':>12}"
    )
    for size, row in rows.items():
        ratio = row["vcrpy_s"] / row["server_s"]
        print(
            f"{size:>12,}  {_us(row['index_s']):>13}  {_us(row['server_s']):>13}  "
            f"{_us(row['vcrpy_s']):>13}  {ratio:>11.0f}x"
        )
    misses: dict[str, float] = {}
    if args.miss_size:
        with tempfile.TemporaryDirectory(prefix="websim-bench-replay-") as tmp:
            path = write_cassette(Path(tmp), args.miss_size)
            misses["miss_s"] = bench_miss(path, args.miss_size, 10 if args.quick else 40)
            misses["hit_behind_4_misses_s"] = asyncio.run(
                bench_hit_behind_misses(path, args.miss_size, 3 if args.quick else 10)
            )
        print(
            f"{args.miss_size:,} interactions: a miss {_us(misses['miss_s'])}, "
            f"a hit sent with four misses {_us(misses['hit_behind_4_misses_s'])}"
        )
    first, last = sizes[0], sizes[-1]
    result: dict[str, Any] = {
        "miss": {"size": args.miss_size, **misses},
        "sizes": sizes,
        "per_request_s": {str(k): v for k, v in rows.items()},
        f"flatness_{last}_vs_{first}": rows[last]["server_s"] / rows[first]["server_s"],
        f"index_flatness_{last}_vs_{first}": rows[last]["index_s"] / rows[first]["index_s"],
        f"speedup_vs_vcrpy_{last}": rows[last]["vcrpy_s"] / rows[last]["server_s"],
        f"vcrpy_growth_{last}_vs_{first}": rows[last]["vcrpy_s"] / rows[first]["vcrpy_s"],
        "requests_per_size": {"index_and_server": fast_count, "vcrpy": vcr_count},
        "quick": args.quick,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "replay.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

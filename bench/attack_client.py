"""bench/attack.py's client section: hostile servers against ``WebsimClient``.

``python bench/attack.py --only client [--short]``

A hostile aiohttp server runs in this process on 127.0.0.1 (port 0); each attack runs the client
in a child process (so its peak RSS is its own), with an address-space limit and a wall-clock
limit, and reports what it raised, how long it took and its peak RSS. Everything stays on
loopback and every attack stops by itself: the server caps what it sends, the child is killed
after ``Sizes.wall`` seconds. One more row times the SSE decoder on one long line
(``bench/sse_decoder.py``), at two sizes: linear or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _attack import Row
from _common import peak_rss_mib

CHAT = "/api/v1/inference/run_chat_completion"
MIB = 1 << 20
SSE = "text/event-stream"
HUGE = 10 * 10**9  # what "endless" and "huge" servers promise; they stop at SERVER_CAP
SERVER_CAP = 6 * 1024 * MIB  # never send more than this, whoever is listening
CHILD_AS_LIMIT = 4 * 1024 * MIB  # the child's address space: a failed attack cannot eat the box


# --- the hostile server --------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Where redirects point, and what arrived there.
OTHER_ORIGIN = web.AppKey("other_origin", str)
SEEN = web.AppKey("seen", dict)


async def _stream(
    request: web.Request, headers: dict[str, str], chunks: AsyncIterator[bytes]
) -> web.StreamResponse:
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    sent = 0
    with contextlib.suppress(ConnectionError):
        async for chunk in chunks:
            await response.write(chunk)
            sent += len(chunk)
            if sent >= SERVER_CAP:
                break
        await response.write_eof()
    return response


async def _forever(head: bytes, block: bytes, pause: float = 0.0) -> AsyncIterator[bytes]:
    yield head
    while True:
        yield block
        await asyncio.sleep(pause)


async def endless_chunked(request: web.Request) -> web.StreamResponse:
    """A JSON answer in chunked encoding that never ends."""
    block = b"a" * (256 * 1024)
    return await _stream(
        request, {"Content-Type": "application/json"}, _forever(b'{"content": "', block)
    )


async def huge_fast(request: web.Request) -> web.StreamResponse:
    """A 10 GB JSON answer, Content-Length announced, sent at full speed."""
    block = b"a" * MIB
    headers = {"Content-Type": "application/json", "Content-Length": str(HUGE)}
    return await _stream(request, headers, _forever(b'{"content": "', block))


async def sse_to_chat(request: web.Request) -> web.StreamResponse:
    """An event stream that never sends [DONE], to ``chat()`` (which joins every delta)."""
    event = b'data: {"content": "' + b"a" * (64 * 1024) + b'"}\n\n'
    return await _stream(request, {"Content-Type": SSE}, _forever(b"", event * 4))


def _gzip_bomb(size: int) -> bytes:
    """``{"content": "aaa..."}`` of ``size`` bytes, gzipped (1 GiB is about 1 MiB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(b'{"content": "')]
    block = b"a" * (4 * MIB)
    for _ in range(size // len(block)):
        parts.append(packer.compress(block))
    parts += [packer.compress(b'"}'), packer.flush()]
    return b"".join(parts)


BOMB: dict[str, bytes] = {}


async def gzip_bomb(request: web.Request) -> web.StreamResponse:
    """A 1 MiB gzip body that decompresses to a 1 GiB JSON answer (``Sizes.bomb_mib``)."""
    body = BOMB["body"]  # built once, before the attacks start
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    return web.Response(body=body, headers=headers)


async def _gzip_dribble(pause: float) -> AsyncIterator[bytes]:
    # Each flushed piece is a few KiB on the wire and expands to 4 MiB of small events.
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    event = b'data: {"content": "a"}\n\n'
    block = event * (4 * MIB // len(event))
    while True:
        yield packer.compress(block) + packer.flush(zlib.Z_SYNC_FLUSH)
        await asyncio.sleep(pause)


async def gzip_stream_timeout(request: web.Request) -> web.StreamResponse:
    """A gzip event stream dribbled out; the client's total timeout must still hold."""
    headers = {"Content-Type": SSE, "Content-Encoding": "gzip"}
    return await _stream(request, headers, _gzip_dribble(0.02))


async def long_line(request: web.Request) -> web.StreamResponse:
    """One SSE line of 64 MiB (no newline until the end), sent fast."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'data: {"content": "'
        for _ in range(64):
            yield b"a" * MIB
        yield b'"}\n\ndata: [DONE]\n\n'

    return await _stream(request, {"Content-Type": SSE}, chunks())


def _redirect(status: int) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        other, name = request.app[OTHER_ORIGIN], request.path.split("/")[1]
        return web.Response(status=status, headers={"Location": f"{other}/collect/{name}{CHAT}"})

    return handler


@dataclass(frozen=True)
class Sizes:
    timeout: float = 10.0  # the client's total timeout
    wall: float = 90.0  # a child still running after this long is killed
    bomb_mib: int = 1024  # the gzip bomb, decoded
    line_mib: int = 16  # the SSE decoder's long line, and four times as long
    one_child: bool = False  # every attack's client in the same child process


SHORT = Sizes(timeout=1.0, wall=30.0, bomb_mib=64, line_mib=2, one_child=True)

ATTACKS: dict[str, tuple[Handler, str]] = {
    # name: (server handler, what the child calls)
    "client-endless-chunked": (endless_chunked, "chat"),
    "client-huge-fast": (huge_fast, "chat"),
    "client-sse-to-chat": (sse_to_chat, "chat"),
    "client-gzip-bomb": (gzip_bomb, "chat"),
    # streamed and with no size limit, so that only the timeout can end it
    "client-gzip-stream-timeout": (gzip_stream_timeout, "stream-unbounded"),
    "client-long-line": (long_line, "stream"),
    "client-redirect-307": (_redirect(307), "chat"),
    "client-redirect-302": (_redirect(302), "chat"),
}
NAMES = (*ATTACKS, "client-sse-linear")


async def _collect(request: web.Request) -> web.StreamResponse:
    """The other origin: records what a followed redirect brought, answers a chat reply."""
    request.app[SEEN][request.match_info["name"]].append(
        {
            "method": request.method,
            "headers": dict(request.headers),
            "body": len(await request.read()),
        }
    )
    return web.json_response({"content": "answer from the other origin"})


async def _start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


# --- the client, in a child process ------------------------------------------------------------------


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_AS_LIMIT, CHILD_AS_LIMIT))


async def _child(base_url: str, call: str, timeout: float) -> dict[str, Any]:
    from websim_core import WebsimClient

    messages = [{"role": "user", "content": "hi"}]
    began = time.monotonic()
    outcome: dict[str, Any] = {}
    headers = {"x-custom": "secret-token", "content-type": "text/plain;charset=UTF-8"}
    options: dict[str, Any] = {"timeout": timeout, "headers": headers}
    if call == "stream-unbounded":
        options["max_response_bytes"] = 1 << 50
    try:
        async with WebsimClient(base_url, **options) as client:
            if call.startswith("stream"):
                size = 0
                async for delta in client.stream_chat(messages):
                    size += len(delta)
                outcome["result_chars"] = size
            else:
                outcome["result_chars"] = len(await client.chat(messages))
    except BaseException as exc:  # reported, whatever it is
        outcome["error"] = type(exc).__name__
        outcome["message"] = str(exc)[:200]
    outcome["elapsed_s"] = round(time.monotonic() - began, 2)
    # The process's peak so far: with several attacks in one child, at least this one's.
    outcome["peak_rss_mib"] = round(peak_rss_mib())
    return outcome


async def _children_main(timeout: float, jobs: list[str]) -> list[dict[str, Any]]:
    """The child: each (call, url) of ``jobs`` in turn."""
    return [
        await _child(url, call, timeout) for call, url in zip(jobs[::2], jobs[1::2], strict=True)
    ]


def _run_child(jobs: list[tuple[str, str]], timeout: float, wall: float) -> list[dict[str, Any]]:
    """One child process making the (call, url) ``jobs`` in turn; one outcome each."""
    argv = [sys.executable, __file__, "--child", str(timeout), *(x for job in jobs for x in job)]
    began = time.monotonic()
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=wall, preexec_fn=_limit_memory
        )
    except subprocess.TimeoutExpired:
        killed = {"error": "killed", "message": f"still running after {wall} s", "elapsed_s": wall}
        return [killed] * len(jobs)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        elapsed = round(time.monotonic() - began, 2)
        broken = {"error": f"exit {done.returncode}", "message": done.stderr.strip()[-200:]}
        return [{**broken, "elapsed_s": elapsed}] * len(jobs)
    results: list[dict[str, Any]] = json.loads(lines[-1])
    return results


def _row(name: str, result: dict[str, Any], sizes: Sizes, seen: list[dict[str, Any]]) -> Row:
    error = result.get("error", "no error")
    elapsed, peak = result.get("elapsed_s", "?"), result.get("peak_rss_mib", 1e9)
    figure = f"{error} after {elapsed} s, peak {peak} MiB"
    if name.startswith("client-redirect"):
        figure = f"{error}; the other origin got {[s['method'] for s in seen] or 'nothing'}"
        held = not seen and error == "UnexpectedRedirectError"
        return Row(name, figure, "UnexpectedRedirectError, nothing sent elsewhere", held)
    if name == "client-gzip-stream-timeout":
        late = result["elapsed_s"] - sizes.timeout
        figure = f"{error} {late:+.2f} s after the {sizes.timeout:g} s timeout"
        held = error == "WebsimTimeoutError" and late < 1.0
        return Row(name, figure, "WebsimTimeoutError within 1 s", held)
    held = error == "ResponseFormatError" and peak < 400
    return Row(name, figure, "ResponseFormatError, peak < 400 MiB", held)


def sse_linear(sizes: Sizes) -> Row:
    """One long SSE line, then one four times as long, beside a baseline doing the least work
    with the same bytes: a quadratic decoder's time grows 16x where the baseline's grows 4x."""
    import sse_decoder

    def best(mib: int, baseline: bool) -> float:  # a shared machine only ever slows a run
        return min(sse_decoder.long_line_seconds(mib, baseline=baseline) for _ in range(3))

    small, large = sizes.line_mib, 4 * sizes.line_mib
    times = {(mib, base): best(mib, base) for mib in (small, large) for base in (False, True)}
    growth = times[large, False] / times[small, False]
    base_growth = times[large, True] / times[small, True]
    figure = (
        f"{small} -> {large} MiB line: {times[small, False] * 1000:,.0f} -> "
        f"{times[large, False] * 1000:,.0f} ms ({growth:.1f}x; baseline "
        f"{times[small, True] * 1000:,.0f} -> {times[large, True] * 1000:,.0f} ms, {base_growth:.1f}x)"
    )
    return Row("client-sse-linear", figure, "growth < 2x the baseline's", growth < 2 * base_growth)


async def _attack_all(names: list[str], sizes: Sizes) -> list[Row]:
    """The served attacks ``names``: each in a child of its own, or (``--short``) all in one
    child (its peak memory then bounds each one's)."""
    other = web.Application()
    other[SEEN] = {name: [] for name in names}
    other.router.add_route("*", "/collect/{name}" + CHAT, _collect)
    other_runner, other_url = await _start(other)
    app = web.Application()
    app[OTHER_ORIGIN] = other_url
    for name in names:
        app.router.add_post(f"/{name}{CHAT}", ATTACKS[name][0])
    runner, url = await _start(app)
    if "client-gzip-bomb" in names:
        BOMB["body"] = await asyncio.to_thread(_gzip_bomb, sizes.bomb_mib * MIB)
    jobs = [(ATTACKS[name][1], f"{url}/{name}") for name in names]
    batches = [jobs] if sizes.one_child else [[job] for job in jobs]
    results = []
    try:
        for batch in batches:
            results += await asyncio.to_thread(_run_child, batch, sizes.timeout, sizes.wall)
    finally:
        await runner.cleanup()
        await other_runner.cleanup()
    return [
        _row(n, result, sizes, other[SEEN][n]) for n, result in zip(names, results, strict=True)
    ]


def run(names: list[str], short: bool, checkout: Path) -> list[Row]:
    """The client attacks ``names`` (this checkout's client), one after another."""
    sizes = SHORT if short else Sizes()
    served = [name for name in names if name in ATTACKS]
    by_name = {row.attack: row for row in asyncio.run(_attack_all(served, sizes))}
    if "client-sse-linear" in names:
        by_name["client-sse-linear"] = sse_linear(sizes)
    return [by_name[name] for name in names]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:  # the client side (see _run_child)
        print(json.dumps(asyncio.run(_children_main(float(sys.argv[2]), sys.argv[3:]))))
        sys.exit(0)
    import attack

    sys.exit(attack.main(["--only", "client", *sys.argv[1:]]))

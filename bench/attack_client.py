"""Hostile servers against ``WebsimClient`` (issue 15, client part): each attack, held or failed.

``python bench/attack_client.py [--only NAME ...] [--timeout SECONDS] [--json]``

A hostile aiohttp server runs in this process on 127.0.0.1 (port 0); each attack runs the client
in a child process (so its peak RSS is its own), with an address-space limit and a wall-clock
limit, and reports what it raised, how long it took and its peak RSS. Everything stays on
loopback and every attack stops by itself: the server caps what it sends, the child is killed
after ``--wall`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

CHAT = "/api/v1/inference/run_chat_completion"
MIB = 1 << 20
SSE = "text/event-stream"
HUGE = 10 * 10**9  # what "endless" and "huge" servers promise; they stop at SERVER_CAP
SERVER_CAP = 6 * 1024 * MIB  # never send more than this, whoever is listening
CHILD_AS_LIMIT = 4 * 1024 * MIB  # the child's address space: a failed attack cannot eat the box


# --- the hostile server --------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


BOMB: dict[int, bytes] = {}


async def gzip_bomb(request: web.Request) -> web.StreamResponse:
    """A 1 MiB gzip body that decompresses to a 1 GiB JSON answer."""
    body = BOMB[1024]  # built once, before the attacks start
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
        other = request.app["other_origin"]
        return web.Response(status=status, headers={"Location": f"{other}/collect{CHAT}"})

    return handler


ATTACKS: dict[str, tuple[Handler, str]] = {
    # name: (server handler, what the child calls)
    "endless-chunked": (endless_chunked, "chat"),
    "huge-fast": (huge_fast, "chat"),
    "sse-to-chat": (sse_to_chat, "chat"),
    "gzip-bomb": (gzip_bomb, "chat"),
    # streamed and with no size limit, so that only the timeout can end it
    "gzip-stream-timeout": (gzip_stream_timeout, "stream-unbounded"),
    "long-line": (long_line, "stream"),
    "redirect-307": (_redirect(307), "chat"),
    "redirect-302": (_redirect(302), "chat"),
}


async def _collect(request: web.Request) -> web.StreamResponse:
    """The other origin: records what a followed redirect brought, answers a chat reply."""
    request.app["seen"].append(
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
    outcome["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return outcome


def _run_child(name: str, url: str, call: str, timeout: float, wall: float) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", call, url, str(timeout)]
    began = time.monotonic()
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=wall, preexec_fn=_limit_memory
        )
    except subprocess.TimeoutExpired:
        return {"error": "killed", "message": f"still running after {wall} s", "elapsed_s": wall}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {
            "error": f"exit {done.returncode}",
            "message": done.stderr.strip()[-200:],
            "elapsed_s": round(time.monotonic() - began, 2),
        }
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _verdict(name: str, result: dict[str, Any], timeout: float, seen: list[dict[str, Any]]) -> str:
    error = result.get("error")
    if name.startswith("redirect"):
        followed = bool(seen)
        held = not followed and error == "UnexpectedRedirectError"
        return "held" if held else f"failed (other origin got {[s['method'] for s in seen]})"
    if name == "gzip-stream-timeout":
        late = result["elapsed_s"] - timeout
        held = error == "WebsimTimeoutError" and late < 1.0
        return "held" if held else f"failed ({late:+.1f} s after the timeout)"
    if name == "long-line":
        held = error == "ResponseFormatError" and result.get("peak_rss_mib", 1e9) < 400
        return "held" if held else "failed"
    held = error == "ResponseFormatError" and result.get("peak_rss_mib", 1e9) < 400
    return "held" if held else "failed"


async def _attack_all(names: list[str], timeout: float, wall: float) -> list[dict[str, Any]]:
    other = web.Application()
    other["seen"] = []
    other.router.add_route("*", "/collect" + CHAT, _collect)
    other_runner, other_url = await _start(other)
    app = web.Application()
    app["other_origin"] = other_url
    for name in names:
        app.router.add_post(f"/{name}{CHAT}", ATTACKS[name][0])
    runner, url = await _start(app)
    if "gzip-bomb" in names:
        BOMB[1024] = await asyncio.to_thread(_gzip_bomb, 1024 * MIB)
    rows = []
    try:
        for name in names:
            other["seen"].clear()
            call = ATTACKS[name][1]
            result = await asyncio.to_thread(_run_child, name, f"{url}/{name}", call, timeout, wall)
            result["attack"] = name
            result["verdict"] = _verdict(name, result, timeout, other["seen"])
            rows.append(result)
    finally:
        await runner.cleanup()
        await other_runner.cleanup()
    return rows


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--child"]:
        call, url, timeout = sys.argv[2], sys.argv[3], float(sys.argv[4])
        print(json.dumps(asyncio.run(_child(url, call, timeout))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(ATTACKS), default=None)
    parser.add_argument("--timeout", type=float, default=10.0, help="the client's total timeout")
    parser.add_argument("--wall", type=float, default=90.0, help="kill a child after this long")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    names = args.only or list(ATTACKS)
    rows = asyncio.run(_attack_all(names, args.timeout, args.wall))
    if args.json:
        print(json.dumps(rows, indent=2))
    for row in rows:
        print(
            f"{row['attack']:<22} {row['verdict']:<40} {row.get('elapsed_s', '?'):>7} s "
            f"{row.get('peak_rss_mib', '?'):>6} MiB  {row.get('error', 'ok')}: {row.get('message', '')[:90]}"
        )
    return 0 if all(row["verdict"] == "held" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""bench/attack.py's proxy section: the recording proxy (``--record-to``) under hostile use.

Each attack records through a ``ProxyServer`` (in this process, or ``python -m mock_server
--record-to`` where a process must die) in front of a small upstream on 127.0.0.1, into a
temporary directory, and reads back what reached the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record_cost
from _attack import Row, failed
from attack_mock import running

from mock_server.app_server import AppServer
from mock_server.record_proxy import ProxyServer
from websim_cassettes import check_file, load_cassette
from websim_cassettes.secrets import stream_text
from websim_core.routing import CHAT_PATH
from websim_core.sse import encode_delta

PROJECT = "ke3_xh5gai3gjkmruomu"
CHAT = {"project_id": PROJECT, "messages": [{"role": "user", "content": "Hello"}]}
JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Sizes:
    interactions: int = 1000  # recorded one after another, for the cost per interaction
    bomb_mib: int = 200  # the upstream's gzip bomb, decoded
    sigkill_requests: int = 200  # sent at once to the proxy that is then killed


SHORT = Sizes(interactions=50, bomb_mib=32, sigkill_requests=40)


@dataclass
class Upstream:
    """Answers chats (a stream when told, paused after its first event until ``go``),
    keeping what it received."""

    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    stream: list[bytes] | None = None
    go: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()  # aiohttp decodes a gzip request body
        self.received.append((request.path, dict(request.headers), raw))
        if request.path != CHAT_PATH:
            return web.json_response({"forwarded": request.path})
        try:
            json.loads(raw)
        except ValueError:
            return web.json_response({"message": "body is not JSON"}, status=400)
        if self.stream is None:
            return web.json_response({"content": "hi"})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i, chunk in enumerate(self.stream):
            if i == 1:
                await self.go.wait()
            await response.write(chunk)
        return response


@contextlib.asynccontextmanager
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    fake = Upstream()
    fake.go.set()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    async with AppServer(app) as server:
        yield fake, server.url


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as answer,
    ):
        return answer.status, await answer.read()


class Warnings(logging.Handler):
    """Every WARNING or worse logged while it is installed on the root logger."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> Warnings:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)


# Each secret where the issue found one reaching the cassette.
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw\n-----END PRIVATE KEY-----"
PLANTED_HEADERS = {
    "Authentication": "authentication-value-1234",
    "Ocp-Apim-Subscription-Key": "apim-subscription-5678",
    "X-Custom": "token=custom-token-abcdef",
}
PLANTED_QUERY = {
    "key": "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "accessToken": "query-access-token-99",
    "sig": "query-signature-42",
    "sessionid": "query-session-id-7",
}
PLANTED_BODY = {
    "meta": {"deep": [{"accessToken": "camel-access-token-1"}]},
    "clientSecret": "camel-client-secret-2",
    "notes": "sk_live_51Habcdefghijklmnop hf_abcdefghijklmnopqrstuvwxyz",
    "key": PEM,
}
PLANTED_ANSWER = "your token: glpat-abcdefghijklmnopqrst and password=split0across0events0secret"
PLANTED = {
    *(v.removeprefix("token=") for v in PLANTED_HEADERS.values()),
    *PLANTED_QUERY.values(),
    "camel-access-token-1",
    "camel-client-secret-2",
    *PLANTED_BODY["notes"].split(),
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw",
    "glpat-abcdefghijklmnopqrst",
    "split0across0events0secret",
}


async def secrets(sizes: Sizes) -> Row:
    """Secrets in headers, query, camelCase JSON, PEM, and split across SSE events."""
    limit = "0 checker findings, 0 planted secrets on disk"
    # The answer cut every 7 characters: the last secret is split across events.
    events = [encode_delta(PLANTED_ANSWER[i : i + 7]) for i in range(0, len(PLANTED_ANSWER), 7)]
    query = "?" + "&".join(f"{k}={v}" for k, v in PLANTED_QUERY.items())
    body = json.dumps({**CHAT, "stream": True, **PLANTED_BODY}).encode()
    headers = {"content-type": "text/plain;charset=UTF-8", **PLANTED_HEADERS}
    with tempfile.TemporaryDirectory() as tmp:
        async with upstream() as (fake, url), ProxyServer(url, tmp, cassette="leaky") as proxy:
            fake.stream = [*events, b"data: [DONE]\n\n"]
            status, _ = await post(proxy.url + CHAT_PATH + query, body, headers)
        path = Path(tmp) / "leaky.yaml"
        findings = len(check_file(path))
        text = path.read_text()
        joined = stream_text(load_cassette(path).interactions[0].response.body) or ""
    leaked = [s for s in PLANTED if s in text or s in joined]
    figure = f"{findings} checker findings, {len(leaked)}/{len(PLANTED)} planted secrets on disk"
    return Row("proxy-secrets", figure, limit, status == 200 and findings == 0 and not leaked)


async def restart(sizes: Sizes) -> Row:
    """Record 3, restart the proxy on the same cassette, record 1 more."""
    with tempfile.TemporaryDirectory() as tmp:
        async with upstream() as (_, url):
            for count in (3, 1):
                async with ProxyServer(url, tmp, cassette="kept") as proxy:
                    for _ in range(count):
                        await post(proxy.url + CHAT_PATH, json.dumps(CHAT).encode(), JSON)
        kept = len(load_cassette(Path(tmp) / "kept.yaml").interactions)
    return Row("proxy-restart", f"{kept} of 4 interactions kept", "4 of 4", kept == 4)


async def hangup(sizes: Sizes) -> Row:
    """The client reads the first event of a stream and hangs up; the rest comes later."""
    with tempfile.TemporaryDirectory() as tmp, Warnings() as warned:
        async with upstream() as (fake, url), ProxyServer(url, tmp, cassette="gone") as proxy:
            fake.stream = [encode_delta("first "), encode_delta("second"), b"data: [DONE]\n\n"]
            fake.go.clear()
            async with aiohttp.ClientSession() as session:
                answer = await session.post(proxy.url + CHAT_PATH, json={**CHAT, "stream": True})
                await answer.content.readany()
                answer.close()
            fake.go.set()
            path = Path(tmp) / "gone.yaml"
            for _ in range(500):
                if path.exists():
                    break
                await asyncio.sleep(0.01)
        recorded = (
            stream_text(load_cassette(path).interactions[0].response.body)
            if path.exists()
            else None
        )
    figure = f"recorded {recorded!r}, {len(warned.records)} warnings or errors logged"
    held = recorded == "first second" and not warned.records
    return Row("proxy-hangup", figure, "'first second' recorded, nothing logged", held)


async def long_name(sizes: Sizes) -> Row:
    """Cassette names of 250 and 300 characters (past the file system's 255 bytes)."""
    statuses = []
    with tempfile.TemporaryDirectory() as tmp:
        async with upstream() as (fake, url), ProxyServer(url, tmp) as proxy:
            for length in (250, 300):
                headers = {**JSON, "X-Websim-Cassette": "n" * length}
                status, _ = await post(proxy.url + CHAT_PATH, json.dumps(CHAT).encode(), headers)
                statuses.append(status)
            forwarded = len(fake.received)
    figure = f"answers {statuses}, {forwarded} forwarded"
    return Row(
        "proxy-long-name",
        figure,
        "400 each, none forwarded",
        statuses == [400, 400] and not forwarded,
    )


async def _flood(url: str, count: int) -> None:
    """``count`` recordings at once; their answers do not matter (the proxy is killed)."""
    body = json.dumps(CHAT).encode()
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.post(url + CHAT_PATH, data=body, headers=JSON) as answer:
                    await answer.read()

        await asyncio.gather(*(one() for _ in range(count)))


def _temps(directory: str) -> list[Path]:
    return [p for p in Path(directory).iterdir() if p.name.endswith(".tmp")]


async def sigkill(sizes: Sizes, checkout: Path) -> Row:
    """SIGKILL a recording proxy while it writes; start it again a minute later."""
    limit = "0 temp files after the restart; the cassette loads"
    with tempfile.TemporaryDirectory() as tmp:
        async with upstream() as (_, url):
            flags = ("--record-to", tmp, "--upstream", url, "--cassette", "killed")
            async with running(checkout, *flags) as proxy:
                flood = asyncio.ensure_future(
                    _flood(f"http://127.0.0.1:{proxy.port}", sizes.sigkill_requests)
                )
                # Killed as soon as a write's temporary file is seen once the cassette exists
                # (or when all were sent): a write that would replace recorded interactions.
                # (Killed during the very first write, there is no cassette to check at all.)
                cassette = Path(tmp) / "killed.yaml"
                while not (cassette.exists() and _temps(tmp)) and not flood.done():  # noqa: ASYNC110 (a directory: no event)
                    await asyncio.sleep(0.001)
                proxy.proc.kill()
                await asyncio.to_thread(proxy.proc.wait)
                await flood
            left = _temps(tmp)
            # A stale temp, named as stage_file names them, in case the kill fell between writes.
            (Path(tmp) / ".killed.yaml.abcd1234.tmp").write_text("half")
            for path in _temps(tmp):  # "a minute later": a live writer's temps are younger
                os.utime(path, (time.time() - 120, time.time() - 120))
            async with ProxyServer(url, tmp, cassette="killed"):  # starting is what cleans
                pass
            after = _temps(tmp)
            try:
                kept: int | str = len(load_cassette(Path(tmp) / "killed.yaml").interactions)
            except Exception as exc:  # what a half-written cassette would raise
                kept = f"unloadable ({exc!r:.60})"
    figure = (
        f"SIGKILL left {len(left)} temp file(s) (+1 planted); {len(after)} after the restart; "
        f"cassette: {kept} interactions"
    )
    return Row("proxy-sigkill-temps", figure, limit, not after and isinstance(kept, int))


async def gzip_request(sizes: Sizes) -> Row:
    """A gzip-compressed request body, ``Content-Encoding: gzip``."""
    raw = json.dumps(CHAT).encode()
    headers = {**JSON, "Content-Encoding": "gzip"}
    with tempfile.TemporaryDirectory() as tmp:
        async with upstream() as (fake, url), ProxyServer(url, tmp, cassette="z") as proxy:
            status, _ = await post(proxy.url + CHAT_PATH, gzip.compress(raw, mtime=0), headers)
        # (the proxy also asks the upstream's /__admin/requests whether it is a mock)
        chats = [(seen, body) for path, seen, body in fake.received if path == CHAT_PATH]
        ((seen, body),) = chats or [({}, b"")]
    encoding = seen.get("Content-Encoding")
    figure = f"upstream answered {status}; it got Content-Encoding {encoding}, a body it could read: {body == raw}"
    return Row(
        "proxy-gzip-request",
        figure,
        "200; gzip as sent",
        status == 200 and encoding == "gzip" and body == raw,
    )


async def admin(sizes: Sizes) -> Row:
    """``/__admin/*`` through the proxy: answered there, never forwarded nor recorded."""
    with tempfile.TemporaryDirectory() as tmp:
        async with upstream() as (fake, url), ProxyServer(url, tmp) as proxy:
            async with aiohttp.ClientSession() as session:
                statuses = []
                for method, path in (("GET", "/__admin/requests"), ("POST", "/__admin/reset")):
                    async with session.request(method, proxy.url + path) as answer:
                        statuses.append(answer.status)
            forwarded, files = len(fake.received), len(os.listdir(tmp))
    figure = f"answers {statuses}, {forwarded} forwarded, {files} files written"
    held = statuses == [404, 404] and not forwarded and not files
    return Row("proxy-admin", figure, "404 here, 0 forwarded, 0 written", held)


async def cost(sizes: Sizes) -> Row:
    """``bench/record_cost.py``: interactions recorded one after another into one cassette."""
    result = await record_cost.measure(sizes.interactions)
    points = ", ".join(f"{n}: {ms} ms" for n, ms in result["ms_at"].items())
    figure = f"{sizes.interactions:,} in {result['total_s']} s (at n = {points})"
    limit = f"{sizes.interactions:,} under 10 s"
    return Row("proxy-cost", figure, limit, result["total_s"] < 10)


async def upstream_bomb(sizes: Sizes, checkout: Path) -> Row:
    """``bench/record_cost.py --bomb``: the upstream answers a gzip bomb (own process)."""
    result = await asyncio.to_thread(record_cost.bomb_elsewhere, str(checkout), sizes.bomb_mib)
    figure = (
        f"{result['bomb_bytes'] // 1024} KiB bomb ({sizes.bomb_mib} MiB decoded): client got "
        f"{result['client_got_bytes'] // 1024} KiB, cassette {result['cassette_bytes']} bytes, "
        f"peak +{result['peak_rss_growth_mib']} MiB"
    )
    held = (
        result["client_got_bytes"] == result["bomb_bytes"]
        and result["cassette_bytes"] == 0
        and result["peak_rss_growth_mib"] < 100
    )
    return Row(
        "proxy-upstream-gzip-bomb", figure, "relayed whole; not recorded; peak +100 MiB", held
    )


Attack = Callable[[Sizes, Path], Awaitable[Row]]


def _plain(attack: Callable[[Sizes], Awaitable[Row]]) -> Attack:
    return lambda sizes, checkout: attack(sizes)


ATTACKS: dict[str, Attack] = {
    "proxy-secrets": _plain(secrets),
    "proxy-restart": _plain(restart),
    "proxy-hangup": _plain(hangup),
    "proxy-long-name": _plain(long_name),
    "proxy-sigkill-temps": sigkill,
    "proxy-gzip-request": _plain(gzip_request),
    "proxy-admin": _plain(admin),
    "proxy-cost": _plain(cost),
    "proxy-upstream-gzip-bomb": upstream_bomb,
}
NAMES = tuple(ATTACKS)


def run(names: list[str], short: bool, checkout: Path) -> list[Row]:
    """The proxy attacks ``names``, one after another (the proxy is this checkout's, or
    ``checkout``'s where it runs in a process of its own)."""
    sizes = SHORT if short else Sizes()

    async def attacks() -> list[Row]:
        rows = []
        for name in names:
            try:
                rows.append(await asyncio.wait_for(ATTACKS[name](sizes, checkout), 300))
            except Exception as exc:  # reported as a FAILED row, whatever it is
                rows.append(failed(name, "(the attack's own)", exc))
        return rows

    return asyncio.run(attacks())

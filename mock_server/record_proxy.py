"""Record through a proxy: ``websim-mock --record-to DIR --upstream URL``.

Each request goes to the upstream; its answer goes back to the client as it arrives (streams
chunk by chunk) and into a scrubbed vcrpy cassette, rewritten atomically after every interaction,
so an interrupted recording leaves the last complete cassette, never half of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from websim_cassettes import (
    Interaction,
    dump_cassette,
    provenance,
    scrub_request,
    scrub_response,
    write_atomic,
)
from websim_cassettes.files import interaction_from_vcrpy

from .replay import CASSETTE_HEADER
from .server import AppServer

__all__ = ["PROXY_KEY", "ProxyServer", "RecordingProxy", "create_proxy_app"]

# Hop-by-hop headers (RFC 9110 7.6.1) and what the proxy sets itself.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_LIVE_HOSTS = frozenset({"websim.ai", "api.websim.com", "www.websim.ai"})


class RecordingProxy:
    """The proxy's state: where to forward, where to write, what has been recorded so far."""

    def __init__(
        self, upstream: str, directory: str | os.PathLike[str], *, cassette: str | None = None
    ) -> None:
        if not upstream.lower().startswith(("http://", "https://")):
            raise ValueError(f"upstream must be an http(s) URL, not {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self.directory = Path(directory)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.default_cassette = _cassette_name(cassette or f"recording-{stamp}")
        self.recorded: dict[str, list[Interaction]] = {}
        self.recorded_against = "live" if urlsplit(self.upstream).hostname in _LIVE_HOSTS else None
        self._lock = asyncio.Lock()
        self.session: aiohttp.ClientSession | None = None

    def path(self, cassette: str) -> Path:
        return self.directory / cassette

    async def _against(self) -> str:
        if self.recorded_against is None:
            self.recorded_against = "upstream"
            assert self.session is not None
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                async with self.session.get(
                    self.upstream + "/__admin/requests", timeout=aiohttp.ClientTimeout(total=5)
                ) as answer:
                    if answer.status == 200 and isinstance(await answer.json(), dict):
                        self.recorded_against = "mock"
        return self.recorded_against

    async def record(self, cassette: str, interaction: Interaction) -> None:
        """Add an interaction and rewrite its cassette atomically (in a worker thread)."""
        against = await self._against()
        async with self._lock:
            interactions = self.recorded.setdefault(cassette, [])
            interactions.append(interaction)
            block = provenance(
                recorded_against=against,
                base_url=self.upstream,
                tool="mock_server.record_proxy",
            )
            text = dump_cassette(list(interactions), block)
            await asyncio.to_thread(write_atomic, self.path(cassette), text)


PROXY_KEY = web.AppKey("websim_recording_proxy", RecordingProxy)


def _cassette_name(name: str) -> str:
    base = os.path.basename(name.strip()) or "recording"
    return base if base.endswith((".yaml", ".yml")) else base + ".yaml"


def _scrubbed(
    method: str, url: str, body: bytes, headers: dict[str, str], answer: dict[str, Any]
) -> Interaction:
    """The interaction as vcrpy with the Websim configuration would have recorded it."""
    from vcr.filters import decode_response
    from vcr.request import Request

    request = scrub_request(Request(method, url, body or None, dict(headers)))
    return interaction_from_vcrpy(request, scrub_response(decode_response(answer)))


async def _forward(request: web.Request) -> web.StreamResponse:
    proxy = request.app[PROXY_KEY]
    assert proxy.session is not None
    body = await request.read()
    cassette = _cassette_name(request.headers.get(CASSETTE_HEADER) or proxy.default_cassette)
    sent = {
        k: v
        for k, v in request.headers.items()
        if k.lower() not in _HOP and k.lower() != CASSETTE_HEADER.lower()
    }
    url = proxy.upstream + request.path_qs
    try:
        upstream = await proxy.session.request(
            request.method, url, data=body or None, headers=sent, allow_redirects=False
        )
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        message = f"upstream {proxy.upstream} unreachable: {exc or type(exc).__name__}"
        return web.json_response({"message": message, "field": None}, status=502)
    chunks: list[bytes] = []
    async with upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in upstream.headers.items():
            if name.lower() not in _HOP:
                response.headers.add(name, value)
        if upstream.content_length is not None and "Transfer-Encoding" not in upstream.headers:
            response.content_length = upstream.content_length
        await response.prepare(request)
        # Every chunk goes out as it arrives, but the client must not see the answer complete
        # before it is on disk: a chunked answer ends at write_eof, after the cassette is
        # written; a length-delimited one ends with its last byte, so that chunk waits too.
        held: bytes | None = None
        length, received = upstream.content_length, 0
        async for chunk in upstream.content.iter_any():
            chunks.append(chunk)
            received += len(chunk)
            if length is not None and received >= length:
                held = chunk
            else:
                await response.write(chunk)
        recorded_headers: dict[str, list[str]] = {}
        for name, value in upstream.headers.items():
            recorded_headers.setdefault(str(name), []).append(value)
        answer = {
            "status": {"code": upstream.status, "message": upstream.reason or ""},
            "headers": recorded_headers,
            "body": {"string": b"".join(chunks)},
        }
    await proxy.record(cassette, _scrubbed(request.method, url, body, sent, answer))
    if held is not None:
        await response.write(held)
    await response.write_eof()
    return response


async def _open(app: web.Application) -> None:
    # No automatic decompression: the client gets the upstream's bytes as they are; the
    # cassette stores them decoded (vcrpy's decode_compressed_response does the same).
    app[PROXY_KEY].session = aiohttp.ClientSession(
        auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None, sock_connect=30)
    )


async def _close(app: web.Application) -> None:
    session = app[PROXY_KEY].session
    if session is not None:
        await session.close()


def create_proxy_app(
    upstream: str, directory: str | os.PathLike[str], *, cassette: str | None = None
) -> web.Application:
    """A recording proxy app; ``X-Websim-Cassette: name`` picks a request's cassette file."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[PROXY_KEY] = RecordingProxy(upstream, directory, cassette=cassette)
    app.on_startup.append(_open)
    app.on_cleanup.append(_close)
    app.router.add_route("*", "/{tail:.*}", _forward)
    return app


class ProxyServer(AppServer):
    """``async with ProxyServer(upstream, "cassettes") as proxy: proxy.url`` records through it."""

    def __init__(
        self,
        upstream: str,
        directory: str | os.PathLike[str],
        *,
        cassette: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(
            create_proxy_app(upstream, directory, cassette=cassette), host=host, port=port
        )
        self.proxy = self.app[PROXY_KEY]

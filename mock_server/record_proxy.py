"""Record through a proxy: ``websim-mock --record-to DIR --upstream URL``.

Each request goes to the upstream as sent (compressed bodies too); its answer goes back to the
client as it arrives (streams chunk by chunk) and into a scrubbed vcrpy cassette, rewritten
atomically after every interaction (each serialized once, written off the event loop), so an
interrupted recording leaves the last complete cassette, never half of one. A cassette already
there is added to, never replaced. ``/healthz`` and ``/__admin/*`` are answered here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from websim_cassettes import CassetteLoadError, Interaction, provenance, write_atomic
from websim_cassettes.append import CassetteLog
from websim_cassettes.capture import BodyTooLarge, capture
from websim_cassettes.files import remove_stale_temps

from .app_server import AppServer
from .replay import CASSETTE_HEADER

__all__ = [
    "MAX_CASSETTE_NAME",
    "MAX_RECORDED_BODY",
    "PROXY_KEY",
    "CassetteNameError",
    "ProxyServer",
    "RecordingProxy",
    "cassette_name",
    "create_proxy_app",
]

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


# The longest cassette file name: the file system's 255 bytes, less stage_file's temporary-name
# overhead (a dot, a dot, 8 random characters and ".tmp").
MAX_CASSETTE_NAME = 240
# The most of one answer body kept for the cassette, decoded; past it the client still gets
# every byte but the interaction is not recorded (a WARNING says so).
MAX_RECORDED_BODY = 16 * 1024 * 1024
_LOG = logging.getLogger("websim.record_proxy")


class CassetteNameError(ValueError):
    """A cassette name the proxy cannot write (too long, or nothing left of it)."""


class RecordingProxy:
    """The proxy's state: where to forward, where to write, what has been recorded so far."""

    def __init__(
        self,
        upstream: str,
        directory: str | os.PathLike[str],
        *,
        cassette: str | None = None,
        max_body: int = MAX_RECORDED_BODY,
    ) -> None:
        if not upstream.lower().startswith(("http://", "https://")):
            raise ValueError(f"upstream must be an http(s) URL, not {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self.directory = Path(directory)
        self.max_body = max_body
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.default_cassette = cassette_name(cassette or f"recording-{stamp}")
        self.recorded_against = "live" if urlsplit(self.upstream).hostname in _LIVE_HOSTS else None
        self._logs: dict[str, CassetteLog] = {}
        self._written: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.session: aiohttp.ClientSession | None = None

    def path(self, cassette: str) -> Path:
        return self.directory / cassette

    def recorded(self, cassette: str) -> int:
        """How many interactions the cassette holds on disk."""
        return self._written.get(cassette, 0)

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

    async def open(self, cassette: str) -> CassetteLog:
        """The cassette's log, picking up what the file already holds.

        Raises ``CassetteLoadError`` when a file is there that vcrpy cannot load.
        """
        log = self._logs.get(cassette)
        if log is None:
            block = provenance(
                recorded_against=await self._against(),
                base_url=self.upstream,
                tool="mock_server.record_proxy",
            )
            # An earlier recording under this name is kept: new interactions go after it.
            log = await asyncio.to_thread(CassetteLog, self.path(cassette), block)
            log = self._logs.setdefault(cassette, log)
            self._written.setdefault(cassette, len(log))
        return log

    async def record(self, cassette: str, interaction: Interaction) -> None:
        """Add an interaction; return once the cassette on disk holds it.

        Each interaction is serialized once; the file is rewritten atomically off the event
        loop, and interactions that arrive while a write is running go out in the next one.
        """
        log = await self.open(cassette)
        log.add(interaction)
        wanted = len(log)
        async with self._locks.setdefault(cassette, asyncio.Lock()):
            if self._written[cassette] >= wanted:
                return  # an earlier writer's rewrite already held it
            count = len(log)
            await asyncio.to_thread(_write, self.path(cassette), log, count)
            self._written[cassette] = count

    async def sync(self) -> None:
        """Flush every cassette written to the disk itself (the proxy is closing)."""
        for cassette in self._logs:
            await asyncio.to_thread(_sync, self.path(cassette))


def _sync(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _write(path: Path, log: CassetteLog, count: int) -> None:
    # No fsync per interaction (it was most of the cost): the rename still means no reader and
    # no killed proxy ever leaves half a cassette; the last write is synced on close.
    write_atomic(path, log.text(count), durable=False)


PROXY_KEY = web.AppKey("websim_recording_proxy", RecordingProxy)


def cassette_name(name: str) -> str:
    """The file name for a cassette name: no directories, ``.yaml`` added, not hidden.

    Raises ``CassetteNameError`` when it would be longer than the file system allows.
    """
    base = os.path.basename(name.strip()).lstrip(".") or "recording"
    base = base if base.endswith((".yaml", ".yml")) else base + ".yaml"
    if len(base.encode("utf-8")) > MAX_CASSETTE_NAME:
        raise CassetteNameError(
            f"cassette name is {len(base.encode('utf-8'))} bytes as a file name "
            f"(at most {MAX_CASSETTE_NAME}): {base[:40]!r}..."
        )
    return base


def _error(status: int, message: str) -> web.Response:
    # The mock's error shape (issue 14): what every real client surfaces.
    return web.json_response({"message": message, "field": None}, status=status)


async def _healthz(request: web.Request) -> web.Response:
    proxy = request.app[PROXY_KEY]
    return web.json_response({"status": "ok", "recording_to": os.fspath(proxy.directory)})


async def _admin(request: web.Request) -> web.Response:
    # Not forwarded: recorded, an admin call would fail the cassette's check; and the
    # upstream's admin API is the upstream's, reachable there.
    return _error(
        404,
        f"{request.path} is not forwarded: the recording proxy has no admin API "
        "(only /healthz); call the upstream's directly",
    )


async def _forward(request: web.Request) -> web.StreamResponse:
    proxy = request.app[PROXY_KEY]
    assert proxy.session is not None
    try:
        cassette = cassette_name(request.headers.get(CASSETTE_HEADER) or proxy.default_cassette)
    except CassetteNameError as exc:
        return _error(400, f"{CASSETTE_HEADER}: {exc}")
    try:
        await proxy.open(cassette)  # before forwarding: a cassette we cannot add to is a 409
    except CassetteLoadError as exc:
        return _error(
            409, f"cassette {cassette} is there but cannot be added to ({exc}); move it away"
        )
    body = await request.read()  # as sent: this server does not decompress request bodies
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
        return _error(502, f"upstream {proxy.upstream} unreachable: {exc or type(exc).__name__}")
    relay = _Relay(request, upstream, proxy.max_body)
    async with upstream:
        await relay.run()
    if relay.kept is not None:
        try:
            interaction = capture(
                request.method,
                url,
                (sent, body),
                (upstream.status, upstream.reason or ""),
                ([(str(k), v) for k, v in upstream.headers.items()], relay.kept),
                max_body=proxy.max_body,
            )
        except BodyTooLarge as exc:
            _LOG.warning("%s %s not recorded: %s", request.method, request.path, exc)
        else:
            await proxy.record(cassette, interaction)
    await relay.finish()
    return relay.response


class _Relay:
    """Send the upstream's answer on as it arrives, keeping it (up to ``limit``) to record.

    The answer must not look complete to the client before it is on disk: a chunked answer
    ends at ``finish`` (write_eof, after recording), and a length-delimited one's last chunk
    is held back until then. A client that hangs up does not stop the reading, so the answer
    is still recorded, and nothing is logged as an error.
    """

    def __init__(self, request: web.Request, upstream: aiohttp.ClientResponse, limit: int):
        self.request, self.upstream, self.limit = request, upstream, limit
        self.response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        self.kept: bytes | None = None
        self._held = b""
        self._gone = False

    async def _send(self, chunk: bytes) -> None:
        if not self._gone:
            try:
                await self.response.write(chunk)
            except ConnectionError:
                self._gone = True

    async def run(self) -> None:
        upstream, response = self.upstream, self.response
        for name, value in upstream.headers.items():
            if name.lower() not in _HOP:
                response.headers.add(name, value)
        length = upstream.content_length
        if length is not None and "Transfer-Encoding" not in upstream.headers:
            response.content_length = length
        try:
            await response.prepare(self.request)
        except ConnectionError:
            self._gone = True
        chunks: list[bytes] | None = []
        kept = received = 0
        async for chunk in upstream.content.iter_any():
            received += len(chunk)
            if chunks is not None:
                chunks.append(chunk)
                kept += len(chunk)
                if kept > self.limit:  # over even before decoding: stop keeping, still relay
                    chunks = None
                    _LOG.warning(
                        "%s %s: answer over %d bytes, not recorded",
                        self.request.method,
                        self.request.path,
                        self.limit,
                    )
            if length is not None and received >= length:
                self._held += chunk
            else:
                await self._send(chunk)
        self.kept = None if chunks is None else b"".join(chunks)

    async def finish(self) -> None:
        if self._held:
            await self._send(self._held)
        if not self._gone and self.response.prepared:
            with contextlib.suppress(ConnectionError):
                await self.response.write_eof()


async def _open(app: web.Application) -> None:
    proxy = app[PROXY_KEY]
    # A proxy killed mid-write (SIGKILL) leaves its temporary file; only stage_file's are removed.
    for path in await asyncio.to_thread(remove_stale_temps, proxy.directory):
        _LOG.info("removed %s, left by an interrupted write", path)
    # No automatic decompression: the client gets the upstream's bytes as they are; the
    # cassette stores them decoded (vcrpy's decode_compressed_response does the same).
    app[PROXY_KEY].session = aiohttp.ClientSession(
        auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None, sock_connect=30)
    )


async def _close(app: web.Application) -> None:
    proxy = app[PROXY_KEY]
    if proxy.session is not None:
        await proxy.session.close()
    await proxy.sync()


def create_proxy_app(
    upstream: str,
    directory: str | os.PathLike[str],
    *,
    cassette: str | None = None,
    max_body: int = MAX_RECORDED_BODY,
) -> web.Application:
    """A recording proxy app; ``X-Websim-Cassette: name`` picks a request's cassette file.

    Serve it with request decompression off (``ProxyServer`` does), so bodies go on as sent.
    """
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[PROXY_KEY] = RecordingProxy(upstream, directory, cassette=cassette, max_body=max_body)
    app.on_startup.append(_open)
    app.on_cleanup.append(_close)
    app.router.add_get("/healthz", _healthz)
    app.router.add_route("*", "/__admin", _admin)
    app.router.add_route("*", "/__admin/{tail:.*}", _admin)
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
        max_body: int = MAX_RECORDED_BODY,
    ) -> None:
        app = create_proxy_app(upstream, directory, cassette=cassette, max_body=max_body)
        super().__init__(app, host=host, port=port, auto_decompress=False)
        self.proxy = self.app[PROXY_KEY]

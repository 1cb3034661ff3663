"""WebsimClient: the thin aiohttp shell around the pure core (build, send, map, parse, retry).

One pooled ``aiohttp.ClientSession`` per client, created on first use or borrowed from the
caller; every aiohttp error leaves as a ``WebsimError`` naming the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp.http_exceptions import ContentEncodingError

from .errors import (
    InvalidRequestError,
    ResponseFormatError,
    ResponseStatusError,
    WebsimConnectionError,
    WebsimTimeoutError,
    error_for_status,
)
from .protocol import (
    DEFAULT_ASPECT_RATIO,
    ChatRequest,
    ImageRequest,
    ImageResponse,
    build_chat_request,
    build_image_request,
    parse_chat_response,
    parse_image_response,
)
from .retry import RetryPolicy
from .routing import DEFAULT_MODEL, Endpoint, route
from .sse import SSEDecoder, parse_delta

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_HEADERS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "WebsimClient",
    "resolve_base_url",
]

DEFAULT_BASE_URL = "https://websim.ai"
# What the known clients send; the live service is known to accept exactly this.
DEFAULT_HEADERS: Mapping[str, str] = {
    "accept": "*/*",
    "accept-language": "en-US,en;q=0.9",
    "content-type": "text/plain;charset=UTF-8",
    "origin": "https://websim.ai",
    "referer": "https://websim.ai/",
    "user-agent": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    ),
}
_SSE = "text/event-stream"
# The largest answer read, counted after decompression. A chat answer is text: even a completion
# that fills a 128k-token context is well under 1 MB of JSON, and a stream adds some bytes per
# delta, so 32 MiB leaves a wide margin for legitimate answers while a hostile or broken server
# (an endless body, a gzip bomb) costs at most a few times this in memory before the client
# gives up with ResponseFormatError.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
# A busy read gives the event loop a turn at least this often (seconds); see _Body.checkpoint.
_YIELD_EVERY = 0.01
# The most bytes of an event stream decoded between two deadline checks.
_FEED_AT_MOST = 64 * 1024


def resolve_base_url(base_url: str | None = None) -> str:
    """The argument, else ``WEBSIM_BASE_URL``, else the live API; without a trailing slash."""
    url = base_url or os.environ.get("WEBSIM_BASE_URL") or DEFAULT_BASE_URL
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidRequestError("base_url", f"must start with http:// or https://, not {url!r}")
    return url.rstrip("/")


def _undecodable(exc: BaseException) -> bool:
    """A body whose Content-Encoding (gzip, deflate...) does not decode: malformed, not a drop."""
    return isinstance(exc, aiohttp.ClientPayloadError) and isinstance(
        exc.__cause__, ContentEncodingError
    )


class _Body:
    """One response's body, read chunk by chunk within the size limit and before the deadline.

    aiohttp's ``read()`` takes the whole body at once (and lifts its cap on how much a gzip body
    inflates per step), so every read here goes through ``read_chunk``, which counts the
    decompressed bytes.
    """

    __slots__ = ("_loop", "_received", "_yielded_at", "deadline", "limit", "response")

    def __init__(self, response: aiohttp.ClientResponse, limit: int, deadline: float) -> None:
        self.response = response
        self.limit = limit
        self.deadline = deadline
        self._loop = asyncio.get_running_loop()
        self._received = 0
        self._yielded_at = self._loop.time()
        declared = response.content_length
        if (
            declared is not None
            and declared > limit
            and not response.headers.get("Content-Encoding")
        ):
            # An uncompressed body announced too large: refuse it before reading a byte.
            raise self._too_large(f"announces {declared} bytes, more than")

    @property
    def content_type(self) -> str:
        return self.response.content_type

    async def read_chunk(self) -> bytes:
        """The next decompressed chunk, or b"" at the end of the body."""
        chunk = await self.response.content.readany()
        self._received += len(chunk)
        if self._received > self.limit:
            raise self._too_large("is larger than")
        await self.checkpoint()
        return chunk

    async def checkpoint(self) -> None:
        """Raise ``asyncio.TimeoutError`` once past the deadline; else let the loop run if due.

        While a compressed body lasts, aiohttp refills its buffer synchronously from the
        decompressor, so ``readany()`` may never suspend: without this check the deadline would
        wait for the data to run out, and without the turn the loop, its timers (aiohttp's own
        total timeout among them) and every other task would wait too.
        """
        now = self._loop.time()
        if now >= self.deadline:
            raise asyncio.TimeoutError
        if now - self._yielded_at >= _YIELD_EVERY:
            await asyncio.sleep(0)
            self._yielded_at = self._loop.time()

    async def read(self) -> bytes:
        """The whole body (at most ``limit`` bytes)."""
        parts = []
        while chunk := await self.read_chunk():
            parts.append(chunk)
        return b"".join(parts)

    def _too_large(self, what: str) -> ResponseFormatError:
        response = self.response
        return ResponseFormatError(
            f"the {response.status} answer from {response.url} {what} max_response_bytes "
            f"({self.limit} bytes, counted after decompression)"
        )


class WebsimClient:
    """An async Websim client; use ``async with WebsimClient() as client:``.

    ``max_response_bytes`` bounds every answer read (JSON, error bodies, whole event streams),
    counted after decompression: past it a call raises ``ResponseFormatError`` naming the limit.
    ``timeout`` (seconds, or an ``aiohttp.ClientTimeout`` whose ``total`` is used) bounds each
    attempt from sending the request to the last byte read. Redirects are not followed: a 3xx
    answer raises ``UnexpectedRedirectError`` naming the status and the Location.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        proxy: str | None = None,
        timeout: float | aiohttp.ClientTimeout = 120.0,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        headers: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int):
            raise InvalidRequestError("max_response_bytes", "must be an int")
        if max_response_bytes < 1:
            raise InvalidRequestError(
                "max_response_bytes", f"must be at least 1, not {max_response_bytes}"
            )
        self.max_response_bytes = max_response_bytes
        self.base_url = resolve_base_url(base_url)
        self.proxy = proxy
        self.timeout = (
            timeout
            if isinstance(timeout, aiohttp.ClientTimeout)
            else aiohttp.ClientTimeout(total=timeout)
        )
        self.retry = retry or RetryPolicy()
        self.headers = dict(DEFAULT_HEADERS if headers is None else headers)
        self._rng = rng
        self._session = session
        self._owns_session = session is None
        self._closed = False

    async def __aenter__(self) -> WebsimClient:
        self._get_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session if this client created it; a borrowed one stays open."""
        self._closed = True
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise InvalidRequestError("client", "this WebsimClient is closed; make a new one")
        if self._session is not None and not self._owns_session and self._session.closed:
            # aiohttp would raise a bare RuntimeError; this is the caller's mistake, not I/O.
            raise InvalidRequestError("session", "the borrowed aiohttp session is closed")
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession(timeout=self.timeout)
            self._owns_session = True
        return self._session

    # --- public calls -------------------------------------------------------------------------

    async def chat(
        self,
        messages: object,
        *,
        model: str = DEFAULT_MODEL,
        project_id: str | None = None,
        json: bool = False,
    ) -> str:
        """Send a conversation; returns the answer's text (stripped).

        ``json=True``: Websim's JSON output mode, the text is a JSON document.
        """
        request = self._chat_request(messages, model, project_id, stream=False, json=json)
        async with self._response(request, retry=True) as body:
            if body.content_type == _SSE:
                # A server that streams anyway: the answer is the deltas joined.
                return "".join([delta async for delta in self._read_stream(body)]).strip()
            return parse_chat_response(await body.read(), body.content_type)

    def stream_chat(
        self,
        messages: object,
        *,
        model: str = DEFAULT_MODEL,
        project_id: str | None = None,
        json: bool = False,
    ) -> AsyncIterator[str]:
        """Yield the answer's text deltas; a plain JSON answer is yielded whole, once.

        The arguments are checked here, at the call, before anything is sent.
        """
        request = self._chat_request(messages, model, project_id, stream=True, json=json)
        return self._stream(request)

    async def generate_image(
        self,
        prompt: str | None = None,
        *,
        messages: object = None,
        aspect_ratio: str = DEFAULT_ASPECT_RATIO,
        project_id: str | None = None,
    ) -> ImageResponse:
        """Generate an image; the prompt is ``prompt`` or the trailing user messages."""
        request = build_image_request(
            prompt,
            messages=messages,
            aspect_ratio=aspect_ratio,
            project_id=project_id,
            rng=self._rng,
        )
        # Images are not retried: the known clients don't, and a retry costs a generation.
        async with self._response(request, retry=False) as body:
            return parse_image_response(await body.read(), request.prompt, body.content_type)

    # --- the shell ------------------------------------------------------------------------------

    def _chat_request(
        self, messages: object, model: str, project_id: str | None, *, stream: bool, json: bool
    ) -> ChatRequest:
        if route(model) is not Endpoint.CHAT:
            raise InvalidRequestError("model", f"{model!r} is an image model; use generate_image")
        return build_chat_request(
            messages, project_id=project_id, stream=stream, json=json, rng=self._rng
        )

    async def _stream(self, request: ChatRequest) -> AsyncIterator[str]:
        async with self._response(request, retry=True) as body:
            if body.content_type != _SSE:
                yield parse_chat_response(await body.read(), body.content_type)
                return
            async for delta in self._read_stream(body):
                yield delta

    @contextlib.asynccontextmanager
    async def _response(
        self, request: ChatRequest | ImageRequest, *, retry: bool
    ) -> AsyncIterator[_Body]:
        """A 2xx response's body, after the retries the policy allows; aiohttp errors are wrapped.

        Errors raised while the caller reads the body come back through here, so a dropped
        connection mid-body is wrapped the same way as one before the headers.
        """
        url = self.base_url + request.path
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            attempt += 1
            # Our own deadline, checked on every chunk: aiohttp's total timeout is a loop timer,
            # which cannot fire while a compressed body keeps the reading task busy.
            deadline = loop.time() + (self.timeout.total or math.inf)
            try:
                async with self._post(url, request) as response:
                    body = _Body(response, self.max_response_bytes, deadline)
                    if 200 <= response.status < 300:
                        yield body
                        return
                    error = await self._status_error(body)
            except aiohttp.ClientError as exc:
                if isinstance(exc, asyncio.TimeoutError):
                    raise self._timeout(url) from exc
                if _undecodable(exc):
                    raise ResponseFormatError(f"body from {url} cannot be decoded: {exc}") from exc
                raise WebsimConnectionError(f"{type(exc).__name__} on POST {url}: {exc}") from exc
            except asyncio.TimeoutError as exc:
                raise self._timeout(url) from exc
            if not (retry and self.retry.should_retry(error, attempt)):
                raise error
            await self.retry.sleep(self.retry.delay(attempt, getattr(error, "retry_after", None)))

    def _post(self, url: str, request: ChatRequest | ImageRequest) -> Any:
        # The timeout goes on each request too: a borrowed session has its own default.
        # Redirects are not followed: a 307/308 would re-send the conversation (and any custom
        # header) to whatever origin the Location names, and a 301/302/303 would turn the POST
        # into a GET whose answer would pass for the chat answer.
        return self._get_session().post(
            url,
            data=request.body(),
            headers=self.headers,
            proxy=self.proxy,
            timeout=self.timeout,
            allow_redirects=False,
        )

    async def _status_error(self, body: _Body) -> ResponseStatusError:
        response = body.response
        raw = await body.read()
        retry_after = self.retry.retry_after(response.headers.get("Retry-After"))
        error = error_for_status(response.status, raw, response.headers, retry_after=retry_after)
        assert error is not None  # only called for non-2xx statuses
        return error

    async def _read_stream(self, body: _Body) -> AsyncIterator[str]:
        decoder = SSEDecoder()
        url = body.response.url
        try:
            while chunk := await body.read_chunk():
                # A chunk may hold hundreds of KiB (more when inflated): decode it in slices,
                # checking the deadline between them, so that the time spent on one chunk (with
                # the caller's work on each delta) cannot stretch the timeout.
                for start in range(0, len(chunk), _FEED_AT_MOST):
                    if start:
                        await body.checkpoint()
                    for event in decoder.feed(chunk[start : start + _FEED_AT_MOST]):
                        delta = parse_delta(event.data)
                        if delta is None:
                            return
                        yield delta
        except aiohttp.ClientPayloadError as exc:
            problem = "cannot be decoded" if _undecodable(exc) else "was cut off before [DONE]"
            raise ResponseFormatError(f"event stream from {url} {problem}: {exc}") from exc
        decoder.close()
        raise ResponseFormatError(f"event stream from {url} ended before [DONE]")

    def _timeout(self, url: str) -> WebsimTimeoutError:
        return WebsimTimeoutError(f"POST {url} timed out after {self.timeout.total} s")

"""WebsimClient: the thin aiohttp shell around the pure core (build, send, map, parse, retry).

One pooled ``aiohttp.ClientSession`` per client, created on first use or borrowed from the
caller; every aiohttp error leaves as a ``WebsimError`` naming the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
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

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_HEADERS", "WebsimClient", "resolve_base_url"]

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


class WebsimClient:
    """An async Websim client; use ``async with WebsimClient() as client:``."""

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
    ) -> None:
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
        self, messages: object, *, model: str = DEFAULT_MODEL, project_id: str | None = None
    ) -> str:
        """Send a conversation; returns the answer's text (stripped)."""
        request = self._chat_request(messages, model, project_id, stream=False)
        async with self._response(request, retry=True) as response:
            if response.content_type == _SSE:
                # A server that streams anyway: the answer is the deltas joined.
                return "".join([delta async for delta in self._read_stream(response)]).strip()
            return parse_chat_response(await response.read(), response.content_type)

    def stream_chat(
        self, messages: object, *, model: str = DEFAULT_MODEL, project_id: str | None = None
    ) -> AsyncIterator[str]:
        """Yield the answer's text deltas; a plain JSON answer is yielded whole, once.

        The arguments are checked here, at the call, before anything is sent.
        """
        return self._stream(self._chat_request(messages, model, project_id, stream=True))

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
        async with self._response(request, retry=False) as response:
            body = await response.read()
            return parse_image_response(body, request.prompt, response.content_type)

    # --- the shell ------------------------------------------------------------------------------

    def _chat_request(
        self, messages: object, model: str, project_id: str | None, *, stream: bool
    ) -> ChatRequest:
        if route(model) is not Endpoint.CHAT:
            raise InvalidRequestError("model", f"{model!r} is an image model; use generate_image")
        return build_chat_request(messages, project_id=project_id, stream=stream, rng=self._rng)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[str]:
        async with self._response(request, retry=True) as response:
            if response.content_type != _SSE:
                yield parse_chat_response(await response.read(), response.content_type)
                return
            async for delta in self._read_stream(response):
                yield delta

    @contextlib.asynccontextmanager
    async def _response(
        self, request: ChatRequest | ImageRequest, *, retry: bool
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A 2xx response, after the retries the policy allows; aiohttp errors are wrapped.

        Errors raised while the caller reads the body come back through here, so a dropped
        connection mid-body is wrapped the same way as one before the headers.
        """
        url = self.base_url + request.path
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._post(url, request) as response:
                    if 200 <= response.status < 300:
                        yield response
                        return
                    error = await self._status_error(response)
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
        return self._get_session().post(
            url,
            data=request.body(),
            headers=self.headers,
            proxy=self.proxy,
            timeout=self.timeout,
        )

    async def _status_error(self, response: aiohttp.ClientResponse) -> ResponseStatusError:
        body = await response.read()
        retry_after = self.retry.retry_after(response.headers.get("Retry-After"))
        error = error_for_status(response.status, body, response.headers, retry_after=retry_after)
        assert error is not None  # only called for non-2xx statuses
        return error

    async def _read_stream(self, response: aiohttp.ClientResponse) -> AsyncIterator[str]:
        decoder = SSEDecoder()
        try:
            async for chunk in response.content.iter_any():
                for event in decoder.feed(chunk):
                    delta = parse_delta(event.data)
                    if delta is None:
                        return
                    yield delta
        except aiohttp.ClientPayloadError as exc:
            problem = "cannot be decoded" if _undecodable(exc) else "was cut off before [DONE]"
            raise ResponseFormatError(f"event stream from {response.url} {problem}: {exc}") from exc
        decoder.close()
        raise ResponseFormatError(f"event stream from {response.url} ended before [DONE]")

    def _timeout(self, url: str) -> WebsimTimeoutError:
        return WebsimTimeoutError(f"POST {url} timed out after {self.timeout.total} s")

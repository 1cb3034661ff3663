"""WebsimClient: the thin aiohttp shell around the pure core (build, send, map, parse, retry).

One pooled ``aiohttp.ClientSession`` per client, created on first use or borrowed from the
caller; every aiohttp error leaves as a ``WebsimError`` naming the URL.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

from .errors import (
    InvalidRequestError,
    ResponseFormatError,
    ResponseStatusError,
    WebsimConnectionError,
    WebsimError,
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
_T = TypeVar("_T")


def resolve_base_url(base_url: str | None = None) -> str:
    """The argument, else ``WEBSIM_BASE_URL``, else the live API; without a trailing slash."""
    url = base_url or os.environ.get("WEBSIM_BASE_URL") or DEFAULT_BASE_URL
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidRequestError("base_url", f"must start with http:// or https://, not {url!r}")
    return url.rstrip("/")


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
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
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
        return await self._with_retry(request, self._read_chat, retry=True)

    async def stream_chat(
        self, messages: object, *, model: str = DEFAULT_MODEL, project_id: str | None = None
    ) -> AsyncIterator[str]:
        """Yield the answer's text deltas; a plain JSON answer is yielded whole, once."""
        request = self._chat_request(messages, model, project_id, stream=True)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._post(request) as response:
                    await self._raise_for_status(response)
                    if response.content_type != _SSE:
                        yield parse_chat_response(await response.read(), response.content_type)
                        return
                    async for delta in self._read_stream(response):
                        yield delta
                    return
            except aiohttp.ClientError as exc:
                raise self._wrap(exc, request) from exc
            except asyncio.TimeoutError as exc:
                raise self._timeout(request) from exc
            except ResponseStatusError as exc:
                if not self.retry.should_retry(exc, attempt):
                    raise
                await self.retry.sleep(self.retry.delay(attempt, getattr(exc, "retry_after", None)))

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

        async def read(response: aiohttp.ClientResponse) -> ImageResponse:
            return parse_image_response(
                await response.read(), request.prompt, response.content_type
            )

        return await self._with_retry(request, read, retry=False)

    # --- the shell ------------------------------------------------------------------------------

    def _chat_request(
        self, messages: object, model: str, project_id: str | None, *, stream: bool
    ) -> ChatRequest:
        if route(model) is not Endpoint.CHAT:
            raise InvalidRequestError("model", f"{model!r} is an image model; use generate_image")
        return build_chat_request(messages, project_id=project_id, stream=stream, rng=self._rng)

    def _post(self, request: ChatRequest | ImageRequest) -> Any:
        # The timeout goes on each request too: a borrowed session has its own default.
        return self._get_session().post(
            self.base_url + request.path,
            data=request.body(),
            headers=self.headers,
            proxy=self.proxy,
            timeout=self.timeout,
        )

    async def _raise_for_status(self, response: aiohttp.ClientResponse) -> None:
        if 200 <= response.status < 300:
            return
        body = await response.read()
        retry_after = self.retry.retry_after(response.headers.get("Retry-After"))
        error = error_for_status(response.status, body, response.headers, retry_after=retry_after)
        if error is not None:
            raise error

    async def _read_chat(self, response: aiohttp.ClientResponse) -> str:
        return parse_chat_response(await response.read(), response.content_type)

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
            raise ResponseFormatError(
                f"event stream from {response.url} was cut off: {exc}"
            ) from exc
        decoder.close()
        raise ResponseFormatError(f"event stream from {response.url} ended before [DONE]")

    async def _with_retry(
        self,
        request: ChatRequest | ImageRequest,
        read: Callable[[aiohttp.ClientResponse], Awaitable[_T]],
        *,
        retry: bool,
    ) -> _T:
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._post(request) as response:
                    await self._raise_for_status(response)
                    return await read(response)
            except aiohttp.ClientError as exc:
                raise self._wrap(exc, request) from exc
            except asyncio.TimeoutError as exc:
                raise self._timeout(request) from exc
            except ResponseStatusError as exc:
                if not (retry and self.retry.should_retry(exc, attempt)):
                    raise
                await self.retry.sleep(self.retry.delay(attempt, getattr(exc, "retry_after", None)))

    def _wrap(self, exc: aiohttp.ClientError, request: ChatRequest | ImageRequest) -> WebsimError:
        url = self.base_url + request.path
        if isinstance(exc, asyncio.TimeoutError):
            return self._timeout(request)
        return WebsimConnectionError(f"{type(exc).__name__} on POST {url}: {exc}")

    def _timeout(self, request: ChatRequest | ImageRequest) -> WebsimTimeoutError:
        total = self.timeout.total
        return WebsimTimeoutError(f"POST {self.base_url + request.path} timed out after {total} s")

"""The three backends behind one interface: the mock server, the cassettes, the live API.

A property runs once per case. Each case opens a *run*: a fresh aiohttp session and a
``WebsimClient`` on it (and the facade, pointed at the same session), the arranged answers if
the backend can arrange them, and, once the run is over, the exchanges as the backend saw them:
the mock's journal, the requests vcrpy was asked to replay, or an aiohttp trace of the live
session. So "what did the client send" is checked on every backend, the live one included.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import socket
import time
import unittest.mock
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import aiohttp
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import websim_core.provider
from mock_server import ThreadedMockServer
from websim_cassettes import make_vcr
from websim_core import RetryPolicy, WebsimClient
from websim_core.routing import CHAT_PATH, IMAGE_PATH

__all__ = [
    "BACKENDS",
    "LIVE_BUDGET",
    "UNREACHABLE",
    "Backend",
    "CassetteBackend",
    "Exchange",
    "LiveBackend",
    "MockBackend",
    "Pacer",
    "Run",
    "probe",
]

C = TypeVar("C")
Property = Callable[[C], Coroutine[Any, Any, None]]

BACKENDS = ("mock", "cassette", "live")
# Examples per property against the live API, at most (the `live` profile may ask for fewer).
LIVE_BUDGET = 5
# The exit status when the live API cannot be reached (as for ``websim-cassettes record``).
UNREACHABLE = 2
# A host no cassette run may reach: vcrpy answers every request, and the network is blocked.
_REPLAY_URL = "https://websim.ai"


@dataclass
class Exchange:
    """One request the client sent and the answer it got, as a backend saw them."""

    method: str
    path: str
    headers: Mapping[str, str]  # names lowercased
    body: bytes
    status: int
    media_type: str  # the answer's content type, without parameters, lowercased
    response_chunks: list[bytes] = field(default_factory=list)

    @property
    def response_body(self) -> bytes:
        return b"".join(self.response_chunks)

    @property
    def endpoint(self) -> str | None:
        if self.path.endswith(CHAT_PATH):
            return "chat"
        if self.path.endswith(IMAGE_PATH):
            return "image"
        return None

    def json(self) -> Any:
        """The request body as JSON (the tests check it is JSON before they look inside)."""
        return json.loads(self.body)


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


class Run:
    """One case's client, its retry waits (recorded, not slept, except live), and exchanges."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, *, sleep: bool) -> None:
        self.base_url = base_url
        self.session = session
        self.delays: list[float] = []
        self.exchanges: list[Exchange] = []
        if sleep:
            self.retry = RetryPolicy()  # the live API: really wait, that is the point of it
        else:
            self.retry = RetryPolicy(sleep=self._record_delay)

    async def _record_delay(self, delay: float) -> None:
        self.delays.append(delay)

    def client(self) -> WebsimClient:
        return WebsimClient(self.base_url, session=self.session, retry=self.retry, timeout=60)

    @contextlib.contextmanager
    def facade(self) -> Iterator[dict[str, Any]]:
        """Keyword arguments for ``Websim.create_async_generator``, its client on this session."""

        def client(base_url: str | None = None, **options: Any) -> WebsimClient:
            return WebsimClient(base_url, session=self.session, **options)

        with unittest.mock.patch.object(websim_core.provider, "WebsimClient", client):
            yield {"base_url": self.base_url, "retry": self.retry}


class Backend(abc.ABC):
    """Where the contract's requests go, and how a property is run over its cases."""

    name: ClassVar[str]
    can_arrange: ClassVar[bool]

    def require_arranging(self, what: str) -> None:
        """Skip, saying why, on a backend that cannot be told what to answer."""
        if not self.can_arrange:
            pytest.skip(
                f"{self.name} backend: needs an arranged sequence ({what}); "
                "the live API cannot be told what to answer"
            )

    @abc.abstractmethod
    def run(
        self, *, cassette: str | None = None, script: tuple[str, Sequence[Any]] | None = None
    ) -> contextlib.AbstractAsyncContextManager[Run]:
        """A run for one case: ``script`` is ``(endpoint, steps)`` to arrange, ``cassette`` the
        recording a cassette case comes from; each backend uses what it can."""

    def settings(self, budget: int) -> settings:
        return settings()  # the current profile's

    def for_all(
        self,
        prop: Property[C],
        generated: st.SearchStrategy[C],
        recorded: Callable[[], Sequence[C]],
        *,
        explicit: Sequence[C] = (),
        live_budget: int = LIVE_BUDGET,
    ) -> None:
        """Check ``prop`` over the ``explicit`` cases, then as many as hypothesis draws from
        ``generated`` (the cassette backend: over the recorded cases instead)."""

        def check(case: C) -> None:
            asyncio.run(prop(case))

        # Hypothesis keys its example database on the name: one per property and backend.
        check.__name__ = check.__qualname__ = f"{prop.__name__}_{self.name}"
        test = given(generated)(self.settings(live_budget)(check))
        for case in reversed(explicit):
            test = example(case)(test)
        test()


class MockBackend(Backend):
    """The in-process mock server (its own thread); reset before each case."""

    name = "mock"
    can_arrange = True

    def __init__(self, server: ThreadedMockServer) -> None:
        self.server = server

    @contextlib.asynccontextmanager
    async def run(
        self, *, cassette: str | None = None, script: tuple[str, Sequence[Any]] | None = None
    ) -> AsyncIterator[Run]:
        self.server.reset()
        if script is not None:
            self.server.script(script[0], script[1])
        async with aiohttp.ClientSession() as session:
            run = Run(self.server.url, session, sleep=False)
            try:
                yield run
            finally:
                run.exchanges = [_from_journal(entry) for entry in self.server.requests]
        self.server.raise_errors()


def _from_journal(entry: Mapping[str, Any]) -> Exchange:
    answer = entry["response"]
    body = entry["body"].encode() if entry["body_encoding"] == "utf-8" else b""
    answered = answer["body"].encode() if answer["body_encoding"] == "utf-8" else b""
    return Exchange(
        entry["method"],
        entry["path"],
        entry["headers"],
        body,
        answer["status"],
        _media_type(answer["content_type"]),
        [answered],
    )


class CassetteBackend(Backend):
    """The committed cassettes through the project's vcrpy configuration, network blocked.

    Its cases are the recorded ones, every one of them, in order; a case that leaves one of its
    cassette's interactions unplayed fails (the client sent fewer requests than were recorded).
    """

    name = "cassette"
    can_arrange = True  # the arranged sequences were recorded against the mock

    def for_all(
        self,
        prop: Property[C],
        generated: st.SearchStrategy[C],
        recorded: Callable[[], Sequence[C]],
        *,
        explicit: Sequence[C] = (),
        live_budget: int = LIVE_BUDGET,
    ) -> None:
        cases = recorded()
        if not cases:
            pytest.fail(f"no cassette in cassettes/ records a case for {prop.__name__}")
        for case in cases:
            try:
                asyncio.run(prop(case))
            except Exception as exc:
                name = getattr(case, "cassette", None)
                raise AssertionError(f"{name}: {type(exc).__name__}: {exc}\ncase: {case}") from exc

    @contextlib.asynccontextmanager
    async def run(
        self, *, cassette: str | None = None, script: tuple[str, Sequence[Any]] | None = None
    ) -> AsyncIterator[Run]:
        if cassette is None:
            raise ValueError("the cassette backend replays recorded cases only")
        played: list[tuple[Any, Any]] = []
        with no_network(), make_vcr().use_cassette(cassette) as tape:
            replay = tape.play_response

            def play(request: Any) -> Any:
                response = replay(request)
                played.append((request, response))
                return response

            tape.play_response = play
            async with aiohttp.ClientSession() as session:
                run = Run(_REPLAY_URL, session, sleep=False)
                try:
                    yield run
                finally:
                    run.exchanges = [_from_vcr(request, response) for request, response in played]
            unplayed = len(tape.data) - len(played)
        if unplayed:
            raise AssertionError(
                f"{cassette}: {unplayed} of {len(played) + unplayed} recorded interaction(s) "
                "were never requested"
            )


def _from_vcr(request: Any, response: Mapping[str, Any]) -> Exchange:
    headers = {str(k).lower(): str(v) for k, v in dict(request.headers).items()}
    content_type = None
    for name, values in response.get("headers", {}).items():
        if name.lower() == "content-type":
            content_type = values[0] if isinstance(values, list) else values
    body = response.get("body", {}).get("string", b"")
    return Exchange(
        request.method,
        request.path,
        headers,
        request.body if isinstance(request.body, bytes) else str(request.body or "").encode(),
        response["status"]["code"],
        _media_type(content_type),
        [body if isinstance(body, bytes) else body.encode()],
    )


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Refuse every outgoing connection (restoring whatever was there before, so it nests with
    pytest-recording's ``--block-network``)."""
    previous = socket.socket.connect, socket.socket.connect_ex

    def refuse(sock: socket.socket, address: Any, *args: Any) -> Any:
        raise RuntimeError(f"cassette backend: the network is blocked (connect to {address!r})")

    socket.socket.connect = refuse  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex = previous  # type: ignore[method-assign]


class Pacer:
    """At least ``interval`` seconds between the starts of two requests (to the live API)."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._last: float | None = None

    async def wait(self) -> None:
        if self._last is not None:
            delay = self._last + self.interval - self._clock()
            if delay > 0:
                await self._sleep(delay)
        self._last = self._clock()


class LiveBackend(Backend):
    """The live API (or whatever ``WEBSIM_BASE_URL`` names): paced, few examples, no deadline,
    no shrinking (each example costs real requests), nothing arranged."""

    name = "live"
    can_arrange = False

    def __init__(self, base_url: str, pacer: Pacer) -> None:
        self.base_url = base_url
        self.pacer = pacer

    def settings(self, budget: int) -> settings:
        return settings(
            max_examples=max(1, min(settings().max_examples, budget)),
            deadline=None,
            phases=(Phase.explicit, Phase.reuse, Phase.generate),
            suppress_health_check=[HealthCheck.too_slow],
        )

    @contextlib.asynccontextmanager
    async def run(
        self, *, cassette: str | None = None, script: tuple[str, Sequence[Any]] | None = None
    ) -> AsyncIterator[Run]:
        if script is not None:
            raise RuntimeError("the live API cannot be arranged (call require_arranging first)")
        exchanges: list[Exchange] = []
        async with aiohttp.ClientSession(trace_configs=[self._trace(exchanges)]) as session:
            run = Run(self.base_url, session, sleep=True)
            try:
                yield run
            finally:
                run.exchanges = exchanges

    def _trace(self, exchanges: list[Exchange]) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()

        async def start(
            session: aiohttp.ClientSession, ctx: Any, params: aiohttp.TraceRequestStartParams
        ) -> None:
            await self.pacer.wait()
            headers = {k.lower(): v for k, v in params.headers.items()}
            ctx.exchange = Exchange(params.method, params.url.path, headers, b"", 0, "")
            exchanges.append(ctx.exchange)

        async def sent(
            session: aiohttp.ClientSession, ctx: Any, params: aiohttp.TraceRequestChunkSentParams
        ) -> None:
            ctx.exchange.body += params.chunk

        async def end(
            session: aiohttp.ClientSession, ctx: Any, params: aiohttp.TraceRequestEndParams
        ) -> None:
            ctx.exchange.status = params.response.status
            ctx.exchange.media_type = _media_type(params.response.headers.get("Content-Type"))

        async def received(
            session: aiohttp.ClientSession,
            ctx: Any,
            params: aiohttp.TraceResponseChunkReceivedParams,
        ) -> None:
            ctx.exchange.response_chunks.append(params.chunk)

        trace.on_request_start.append(start)
        trace.on_request_chunk_sent.append(sent)
        trace.on_request_end.append(end)
        trace.on_response_chunk_received.append(received)
        return trace


async def probe(base_url: str, timeout: float = 5.0) -> str | None:
    """None when something answers HTTP at ``base_url`` (any status), else the reason why not."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(base_url + "/", allow_redirects=False) as response,
        ):
            await response.read()
    except asyncio.TimeoutError:
        return f"no answer within {timeout:g} s"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None

"""Shared test setup: hypothesis profiles, and a tiny scripted Websim server on an ephemeral port.

``fake_websim`` is deliberately not the project's ``mock_server``: it is a dozen lines of aiohttp
that answer exactly what a test scripts, so client tests do not depend on the mock's logic.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, settings

from websim_core.routing import CHAT_PATH, IMAGE_PATH

# Cassette fixtures, the project_id-blind matcher, and the unused-cassette check for every test.
pytest_plugins = ["websim_cassettes.pytest_plugin"]

# --- hypothesis profiles ------------------------------------------------------------------------
# `ci` (the default) is quick and deterministic; `dev` digs deeper; `live` is for slow targets.
# Pick one with HYPOTHESIS_PROFILE=dev or pytest's --hypothesis-profile=dev.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,  # shared 2-core machines: a deadline would only add flakiness here
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=600, deadline=500, print_blob=True)
settings.register_profile("live", max_examples=5, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# --- the scripted server ------------------------------------------------------------------------


@dataclass
class Reply:
    """One scripted answer. ``body`` dict/list is sent as JSON; ``chunks`` are streamed as is."""

    status: int = 200
    body: Any = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] | None = None
    hang: bool = False  # never answer (released only when the server shuts down)
    cut: bool = False  # after the chunks, drop the connection mid-body


@dataclass
class Seen:
    """A request the server received."""

    path: str
    host: str
    headers: dict[str, str]
    body: bytes
    json: Any
    peer: tuple[str, int]


def sse_bytes(deltas: list[str], *, done: bool = True) -> list[bytes]:
    """The chunks of an event stream carrying these deltas, as the protocol frames them."""
    chunks = [
        f"data: {json.dumps({'content': d}, ensure_ascii=False)}\n\n".encode() for d in deltas
    ]
    return [*chunks, b"data: [DONE]\n\n"] if done else chunks


class FakeWebsim:
    """Both endpoints; each answers its queued replies in order, then a default answer.

    Defaults: chat echoes the last message as ``{"content": "  echo: <text>  "}`` (an SSE stream
    of its words when the body asks ``"stream": true``); image answers a URL naming the ID.
    """

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[Seen] = []
        self.replies: dict[str, deque[Reply]] = {"chat": deque(), "image": deque()}
        self.errors: list[BaseException] = []
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def script(self, endpoint: str, *replies: Reply) -> None:
        self.replies[endpoint].extend(replies)

    @property
    def chat_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path == CHAT_PATH]

    @property
    def image_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path == IMAGE_PATH]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(CHAT_PATH, self._chat)
        app.router.add_post(IMAGE_PATH, self._image)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _record(self, request: web.Request) -> Seen:
        body = await request.read()
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        peer = request.transport.get_extra_info("peername") if request.transport else ("", 0)
        seen = Seen(request.path, request.host, dict(request.headers), body, data, tuple(peer[:2]))
        self.requests.append(seen)
        return seen

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "chat")

    async def _image(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "image")

    async def _answer(self, request: web.Request, endpoint: str) -> web.StreamResponse:
        # Like pytest-httpserver: a broken handler fails the test instead of hiding in a 500.
        try:
            seen = await self._record(request)
            queue = self.replies[endpoint]
            reply = queue.popleft() if queue else self._default(endpoint, seen)
            return await self._send(request, reply)
        except Exception as exc:
            self.errors.append(exc)
            raise

    def _default(self, endpoint: str, seen: Seen) -> Reply:
        data = seen.json if isinstance(seen.json, dict) else {}
        if endpoint == "image":
            return Reply(body={"url": f"https://img.test/{data.get('project_id')}.png"})
        last = data.get("messages", [{}])[-1].get("content", "")
        text = f"echo: {last}"
        if data.get("stream") is True:
            words = re.findall(r"\S+\s*", text)
            return Reply(content_type="text/event-stream", chunks=sse_bytes(words))
        return Reply(body={"content": f"  {text}  "})

    async def _send(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        if reply.hang:
            await self._release.wait()
        if reply.chunks is not None:
            response = web.StreamResponse(status=reply.status, headers=reply.headers)
            response.content_type = reply.content_type or "text/event-stream"
            await response.prepare(request)
            try:
                for chunk in reply.chunks:
                    await response.write(chunk)
                    await asyncio.sleep(0)
            except ConnectionResetError:  # the client stopped reading: its right
                return response
            if reply.cut:
                assert request.transport is not None
                request.transport.abort()
                return response
            await response.write_eof()
            return response
        body = reply.body
        if isinstance(body, (dict, list)):
            return web.json_response(body, status=reply.status, headers=reply.headers)
        raw = body.encode() if isinstance(body, str) else (body or b"")
        headers = dict(reply.headers)
        if reply.content_type is not None:
            headers["Content-Type"] = reply.content_type
        return web.Response(status=reply.status, body=raw, headers=headers)


@pytest.fixture
async def fake_websim() -> AsyncIterator[FakeWebsim]:
    server = FakeWebsim()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
    if server.errors:
        raise server.errors[0]


@pytest.fixture
def closed_port_url() -> str:
    """A URL nothing listens on: bind an ephemeral port, then close it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeSleep:
    """An injectable ``sleep`` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


# --- the contract suite's options (tests/contract/) ---------------------------------------------
# Here rather than in tests/contract/conftest.py: pytest takes options only from the conftest
# files it reads at start-up, and `pytest --backend=live` from the root does not read that one.


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("websim contract suite")
    group.addoption(
        "--backend",
        choices=("mock", "cassette", "live"),
        default=None,
        help="run tests/contract against this backend only "
        "(default: $WEBSIM_BACKEND, else both offline ones, mock and cassette)",
    )
    group.addoption(
        "--live-pacing",
        type=float,
        default=None,
        metavar="SECONDS",
        help="live backend: least time between two requests (default: $WEBSIM_LIVE_PACING, else 1)",
    )

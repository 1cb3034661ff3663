"""The recording proxy leaks and loses nothing: secrets never reach the cassette, an earlier
recording is added to, a client hanging up still gets its answer recorded, bodies go upstream
as sent, answers are bounded, and what is not the upstream's (health, admin) is answered here."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from helpers import settle

from mock_server.app_server import AppServer
from mock_server.record_proxy import MAX_CASSETTE_NAME, ProxyServer
from websim_cassettes import check_directory, check_file, load_cassette
from websim_cassettes.secrets import stream_text
from websim_core import WebsimClient
from websim_core.routing import CHAT_PATH
from websim_core.sse import encode_delta

PROJECT = "ke3_xh5gai3gjkmruomu"
CHAT = {"project_id": PROJECT, "messages": [{"role": "user", "content": "Hello"}]}
JSON = {"content-type": "application/json"}


class Upstream:
    """An upstream app answering chats as told, keeping what it received."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.chats: list[tuple[dict[str, str], bytes]] = []
        self.answer: web.StreamResponse | None = None
        self.stream: list[bytes] | None = None
        self.pause = asyncio.Event()
        self.pause.set()

    async def chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()  # aiohttp decodes a gzip request body for us
        self.chats.append((dict(request.headers), raw))
        json.loads(raw)  # a body the upstream cannot read fails the test at the client's end
        if self.stream is not None:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for i, chunk in enumerate(self.stream):
                if i == 1:
                    await self.pause.wait()
                await response.write(chunk)
            return response
        if self.answer is not None:
            return self.answer
        return web.json_response({"content": "hi"})

    async def anything(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.json_response({"forwarded": request.path})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(CHAT_PATH, self.chat)
        app.router.add_route("*", "/{tail:.*}", self.anything)
        return app


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    fake = Upstream()
    async with AppServer(fake.app()) as server:
        yield fake, server.url


async def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        return r.status, await r.read()


async def test_the_secrets_an_outside_check_found_never_reach_the_cassette(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    fake, url = upstream
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw\n-----END PRIVATE KEY-----"
    planted = {
        "authentication-value-1234",
        "apim-subscription-5678",
        "custom-token-abcdef",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        "query-access-token-99",
        "query-signature-42",
        "query-session-id-7",
        "camel-access-token-1",
        "camel-client-secret-2",
        "sk_live_51Habcdefghijklmnop",
        "hf_abcdefghijklmnopqrstuvwxyz",
        "glpat-abcdefghijklmnopqrst",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw",
        "split0across0events0secret",
    }
    body = {
        **CHAT,
        "stream": True,
        "meta": {"deep": [{"accessToken": "camel-access-token-1"}]},
        "clientSecret": "camel-client-secret-2",
        "notes": "sk_live_51Habcdefghijklmnop hf_abcdefghijklmnopqrstuvwxyz",
        "key": pem,
    }
    answer = "your token: glpat-abcdefghijklmnopqrst and password=split0across0events0secret"
    fake.stream = [encode_delta(answer[i : i + 7]) for i in range(0, len(answer), 7)]
    fake.stream.append(b"data: [DONE]\n\n")
    headers = {
        "content-type": "text/plain;charset=UTF-8",
        "Authentication": "authentication-value-1234",
        "Ocp-Apim-Subscription-Key": "apim-subscription-5678",
        "X-Custom": "token=custom-token-abcdef",
    }
    query = (
        "?key=AIzaSyA1234567890abcdefghijklmnopqrstuv&accessToken=query-access-token-99"
        "&sig=query-signature-42&sessionid=query-session-id-7"
    )
    async with ProxyServer(url, tmp_path, cassette="leaky") as proxy:
        status, _ = await _post(proxy.url + CHAT_PATH + query, json.dumps(body).encode(), headers)
    assert status == 200
    path = tmp_path / "leaky.yaml"
    assert [f.line() for f in check_file(path, require_provenance=True)] == []
    text = path.read_text()
    joined = stream_text(load_cassette(path).interactions[0].response.body) or ""
    assert [s for s in planted if s in text or s in joined] == []


async def test_a_restarted_proxy_adds_to_the_cassette(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    _, url = upstream
    for _run in range(2):
        async with ProxyServer(url, tmp_path, cassette="kept") as proxy:
            for _ in range(3 if _run == 0 else 1):
                status, _ = await _post(proxy.url + CHAT_PATH, json.dumps(CHAT).encode(), JSON)
                assert status == 200
    assert len(load_cassette(tmp_path / "kept.yaml").interactions) == 4
    assert check_directory(tmp_path, require_provenance=True) == []


async def test_a_client_hanging_up_mid_stream_loses_nothing_and_alarms_nobody(
    upstream: tuple[Upstream, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = upstream
    fake.stream = [encode_delta("first "), encode_delta("second"), b"data: [DONE]\n\n"]
    fake.pause.clear()
    caplog.set_level(logging.INFO)
    async with ProxyServer(url, tmp_path, cassette="gone") as proxy:
        async with aiohttp.ClientSession() as session:
            response = await session.post(proxy.url + CHAT_PATH, json={**CHAT, "stream": True})
            assert await response.content.readany()
            response.close()  # the client hangs up with the stream half sent
        fake.pause.set()
        await settle(lambda: proxy.proxy.recorded("gone.yaml") == 1)  # (closing waits for the
        # proxy's handler, so whatever it would log comes before the assertions)
    body = load_cassette(tmp_path / "gone.yaml").interactions[0].response.body
    assert stream_text(body) == "first second"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_streamed_chat_logs_no_error(
    upstream: tuple[Upstream, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = upstream
    fake.stream = [encode_delta("a"), encode_delta("b"), b"data: [DONE]\n\n"]
    async with ProxyServer(url, tmp_path, cassette="s") as proxy:
        status, body = await _post(
            proxy.url + CHAT_PATH, json.dumps({**CHAT, "stream": True}).encode(), JSON
        )
    assert (status, stream_text(body)) == (200, "ab")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("length", [MAX_CASSETTE_NAME - 4, 250, 300])
async def test_a_cassette_name_too_long_to_write_is_a_400_before_forwarding(
    upstream: tuple[Upstream, str], tmp_path: Path, length: int
) -> None:
    fake, url = upstream
    headers = {**JSON, "X-Websim-Cassette": "n" * length}
    async with ProxyServer(url, tmp_path) as proxy:
        status, body = await _post(proxy.url + CHAT_PATH, json.dumps(CHAT).encode(), headers)
    if length + 5 <= MAX_CASSETTE_NAME:
        assert status == 200
        assert (tmp_path / ("n" * length + ".yaml")).exists()
    else:
        assert status == 400
        assert "X-Websim-Cassette" in json.loads(body)["message"]
        assert fake.chats == []


async def test_stale_temporary_files_are_removed_on_start(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    _, url = upstream
    stale = tmp_path / ".kept.yaml.abc123_z.tmp"  # what a SIGKILL mid-write leaves
    fresh = tmp_path / ".other.yaml.zzzzzzzz.tmp"  # another writer's, still being written
    mine_not = tmp_path / "notes.tmp"
    for path in (stale, fresh, mine_not):
        path.write_text("half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(mine_not, (old, old))
    async with ProxyServer(url, tmp_path):
        pass
    assert sorted(os.listdir(tmp_path)) == sorted([fresh.name, mine_not.name])


async def test_a_gzip_request_body_goes_upstream_as_sent(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    fake, url = upstream
    raw = json.dumps(CHAT).encode()
    headers = {**JSON, "Content-Encoding": "gzip"}
    async with ProxyServer(url, tmp_path, cassette="z") as proxy:
        status, _ = await _post(proxy.url + CHAT_PATH, gzip.compress(raw, mtime=0), headers)
    assert status == 200
    ((received_headers, received_body),) = fake.chats
    assert received_headers.get("Content-Encoding") == "gzip"
    assert received_body == raw  # the upstream could decode what came
    request = load_cassette(tmp_path / "z.yaml").interactions[0].request
    assert json.loads(request.body) == CHAT  # recorded decoded, so it matches and replays
    assert check_directory(tmp_path, require_provenance=True) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/healthz"), ("GET", "/__admin/requests"), ("POST", "/__admin/reset")],
)
async def test_health_and_admin_are_answered_here_not_forwarded(
    upstream: tuple[Upstream, str], tmp_path: Path, method: str, path: str
) -> None:
    fake, url = upstream
    async with (
        ProxyServer(url, tmp_path) as proxy,
        aiohttp.ClientSession() as session,
        session.request(method, proxy.url + path) as response,
    ):
        answer: Any = await response.json()
    assert response.status == (200 if path == "/healthz" else 404)
    assert fake.received == []
    assert os.listdir(tmp_path) == []
    if path != "/healthz":
        assert "not forwarded" in answer["message"]


async def test_an_upstream_gzip_bomb_reaches_the_client_but_not_the_cassette(
    upstream: tuple[Upstream, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = upstream
    bomb = gzip.compress(b" " * (8 * 1024 * 1024), mtime=0)
    fake.answer = web.Response(
        body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
    )
    async with (
        ProxyServer(url, tmp_path, cassette="bomb", max_body=1024 * 1024) as proxy,
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.post(proxy.url + CHAT_PATH, json=CHAT) as response,
    ):
        assert await response.read() == bomb
    assert os.listdir(tmp_path) == []
    assert any("not recorded" in r.getMessage() for r in caplog.records)


async def test_the_client_streaming_a_chat_from_the_mock_logs_no_error(
    websim_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        ProxyServer(websim_server.url, tmp_path, cassette="chat") as proxy,
        WebsimClient(proxy.url) as client,
    ):
        for _ in range(3):
            deltas = [d async for d in client.stream_chat([{"role": "user", "content": "Hi"}])]
            assert deltas
        # The proxy finishes each answer after the client is done with it.
        await settle(lambda: proxy.proxy.recorded("chat.yaml") == 3)
    assert len(load_cassette(tmp_path / "chat.yaml").interactions) == 3
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_cassette_that_cannot_be_loaded_is_left_alone_with_a_409(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    fake, url = upstream
    (tmp_path / "broken.yaml").write_text("interactions: [unclosed\n", encoding="utf-8")
    async with ProxyServer(url, tmp_path, cassette="broken") as proxy:
        status, body = await _post(proxy.url + CHAT_PATH, json.dumps(CHAT).encode(), JSON)
    assert status == 409
    assert "broken.yaml" in json.loads(body)["message"]
    assert fake.chats == []
    assert (tmp_path / "broken.yaml").read_text(encoding="utf-8") == "interactions: [unclosed\n"

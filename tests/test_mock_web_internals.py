"""mock_server.web.internals: the aiohttp internals the mock relies on are still there.

An aiohttp upgrade that moves one of them must fail here, loudly, not degrade the mock in
silence (plain-text errors, or every request through the router).
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_protocol import RequestHandler

from mock_server import AppServer, MockServer, build_app
from mock_server.core.config import MockConfig
from mock_server.core.state import MockState
from mock_server.web.app import FIXED_ROUTES_KEY
from mock_server.web.internals import (
    CHECKED_AIOHTTP,
    AiohttpChanged,
    check_internals,
    route_fixed_paths,
)
from websim_core.routing import CHAT_PATH, IMAGE_PATH


def test_the_installed_aiohttp_is_one_the_internals_were_checked_against() -> None:
    installed = ".".join(aiohttp.__version__.split(".")[:2])
    assert installed in CHECKED_AIOHTTP, (
        f"aiohttp {aiohttp.__version__} is not in CHECKED_AIOHTTP {CHECKED_AIOHTTP}: read"
        " mock_server/web/internals.py against it, run the suite, then add it there"
    )


def test_the_internals_are_in_place() -> None:
    check_internals()  # raises AiohttpChanged naming what moved


def test_a_missing_handle_error_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RequestHandler, "handle_error")
    with pytest.raises(AiohttpChanged, match="handle_error"):
        check_internals()


def test_a_missing_make_request_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(web.Application, "_make_request")
    with pytest.raises(AiohttpChanged, match="_make_request"):
        check_internals()


def test_a_server_without_request_handler_is_reported() -> None:
    with pytest.raises(AiohttpChanged, match="request_handler"):
        route_fixed_paths(SimpleNamespace(), {})  # type: ignore[arg-type]


# --- route_fixed_paths == aiohttp's router ------------------------------------------------------------


async def test_route_fixed_paths_skips_the_router_only_for_fixed_paths() -> None:
    app = build_app(MockState(MockConfig()))
    fallen: list[str] = []

    async def fallback(request: web.BaseRequest) -> web.StreamResponse:
        fallen.append(request.path)
        return web.Response(status=299)

    server = SimpleNamespace(request_handler=fallback)  # what route_fixed_paths reads and sets
    route_fixed_paths(server, app[FIXED_ROUTES_KEY])  # type: ignore[arg-type]
    handle = server.request_handler
    direct = await handle(make_mocked_request("GET", "/healthz", app=app))
    assert direct.status == 200
    put = await handle(make_mocked_request("PUT", "/healthz", app=app))
    assert put.status == 405
    assert put.headers["Allow"] == "GET, HEAD"
    for method, path, headers in (
        ("GET", "/images/abc.png", {}),
        ("GET", "/nowhere", {}),
        ("GET", "/healthz/", {}),
        ("POST", CHAT_PATH, {"Expect": "100-continue"}),
    ):
        response = await handle(make_mocked_request(method, path, headers=headers, app=app))
        assert response.status == 299
    assert fallen == ["/images/abc.png", "/nowhere", "/healthz/", CHAT_PATH]


REQUESTS: list[tuple[str, str, dict[str, str], bytes]] = [
    (
        "POST",
        CHAT_PATH,
        {},
        b'{"project_id": "p_1", "messages": [{"role": "user", "content": "Hi"}]}',
    ),
    ("POST", CHAT_PATH, {"Expect": "100-continue"}, b'{"project_id": "p_1", "messages": []}'),
    ("POST", CHAT_PATH, {}, b"not json"),
    ("GET", CHAT_PATH, {}, b""),
    ("HEAD", CHAT_PATH, {}, b""),
    ("POST", IMAGE_PATH, {}, b'{"project_id": "p_2", "prompt": "A cat", "aspect_ratio": "16:9"}'),
    ("PATCH", IMAGE_PATH, {}, b"x"),
    ("GET", "/healthz", {}, b""),
    ("HEAD", "/healthz", {}, b""),
    ("DELETE", "/openapi.json", {}, b""),
    ("GET", "/healthz?probe=1", {}, b""),
    ("GET", "/api%2Fv1/inference/run_chat_completion", {}, b""),
    ("GET", "/images/0123456789abcdef-16x9.png", {}, b""),
    ("GET", "/images/nope.png", {}, b""),
    ("GET", "/__admin/scenarios", {}, b""),
    ("PUT", "/__admin/reset", {}, b""),
    ("GET", "/nowhere", {}, b"body"),
]


async def _answers(url: str) -> list[tuple[int, str, str | None, bytes]]:
    out = []
    async with aiohttp.ClientSession() as session:
        for method, path, headers, body in REQUESTS:
            async with session.request(
                method, url + path, headers=headers, data=body or None
            ) as response:
                body = (await response.read()).replace(url.encode(), b"URL")
                content_type = response.headers.get("Content-Type", "")
                out.append((response.status, content_type, response.headers.get("Allow"), body))
    return out


def _journal(state: MockState, url: str) -> list[dict[str, Any]]:
    entries = []
    for entry in state.journal.entries():
        data = entry.to_json()
        del data["id"], data["time"]
        data["headers"].pop("host", None)
        entries.append(json.loads(json.dumps(data).replace(url, "URL")))
    return entries


async def test_mock_server_answers_as_its_application_routed_by_aiohttp() -> None:
    async with MockServer() as direct:
        fast = await _answers(direct.url)
        fast_journal = _journal(direct.state, direct.url)
    state = MockState(MockConfig())
    async with AppServer(build_app(state)) as routed:
        state.public_url = routed.url
        slow = await _answers(routed.url)
        slow_journal = _journal(state, routed.url)
    assert fast == slow
    assert fast_journal == slow_journal
    assert [status for status, *_ in fast][:4] == [200, 400, 400, 405]


async def test_route_fixed_paths_keeps_100_continue() -> None:
    async with MockServer() as server:
        host, port = server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        body = b'{"project_id": "p_1", "messages": [{"role": "user", "content": "Hi"}]}'
        writer.write(
            b"POST %s HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
            % (CHAT_PATH.encode(), len(body))
        )
        assert await asyncio.wait_for(reader.readline(), 5) == b"HTTP/1.1 100 Continue\r\n"
        assert await asyncio.wait_for(reader.readline(), 5) == b"\r\n"
        writer.write(body)
        assert await asyncio.wait_for(reader.readline(), 5) == b"HTTP/1.1 200 OK\r\n"
        writer.close()
        await writer.wait_closed()

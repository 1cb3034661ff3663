"""Security: the admin API's guard and token, the exposed-host warning, path traversal, limits.

A non-loopback peer cannot be had on loopback, so the admin guard is driven with aiohttp's
``make_mocked_request`` and a transport whose peer address the test chooses.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from unittest import mock

import aiohttp
import pytest
from helpers import raw_exchange

from mock_server import MockServer
from websim_core.routing import CHAT_PATH

# --- what any client can send -------------------------------------------------------------------


def answer_of(data: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower()
    return int(head.split(b" ", 2)[1]), json.loads(body)


TRAVERSALS = [
    "/images/../../etc/passwd",
    "/images/..%2f..%2fetc%2fpasswd",
    "/images/%2e%2e/%2e%2e/etc/passwd",
    "/images/..%5c..%5cetc%5cpasswd",
    "/images/%2e%2e%2f%2e%2e%2fmock_server%2fapp.py",
    "/images/0123456789abcdef-256x256.png%00.txt",
    "/images/0123456789abcdef-256x256.png/../../../etc/passwd",
    "/images/" + "a" * 4000 + ".png",
    "/images/0123456789abcdef-999x999.png",
]


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_image_paths_never_reach_a_file(websim_server: MockServer, path: str) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    with mock.patch("builtins.open", side_effect=AssertionError("a file was opened")):
        status, body = answer_of(await raw_exchange(websim_server.port, request))
    assert status in (400, 404)
    assert body["field"] == "path"


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X" * 9000 + b": 1\r\n\r\n",
        b"GET /healthz?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: 1\r\n" % i for i in range(200))
        + b"\r\n",
    ],
    ids=["long-value", "long-name", "long-url", "too-many"],
)
async def test_headers_over_the_limits_get_a_json_431(
    websim_server: MockServer, head: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    status, body = answer_of(await raw_exchange(websim_server.port, head))
    assert status == 431
    assert body["field"] == "headers"
    assert "8190" in body["message"]
    async with aiohttp.ClientSession() as session, session.get(websim_server.url + "/healthz") as r:
        assert r.status == 200  # the server goes on
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_requests_that_are_not_http_get_a_json_400(
    websim_server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    status, body = answer_of(
        await raw_exchange(websim_server.port, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
    )
    assert status == 400
    assert body["message"].startswith("the request is not valid HTTP/1.1")
    bad_chunks = (
        f"POST {CHAT_PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    ).encode()
    status, _ = answer_of(await raw_exchange(websim_server.port, bad_chunks))
    assert status == 400
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_bodies_over_the_limit_get_a_413() -> None:
    async with MockServer(max_body_bytes=100) as server:
        body = json.dumps({"project_id": "a", "messages": [{"role": "user", "content": "x" * 200}]})
        for extra in ("", "Transfer-Encoding: chunked\r\n"):
            if extra:
                payload = f"{len(body):x}\r\n{body}\r\n0\r\n\r\n"
                head = f"POST {CHAT_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"
            else:
                payload = body
                head = (
                    f"POST {CHAT_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                )
            status, answer = answer_of(await raw_exchange(server.port, (head + payload).encode()))
            assert status == 413
            assert answer["field"] == "body"

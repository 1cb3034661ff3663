"""Connections (mock_server.web.listen): what aiohttp would wait on forever is answered and closed.

Non-HTTP bytes get a JSON 400 at once; a request slower than ``read_timeout`` a JSON 408; a
connection idle longer than ``idle_timeout`` is closed. Short limits keep these fast.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from helpers import raw_exchange

from mock_server import MockServer
from mock_server.web.wire import not_a_request

TLS_HELLO = bytes.fromhex("16030100a5010000a10303") + bytes(32) + b"\x00\x00\x02\x13\x01"
HEAD = b"POST /api/v1/inference/run_chat_completion HTTP/1.1\r\nHost: x\r\n"


def status_and_error(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    error: dict[str, object] = json.loads(body)
    return int(head.split()[1]), error


@pytest.mark.parametrize(
    "data",
    [
        TLS_HELLO,
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"EHLO mail.example.com\r\n",
        b"\x00\x01\x02junk without a blank line",
        b"GET /\r\n",  # HTTP/0.9
    ],
    ids=["tls", "ssh", "smtp", "junk", "http09"],
)
async def test_bytes_that_are_not_http_get_a_json_400_at_once(data: bytes) -> None:
    async with MockServer() as server:
        answer = await raw_exchange(server.port, data, within=2.0)  # the connection stays open
    status, error = status_and_error(answer)
    assert status == 400
    assert "not an HTTP/1.1 request" in str(error["message"]) or "TLS" in str(error["message"])


@pytest.mark.parametrize(
    "start", [b"", b"G", b"GET", b"GET ", b"GET /x", b"GET /x HTTP/1.", b"GET /x HTTP/1.1\r"]
)
def test_any_beginning_of_a_request_line_may_be_http(start: bytes) -> None:
    assert not_a_request(start) is None
    assert not_a_request(b"\r\n" + start) is None
    assert not_a_request(start + b"\x16") is not None or start.endswith(b"/x")


async def test_a_slowloris_head_gets_a_408_after_the_read_timeout() -> None:
    async with MockServer(read_timeout=0.2) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        started = time.monotonic()
        writer.write(HEAD)
        answer = b""
        for _ in range(40):  # a header line every 0.05 s: never done within 0.2 s
            try:
                answer = await asyncio.wait_for(reader.read(65536), 0.05)
                break
            except TimeoutError:
                writer.write(b"X-Slow: 1\r\n")
        writer.close()
    assert time.monotonic() - started < 1.5
    status, error = status_and_error(answer)
    assert (status, error["field"]) == (408, "read_timeout")


async def test_a_slow_body_gets_a_408_after_the_read_timeout() -> None:
    async with MockServer(read_timeout=0.2) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(HEAD + b"Content-Length: 100\r\n\r\n{")
        answer = await asyncio.wait_for(reader.read(), 2.0)
        writer.close()
    assert status_and_error(answer)[0] == 408


async def test_whole_requests_are_not_timed_after_they_arrived() -> None:
    body = b'{"project_id": "p_1", "messages": [{"role": "user", "content": "hi"}]}'
    request = HEAD + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    async with MockServer(read_timeout=0.2, latency_ms=400) as server:  # answer after 0.4 s
        answer = await raw_exchange(server.port, request + body, chunk=20, within=3.0)
    assert answer.startswith(b"HTTP/1.1 200")


async def test_idle_keep_alive_connections_are_closed_after_the_idle_timeout() -> None:
    async with MockServer(idle_timeout=0.2) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        answer = await asyncio.wait_for(reader.read(), 2.0)  # EOF: closed by the server
        writer.close()
        silent_reader, silent = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(silent_reader.read(), 2.0) == b""  # never sent a byte
        silent.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert time.monotonic() - started < 1.5

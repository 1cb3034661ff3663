"""Reading a request body (mock_server.web.exchange): the body taken whole is the body request.read() gives, or the same refusal."""

from __future__ import annotations

import asyncio
import json
import re
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from helpers import raw_exchange
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server import MockServer
from mock_server.core.errors import RequestRefused
from mock_server.web.exchange import read_body
from mock_server.web.playback import Note
from websim_core.routing import CHAT_PATH

# --- the body taken whole == the body read by request.read() ---------------------------------------


async def _body_of(chunks: list[bytes], limit: int, *, whole: bool) -> bytes | int:
    """What the chat handler's body reader gives: the body, or the status it answers."""
    loop = asyncio.get_running_loop()
    reader = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=loop)

    def feed_rest(rest: list[bytes]) -> None:
        for chunk in rest:
            reader.feed_data(chunk)
        reader.feed_eof()

    if whole:  # everything arrived with the headers: the shortcut
        feed_rest(chunks)
    else:  # the last piece arrives while the handler waits: request.read()
        for chunk in chunks[:-1]:
            reader.feed_data(chunk)
        loop.call_soon(feed_rest, chunks[-1:])
    request = make_mocked_request("POST", CHAT_PATH, payload=reader, client_max_size=limit)
    try:
        return await read_body(request, Note(), limit)
    except web.HTTPException as exc:
        return exc.status
    except RequestRefused as exc:
        return exc.status


@settings(max_examples=60)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=4),
    slack=st.integers(-2, 2),  # the limit near the body's size: the 413 boundary
)
async def test_a_body_taken_whole_is_the_body_read(chunks: list[bytes], slack: int) -> None:
    body = b"".join(chunks)
    limit = max(1, len(body) + slack)
    taken = await _body_of(chunks, limit, whole=True)
    read = await _body_of(chunks, limit, whole=False)
    assert taken == read
    assert taken == (body if len(body) <= limit else 413)


# --- what aiohttp answered in plain text, in JSON (issue 15) ------------------------------------


def _status_and_field(answer: bytes) -> tuple[int, object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["field"]


@pytest.mark.parametrize(
    ("raw", "status", "field"),
    [
        (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 404, "path"),
        (b"CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 404, "path"),
        (
            b"POST %s HTTP/1.1\r\nHost: x\r\nExpect: tea\r\nContent-Length: 2\r\n\r\n{}",
            417,
            "expect",
        ),
        (
            b"POST %s HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n",
            413,
            "content-length",
        ),
        (
            b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            400,
            "transfer-encoding",
        ),
    ],
    ids=["options-star", "connect", "unknown-expect", "expect-too-large", "gzip-chunked"],
)
async def test_requests_aiohttp_refused_in_plain_text_get_json(
    raw: bytes, status: int, field: str
) -> None:
    async with MockServer() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(raw.replace(b"%s", CHAT_PATH.encode()))
        answer = await asyncio.wait_for(reader.readuntil(b"}"), 5)  # (a 413 lingers 10 s)
        writer.close()
    assert not answer.startswith(b"HTTP/1.1 100")  # no "go ahead" before the refusal
    assert _status_and_field(answer) == (status, field)


async def test_expect_100_continue_within_the_limit_still_goes_ahead() -> None:
    body = b'{"project_id": "p_1", "messages": [{"role": "user", "content": "hi"}]}'
    head = b"POST %s HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n" % (
        CHAT_PATH.encode()
    )
    async with MockServer() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body))
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(body)
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert answer.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize(
    "bad",
    [
        b"GET /x\x01 HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\n\n",
    ],
)
async def test_valid_requests_pipelined_before_malformed_bytes_are_answered(bad: bytes) -> None:
    """aiohttp's C parser drops every request of a read that ends in a malformed one; the
    mock hands it one request at a time, so each valid one is answered before the 400."""
    async with MockServer() as server:
        valid = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        answer = await raw_exchange(server.port, valid * 2 + bad)
    assert [line.split(b" ")[1] for line in re.findall(rb"HTTP/1\.[01] \d+", answer)] == [
        b"200",
        b"200",
        b"400",
    ]

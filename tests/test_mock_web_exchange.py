"""Reading a request body (mock_server.web.exchange): the body taken whole is the body request.read() gives, or the same refusal."""

from __future__ import annotations

import asyncio
from unittest import mock

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from hypothesis import given, settings
from hypothesis import strategies as st

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

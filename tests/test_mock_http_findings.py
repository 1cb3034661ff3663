"""Two small HTTP conformance bugs the fuzz (``bench/fuzz.py``) ran into.

Neither was a 5xx nor a handler error. The HEAD one is fixed and tested here; the other is
still a strict xfail: when it is fixed, its test passes and (xfail_strict) fails the run, so
remove the mark then.
"""

from __future__ import annotations

import aiohttp
import pytest
from helpers import raw_exchange

from mock_server import MockServer
from websim_core.routing import IMAGE_PATH


@pytest.mark.parametrize(
    "path",
    ["/healthz", "/openapi.json", "/__admin/requests", "/__admin/scenarios", "/images/{image}"],
)
async def test_head_answers_as_get_without_the_body(websim_server: MockServer, path: str) -> None:
    """Found by the fuzz: GET-only routes answered HEAD with 405 while Allow listed HEAD."""
    async with aiohttp.ClientSession() as session:
        async with session.post(
            websim_server.url + IMAGE_PATH, json={"project_id": "p_1", "prompt": "A cat"}
        ) as made:
            image = (await made.json())["url"].rsplit("/", 1)[1]
        url = websim_server.url + path.format(image=image)
        async with session.get(url) as get:
            body = await get.read()
        async with session.head(url) as head:
            assert head.status == get.status == 200
            assert await head.read() == b""
            for name in ("Content-Type", "Content-Length"):  # (a stream: no length)
                assert head.headers.get(name) == get.headers.get(name)
    assert int(get.headers.get("Content-Length", len(body))) == len(body) > 0  # admin: streamed
    async with aiohttp.ClientSession() as session, session.delete(url) as refused:
        assert refused.status == 405
        assert "HEAD" in refused.headers["Allow"]


@pytest.mark.xfail(
    reason="the JSON 431 for an oversized head is sent with its body to a HEAD request, so "
    "aiohttp's client refuses the answer (ClientResponseError: Data after Connection: close)",
    raises=AssertionError,  # a timeout or a refused connection is not the expected failure
    strict=True,
)
async def test_the_431_to_a_head_request_has_no_body(websim_server: MockServer) -> None:
    request = b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    answer = await raw_exchange(websim_server.port, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"431"
    assert body == b"", body[:80]

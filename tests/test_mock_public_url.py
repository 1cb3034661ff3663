"""``MockServer(public_url=...)``: image URLs point there when a request has no usable Host."""

from __future__ import annotations

import asyncio
import json

from mock_server import MockServer
from websim_core.routing import IMAGE_PATH

BODY = json.dumps({"project_id": "p_1", "prompt": "A cat"}).encode()


async def image_url_without_host(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = f"POST {IMAGE_PATH} HTTP/1.0\r\nContent-Length: {len(BODY)}\r\n\r\n"
        writer.write(head.encode() + BODY)
        answer = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        await writer.wait_closed()
    return str(json.loads(answer.partition(b"\r\n\r\n")[2])["url"])


async def test_image_urls_use_the_public_url_given() -> None:
    async with MockServer(public_url="http://mock.example:9000") as server:
        url = await image_url_without_host(server.port)
    assert url.startswith("http://mock.example:9000/images/")


async def test_image_urls_use_the_listening_address_otherwise() -> None:
    async with MockServer() as server:
        url = await image_url_without_host(server.port)
    assert url.startswith(server.url + "/images/")

"""Checks and loaders more than one test module needs (strategies live in ``strategies.py``)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import queue
import struct
import sys
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from websim_core import WebsimClient

BENCH = Path(__file__).resolve().parent.parent / "bench"
# The repository's committed cassettes, wherever pytest is started from.
COMMITTED_CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"
# A downstream project's cassettes as pytest-recording lays them out (<module>/<test>.yaml), written
# by vcrpy through websim_cassettes.pytest_plugin: a json= body stored as a YAML mapping.
DOWNSTREAM_CASSETTES = (
    Path(__file__).resolve().parent.parent / "examples" / "downstream-app" / "tests" / "cassettes"
)
HELLO = [{"role": "user", "content": "Hello there, how are you doing today, my friend?"}]
PROMPT = "A cat in space"


async def call(client: WebsimClient, how: str) -> object:
    """One call of the kind ``how`` (chat / stream / image, with HELLO or PROMPT); its result in a
    comparable form: the text, the deltas, or the image's URLs and text (an image is truthy)."""
    if how == "chat":
        return await client.chat(HELLO)
    if how == "stream":
        return [delta async for delta in client.stream_chat(HELLO)]
    image = await client.generate_image(PROMPT)
    return (image.urls, str(image))


def first_line(stream: IO[str], within: float = 30.0) -> str:
    """The stream's first line (a started process's), or "" if none came ``within`` seconds: a
    thread reads it, so a silent process fails the test instead of hanging it."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=within)
    except queue.Empty:
        return ""


async def raw_exchange(port: int, data: bytes, chunk: int = 0, within: float = 5.0) -> bytes:
    """Send ``data`` to 127.0.0.1 (in ``chunk``-byte writes); everything the server sends until it
    closes. TimeoutError if it has not closed ``within`` seconds, ConnectionResetError on an RST."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        step = chunk or len(data)
        for i in range(0, len(data), step):
            writer.write(data[i : i + step])
            await writer.drain()
        return await asyncio.wait_for(reader.read(), within)
    finally:
        writer.close()


async def settle(condition: Callable[[], bool], within: float = 2.0) -> None:
    """Wait (briefly, bounded) for the server side to catch up, e.g. a handler still sleeping."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition() and loop.time() < deadline:  # noqa: ASYNC110 - no event to wait on
        await asyncio.sleep(0.005)


def png_info(data: bytes) -> tuple[int, int]:
    """Check a PNG the strict way (signature, chunk CRCs, IDAT size); return (width, height)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR"
    assert chunks[-1][0] == b"IEND"
    width, height, depth, color = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (depth, color) == (8, 2)
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    assert len(raw) == height * (1 + 3 * width)
    assert all(raw[y * (1 + 3 * width)] == 0 for y in range(height))  # filter bytes
    return width, height


def load_bench_script(stem: str) -> ModuleType:
    """``bench/<stem>.py`` as a module (bench/ is scripts, not a package), loaded once."""
    name = f"websim_bench_{stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{stem}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def pool_state(session: aiohttp.ClientSession | None) -> tuple[int, list[str]]:
    """(connections acquired, problems with the pooled idle ones) of a session's connector.

    aiohttp has no public view of its pool, so this reads ``TCPConnector._conns`` and
    ``_acquired``, the one place the tests do; it fails loudly, naming aiohttp's version, if
    they move (the versions checked are mock_server.web.internals.CHECKED_AIOHTTP).
    """
    assert session is not None
    connector = session.connector
    assert isinstance(connector, aiohttp.TCPConnector)
    conns, acquired = getattr(connector, "_conns", None), getattr(connector, "_acquired", None)
    moved = f"aiohttp {aiohttp.__version__}: TCPConnector._conns/_acquired moved; see pool_state"
    assert conns is not None, moved
    assert acquired is not None, moved
    problems = []
    for key, idle in conns.items():
        for protocol, _ in idle:
            transport = protocol.transport
            if transport is None or transport.is_closing() or not protocol.is_connected():
                problems.append(f"a dead connection to {key.host}:{key.port} is in the pool")
    return len(acquired), problems


async def http_json(
    method: str, url: str, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One HTTP exchange with a JSON body (None: none): the status and the answer's JSON."""
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, json=body, headers=headers) as response,
    ):
        return response.status, json.loads(await response.read())

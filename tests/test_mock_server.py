"""The mock server over HTTP: websim_core's client against it, scripts, journal, bad input, CLI."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import signal
import subprocess
import sys
import time
import zlib
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request
from fakes import FakeSleep
from helpers import first_line, png_info, raw_exchange, settle

import mock_server
from mock_server import MockServer, ThreadedMockServer, create_app, get_state
from mock_server.web.admin import is_loopback
from mock_server.web.openapi import openapi_spec
from websim_core import (
    CloudflareError,
    MissingAuthError,
    RateLimitError,
    ResponseStatusError,
    RetryPolicy,
    Websim,
    WebsimClient,
)
from websim_core.routing import CHAT_PATH, IMAGE_PATH

CHAT_ID = "ke3_xh5gai3gjkmruomu"
IMAGE_ID = "kx0m131_rzz66qb2xoy7"
HELLO = [{"role": "user", "content": "Hello, how are you?"}]
# What gpt4free's provider sends, the odd empty `websim-flags;` header included.
G4F_HEADERS = {
    "accept": "*/*",
    "accept-language": "en-US,en;q=0.9",
    "content-type": "text/plain;charset=UTF-8",
    "origin": "https://websim.ai",
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/133.0.0.0 Safari/537.36",
    "websim-flags;": "",
    "referer": "https://websim.ai/@ISWEARIAMNOTADDICTEDTOPILLOW/zelos-ai-assistant",
}


def client_for(url: str, sleeps: FakeSleep | None = None, attempts: int = 3) -> WebsimClient:
    policy = RetryPolicy(max_attempts=attempts, sleep=sleeps or FakeSleep())
    return WebsimClient(url, retry=policy, timeout=10)


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes | str, **kw: Any
) -> tuple[int, Any]:
    async with session.post(url, data=body, **kw) as resp:
        raw = await resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw.decode("utf-8", "replace")


# --- our client against the server --------------------------------------------------------------


async def test_chat_answer_quotes_the_last_user_message(websim_server: MockServer) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    async with client_for(websim_server.url) as client:
        first = await client.chat(messages)
        again = await client.chat(messages)
        other = await client.chat(HELLO)
    assert first == again  # same seed and conversation: same answer
    assert '"What is the capital of France?"' in first
    assert '"Hello, how are you?"' in other
    assert first != other
    assert len(first.split()) > 10
    assert first.endswith((".", "?"))


async def test_answers_depend_on_the_seed() -> None:
    answers = []
    for seed in (1, 2, 3, 4):
        async with MockServer(seed=seed) as server, client_for(server.url) as client:
            answers.append(await client.chat(HELLO))
    assert len(set(answers)) > 1
    assert all('"Hello, how are you?"' in a for a in answers)


async def test_stream_comes_in_several_events_that_join_to_the_answer(
    websim_server: MockServer,
) -> None:
    async with client_for(websim_server.url) as client:
        whole = await client.chat(HELLO)
        deltas = [d async for d in client.stream_chat(HELLO)]
    assert len(deltas) >= 3
    assert "".join(deltas) == whole
    [entry] = websim_server.requests[-1:]
    assert entry["response"]["content_type"] == "text/event-stream"
    assert entry["response"]["body"].endswith("data: [DONE]\n\n")


async def test_image_url_serves_a_real_png_in_the_ratio(websim_server: MockServer) -> None:
    async with client_for(websim_server.url) as client, aiohttp.ClientSession() as session:
        wide = await client.generate_image("A cat in space", aspect_ratio="16:9")
        same = await client.generate_image("A cat in space", aspect_ratio="16:9")
        tall = await client.generate_image("A cat in space", aspect_ratio="9:21")
        assert wide.url == same.url
        assert wide.url != tall.url
        assert wide.url.startswith(websim_server.url + "/images/")
        assert wide.alt == "A cat in space"
        sizes = []
        for url in (wide.url, same.url, tall.url):
            async with session.get(url) as resp:
                assert resp.status == 200
                assert resp.content_type == "image/png"
                sizes.append((png_info(await resp.read()), await resp.read()))
    (w, h), wide_bytes = sizes[0]
    assert max(w, h) == 256
    assert abs(w / h - 16 / 9) < 0.02
    assert sizes[1][1] == wide_bytes  # same prompt, ratio and seed: same bytes
    (w, h), _ = sizes[2]
    assert h == 256
    assert abs(h / w - 21 / 9) < 0.05
    assert websim_server.requests[-1]["response"]["body"] is None  # images are not journaled


async def test_unknown_image_names_are_404(websim_server: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        for name in (
            "nope.png",
            "0123456789abcdef-999x1.png",
            "0123456789abcdef-1x1.gif",
            "..%2F..%2Fetc",
        ):
            async with session.get(f"{websim_server.url}/images/{name}") as resp:
                assert resp.status == 404
                assert (await resp.json())["field"] == "path"


async def test_facade_from_the_seed_documents_works_against_the_mock(
    websim_server: MockServer,
) -> None:
    chat = [
        r
        async for r in Websim.create_async_generator(
            "gemini-1.5-pro", HELLO, base_url=websim_server.url
        )
    ]
    image = [
        r
        async for r in Websim.create_async_generator(
            "flux",
            [{"role": "user", "content": "A cat in space"}],
            prompt="A cat in space",
            base_url=websim_server.url,
        )
    ]
    assert isinstance(chat[0], str)
    assert "Hello, how are you?" in chat[0]
    assert str(image[0]).startswith("[![A cat in space](http://127.0.0.1:")


async def test_unmodified_g4f_style_request_is_answered(websim_server: MockServer) -> None:
    """gpt4free's provider, endpoints pointed at the mock: its headers, its body, its parsing."""
    data = {"project_id": "ke3_xh5gai3gjkmruomu", "messages": HELLO}
    async with aiohttp.ClientSession(headers=G4F_HEADERS) as session:
        async with session.post(websim_server.url + CHAT_PATH, json=data) as response:
            assert response.status == 200
            text = await response.text()
        content = json.loads(text).get("content", "").strip()
        image_data = {"project_id": IMAGE_ID, "prompt": "A cat", "aspect_ratio": "1:1"}
        async with session.post(websim_server.url + IMAGE_PATH, json=image_data) as response:
            response.raise_for_status()
            image_url = json.loads(await response.text()).get("url")
    assert "Hello, how are you?" in content
    assert image_url.startswith(websim_server.url)
    entry = websim_server.requests[0]
    assert entry["headers"]["websim-flags%3b"] == ""  # the odd header, made a valid token
    assert entry["headers"]["content-type"] == "text/plain;charset=UTF-8"


# --- the `websim-flags;` header -----------------------------------------------------------------

RAW_CHAT = json.dumps({"project_id": CHAT_ID, "messages": HELLO}).encode()


def raw_request(
    extra: bytes = b"websim-flags;: \r\n", body: bytes = RAW_CHAT, close: bool = True
) -> bytes:
    if close:
        extra += b"Connection: close\r\n"
    return (
        b"POST " + CHAT_PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: text/plain;charset=UTF-8\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


async def test_websim_flags_header_is_accepted_even_split_and_pipelined() -> None:
    async with MockServer() as server:
        one = await raw_exchange(server.port, raw_request())
        assert one.startswith(b"HTTP/1.1 200 ")
        # two requests on one connection, written 5 bytes at a time
        two = await raw_exchange(server.port, raw_request(close=False) + raw_request(), chunk=5)
        assert two.count(b"HTTP/1.1 200 ") == 2
        assert [e["response"]["status"] for e in server.requests] == [200, 200, 200]


async def test_plain_aiohttp_would_refuse_websim_flags() -> None:
    """Why the header fix exists: aiohttp's own parser answers 400 to that header name."""
    async with MockServer(lenient_headers=False) as server:
        answer = await raw_exchange(server.port, raw_request())
    assert answer.startswith(b"HTTP/1.0 400 ") or answer.startswith(b"HTTP/1.1 400 ")


def handling(server: MockServer, writer: asyncio.StreamWriter) -> bool:
    """Whether a handler has the request from ``writer``'s connection (its head parsed), so a
    hang-up now is mid-body."""
    runner = server._runner
    assert runner is not None
    assert runner.server is not None
    ours = writer.get_extra_info("sockname")
    return any(
        c._request_in_progress and c.transport and c.transport.get_extra_info("peername") == ours
        for c in runner.server.connections
    )


async def test_clients_that_hang_up_are_not_errors(
    websim_server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    words = {"role": "user", "content": "word " * 2000}
    long = json.dumps({"project_id": "a", "stream": True, "messages": [words]})
    reader, writer = await asyncio.open_connection("127.0.0.1", websim_server.port)
    head = f"POST {CHAT_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(long)}\r\n\r\n"
    writer.write(head.encode() + long.encode())
    await reader.read(10)
    writer.transport.abort()  # hang up mid-stream
    await settle(lambda: len(websim_server.requests) == 1)
    reader, writer = await asyncio.open_connection("127.0.0.1", websim_server.port)
    writer.write(f"POST {CHAT_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{".encode())
    await writer.drain()
    await settle(lambda: handling(websim_server, writer))
    writer.transport.abort()  # hang up mid-body
    await settle(lambda: len(websim_server.requests) == 2)
    async with (
        aiohttp.ClientSession() as session,
        session.get(websim_server.url + "/healthz") as resp,
    ):
        assert resp.status == 200
    assert websim_server.errors == []
    assert websim_server.requests[-1]["response"]["source"] == "disconnected"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# --- scripted answers ---------------------------------------------------------------------------


async def test_429_429_200_is_one_line(websim_server: MockServer) -> None:
    websim_server.script("chat", [429, 429, 200])
    sleeps = FakeSleep()
    async with client_for(websim_server.url, sleeps) as client:
        answer = await client.chat(HELLO)
        after = await client.chat(HELLO)
    assert answer == after
    assert "Hello, how are you?" in answer
    assert sleeps.delays == [2.0, 4.0]
    statuses = [(e["response"]["status"], e["response"]["source"]) for e in websim_server.requests]
    assert statuses == [(429, "script"), (429, "script"), (200, "script"), (200, "reply")]
    assert json.loads(websim_server.requests[0]["response"]["body"]) == {
        "message": "Rate limit exceeded"
    }
    assert websim_server.requests[0]["response"]["step"] == {"status": 429}


async def test_scripted_retry_after_and_bodies(websim_server: MockServer) -> None:
    websim_server.script(
        "chat",
        [
            {"status": 429, "headers": {"Retry-After": "1"}, "body": "Rate limit exceeded"},
            {"status": 500, "body": {"error": {"message": "boom"}}},
        ],
    )
    sleeps = FakeSleep()
    async with client_for(websim_server.url, sleeps) as client:
        with pytest.raises(ResponseStatusError) as info:
            await client.chat(HELLO)
    assert sleeps.delays == [1.0]
    assert str(info.value) == "Response 500: boom"


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (401, MissingAuthError, "Authentication required"),
        (402, RateLimitError, "Payment required: your quota is used up"),
        (403, CloudflareError, "Cloudflare detected"),
        (429, RateLimitError, "Rate limit exceeded"),
        (500, ResponseStatusError, "Internal server error"),
        (502, ResponseStatusError, "Bad Gateway"),
        (503, ResponseStatusError, "Service temporarily unavailable"),
        (504, RateLimitError, "Gateway Timeout"),
        (520, ResponseStatusError, "Unknown error (Cloudflare)"),
        (418, ResponseStatusError, "I'm a Teapot"),
    ],
)
async def test_built_in_bodies_map_to_the_clients_errors(
    websim_server: MockServer, status: int, error: type[Exception], message: str
) -> None:
    websim_server.script("any", [status])
    async with client_for(websim_server.url, attempts=1) as client:
        with pytest.raises(error) as info:
            await client.chat(HELLO)
    assert type(info.value) is error
    assert str(info.value) == f"Response {status}: {message}"


async def test_reply_steps_choose_the_content(websim_server: MockServer) -> None:
    websim_server.script(
        "chat", [{"reply": "  Scripted answer.  "}, {"reply": "one two three four five six seven"}]
    )
    websim_server.script("image", [{"reply": "https://img.example/cat.png"}])
    async with client_for(websim_server.url) as client:
        assert await client.chat(HELLO) == "Scripted answer."
        deltas = [d async for d in client.stream_chat(HELLO)]
        image = await client.generate_image("A cat")
    assert "".join(deltas) == "one two three four five six seven"
    assert len(deltas) >= 2
    assert image.url == "https://img.example/cat.png"


async def test_any_and_endpoint_scripts_are_consumed_in_order(websim_server: MockServer) -> None:
    websim_server.script("any", [{"reply": "first"}])
    websim_server.script("chat", [{"reply": "second"}])
    websim_server.script("any", [{"reply": "https://img.example/third.png"}])
    async with client_for(websim_server.url) as client:
        assert await client.chat(HELLO) == "first"
        assert (await client.generate_image("A cat")).url == "https://img.example/third.png"
        assert await client.chat(HELLO) == "second"
        assert "Hello, how are you?" in await client.chat(HELLO)  # normal answers resume


async def test_scenarios_over_http(websim_server: MockServer) -> None:
    admin = websim_server.url + "/__admin/scenarios"
    async with aiohttp.ClientSession() as session:
        status, body = await post(
            session, admin, json.dumps({"endpoint": "chat", "responses": [429, 200]})
        )
        assert (status, body) == (200, {"queued": 2, "pending": 2})
        async with session.get(admin) as resp:
            assert (await resp.json())["pending"] == [
                {"id": 1, "endpoint": "chat", "step": {"status": 429}},
                {"id": 2, "endpoint": "chat", "step": {"reply": None}},
            ]
        bad = [
            ({"responses": [429, {"status": 99}]}, "responses[1].status"),
            ({"responses": [{"stauts": 429}]}, "responses[0]"),
            (
                {"responses": [{"status": 429, "headers": {"Content-Length": "3"}}]},
                "responses[0].headers.Content-Length",
            ),
            (
                {"responses": [{"status": 429, "headers": {"X": "a\r\nb"}}]},
                "responses[0].headers.X",
            ),
            ({"responses": [{"reply": 3}]}, "responses[0].reply"),
            ({"responses": [True]}, "responses[0]"),
            ({"endpoint": "chats", "responses": []}, "endpoint"),
            ({"responses": "429"}, "responses"),
            ({}, "responses"),
            ({"responses": [], "extra": 1}, "extra"),
            ([429], "body"),
        ]
        for payload, field in bad:
            status, body = await post(session, admin, json.dumps(payload))
            assert status == 400, payload
            assert body["field"] == field, payload
        status, body = await post(session, websim_server.url + "/__admin/reset", b"")
        assert (status, body) == (200, {"reset": True})
    assert len(websim_server.state.scripts) == 0


# --- the journal --------------------------------------------------------------------------------


async def test_journal_records_requests_and_answers(websim_server: MockServer) -> None:
    async with client_for(websim_server.url) as client:
        answer = await client.chat(HELLO, project_id=CHAT_ID)
    async with aiohttp.ClientSession() as session:
        await post(session, websim_server.url + CHAT_PATH, b"\xff\xfe not utf-8")
        async with session.get(websim_server.url + "/__admin/requests") as resp:
            journal = await resp.json()
        async with session.get(websim_server.url + "/healthz") as resp:
            assert await resp.json() == {"status": "ok"}
    assert journal["count"] == 2
    assert journal["dropped"] == 0
    first, second = journal["requests"]
    assert first["method"] == "POST"
    assert first["path"] == CHAT_PATH
    assert first["endpoint"] == "chat"
    assert first["headers"]["content-type"] == "text/plain;charset=UTF-8"
    assert first["json"] == {"project_id": CHAT_ID, "messages": HELLO}
    assert json.loads(first["body"]) == first["json"]
    assert first["body_encoding"] == "utf-8"
    assert first["response"]["status"] == 200
    assert json.loads(first["response"]["body"]) == {"content": answer}
    assert second["body_encoding"] == "base64"
    assert second["json"] is None
    assert second["response"]["status"] == 400
    assert second["response"]["source"] == "invalid"
    assert first["id"] < second["id"]
    assert websim_server.requests == journal["requests"]  # admin and healthz are not journaled
    websim_server.reset()
    assert websim_server.requests == []


async def test_journal_is_bounded_and_cuts_big_bodies() -> None:
    async with (
        MockServer(journal_size=3, journal_body_bytes=10) as server,
        aiohttp.ClientSession() as session,
    ):
        for i in range(5):
            await post(session, server.url + f"/nope/{i}", b"x" * 20)
        async with session.get(server.url + "/__admin/requests") as resp:
            journal = await resp.json()
    assert [e["path"] for e in journal["requests"]] == ["/nope/2", "/nope/3", "/nope/4"]
    assert (journal["count"], journal["total"], journal["dropped"]) == (3, 5, 2)
    assert journal["requests"][0]["body"] == "x" * 10
    assert journal["requests"][0]["body_truncated"]
    assert journal["requests"][0]["body_size"] == 20


# --- bad input ----------------------------------------------------------------------------------

GOOD_MESSAGES = [{"role": "user", "content": "hi"}]
BAD_INPUTS: list[tuple[str, bytes, str]] = [
    (CHAT_PATH, b"", "body"),
    (CHAT_PATH, b"{not json", "body"),
    (CHAT_PATH, b'{"project_id": "a", "messages": [{"role": "user", "content": NaN}]}', "body"),
    (CHAT_PATH, b"[" * 100_000, "body"),
    (CHAT_PATH, b"[1, 2]", "body"),
    (CHAT_PATH, b'"a string"', "body"),
    (CHAT_PATH, json.dumps({"messages": GOOD_MESSAGES}).encode(), "project_id"),
    (CHAT_PATH, json.dumps({"project_id": 5, "messages": GOOD_MESSAGES}).encode(), "project_id"),
    (
        CHAT_PATH,
        json.dumps({"project_id": "Bad-ID", "messages": GOOD_MESSAGES}).encode(),
        "project_id",
    ),
    (
        CHAT_PATH,
        json.dumps({"project_id": "x" * 65, "messages": GOOD_MESSAGES}).encode(),
        "project_id",
    ),
    (CHAT_PATH, json.dumps({"project_id": "abc"}).encode(), "messages"),
    (CHAT_PATH, json.dumps({"project_id": "abc", "messages": "hi"}).encode(), "messages"),
    (CHAT_PATH, json.dumps({"project_id": "abc", "messages": []}).encode(), "messages"),
    (
        CHAT_PATH,
        json.dumps({"project_id": "abc", "messages": [{"role": "robot", "content": "x"}]}).encode(),
        "messages[0].role",
    ),
    (
        CHAT_PATH,
        json.dumps({"project_id": "abc", "messages": [{"role": "user"}]}).encode(),
        "messages[0].content",
    ),
    (
        CHAT_PATH,
        json.dumps({"project_id": "abc", "messages": GOOD_MESSAGES, "stream": "yes"}).encode(),
        "stream",
    ),
    (IMAGE_PATH, json.dumps({"project_id": "abc"}).encode(), "prompt"),
    (IMAGE_PATH, json.dumps({"project_id": "abc", "prompt": 3}).encode(), "prompt"),
    (IMAGE_PATH, json.dumps({"project_id": "abc", "prompt": "   "}).encode(), "prompt"),
    (
        IMAGE_PATH,
        json.dumps({"project_id": "abc", "prompt": "cat", "aspect_ratio": 1}).encode(),
        "aspect_ratio",
    ),
    (
        IMAGE_PATH,
        json.dumps({"project_id": "abc", "prompt": "cat", "aspect_ratio": "0:1"}).encode(),
        "aspect_ratio",
    ),
    (
        IMAGE_PATH,
        json.dumps({"project_id": "abc", "prompt": "cat", "aspect_ratio": "wide"}).encode(),
        "aspect_ratio",
    ),
    (IMAGE_PATH, json.dumps({"project_id": None, "prompt": "cat"}).encode(), "project_id"),
]


async def test_malformed_requests_get_400_json_naming_the_field(websim_server: MockServer) -> None:
    async with aiohttp.ClientSession() as session:
        for path, body, field in BAD_INPUTS:
            status, answer = await post(session, websim_server.url + path, body)
            assert status == 400, (path, body[:80], answer)
            assert answer["field"] == field, (path, body[:80], answer)
            assert isinstance(answer["message"], str)
        async with session.get(websim_server.url + "/healthz") as resp:
            assert resp.status == 200
    assert websim_server.errors == []


async def test_compressed_bodies_are_decoded_or_refused_with_json(
    websim_server: MockServer,
) -> None:
    good = json.dumps({"project_id": "abc", "messages": GOOD_MESSAGES}).encode()
    cases = [
        ("gzip", gzip.compress(good), 200, None),
        ("deflate", zlib.compress(good), 200, None),
        ("gzip", b"not gzip", 400, "body"),
        ("gzip", gzip.compress(good)[:-9], 400, "body"),  # truncated: aiohttp itself would hang
        ("deflate", b"\x00", 400, "body"),
        ("gzip", gzip.compress(b" " * (2 << 20)), 413, "body"),  # small on the wire, 2 MiB inside
        ("br", good, 415, "content-encoding"),
    ]
    async with aiohttp.ClientSession() as session:
        for encoding, body, expected, field in cases:
            headers = {"Content-Encoding": encoding}
            status, answer = await post(
                session, websim_server.url + CHAT_PATH, body, headers=headers
            )
            assert status == expected, (encoding, answer)
            if field is not None:
                assert answer["field"] == field
    assert websim_server.errors == []


async def test_lone_surrogates_in_messages_are_answered(websim_server: MockServer) -> None:
    body = b'{"project_id": "abc", "messages": [{"role": "user", "content": "bad \\ud800 char"}]}'
    async with aiohttp.ClientSession() as session:
        status, answer = await post(session, websim_server.url + CHAT_PATH, body)
        assert status == 200
        assert "bad ? char" in answer["content"]
        stream = body.replace(b'"abc",', b'"abc", "stream": true,')
        async with session.post(websim_server.url + CHAT_PATH, data=stream) as resp:
            assert resp.status == 200
            assert (await resp.read()).endswith(b"data: [DONE]\n\n")


async def test_404_405_413_are_json(websim_server: MockServer) -> None:
    url = websim_server.url
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/no/such/path") as resp:
            assert resp.status == 404
            assert (await resp.json())["field"] == "path"
        async with session.get(url + CHAT_PATH) as resp:
            assert resp.status == 405
            assert resp.headers["Allow"] == "POST"
            assert (await resp.json())["field"] == "method"
        async with session.put(url + "/__admin/reset") as resp:
            assert resp.status == 405
        # one byte over the default 1 MiB limit
        big = await raw_exchange(websim_server.port, raw_request(body=b" " * (1024 * 1024 + 1)))
        assert big.startswith(b"HTTP/1.1 413 ")
        assert json.loads(big.split(b"\r\n\r\n", 1)[1])["field"] == "body"
        status, _answer = await post(
            session, url + CHAT_PATH, json.dumps({"project_id": "abc", "messages": GOOD_MESSAGES})
        )
        assert status == 200  # still serving on the same session
    assert [e["response"]["status"] for e in websim_server.requests] == [404, 405, 413, 200]


async def test_max_body_bytes_is_inclusive() -> None:
    body = json.dumps({"project_id": "abc", "messages": GOOD_MESSAGES}).encode()
    async with MockServer(max_body_bytes=len(body)) as server, aiohttp.ClientSession() as session:
        assert (await post(session, server.url + CHAT_PATH, body))[0] == 200
        assert (await post(session, server.url + CHAT_PATH, body + b" "))[0] == 413


async def test_strict_ids_accept_only_the_canonical_form_per_endpoint() -> None:
    chat = {"project_id": CHAT_ID, "messages": GOOD_MESSAGES}
    image = {"project_id": IMAGE_ID, "prompt": "cat"}
    async with MockServer(strict_ids=True) as server, aiohttp.ClientSession() as session:
        assert (await post(session, server.url + CHAT_PATH, json.dumps(chat)))[0] == 200
        assert (await post(session, server.url + IMAGE_PATH, json.dumps(image)))[0] == 200
        for path, body in (
            (CHAT_PATH, {**chat, "project_id": IMAGE_ID}),
            (IMAGE_PATH, {**image, "project_id": CHAT_ID}),
            (CHAT_PATH, {**chat, "project_id": "abc_def"}),
        ):
            status, answer = await post(session, server.url + path, json.dumps(body))
            assert status == 400
            assert answer["field"] == "project_id"
            assert "^[a-z0-9]" in answer["message"]  # names the expected pattern


# --- handler errors, admin guard, OpenAPI -------------------------------------------------------


async def test_a_broken_handler_answers_500_and_is_kept_for_the_test() -> None:
    async with MockServer() as server, aiohttp.ClientSession() as session:
        with mock.patch("mock_server.core.decision.chat_answer", side_effect=KeyError("broken")):
            status, answer = await post(
                session,
                server.url + CHAT_PATH,
                json.dumps({"project_id": "a", "messages": GOOD_MESSAGES}),
            )
        assert status == 500
        assert "KeyError" in answer["message"]
        assert (
            await post(
                session,
                server.url + CHAT_PATH,
                json.dumps({"project_id": "a", "messages": GOOD_MESSAGES}),
            )
        )[0] == 200
    assert [type(e) for e in server.errors] == [KeyError]
    assert server.requests[0]["response"]["source"] == "error"
    with pytest.raises(KeyError, match="broken"):
        server.raise_errors()


@pytest.mark.parametrize(
    ("remote", "ok"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("192.168.1.2", False),
        ("::ffff:10.0.0.1", False),
        ("2001:db8::1", False),
        ("", False),
        (None, False),
        ("not an ip", False),
    ],
)
def test_loopback_check(remote: str | None, ok: bool) -> None:
    assert is_loopback(remote) is ok


@pytest.mark.parametrize("remote", ["10.1.2.3", "127.0.0.1"])
async def test_admin_refuses_remote_clients(remote: str) -> None:
    app = create_app()
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (remote, 40000) if name == "peername" else default
    )
    request = make_mocked_request("GET", "/__admin/requests", app=app, transport=transport)
    match = await app.router.resolve(request)
    response = await match.handler(request)
    assert response.status == (200 if remote.startswith("127.") else 403)
    if response.status == 403:
        assert json.loads(response.body)["field"] == "remote"
    assert get_state(app).journal.total == 0


def test_openapi_describes_every_route() -> None:
    app = create_app()
    spec = openapi_spec(mock_server.__version__)
    routes = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.method not in ("HEAD", "*") and route.resource is not None
    }
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert routes == described
    json.dumps(spec)  # serialisable


async def test_openapi_is_served(websim_server: MockServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(websim_server.url + "/openapi.json") as resp,
    ):
        spec = await resp.json()
    assert spec["openapi"].startswith("3.")
    assert CHAT_PATH in spec["paths"]


def test_threaded_server_for_synchronous_code() -> None:
    import urllib.request

    with ThreadedMockServer(seed=5) as server:
        server.script("chat", [{"reply": "from a thread"}])
        request = urllib.request.Request(
            server.url + CHAT_PATH,
            data=json.dumps({"project_id": "a", "messages": GOOD_MESSAGES}).encode(),
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert json.loads(resp.read()) == {"content": "from a thread"}
        assert [e["response"]["status"] for e in server.requests] == [200]
        server.reset()
        assert server.requests == []


# --- the command line ---------------------------------------------------------------------------


def test_cli_serves_prints_its_url_and_stops_on_sigterm() -> None:
    """``python -m mock_server --port 0``, with aiohttp's pure-Python parser this time."""
    env = {**os.environ, "AIOHTTP_NO_EXTENSIONS": "1"}
    started = time.monotonic()
    with subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stderr is not None
            line = first_line(proc.stdout)
            assert line.startswith("websim mock server listening on http://127.0.0.1:")
            url = line.split()[-1]
            port = int(url.rsplit(":", 1)[1])
            assert port not in (0, 8787)
            answer = asyncio.run(raw_exchange(port, raw_request()))
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
            assert time.monotonic() - started < 20
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            assert "Traceback" not in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()


def test_cli_rejects_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    from mock_server.cli import main

    for argv in (["--port", "70000"], ["--latency-ms", "-1"], ["--log-level", "LOUD"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    capsys.readouterr()

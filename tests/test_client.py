"""WebsimClient against a real aiohttp server on an ephemeral port (``fake_websim``, conftest).

Retries never sleep: a fake sleep records the delays the policy asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gc
import json
import random
import re
import tracemalloc
import warnings
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fakes import FakeSleep, FakeWebsim, Reply, sse_bytes
from helpers import call

import websim_core.client as client_module
from websim_core import (
    CloudflareError,
    ImageResponse,
    InvalidRequestError,
    MissingAuthError,
    RateLimitError,
    ResponseFormatError,
    ResponseStatusError,
    RetryPolicy,
    UnexpectedRedirectError,
    WebsimClient,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
)
from websim_core.client import DEFAULT_MAX_RESPONSE_BYTES
from websim_core.ids import ProjectIdKind, classify_project_id
from websim_core.routing import CHAT_PATH, IMAGE_PATH

HELLO = [{"role": "user", "content": "Hello, how are you?"}]
NOW = 1_700_000_000.0


def client_for(server: FakeWebsim, sleep: FakeSleep | None = None, **kwargs: Any) -> WebsimClient:
    policy = RetryPolicy(sleep=sleep or FakeSleep(), clock=lambda: NOW)
    return WebsimClient(server.url, retry=policy, **kwargs)


async def collect(client: WebsimClient, messages: object = HELLO) -> list[str]:
    return [delta async for delta in client.stream_chat(messages)]


async def collect_until_error(client: WebsimClient) -> tuple[list[str], Exception | None]:
    """The deltas received, and the error that ended the stream (None if it ended well)."""
    got: list[str] = []
    try:
        async for delta in client.stream_chat(HELLO):
            got.append(delta)
    except Exception as exc:
        return got, exc
    return got, None


@pytest.fixture
def sessions_created(monkeypatch: pytest.MonkeyPatch) -> list[aiohttp.ClientSession]:
    """Every ClientSession the client module creates (aiohttp discourages subclassing it)."""
    created: list[aiohttp.ClientSession] = []
    real = aiohttp.ClientSession

    def factory(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        session = real(*args, **kwargs)
        created.append(session)
        return session

    monkeypatch.setattr(client_module.aiohttp, "ClientSession", factory)
    return created


# --- the happy paths -------------------------------------------------------------------------------


async def test_chat_sends_the_documented_request_and_returns_stripped_content(
    fake_websim: FakeWebsim,
) -> None:
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Привет"},
        {"role": "assistant", "content": "Хорошо"},
    ]
    async with client_for(fake_websim) as client:
        answer = await client.chat(history)
    assert answer == "echo: Хорошо"  # the server pads with spaces; the client strips
    (seen,) = fake_websim.requests
    assert seen.path == CHAT_PATH
    assert set(seen.json) == {"project_id", "messages"}  # no model, no stream
    assert seen.json["messages"] == history  # the whole history, last message assistant or not
    assert classify_project_id(seen.json["project_id"]) is ProjectIdKind.CHAT
    assert seen.headers["Content-Type"] == "text/plain;charset=UTF-8"
    assert seen.headers["Origin"] == "https://websim.ai"
    assert seen.headers["Accept"] == "*/*"
    assert "Mozilla/5.0" in seen.headers["User-Agent"]


async def test_each_request_gets_a_fresh_id_unless_one_is_given(fake_websim: FakeWebsim) -> None:
    async with client_for(fake_websim) as client:
        await client.chat(HELLO)
        await client.chat(HELLO)
        await client.chat(HELLO, project_id="my_project_1")
    ids = [r.json["project_id"] for r in fake_websim.requests]
    assert ids[0] != ids[1]
    assert ids[2] == "my_project_1"


async def test_a_seeded_rng_makes_ids_reproducible(fake_websim: FakeWebsim) -> None:
    for _ in range(2):
        async with client_for(fake_websim, rng=random.Random(42)) as client:
            await client.chat(HELLO)
            await client.generate_image("a cat")
    first_chat, first_image, second_chat, second_image = (
        r.json["project_id"] for r in fake_websim.requests
    )
    assert (first_chat, first_image) == (second_chat, second_image)
    assert classify_project_id(first_image) is ProjectIdKind.IMAGE


async def test_one_pooled_session_for_the_clients_lifetime(
    fake_websim: FakeWebsim, sessions_created: list[aiohttp.ClientSession]
) -> None:
    async with client_for(fake_websim) as client:
        assert len(sessions_created) == 1
        await client.chat(HELLO)
        await client.generate_image("a cat")
        await client.chat(HELLO)
        assert not sessions_created[0].closed
    assert len(sessions_created) == 1
    assert sessions_created[0].closed  # its own session is closed on exit
    # Keep-alive: all three requests came over one connection (same client port).
    assert len({r.peer for r in fake_websim.requests}) == 1


async def test_a_borrowed_session_is_used_and_left_open(
    fake_websim: FakeWebsim, sessions_created: list[aiohttp.ClientSession]
) -> None:
    started: list[str] = []

    async def on_request_start(session: object, context: object, params: Any) -> None:
        started.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        async with client_for(fake_websim, session=session) as client:
            assert await client.chat(HELLO) == "echo: Hello, how are you?"
        assert not session.closed
        assert started == [fake_websim.url + CHAT_PATH]
        # Still usable by its owner after the client is gone.
        async with session.post(
            fake_websim.url + CHAT_PATH, data=json.dumps({"messages": HELLO})
        ) as response:
            assert response.status == 200
    assert sessions_created == [session]  # the client made none of its own


async def test_stream_chat_yields_the_deltas(fake_websim: FakeWebsim) -> None:
    async with client_for(fake_websim) as client:
        deltas = await collect(client, [{"role": "user", "content": "one two  three"}])
    assert deltas == ["echo: ", "one ", "two  ", "three"]
    (seen,) = fake_websim.requests
    assert seen.json["stream"] is True


async def test_a_closed_borrowed_session_is_refused(fake_websim: FakeWebsim) -> None:
    session = aiohttp.ClientSession()
    await session.close()
    client = client_for(fake_websim, session=session)
    with pytest.raises(InvalidRequestError) as info:
        await client.chat(HELLO)
    assert info.value.field == "session"
    with pytest.raises(InvalidRequestError):
        await collect(client)
    await client.aclose()
    assert fake_websim.requests == []


async def test_stream_survives_awkward_network_chunks(fake_websim: FakeWebsim) -> None:
    stream = b"".join(sse_bytes(["caf\u00e9 ", "\U0001f600", " done"]))
    # Split inside the 2- and 4-byte characters and between CR and LF of a variant stream.
    crlf = stream.replace(b"\n", b"\r\n")
    cuts = [1, 17, 18, 29, 30, 31, 45, 60]
    chunks = [crlf[a:b] for a, b in zip([0, *cuts], [*cuts, len(crlf)], strict=True)]
    assert any(c.endswith(b"\r") for c in chunks)
    fake_websim.script("chat", Reply(content_type="text/event-stream", chunks=chunks))
    async with client_for(fake_websim) as client:
        assert await collect(client) == ["caf\u00e9 ", "\U0001f600", " done"]


@pytest.mark.parametrize("close", [True, False], ids=["aclose", "just-break"])
async def test_a_consumer_may_stop_a_stream_early(fake_websim: FakeWebsim, close: bool) -> None:
    long = [{"role": "user", "content": " ".join(f"w{i}" for i in range(50))}]
    first: list[str] = []
    async with client_for(fake_websim) as client:
        stream = client.stream_chat(long)
        async for delta in stream:
            first.append(delta)
            if len(first) == 3:
                break
        if close:
            await stream.aclose()  # type: ignore[attr-defined]
        assert first == ["echo: ", "w0 ", "w1 "]
        # The connection went back (or was dropped): the client still works.
        assert await client.chat(HELLO) == "echo: Hello, how are you?"
    del stream
    gc.collect()
    await asyncio.sleep(0)  # let the loop finalise an abandoned generator


async def test_concurrent_calls_share_the_client(
    fake_websim: FakeWebsim, sessions_created: list[aiohttp.ClientSession]
) -> None:
    async with client_for(fake_websim) as client:
        answers = await asyncio.gather(
            *(client.chat([{"role": "user", "content": f"n{i}"}]) for i in range(8)),
            client.generate_image("a cat"),
            collect(client, [{"role": "user", "content": "s"}]),
        )
    assert answers[:8] == [f"echo: n{i}" for i in range(8)]
    assert isinstance(answers[8], ImageResponse)
    assert answers[9] == ["echo: ", "s"]
    assert len(sessions_created) == 1
    assert len(fake_websim.requests) == 10


async def test_stream_falls_back_to_a_plain_json_answer(fake_websim: FakeWebsim) -> None:
    fake_websim.script("chat", Reply(body={"content": "  the whole answer  "}))
    async with client_for(fake_websim) as client:
        assert await collect(client) == ["the whole answer"]


async def test_stream_falls_back_to_plain_text(fake_websim: FakeWebsim) -> None:
    fake_websim.script("chat", Reply(body="not json at all", content_type="text/plain"))
    async with client_for(fake_websim) as client:
        assert await collect(client) == ["not json at all"]


async def test_generate_image(fake_websim: FakeWebsim) -> None:
    async with client_for(fake_websim) as client:
        image = await client.generate_image("  A cat in space ", aspect_ratio="16:9")
    assert isinstance(image, ImageResponse)
    (seen,) = fake_websim.requests
    assert seen.path == IMAGE_PATH
    assert seen.json["prompt"] == "A cat in space"
    assert seen.json["aspect_ratio"] == "16:9"
    assert classify_project_id(seen.json["project_id"]) is ProjectIdKind.IMAGE
    assert image.urls == [f"https://img.test/{seen.json['project_id']}.png"]
    assert image.alt == "A cat in space"
    assert str(image) == f"[![A cat in space]({image.url})]({image.url})"


async def test_generate_image_from_messages(fake_websim: FakeWebsim) -> None:
    history = [
        {"role": "user", "content": "draw a dog"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "A cat"},
        {"role": "user", "content": "in space"},
    ]
    async with client_for(fake_websim) as client:
        image = await client.generate_image(messages=history, project_id="kx0m131_rzz66qb2xoy7")
    (seen,) = fake_websim.requests
    assert seen.json == {
        "project_id": "kx0m131_rzz66qb2xoy7",
        "prompt": "A cat\nin space",
        "aspect_ratio": "1:1",
    }
    assert image.alt == "A cat\nin space"


# --- retries -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 402, 504])
async def test_rate_limits_are_retried_with_backoff(fake_websim: FakeWebsim, status: int) -> None:
    sleep = FakeSleep()
    fake_websim.script(
        "chat", Reply(status, "Rate limit exceeded"), Reply(status, "Rate limit exceeded")
    )
    async with client_for(fake_websim, sleep) as client:
        assert await client.chat(HELLO) == "echo: Hello, how are you?"
    assert len(fake_websim.requests) == 3
    assert sleep.delays == [2.0, 4.0]


async def test_three_rate_limits_give_up_after_exactly_three_attempts(
    fake_websim: FakeWebsim,
) -> None:
    sleep = FakeSleep()
    fake_websim.script(
        "chat", *[Reply(429, "Rate limit exceeded")] * 3, Reply(body={"content": "too late"})
    )
    async with client_for(fake_websim, sleep) as client:
        with pytest.raises(RateLimitError) as info:
            await client.chat(HELLO)
    assert len(fake_websim.requests) == 3
    assert sleep.delays == [2.0, 4.0]
    assert info.value.status == 429
    assert str(info.value) == "Response 429: Rate limit exceeded"


async def test_retry_after_seconds_and_dates_are_honoured(fake_websim: FakeWebsim) -> None:
    sleep = FakeSleep()
    date = email.utils.formatdate(NOW + 9, usegmt=True)
    fake_websim.script(
        "chat",
        Reply(429, "slow down", headers={"Retry-After": "7"}),
        Reply(429, "slow down", headers={"Retry-After": date}),
    )
    async with client_for(fake_websim, sleep) as client:
        assert await client.chat(HELLO) == "echo: Hello, how are you?"
    assert sleep.delays == [7.0, 9.0]


async def test_retry_after_is_capped(fake_websim: FakeWebsim) -> None:
    sleep = FakeSleep()
    fake_websim.script("chat", Reply(429, "x", headers={"Retry-After": "86400"}))
    policy = RetryPolicy(sleep=sleep, max_delay=30.0)
    async with WebsimClient(fake_websim.url, retry=policy) as client:
        await client.chat(HELLO)
    assert sleep.delays == [30.0]


async def test_the_rate_limit_error_carries_retry_after(fake_websim: FakeWebsim) -> None:
    fake_websim.script("chat", *[Reply(429, "x", headers={"Retry-After": "3"})] * 3)
    async with client_for(fake_websim) as client:
        with pytest.raises(RateLimitError) as info:
            await client.chat(HELLO)
    assert info.value.retry_after == 3.0


async def test_streams_are_retried_too(fake_websim: FakeWebsim) -> None:
    sleep = FakeSleep()
    fake_websim.script("chat", Reply(429, "Rate limit exceeded"))
    async with client_for(fake_websim, sleep) as client:
        assert await collect(client, [{"role": "user", "content": "hi"}]) == ["echo: ", "hi"]
    assert sleep.delays == [2.0]
    assert len(fake_websim.requests) == 2


async def test_image_rate_limits_are_not_retried(fake_websim: FakeWebsim) -> None:
    sleep = FakeSleep()
    fake_websim.script("image", Reply(429, "Rate limit exceeded"))
    async with client_for(fake_websim, sleep) as client:
        with pytest.raises(RateLimitError):
            await client.generate_image("a cat")
    assert len(fake_websim.requests) == 1
    assert sleep.delays == []


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (
            Reply(500, {"error": "model overloaded"}),
            ResponseStatusError,
            "Response 500: model overloaded",
        ),
        (Reply(502, "<html>bad</html>"), ResponseStatusError, "Response 502: Bad Gateway"),
        (Reply(520, ""), ResponseStatusError, "Response 520: Unknown error (Cloudflare)"),
        (Reply(401, {"message": "login"}), MissingAuthError, "Response 401: login"),
        (
            Reply(403, "<html><title>Just a moment...</title></html>", content_type="text/html"),
            CloudflareError,
            "Response 403: Cloudflare detected",
        ),
        (
            Reply(403, "<html><body>no</body></html>", content_type="text/html"),
            ResponseStatusError,
            "Response 403: HTML content",
        ),
        (Reply(404, "Not Found"), ResponseStatusError, "Response 404: Not Found"),
    ],
)
async def test_other_statuses_raise_once_without_retry(
    fake_websim: FakeWebsim, reply: Reply, error: type[ResponseStatusError], message: str
) -> None:
    sleep = FakeSleep()
    fake_websim.script("chat", reply)
    fake_websim.script("image", reply)
    async with client_for(fake_websim, sleep) as client:
        with pytest.raises(error) as chat_info:
            await client.chat(HELLO)
        with pytest.raises(error) as image_info:
            await client.generate_image("a cat")
        fake_websim.script("chat", reply)
        with pytest.raises(error):
            await collect(client)
    assert type(chat_info.value) is error
    assert str(chat_info.value) == str(image_info.value) == message
    assert len(fake_websim.requests) == 3
    assert sleep.delays == []


# --- transport failures --------------------------------------------------------------------------


async def test_connection_refused(closed_port_url: str) -> None:
    async with WebsimClient(closed_port_url) as client:
        with pytest.raises(WebsimConnectionError) as info:
            await client.chat(HELLO)
        with pytest.raises(WebsimConnectionError):
            await client.generate_image("a cat")
        with pytest.raises(WebsimConnectionError):
            await collect(client)
    assert closed_port_url + CHAT_PATH in str(info.value)
    assert isinstance(info.value.__cause__, aiohttp.ClientError)


async def test_timeout(fake_websim: FakeWebsim) -> None:
    fake_websim.script("chat", Reply(hang=True), Reply(hang=True))
    fake_websim.script("image", Reply(hang=True))
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with client_for(fake_websim, timeout=0.2) as client:
        with pytest.raises(WebsimTimeoutError) as info:
            await client.chat(HELLO)
        with pytest.raises(WebsimTimeoutError):
            await client.generate_image("a cat")
        with pytest.raises(WebsimTimeoutError):
            await collect(client)
    assert loop.time() - began < 5
    assert "timed out after 0.2 s" in str(info.value)
    assert fake_websim.url + CHAT_PATH in str(info.value)


async def test_timeout_applies_to_a_borrowed_session(fake_websim: FakeWebsim) -> None:
    fake_websim.script("chat", Reply(hang=True))
    # The borrowed session's own default timeout is 5 minutes.
    async with (
        aiohttp.ClientSession() as session,
        client_for(fake_websim, session=session, timeout=0.2) as client,
    ):
        with pytest.raises(WebsimTimeoutError):
            await asyncio.wait_for(client.chat(HELLO), timeout=5)


async def test_stream_ending_before_done_is_a_format_error(fake_websim: FakeWebsim) -> None:
    fake_websim.script(
        "chat", Reply(content_type="text/event-stream", chunks=sse_bytes(["a", "b"], done=False))
    )
    async with client_for(fake_websim) as client:
        got, error = await collect_until_error(client)
    assert got == ["a", "b"]
    assert isinstance(error, ResponseFormatError)
    assert re.search(r"ended before \[DONE\]", str(error))


async def test_stream_cut_mid_body_is_a_format_error(fake_websim: FakeWebsim) -> None:
    chunks = [*sse_bytes(["a"], done=False), b'data: {"content": "trunc']
    fake_websim.script("chat", Reply(content_type="text/event-stream", chunks=chunks, cut=True))
    async with client_for(fake_websim) as client:
        got, error = await collect_until_error(client)
    assert got == ["a"]
    assert isinstance(error, ResponseFormatError)
    assert "cut off" in str(error)


@pytest.mark.parametrize(
    ("chunks", "match"),
    [
        ([b"data: not json\n\n"], "not JSON"),
        ([b'data: {"text": "x"}\n\n'], "no string 'content'"),
        ([b"data: \xff\xfe\n\n"], "not UTF-8"),
        ([b'data: {"content": "ok"}\n\ndata: \xe4\xbd'], "ends inside a character"),
    ],
)
async def test_broken_streams_are_format_errors(
    fake_websim: FakeWebsim, chunks: list[bytes], match: str
) -> None:
    fake_websim.script("chat", Reply(content_type="text/event-stream", chunks=chunks))
    async with client_for(fake_websim) as client:
        with pytest.raises(ResponseFormatError, match=match):
            await collect(client)


# --- unusable 2xx answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(body="plain words ", content_type="text/plain"), "plain words "),
        (Reply(body='{"content": "  x  ", "extra": 1}', content_type="text/plain"), "x"),
        (
            Reply(body=b"\xef\xbb\xbf" + b'{"content": "bom"}', content_type="application/json"),
            "bom",
        ),
    ],
)
async def test_usable_chat_bodies(fake_websim: FakeWebsim, reply: Reply, expected: str) -> None:
    fake_websim.script("chat", reply)
    async with client_for(fake_websim) as client:
        assert await client.chat(HELLO) == expected


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body=[1, 2]),
        Reply(body={"answer": "x"}),
        Reply(body={"content": None}),
        Reply(body=b""),
        Reply(body="<!DOCTYPE html><html><body>Welcome</body></html>", content_type="text/html"),
        Reply(body=b"\xff\xfe\x00", content_type="application/octet-stream"),
        Reply(status=204),
    ],
)
async def test_unusable_chat_bodies(fake_websim: FakeWebsim, reply: Reply) -> None:
    fake_websim.script("chat", reply)
    async with client_for(fake_websim) as client:
        with pytest.raises(ResponseFormatError):
            await client.chat(HELLO)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body={}),
        Reply(body={"url": None}),
        Reply(body={"url": "ftp://img.test/a.png"}),
        Reply(body={"url": ["https://img.test/a.png"]}),
        Reply(body=b""),
        Reply(body="https://img.test/a.png", content_type="text/plain"),
        Reply(body="<html><body>hi</body></html>", content_type="text/html"),
    ],
)
async def test_unusable_image_bodies(fake_websim: FakeWebsim, reply: Reply) -> None:
    fake_websim.script("image", reply)
    async with client_for(fake_websim) as client:
        with pytest.raises(ResponseFormatError):
            await client.generate_image("a cat")


# --- bad input never reaches the network ---------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.chat("hello"), "messages"),
        (lambda c: c.chat([]), "messages"),
        (lambda c: c.chat([{"role": "user"}]), "messages[0].content"),
        (lambda c: c.chat([{"content": "x"}]), "messages[0].role"),
        (lambda c: c.chat([{"role": "user", "content": 3}]), "messages[0].content"),
        (lambda c: c.chat(HELLO, model="flux"), "model"),
        (lambda c: c.chat(HELLO, model=""), "model"),
        (lambda c: c.chat(HELLO, project_id="Bad-ID"), "project_id"),
        (lambda c: collect(c, {"role": "user"}), "messages"),
        (lambda c: c.generate_image("cat", aspect_ratio="wide"), "aspect_ratio"),
        (lambda c: c.generate_image("cat", aspect_ratio="0:1"), "aspect_ratio"),
        (lambda c: c.generate_image("cat", project_id="x y"), "project_id"),
        (lambda c: c.generate_image(), "prompt"),
        (lambda c: c.generate_image(messages=[{"role": "assistant", "content": "hi"}]), "prompt"),
        (lambda c: c.generate_image("cat", messages="oops"), "messages"),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    fake_websim: FakeWebsim, call: Callable[[WebsimClient], Any], field: str
) -> None:
    async with client_for(fake_websim) as client:
        with pytest.raises(InvalidRequestError) as info:
            await call(client)
    assert info.value.field == field
    assert fake_websim.requests == []


# --- configuration -------------------------------------------------------------------------------


def test_base_url_argument_then_environment_then_live(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBSIM_BASE_URL", raising=False)
    assert WebsimClient().base_url == "https://websim.ai"
    monkeypatch.setenv("WEBSIM_BASE_URL", "http://127.0.0.1:9/")
    assert WebsimClient().base_url == "http://127.0.0.1:9"
    assert WebsimClient("https://api.websim.com/").base_url == "https://api.websim.com"


@pytest.mark.parametrize("url", ["websim.ai", "ftp://websim.ai", "localhost:8080"])
def test_base_url_must_be_http(url: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        WebsimClient(url)
    assert info.value.field == "base_url"


async def test_proxy_is_used_for_the_connection(fake_websim: FakeWebsim) -> None:
    # The fake server plays the proxy: the client asks it for a host that does not resolve.
    async with WebsimClient("http://websim.invalid", proxy=fake_websim.url) as client:
        assert await client.chat(HELLO) == "echo: Hello, how are you?"
    (seen,) = fake_websim.requests
    assert seen.host == "websim.invalid"


async def test_no_resource_warnings_after_use(fake_websim: FakeWebsim) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with client_for(fake_websim) as client:
            await client.chat(HELLO)
            await collect(client)
        del client
        gc.collect()
        # The detector works: a session left open is reported.
        leaked = aiohttp.ClientSession()
        del leaked
        gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(messages) == 1
    assert re.search("Unclosed client session", messages[0])


def test_every_error_is_a_websim_error() -> None:
    for cls in (
        InvalidRequestError,
        ResponseFormatError,
        WebsimConnectionError,
        WebsimTimeoutError,
        RateLimitError,
    ):
        assert issubclass(cls, WebsimError)


# --- shapes the server may choose, and the client's own lifecycle ---------------------------------


async def test_chat_joins_the_deltas_when_the_server_streams_anyway(
    fake_websim: FakeWebsim,
) -> None:
    fake_websim.script("chat", Reply(chunks=sse_bytes([" Hello", ", ", "world "])))
    async with client_for(fake_websim) as client:
        assert await client.chat(HELLO) == "Hello, world"


async def test_stream_chat_checks_its_arguments_at_the_call(fake_websim: FakeWebsim) -> None:
    async with client_for(fake_websim) as client:
        with pytest.raises(InvalidRequestError) as info:
            client.stream_chat([])  # no iteration: the call itself refuses
    assert info.value.field == "messages"
    assert fake_websim.requests == []


async def test_a_closed_client_refuses_new_calls_instead_of_leaking_a_session(
    fake_websim: FakeWebsim,
) -> None:
    client = client_for(fake_websim)
    async with client:
        await client.chat(HELLO)
    with pytest.raises(InvalidRequestError) as info:
        await client.chat(HELLO)
    assert info.value.field == "client"
    assert len(fake_websim.requests) == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_a_body_whose_compression_does_not_decode_is_a_format_error(
    fake_websim: FakeWebsim, stream: bool
) -> None:
    broken = b"\x1f\x8b\x08\x00 this is not gzip"
    headers = {"Content-Encoding": "gzip"}
    if stream:
        fake_websim.script("chat", Reply(chunks=[broken], headers=headers))
    else:
        fake_websim.script(
            "chat", Reply(body=broken, content_type="application/json", headers=headers)
        )
    async with client_for(fake_websim) as client:
        with pytest.raises(ResponseFormatError, match="cannot be decoded"):
            await (collect(client) if stream else client.chat(HELLO))
        assert await client.chat(HELLO) == "echo: Hello, how are you?"  # the client carries on


# --- hostile servers: size limit, timeout, redirects (issue 15) ---------------------------------

MIB = 1 << 20
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """A one-handler server on an ephemeral port, answering every method and path."""
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def endless(headers: dict[str, str], head: bytes, block: bytes, sent: list[int]) -> Handler:
    """A handler that streams ``head`` then ``block`` until the client hangs up (or 256 MiB)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            await response.write(head)
            while sum(sent) < 256 * MIB:
                await response.write(block)
                sent.append(len(block))
        return response

    return handler


def gzipped(*parts: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join([*(packer.compress(p) for p in parts), packer.flush()])


def plain_client(url: str, **kwargs: Any) -> WebsimClient:
    return WebsimClient(url, retry=RetryPolicy(sleep=FakeSleep(), clock=lambda: NOW), **kwargs)


def test_max_response_bytes_has_a_documented_default() -> None:
    assert DEFAULT_MAX_RESPONSE_BYTES == 32 * MIB
    assert WebsimClient("http://x.test").max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES
    assert WebsimClient("http://x.test", max_response_bytes=5).max_response_bytes == 5


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "1024", None])
def test_max_response_bytes_must_be_a_positive_int(bad: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        WebsimClient("http://x.test", max_response_bytes=bad)
    assert info.value.field == "max_response_bytes"


@pytest.mark.parametrize("how", ["chat", "stream", "image", "error"])
async def test_a_body_of_exactly_the_limit_is_read_one_byte_more_is_refused(
    fake_websim: FakeWebsim, how: str
) -> None:
    body = json.dumps({"content": "x" * 100, "url": "https://img.test/a.png"}).encode()
    reply = Reply(status=500 if how == "error" else 200, body=body, content_type="application/json")
    endpoint = "image" if how == "image" else "chat"
    fake_websim.script(endpoint, reply, reply)

    kind = "chat" if how == "error" else how
    async with client_for(fake_websim, max_response_bytes=len(body)) as client:
        if how == "error":
            with pytest.raises(ResponseStatusError):
                await call(client, kind)
        else:
            assert await call(client, kind)
    async with client_for(fake_websim, max_response_bytes=len(body) - 1) as client:
        with pytest.raises(ResponseFormatError) as info:
            await call(client, kind)
    status = 500 if how == "error" else 200
    assert f"the {status} answer from {fake_websim.url}" in str(info.value)
    assert f"max_response_bytes ({len(body) - 1} bytes, counted after decompression)" in str(
        info.value
    )


@pytest.mark.parametrize("chunked", [True, False])
async def test_an_endless_body_stops_at_the_limit(chunked: bool) -> None:
    # chunked: no length at all; else a 10 GB Content-Length the client refuses up front.
    headers = {"Content-Type": "application/json"}
    if not chunked:
        headers["Content-Length"] = str(10 * 10**9)
    sent: list[int] = []
    async with (
        serve(endless(headers, b'{"content": "', b"a" * 65536, sent)) as url,
        plain_client(url, max_response_bytes=MIB, timeout=10) as client,
    ):
        with pytest.raises(ResponseFormatError, match=r"max_response_bytes \(1048576 bytes"):
            await client.chat(HELLO)
    assert sum(sent) < 64 * MIB  # the client hung up; the server stopped long before its cap


async def test_an_unending_event_stream_to_chat_and_stream_chat_stops_at_the_limit() -> None:
    event = b'data: {"content": "' + b"a" * 1000 + b'"}\n\n'
    sent: list[int] = []
    handler = endless({"Content-Type": "text/event-stream"}, b"", event * 16, sent)
    async with (
        serve(handler) as url,
        plain_client(url, max_response_bytes=MIB, timeout=10) as client,
    ):
        with pytest.raises(ResponseFormatError, match="max_response_bytes"):
            await client.chat(HELLO)
        got, error = await collect_until_error(client)
    assert isinstance(error, ResponseFormatError)
    assert "max_response_bytes" in str(error)
    # Deltas came until the chunk that crossed the limit (aiohttp reads up to 256 KiB at once).
    assert (MIB - 256 * 1024) // len(event) <= len(got) <= MIB // len(event)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_gzip_bomb_is_refused_with_bounded_memory(stream: bool) -> None:
    # 32 MiB that compress to about 32 KiB; the limit counts the decompressed bytes.
    if stream:
        event = b'data: {"content": "' + b"a" * 4000 + b'"}\n\n'
        bomb = gzipped(event * (32 * MIB // len(event)))
        content_type = "text/event-stream"
    else:
        bomb = gzipped(b'{"content": "', b"a" * (32 * MIB), b'"}')
        content_type = "application/json"
    assert len(bomb) < 128 * 1024

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        headers = {"Content-Type": content_type, "Content-Encoding": "gzip"}
        return web.Response(body=bomb, headers=headers)

    async with serve(handler) as url, plain_client(url, max_response_bytes=MIB) as client:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseFormatError, match="counted after decompression"):
                await (collect(client) if stream else client.chat(HELLO))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    # The limit plus aiohttp's buffers (a few 256 KiB inflate steps), far from 32 MiB.
    assert peak < 8 * MIB


async def test_the_total_timeout_holds_while_a_gzip_stream_keeps_the_client_busy() -> None:
    # 16 MiB of small events in one gzip write: aiohttp inflates them into its buffer without
    # ever suspending the reader, so a loop timer alone fired only once the data ran out.
    event = b'data: {"content": "a"}\n\n'
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    burst = packer.compress(event * (16 * MIB // len(event))) + packer.flush(zlib.Z_SYNC_FLUSH)
    hold = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Content-Encoding": "gzip"}
        )
        await response.prepare(request)
        await response.write(burst)
        await hold.wait()  # never [DONE]: only the timeout ends this
        return response

    loop = asyncio.get_running_loop()
    async with serve(handler) as url:
        client = plain_client(url, timeout=0.3, max_response_bytes=1 << 30)
        async with client:
            began = loop.time()
            with pytest.raises(WebsimTimeoutError, match=r"timed out after 0\.3 s"):
                await collect(client)
            elapsed = loop.time() - began
        hold.set()
    assert elapsed < 0.8


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("how", ["chat", "stream", "image"])
async def test_redirects_are_not_followed_to_any_origin(
    fake_websim: FakeWebsim, status: int, how: str
) -> None:
    elsewhere: list[tuple[str, dict[str, str]]] = []

    async def other_origin(request: web.Request) -> web.StreamResponse:
        elsewhere.append((request.method, dict(request.headers)))
        return web.json_response({"content": "from elsewhere", "url": "https://img.test/x.png"})

    async with serve(other_origin) as other:
        location = f"{other}/steal?from=websim"
        redirect = Reply(status=status, body="moved", headers={"Location": location})
        fake_websim.script("image" if how == "image" else "chat", redirect)
        headers = {**client_module.DEFAULT_HEADERS, "authorization": "Bearer secret"}
        async with client_for(fake_websim, headers=headers) as client:
            with pytest.raises(UnexpectedRedirectError) as info:
                await call(client, how)
    assert elsewhere == []  # neither the conversation nor the header went anywhere
    assert len(fake_websim.requests) == 1  # and a redirect is not retried
    assert info.value.status == status
    assert info.value.location == location
    assert str(info.value) == f"Response {status}: redirect to {location} not followed"

"""Fault steps: parsing, their bytes, what each looks like on a real socket, what the client raises.

Each fault is checked twice over loopback: with raw asyncio streams (the bytes on the wire) and
with ``websim_core``'s client (the documented exception). Delays are tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from typing import Any

import pytest
from helpers import HELLO, call, raw_exchange
from hypothesis import given
from hypothesis import strategies as st

from mock_server import (
    ConnectionReset,
    Delay,
    Dribble,
    EmptyResponse,
    Garbage,
    MockServer,
    ReplyStep,
    StatusStep,
    StepError,
    StreamCut,
    StreamMalformed,
    TruncatedBody,
    parse_step,
)
from mock_server.core.faults import (
    MALFORMED_EVENT,
    cut_events,
    garbage_bytes,
    malformed_events,
    raw_head,
    split_evenly,
    truncate,
)
from mock_server.core.replies import stream_events
from mock_server.core.state import MockState
from mock_server.core.steps import FAULT_KINDS
from mock_server.web.openapi import openapi_spec
from websim_core import (
    ResponseFormatError,
    RetryPolicy,
    WebsimClient,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
)
from websim_core.routing import CHAT_PATH, IMAGE_PATH

# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("connection_reset", ConnectionReset()),
        ({"fault": "connection_reset"}, ConnectionReset()),
        ("empty_response", EmptyResponse()),
        ({"fault": "garbage", "size": 10}, Garbage(10)),
        ("truncated_body", TruncatedBody()),
        ({"fault": "truncated_body", "keep_bytes": 3}, TruncatedBody(3)),
        ({"fault": "delay", "delay_ms": 50}, Delay(50)),
        ({"fault": "delay", "delay_ms": 12.5}, Delay(12.5)),
        ({"fault": "dribble", "chunks": 4, "duration_ms": 0}, Dribble(4, 0)),
        ({"fault": "stream_cut", "after_events": 2}, StreamCut(2)),
        ("stream_cut", StreamCut(1)),
        ({"fault": "stream_malformed"}, StreamMalformed()),
        ({"fault": "stream_malformed", "after_events": 0}, StreamMalformed(0)),
        (Delay(5), Delay(5)),
    ],
)
def test_fault_steps_parse(value: Any, expected: Any) -> None:
    assert parse_step(value) == expected
    assert parse_step(expected.to_json()) == expected
    assert expected.to_json()["fault"] == expected.fault


@pytest.mark.parametrize(
    ("value", "field", "problem"),
    [
        ("reset", "step", "unknown fault 'reset'"),
        ({"fault": "nope"}, "step.fault", "unknown fault"),
        ({"fault": 3}, "step.fault", "unknown fault"),
        ({"fault": "delay", "delay_ms": 60_001}, "step.delay_ms", "must be a number 0..60000"),
        ({"fault": "delay", "delay_ms": -1}, "step.delay_ms", "0..60000"),
        ({"fault": "delay", "delay_ms": "50"}, "step.delay_ms", "not '50'"),
        ({"fault": "delay", "delay_ms": True}, "step.delay_ms", "a number"),
        ({"fault": "delay", "delay_ms": float("nan")}, "step.delay_ms", "a number"),
        ({"fault": "dribble", "chunks": 0}, "step.chunks", "an integer 1..10000"),
        ({"fault": "dribble", "chunks": 10_001}, "step.chunks", "1..10000"),
        ({"fault": "dribble", "chunks": 2.5}, "step.chunks", "an integer"),
        ({"fault": "dribble", "duration_ms": 70_000}, "step.duration_ms", "0..60000"),
        ({"fault": "stream_cut", "after_events": -1}, "step.after_events", "0..10000"),
        ({"fault": "garbage", "size": 0}, "step.size", "1..65536"),
        ({"fault": "truncated_body", "keep_bytes": None}, "step.keep_bytes", "an integer"),
        ({"fault": "stream_cut", "after": 2}, "step.after", "unknown key"),
        ({"fault": "delay", "status": 200}, "step", "has both"),
    ],
)
def test_fault_step_errors_name_the_field(value: Any, field: str, problem: str) -> None:
    with pytest.raises(StepError) as info:
        parse_step(value)
    assert info.value.field == field
    assert problem in info.value.problem


def test_fault_bounds_hold_for_steps_made_in_python_too() -> None:
    with pytest.raises(StepError, match=r"delay\.delay_ms"):
        Delay(10**9)
    with pytest.raises(StepError, match=r"dribble\.chunks"):
        Dribble(chunks=0)


def test_list_errors_name_the_step() -> None:
    state = MockState()
    with pytest.raises(StepError) as info:
        state.script("chat", [200, 429, {"fault": "delay", "delay_ms": 1e9}])
    assert info.value.field == "responses[2].delay_ms"
    assert "must be a number 0..60000" in str(info.value)
    with pytest.raises(StepError) as info:
        state.script("image", ["delay", "stream_cut"])
    assert info.value.field == "responses[1].fault"
    assert state.script("any", ["stream_cut", "stream_malformed"]) == 2
    assert state.script("chat", [429, "garbage", {"reply": "x"}]) == 3
    assert [s for _, s in state.scripts.pending()][2:] == [
        StatusStep(429),
        Garbage(),
        ReplyStep("x"),
    ]
    assert len(FAULT_KINDS) == 8


# --- the bytes, without I/O ---------------------------------------------------------------------


@given(st.integers(0, 2**32), st.integers(1, 300))
def test_garbage_is_seeded_and_never_looks_like_http(seed: int, size: int) -> None:
    data = garbage_bytes(random.Random(seed), size)
    assert len(data) == size
    assert data == garbage_bytes(random.Random(seed), size)
    assert data[:1] not in (b"H", b"h", b" ", b"\t", b"\r", b"\n")


@given(st.binary(min_size=0, max_size=200), st.one_of(st.none(), st.integers(0, 400)))
def test_truncate_never_sends_the_whole_body(body: bytes, keep: int | None) -> None:
    part = truncate(body, keep)
    assert body.startswith(part)
    assert len(part) < len(body) or body == b""
    if keep is None:
        assert len(part) == min(len(body) // 2, max(0, len(body) - 1))


@given(st.binary(max_size=300), st.integers(1, 50))
def test_split_evenly_keeps_every_byte(data: bytes, chunks: int) -> None:
    pieces = split_evenly(data, chunks)
    assert b"".join(pieces) == data
    assert len(pieces) == max(1, min(chunks, len(data)))
    if data:
        assert max(map(len, pieces)) - min(map(len, pieces)) <= 1
        assert all(pieces)


def test_stream_fault_events() -> None:
    events = stream_events("one two three four five six seven eight nine ten eleven twelve")
    assert events[-1] == b"data: [DONE]\n\n"
    deltas = len(events) - 1
    assert cut_events(events, 2) == list(events[:2])
    assert cut_events(events, 1000) == list(events[:-1])  # never [DONE]
    middle = malformed_events(events, StreamMalformed())
    assert middle[deltas // 2] == MALFORMED_EVENT
    assert [e for e in middle if e != MALFORMED_EVENT] == list(events)
    assert malformed_events(events, StreamMalformed(0))[0] == MALFORMED_EVENT
    assert malformed_events(events, StreamMalformed(99))[-2:] == [MALFORMED_EVENT, events[-1]]
    head = raw_head(200, "OK", "application/json", 42)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Length: 42\r\n" in head
    assert head.endswith(b"\r\n\r\n")


# --- on the wire: raw sockets -------------------------------------------------------------------


def raw_post(path: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


def chat_request(stream: bool = False) -> bytes:
    return raw_post(CHAT_PATH, {"project_id": "a", "messages": HELLO, "stream": stream})


def split_head(answer: bytes) -> tuple[dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    headers[":status"] = lines[0]
    return headers, body


def dechunk(body: bytes) -> tuple[bytes, bool]:
    """The data of a chunked body, and whether it ended with the last (zero) chunk."""
    out, pos = b"", 0
    while pos < len(body):
        end = body.find(b"\r\n", pos)
        if end < 0:
            return out, False
        size = int(body[pos:end], 16)
        if size == 0:
            return out, body[end:] == b"\r\n\r\n"
        out += body[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2
    return out, False


async def test_connection_reset_is_an_rst_before_any_byte(websim_server: MockServer) -> None:
    websim_server.script("chat", ["connection_reset"])
    with pytest.raises(ConnectionResetError):
        await raw_exchange(websim_server.port, chat_request())
    [entry] = websim_server.requests
    assert entry["response"]["status"] == 0
    assert entry["response"]["source"] == "script"
    assert entry["response"]["step"] == {"fault": "connection_reset"}


async def test_empty_response_closes_without_a_byte(websim_server: MockServer) -> None:
    websim_server.script("chat", ["empty_response"])
    assert await raw_exchange(websim_server.port, chat_request()) == b""
    assert websim_server.requests[0]["response"]["status"] == 0


async def test_garbage_is_random_bytes_then_close(websim_server: MockServer) -> None:
    websim_server.script("chat", [{"fault": "garbage", "size": 100}, "garbage"])
    first = await raw_exchange(websim_server.port, chat_request())
    second = await raw_exchange(websim_server.port, chat_request())
    assert len(first) == 100
    assert len(second) == 64
    assert not first.startswith(b"HTTP/")
    entries = websim_server.requests
    assert entries[0]["response"]["body_encoding"] == "base64"
    assert entries[0]["response"]["status"] == 0


async def test_truncated_body_announces_more_than_it_sends(websim_server: MockServer) -> None:
    websim_server.script("chat", ["truncated_body", {"fault": "truncated_body", "keep_bytes": 5}])
    headers, body = split_head(await raw_exchange(websim_server.port, chat_request()))
    assert headers[":status"] == "HTTP/1.1 200 OK"
    assert headers["content-type"] == "application/json"
    assert len(body) == int(headers["content-length"]) // 2
    assert body.startswith(b'{"content": ')
    headers, body = split_head(await raw_exchange(websim_server.port, chat_request()))
    assert body == b'{"con'
    assert int(headers["content-length"]) > 5
    assert websim_server.requests[1]["response"]["body"] == '{"con'


async def test_delay_then_the_normal_answer(websim_server: MockServer) -> None:
    websim_server.script("chat", [{"fault": "delay", "delay_ms": 80}])
    started = time.monotonic()
    answer = await raw_exchange(
        websim_server.port, chat_request().replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    )
    assert time.monotonic() - started >= 0.075
    headers, body = split_head(answer)
    assert headers[":status"] == "HTTP/1.1 200 OK"
    assert "You wrote" in json.loads(body)["content"]


async def test_dribble_sends_the_whole_answer_slowly(websim_server: MockServer) -> None:
    websim_server.script("chat", [{"fault": "dribble", "chunks": 4, "duration_ms": 80}])
    reader, writer = await asyncio.open_connection("127.0.0.1", websim_server.port)
    try:
        writer.write(chat_request())
        started = time.monotonic()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        head_at = time.monotonic() - started
        headers, _ = split_head(head)
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
        body_at = time.monotonic() - started
    finally:
        writer.close()
    assert head_at < 0.06  # the headers go at once
    assert body_at >= 0.075  # the last piece at duration_ms
    assert "You wrote" in json.loads(body)["content"]


async def test_stream_cut_sends_some_events_and_no_end(websim_server: MockServer) -> None:
    websim_server.script("chat", [{"fault": "stream_cut", "after_events": 2}])
    headers, body = split_head(await raw_exchange(websim_server.port, chat_request(stream=True)))
    assert headers["content-type"] == "text/event-stream"
    assert headers["transfer-encoding"] == "chunked"
    data, ended = dechunk(body)
    assert not ended  # no last chunk
    assert data.count(b"data: ") == 2
    assert b"[DONE]" not in data


async def test_stream_cut_answers_a_plain_request_with_a_stream_too(
    websim_server: MockServer,
) -> None:
    websim_server.script("chat", ["stream_cut"])
    headers, body = split_head(await raw_exchange(websim_server.port, chat_request(stream=False)))
    assert headers["content-type"] == "text/event-stream"
    assert dechunk(body)[0].count(b"data: ") == 1


async def test_stream_malformed_slips_in_a_bad_event_and_goes_on(
    websim_server: MockServer,
) -> None:
    websim_server.script("chat", [{"fault": "stream_malformed", "after_events": 1}])
    request = chat_request(stream=True).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    _, body = split_head(await raw_exchange(websim_server.port, request))
    data, ended = dechunk(body)
    assert ended
    events = data.split(b"\n\n")[:-1]
    assert events[1] + b"\n\n" == MALFORMED_EVENT
    assert events[-1] == b"data: [DONE]"


async def test_stream_faults_on_an_image_request(websim_server: MockServer) -> None:
    websim_server.script("any", ["stream_cut", "stream_malformed"])
    request = raw_post(IMAGE_PATH, {"project_id": "a", "prompt": "a cat"})
    headers, body = split_head(await raw_exchange(websim_server.port, request))
    assert int(headers["content-length"]) > len(body)  # cut like truncated_body
    headers, body = split_head(
        await raw_exchange(
            websim_server.port, request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
        )
    )
    assert int(headers["content-length"]) == len(body)
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)  # complete, but not JSON


# --- with websim_core's client ------------------------------------------------------------------

CONNECTION, FORMAT, OK = WebsimConnectionError, ResponseFormatError, None
# fault -> what chat(), stream_chat() and generate_image() raise (None: they succeed)
EXPECTED: dict[str, tuple[type[WebsimError] | None, ...]] = {
    "connection_reset": (CONNECTION, CONNECTION, CONNECTION),
    "empty_response": (CONNECTION, CONNECTION, CONNECTION),
    "garbage": (CONNECTION, CONNECTION, CONNECTION),
    "truncated_body": (CONNECTION, FORMAT, CONNECTION),
    "delay": (OK, OK, OK),
    "dribble": (OK, OK, OK),
    "stream_cut": (FORMAT, FORMAT, CONNECTION),
    "stream_malformed": (FORMAT, FORMAT, FORMAT),
}
QUICK = {"delay": {"delay_ms": 20}, "dribble": {"chunks": 3, "duration_ms": 20}}


@pytest.mark.parametrize("fault", FAULT_KINDS)
async def test_each_fault_maps_to_the_documented_exception(
    websim_server: MockServer, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    policy = RetryPolicy(base_delay=0)
    async with WebsimClient(websim_server.url, retry=policy, timeout=5) as client:
        calls = ("chat", "stream", "image")
        undisturbed = {how: await call(client, how) for how in calls}
        for how, expected in zip(calls, EXPECTED[fault], strict=True):
            websim_server.reset()
            websim_server.script("any", [{"fault": fault, **QUICK.get(fault, {})}])
            if expected is None:
                assert await call(client, how) == undisturbed[how]
            else:
                with pytest.raises(expected):
                    await call(client, how)
            assert len(websim_server.requests) == 1, "faults are not retried"
            again = await call(client, how)
            assert again == undisturbed[how], "the client goes on working after the fault"
    assert websim_server.errors == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_delay_longer_than_the_timeout_is_a_timeout(websim_server: MockServer) -> None:
    websim_server.script("chat", [{"fault": "delay", "delay_ms": 300}])
    async with WebsimClient(websim_server.url, timeout=0.05) as client:
        with pytest.raises(WebsimTimeoutError):
            await client.chat(HELLO)


async def test_faults_are_the_same_for_the_same_seed() -> None:
    async def run(seed: int) -> list[bytes]:
        async with MockServer(seed=seed) as server:
            server.script("chat", ["garbage", {"fault": "garbage", "size": 300}, "garbage"])
            return [await raw_exchange(server.port, chat_request()) for _ in range(3)]

    first, again, other = await run(7), await run(7), await run(8)
    assert first == again
    assert first != other
    assert len(set(first)) == 3  # each request its own bytes


def test_openapi_describes_every_fault() -> None:
    scenarios = openapi_spec("x")["paths"]["/__admin/scenarios"]["post"]["requestBody"]
    step = scenarios["content"]["application/json"]["schema"]["properties"]["responses"]["items"]
    described = {
        s["properties"]["fault"]["const"]
        for s in step["oneOf"]
        if "fault" in s.get("properties", {})
    }
    assert described == set(FAULT_KINDS)
    shorthand = next(s for s in step["oneOf"] if s.get("type") == "string")
    assert shorthand["enum"] == list(FAULT_KINDS)

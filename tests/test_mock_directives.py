"""In-band directives: the parser, then an unmodified client arranging faults with a message."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server import (
    Delay,
    MockServer,
    ReplyStep,
    StatusStep,
    StepError,
    StreamCut,
    StreamMalformed,
)
from mock_server.core.directives import parse_directive
from websim_core import (
    RateLimitError,
    ResponseFormatError,
    RetryPolicy,
    WebsimClient,
    WebsimConnectionError,
)
from websim_core.routing import CHAT_PATH, IMAGE_PATH

# --- the parser ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "step", "rest"),
    [
        ("[[websim-mock: status=429]] Hello", StatusStep(429), "Hello"),
        ("  [[websim-mock:status=200]]Hi", ReplyStep(), "Hi"),
        (
            "[[websim-mock: status=429 retry_after=1]] x",
            StatusStep(429, (("Retry-After", "1"),)),
            "x",
        ),
        ("[[websim-mock: fault=stream_cut after=2]] Hello", StreamCut(2), "Hello"),
        ("[[websim-mock: fault=stream_cut, after_events=0]]", StreamCut(0), ""),
        ("[[WEBSIM-MOCK: fault=stream_malformed]]\nmore\ntext", StreamMalformed(), "more\ntext"),
        ("[[websim-mock: fault=delay delay_ms=12.5]] a", Delay(12.5), "a"),
        ('[[websim-mock: reply="Just this. ]] fine"]] b', ReplyStep("Just this. ]] fine"), "b"),
        ("[[websim-mock: reply=word]]", ReplyStep("word"), ""),
    ],
)
def test_directives_parse(text: str, step: object, rest: str) -> None:
    assert parse_directive(text) == (step, rest)


@pytest.mark.parametrize(
    "text",
    ["Hello", "", "[websim-mock: status=429]", "say [[websim-mock: status=429]]", "[[other: x=1]]"],
)
def test_text_without_a_leading_directive_is_just_text(text: str) -> None:
    assert parse_directive(text) is None


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("[[websim-mock: status=429", "directive", "not closed"),
        ("[[websim-mock: status=429 oops]]", "directive", "expected key=value"),
        ("[[websim-mock: ]]", "directive", "needs status=, fault= or reply="),
        ("[[websim-mock: status=429 fault=delay]]", "directive", "has both"),
        ("[[websim-mock: status=abc]]", "directive.status", "integer HTTP status"),
        ("[[websim-mock: status=700]]", "directive.status", "between 200 and 599"),
        ("[[websim-mock: colour=red]]", "directive.colour", "unknown key"),
        ("[[websim-mock: status=429 status=500]]", "directive.status", "twice"),
        ("[[websim-mock: fault=nope]]", "directive.fault", "unknown fault"),
        ("[[websim-mock: fault=delay delay_ms=1e9]]", "directive.delay_ms", "0..60000"),
        ("[[websim-mock: fault=delay chunks=2]]", "directive.chunks", "unknown key"),
        ("[[websim-mock: reply=x retry_after=1]]", "directive.retry_after", "does not go"),
        ('[[websim-mock: reply="unterminated]]', "directive", "expected key=value"),
    ],
)
def test_bad_directives_name_the_problem(text: str, field: str, problem: str) -> None:
    with pytest.raises(StepError) as info:
        parse_directive(text)
    assert info.value.field == field
    assert problem in info.value.problem


@given(st.text(max_size=80))
def test_any_text_is_a_directive_an_error_or_plain_text(text: str) -> None:
    try:
        found = parse_directive("[[websim-mock: " + text)
    except StepError:
        return
    assert found is not None


# --- over HTTP ----------------------------------------------------------------------------------

HELLO = "Hello, how are you?"


def said(directive: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": f"{directive} {HELLO}".lstrip()},
    ]


@pytest.fixture
def websim_server_options() -> dict[str, Any]:
    return {"directives": True}


async def test_an_unmodified_client_arranges_a_rate_limit(websim_server: MockServer) -> None:
    once = RetryPolicy(max_attempts=1)
    async with WebsimClient(websim_server.url, retry=once) as client:
        with pytest.raises(RateLimitError) as info:
            await client.chat(said("[[websim-mock: status=429 retry_after=1]]"))
    assert info.value.retry_after == 1
    [entry] = websim_server.requests
    assert entry["response"]["source"] == "directive"
    assert entry["response"]["step"] == {"status": 429, "headers": {"Retry-After": "1"}}


async def test_directives_arrange_stream_faults(websim_server: MockServer) -> None:
    async with WebsimClient(websim_server.url) as client:
        deltas: list[str] = []

        async def read() -> None:
            async for delta in client.stream_chat(
                said("[[websim-mock: fault=stream_cut after=2]]")
            ):
                deltas.append(delta)

        with pytest.raises(ResponseFormatError):
            await read()
        assert len(deltas) == 2
        with pytest.raises(WebsimConnectionError):
            await client.chat(said("[[websim-mock: fault=connection_reset]]"))
        # the next request, without a directive, is answered normally
        assert HELLO in await client.chat(said(""))


async def test_the_directive_is_not_part_of_the_answer(websim_server: MockServer) -> None:
    async with WebsimClient(websim_server.url) as client:
        plain = await client.chat(said(""))
        delayed = await client.chat(said("[[websim-mock: fault=delay delay_ms=1]]"))
        reply = await client.chat(said('[[websim-mock: reply="Scripted."]]'))
        parts = await client.chat(
            [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": f"[[websim-mock: status=200]]{HELLO}"}],
                }
            ]
        )
    assert delayed == plain  # same conversation once the directive is gone
    assert "websim-mock" not in delayed
    assert reply == "Scripted."
    assert f'"{HELLO}"' in parts


async def test_only_the_last_user_message_counts(websim_server: MockServer) -> None:
    messages = [
        {"role": "user", "content": "[[websim-mock: status=500]] earlier"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "now"},
    ]
    async with WebsimClient(websim_server.url) as client:
        assert "now" in await client.chat(messages)


async def post(url: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(url + path, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_a_bad_directive_is_a_400_naming_it(websim_server: MockServer) -> None:
    body = {"project_id": "a", "messages": said("[[websim-mock: fault=delay delay_ms=1e9]]")}
    status, answer = await post(websim_server.url, CHAT_PATH, body)
    assert status == 400
    assert answer["field"] == "messages[1].content"
    assert "delay_ms" in answer["message"]
    status, answer = await post(
        websim_server.url,
        IMAGE_PATH,
        {"project_id": "a", "prompt": "[[websim-mock: fault=stream_cut]] a cat"},
    )
    assert (status, answer["field"]) == (400, "prompt")
    assert websim_server.requests[0]["response"]["source"] == "invalid"


async def test_image_prompts_take_directives(websim_server: MockServer) -> None:
    async with WebsimClient(websim_server.url) as client:
        with pytest.raises(RateLimitError):
            await client.generate_image("[[websim-mock: status=504]] A cat in space")
        plain = await client.generate_image("A cat in space")
        directed = await client.generate_image("[[websim-mock: status=200]] A cat in space")
    assert plain.urls == directed.urls  # the same image: the directive is not the prompt


async def test_directives_are_off_by_default() -> None:
    async with MockServer() as server, WebsimClient(server.url) as client:
        answer = await client.chat(said("[[websim-mock: status=429]]"))
    assert "[[websim-mock: status=429]]" in answer
    assert json.dumps(server.requests[0]["response"]["step"]) == "null"

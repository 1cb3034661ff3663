"""Stubs over HTTP: the admin API, ``server.stub(...)``, the ``stubs=`` option, templates that
fail, stream pacing on the socket, and JSON output mode through websim_core's client."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from mock_server import MockServer, StubError, ThreadedMockServer
from mock_server.core.errors import ConfigError
from websim_core import WebsimClient
from websim_core.routing import CHAT_PATH, IMAGE_PATH

CHAT_ID = "ke3_xh5gai3gjkmruomu"
IMAGE_ID = "kx0m131_rzz66qb2xoy7"


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"project_id": CHAT_ID, "messages": [{"role": "user", "content": text}], **extra}


async def post(
    session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with session.post(url, json=body, headers=headers) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


async def test_the_admin_api_adds_lists_and_deletes_stubs() -> None:
    async with MockServer() as server, aiohttp.ClientSession() as session:
        admin = server.url + "/__admin/stubs"
        one = {"name": "hi", "match": {"last_user_message": "hi"}, "respond": {"reply": "yo"}}
        status, added = await post(session, admin, one)
        assert status == 200
        assert len(added["ids"]) == 1
        two = [
            {"respond": {"reply": "any"}, "priority": 9},
            {"respond": {"status": 418}, "times": 1, "match": {"headers": {"X-Case": "teapot"}}},
        ]
        status, more = await post(session, admin, two)
        assert (status, len(more["ids"]), more["count"]) == (200, 2, 3)
        chat_url = server.url + CHAT_PATH
        assert await post(session, chat_url, chat("hi")) == (200, {"content": "yo"})
        assert await post(session, chat_url, chat("other")) == (200, {"content": "any"})
        status, _ = await post(session, chat_url, chat("hi"), {"X-Case": "teapot"})
        assert status == 418  # and retired after its one answer
        async with session.get(admin) as response:
            listed = (await response.json())["stubs"]
        assert [(s["id"], s["answered"]) for s in listed] == [
            (added["ids"][0], 1),
            (more["ids"][0], 1),
        ]
        async with session.delete(f"{admin}/{added['ids'][0]}") as response:
            assert response.status == 200
        async with session.delete(f"{admin}/{added['ids'][0]}") as response:
            assert response.status == 404
        async with session.delete(admin) as response:
            assert (await response.json()) == {"deleted": 1}
        assert server.state.stubs.count == 0
        answered = [(e["response"]["source"], e["response"]["stub"]) for e in server.requests]
        named = [(added["ids"][0], "hi"), (more["ids"][0], None), (more["ids"][1], None)]
        assert answered == [("stub", {"id": i, "name": name}) for i, name in named]


async def test_a_bad_stub_is_refused_whole_and_the_set_stays() -> None:
    async with MockServer() as server, aiohttp.ClientSession() as session:
        server.stub(respond={"reply": "kept"})
        bad = [
            {"respond": {"reply": "fine"}},
            {"match": {"last_user_message": {"regex": "("}}, "respond": {}},
        ]
        status, body = await post(session, server.url + "/__admin/stubs", bad)
        assert status == 400
        assert body["field"] == "stubs[1].match.last_user_message.regex"
        assert [s.source["respond"] for s in server.state.stubs.list()] == [{"reply": "kept"}]
        with pytest.raises(StubError, match=r"match\.turns"):
            server.stub(match={"turns": "many"}, respond={})


async def test_reset_puts_back_the_configured_stubs() -> None:
    standing = [{"name": "always", "respond": {"reply": "standing"}}]
    async with MockServer(stubs=standing) as server, aiohttp.ClientSession() as session:
        handle = server.stub(respond={"reply": "added"})
        chat_url = server.url + CHAT_PATH
        assert await post(session, chat_url, chat("x")) == (200, {"content": "added"})
        async with session.post(server.url + "/__admin/reset") as response:
            assert response.status == 200
        assert not handle.remove()  # the reset took it
        assert await post(session, chat_url, chat("x")) == (200, {"content": "standing"})


async def test_a_failing_template_answers_500_naming_the_stub_and_serving_goes_on() -> None:
    async with MockServer() as server, aiohttp.ClientSession() as session:
        server.stub(
            name="broken", match={"last_user_message": "x"}, respond={"template": "{{ 1 / 0 }}"}
        )
        status, body = await post(session, server.url + CHAT_PATH, chat("x"))
        assert status == 500
        assert "'broken'" in body["message"]
        assert "ZeroDivisionError" in body["message"]
        assert (await post(session, server.url + CHAT_PATH, chat("y")))[0] == 200
        failed = server.requests[0]["response"]
        stub_id = server.state.stubs.list()[0].id
        assert (failed["source"], failed["stub"]) == (
            "stub_error",
            {"id": stub_id, "name": "broken"},
        )
        assert server.requests[1]["response"]["stub"] is None
        assert server.requests[1]["response"]["missed"]  # a stub in force, and it did not match
        assert server.errors == []  # the stub's error, not the mock's


async def test_templates_and_image_stubs() -> None:
    async with MockServer() as server, aiohttp.ClientSession() as session:
        server.stub(
            match={"system": {"contains": "echo"}},
            respond={"template": "Echo: {{ last_user_message }} ({{ count }})"},
        )
        server.stub(
            match={"prompt": {"glob": "*cat*"}, "aspect_ratio": "16:9"},
            respond={"url": "https://example.test/cat.png"},
        )
        body = {
            "project_id": CHAT_ID,
            "messages": [
                {"role": "system", "content": "echo bot"},
                {"role": "user", "content": "hey"},
            ],
        }
        assert await post(session, server.url + CHAT_PATH, body) == (
            200,
            {"content": "Echo: hey (1)"},
        )
        image = {"project_id": IMAGE_ID, "prompt": "a cat", "aspect_ratio": "16:9"}
        url = (await post(session, server.url + IMAGE_PATH, image))[1]["url"]
        assert url == "https://example.test/cat.png"
        image["aspect_ratio"] = "1:1"
        assert (await post(session, server.url + IMAGE_PATH, image))[1]["url"] != url


async def test_stream_pacing_is_played_on_the_socket() -> None:
    async with MockServer() as server, aiohttp.ClientSession() as session:
        server.stub(
            respond={
                "reply": "one two three four five six seven",
                "stream": {"first_event_ms": 150, "events_per_second": 20},
            }
        )
        started = time.monotonic()
        arrivals = []
        async with session.post(server.url + CHAT_PATH, json=chat("x", stream=True)) as response:
            async for line in response.content:
                if line.startswith(b"data:"):
                    arrivals.append(time.monotonic() - started)
        assert len(arrivals) == 4  # three events of three words at most, then [DONE]
        assert arrivals[0] >= 0.14
        assert arrivals[2] - arrivals[0] >= 0.09  # two gaps of 50 ms


async def test_json_mode_through_the_client() -> None:
    async with MockServer(seed=2) as server, WebsimClient(base_url=server.url) as client:
        text = await client.chat([{"role": "user", "content": "list three fruits"}], json=True)
        document = json.loads(text)
        assert (document["you_wrote"], document["turns"]) == ("list three fruits", 1)
        streamed = "".join(
            [d async for d in client.stream_chat([{"role": "user", "content": "hi"}], json=True)]
        )
        assert json.loads(streamed)["you_wrote"] == "hi"
        server.stub(match={"json": True}, respond={"json": {"fruits": ["apple"]}})
        assert json.loads(await client.chat([{"role": "user", "content": "x"}], json=True)) == {
            "fruits": ["apple"]
        }
        assert server.requests[0]["json"]["json"] is True


def test_the_threaded_server_takes_stubs_too() -> None:
    with ThreadedMockServer() as server:
        handle = server.stub(respond={"reply": "threaded"})

        async def ask() -> Any:
            async with aiohttp.ClientSession() as session:
                return await post(session, server.url + CHAT_PATH, chat("x"))

        assert asyncio.run(ask()) == (200, {"content": "threaded"})
        assert handle.remove()
        assert asyncio.run(ask())[1]["content"] != "threaded"


async def test_a_json_flag_that_is_not_a_boolean_is_a_400_naming_it() -> None:
    async with MockServer() as server, aiohttp.ClientSession() as session:
        status, body = await post(session, server.url + CHAT_PATH, chat("x", json="yes"))
        assert (status, body["field"]) == (400, "json")


async def test_unmatched_404_insists_that_every_request_is_arranged() -> None:
    async with MockServer(unmatched="404") as server, aiohttp.ClientSession() as session:
        chat_url = server.url + CHAT_PATH
        status, body = await post(session, chat_url, chat("nothing arranged this"))
        assert (status, body["near_misses"]) == (404, [])
        assert "--unmatched 404" in body["message"]
        server.stub(name="hi", match={"last_user_message": "hi"}, respond={"reply": "yo"})
        assert await post(session, chat_url, chat("hi")) == (200, {"content": "yo"})
        server.script("chat", [{"reply": "scripted"}])
        assert await post(session, chat_url, chat("ho")) == (200, {"content": "scripted"})
        status, body = await post(session, chat_url, chat("ho"))
        assert status == 404
        assert "'hi'" in body["message"]
        (miss,) = body["near_misses"]
        assert miss["stub"] == {"id": "stub-1", "name": "hi"}
        assert miss["mismatches"] == [
            {"path": "last_user_message", "expected": {"equals": "hi"}, "actual": "ho"}
        ]
        sources = [(e["response"]["source"], e["response"]["missed"]) for e in server.requests]
        assert sources == [
            ("unmatched", True),
            ("stub", False),
            ("script", False),
            ("unmatched", True),
        ]


def test_unmatched_is_checked_by_the_config() -> None:
    with pytest.raises(ConfigError) as info:
        MockServer(unmatched="ignore")
    assert info.value.field == "unmatched"

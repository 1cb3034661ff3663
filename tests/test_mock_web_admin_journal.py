"""The journal's admin reads (mock_server.web.admin_journal): find, count, unmatched and the
filters of GET /__admin/requests, globally and in a session; bad input is a 4xx naming it."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from helpers import http_json as call

from mock_server import MockServer
from mock_server.web import paging
from websim_core.routing import CHAT_PATH, IMAGE_PATH

PROJECT = "ke3_xh5gai3gjkmruomu"


def chat(text: str) -> dict[str, Any]:
    return {"project_id": PROJECT, "messages": [{"role": "user", "content": text}]}


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with MockServer() as server:
        yield server


async def test_find_and_count_select_with_the_stubs_language(server: MockServer) -> None:
    base = server.url
    for text in ("weather in Paris", "weather in Rome", "hello"):
        await call("POST", base + CHAT_PATH, chat(text))
    await call("POST", base + IMAGE_PATH, {"project_id": PROJECT, "prompt": "a cat"})
    weather = {"last_user_message": {"contains": "weather"}}
    status, found = await call("POST", base + "/__admin/requests/find", {"match": weather})
    assert status == 200
    assert [e["json"]["messages"][0]["content"] for e in found["requests"]] == [
        "weather in Paris",
        "weather in Rome",
    ]
    assert (found["count"], found["next"]) == (2, None)
    assert await call("POST", base + "/__admin/requests/count", {"match": weather}) == (
        200,
        {"count": 2},
    )
    image = {"endpoint": "image"}
    assert (await call("POST", base + "/__admin/requests/count", {"match": image}))[1] == {
        "count": 1
    }
    # paged: limit, then since the page's next
    _, first = await call("POST", base + "/__admin/requests/find", {"match": weather, "limit": 1})
    assert first["count"] == 1
    assert first["next"] == first["requests"][0]["id"]
    query = {"match": weather, "since": first["next"]}
    _, rest = await call("POST", base + "/__admin/requests/find", query)
    assert [e["json"]["messages"][0]["content"] for e in rest["requests"]] == ["weather in Rome"]
    assert (await call("POST", base + "/__admin/requests/count", query))[1] == {"count": 1}


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"match": {"last_user_message": {"regex": "("}}}, "match.last_user_message.regex", 400),
        ({"match": {"turns": "many"}}, "match.turns", 400),
        ({"match": {}, "limit": -1}, "limit", 400),
        ({"match": {}, "limit": 1.5}, "limit", 400),
        ({"match": {}, "since": "3"}, "since", 400),
        ({"match": {}, "limit": True}, "limit", 400),
        ({"match": {}, "whatever": 1}, "whatever", 400),
        ([1, 2], "body", 400),
    ],
)
async def test_a_bad_find_names_its_field(
    server: MockServer, body: object, field: str, status: int
) -> None:
    for route in ("find", "count"):
        if route == "count" and field == "limit":
            continue  # (count has no limit: an unknown key there)
        answer = await call("POST", f"{server.url}/__admin/requests/{route}", body)
        assert answer[0] == status
        assert answer[1]["field"] == field


async def test_find_in_a_session_reads_its_own_journal_and_an_unknown_one_is_a_404(
    server: MockServer,
) -> None:
    base = server.url
    await call("POST", base + "/sessions/a" + CHAT_PATH, chat("mine"))
    await call("POST", base + "/sessions/b" + CHAT_PATH, chat("theirs"))
    await call("POST", base + CHAT_PATH, chat("global"))
    _, found = await call("POST", base + "/sessions/a/__admin/requests/find", {"match": {}})
    assert [e["json"]["messages"][0]["content"] for e in found["requests"]] == ["mine"]
    _, everything = await call("POST", base + "/__admin/requests/count", {"match": {}})
    assert everything == {"count": 3}  # the server's view holds every session's requests
    status, error = await call("POST", base + "/sessions/nobody/__admin/requests/count", {})
    assert status == 404
    assert (error["field"], "nobody" in error["message"]) == ("session", True)
    status, error = await call("GET", base + "/sessions/nobody/__admin/requests/unmatched")
    assert (status, error["field"]) == (404, "session")


async def test_requests_filter_on_endpoint_and_source(server: MockServer) -> None:
    base = server.url
    server.script("chat", [503])
    await call("POST", base + CHAT_PATH, chat("one"))
    await call("POST", base + CHAT_PATH, chat("two"))
    await call("POST", base + IMAGE_PATH, {"project_id": PROJECT, "prompt": "a cat"})
    await call("GET", base + "/nowhere")

    async def paths(query: str) -> list[tuple[str | None, str]]:
        status, page = await call("GET", f"{base}/__admin/requests?{query}")
        assert status == 200
        return [(e["endpoint"], e["response"]["source"]) for e in page["requests"]]

    assert await paths("endpoint=chat") == [("chat", "script"), ("chat", "reply")]
    assert await paths("endpoint=image") == [("image", "reply")]
    assert await paths("endpoint=other") == [(None, "invalid")]
    assert await paths("source=script") == [("chat", "script")]
    assert await paths("endpoint=chat&source=reply") == [("chat", "reply")]
    for query, field in (("endpoint=chats", "endpoint"), ("source=nope", "source")):
        status, error = await call("GET", f"{base}/__admin/requests?{query}")
        assert (status, error["field"]) == (400, field)


async def test_unmatched_lists_the_misses_with_their_closest_stubs(server: MockServer) -> None:
    base = server.url
    await call("POST", base + CHAT_PATH, chat("before any stub"))  # no stub in force: not listed
    server.stub(
        name="weather", match={"last_user_message": {"contains": "weather"}}, respond={"reply": "x"}
    )
    server.stub(name="two turns", match={"turns": 2, "json": True}, respond={"reply": "y"})
    await call("POST", base + CHAT_PATH, chat("weather?"))  # matched: not listed
    await call("POST", base + CHAT_PATH, chat("whether?"))
    status, page = await call("GET", base + "/__admin/requests/unmatched")
    assert status == 200
    (entry,) = page["requests"]
    assert entry["json"]["messages"][0]["content"] == "whether?"
    assert entry["response"]["missed"]
    closest, other = entry["near_misses"]
    assert closest == {
        "stub": {"id": "stub-1", "name": "weather"},
        "mismatches": [
            {"path": "last_user_message", "expected": {"contains": "weather"}, "actual": "whether?"}
        ],
    }
    assert [m["path"] for m in other["mismatches"]] == ["turns", "json"]
    status, error = await call("GET", base + "/__admin/requests/unmatched?limit=101")
    assert (status, error["field"]) == (400, "limit")


async def test_near_miss_values_are_bounded(server: MockServer) -> None:
    server.stub(match={"last_user_message": "short"}, respond={"reply": "x"})
    await call("POST", server.url + CHAT_PATH, chat("y" * 10_000))
    _, page = await call("GET", server.url + "/__admin/requests/unmatched")
    (miss,) = page["requests"][0]["near_misses"][0]["mismatches"]
    assert miss["actual"] == "y" * 200 + "..."


async def test_a_page_ends_at_its_byte_budget_and_next_goes_on(
    server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging, "PAGE_BYTES", 100_000)
    for i in range(3):
        await call("POST", server.url + CHAT_PATH, chat(f"{i}" + "x" * 30_000))
    _, first = await call("GET", server.url + "/__admin/requests?limit=10")
    assert first["count"] == 2  # each entry holds its 30 KB twice: two pass 100 KB
    assert first["next"] == first["requests"][-1]["id"]
    _, rest = await call("GET", f"{server.url}/__admin/requests?limit=10&since={first['next']}")
    assert (rest["count"], rest["next"]) == (1, None)


async def test_pages_give_each_bodys_json_exactly(server: MockServer) -> None:
    """The page copies a body the mock parsed as it is (orjson.Fragment); anything else is
    parsed again (and written by json when orjson refuses it): the JSON a reader gets is the
    body's either way."""
    big = 123456789012345678901234567890  # beyond 64 bits: orjson alone would refuse it
    exact = {**chat("é ünïcode"), "n": big, "x": 1e-7}
    await call("POST", server.url + CHAT_PATH, exact)
    gzipped = gzip.compress(json.dumps(chat("zipped")).encode())
    # UTF-16, holding a lone surrogate once parsed: orjson refuses to write that
    utf16 = json.dumps(chat("sixteen \ud800")).encode("utf-16")
    async with aiohttp.ClientSession() as http:
        for data, headers in ((gzipped, {"Content-Encoding": "gzip"}), (utf16, {})):
            async with http.post(server.url + CHAT_PATH, data=data, headers=headers) as answer:
                assert answer.status == 200
    _, page = await call("GET", server.url + "/__admin/requests")
    assert [e["json"] for e in page["requests"]] == [exact, None, chat("sixteen \ud800")]
    assert page["requests"] == [e.to_json() for e in server.journal]
    _, found = await call("POST", server.url + "/__admin/requests/find", {})
    assert [e["json"] for e in found["requests"]] == [exact, chat("sixteen \ud800")]


@pytest.mark.parametrize(
    ("path", "query", "named"),
    [
        ("/__admin/requests", "limt=5", "limt"),
        ("/__admin/requests", "limit=5&sorce=stub&x=1", "sorce, x"),
        ("/__admin/requests/unmatched", "endpoint=chat", "endpoint"),
        ("/__admin/scenarios", "limits=2", "limits"),
        ("/__admin/stubs", "id=1", "id"),
        ("/__admin/sessions", "name=a", "name"),
        ("/sessions/s1/__admin/requests", "limt=5", "limt"),
    ],
)
async def test_an_unknown_query_parameter_on_an_admin_read_is_a_400_naming_it(
    server: MockServer, path: str, query: str, named: str
) -> None:
    await call("POST", server.url + "/sessions/s1/__admin/reset")
    status, error = await call("GET", f"{server.url}{path}?{query}")
    assert status == 400
    assert error["field"] == named
    assert "unknown query parameter" in error["message"]


async def test_the_documented_query_parameters_are_still_taken(server: MockServer) -> None:
    await call("POST", server.url + "/sessions/s1/__admin/reset")
    for path in (
        "/__admin/requests?since=0&limit=5&endpoint=chat&source=stub",
        "/__admin/requests/unmatched?since=0&limit=5",
        "/__admin/scenarios?since=0&limit=5",
        "/__admin/stubs",
        "/__admin/sessions",
        "/__admin/sessions/s1",
        "/sessions/s1/__admin/requests?limit=5",
    ):
        assert (await call("GET", server.url + path))[0] == 200, path


@pytest.mark.parametrize("body", [b"", b"  \n"])
async def test_an_empty_find_or_count_body_means_every_request(
    server: MockServer, body: bytes
) -> None:
    await call("POST", server.url + CHAT_PATH, chat("hello"))
    async with aiohttp.ClientSession() as http:
        for path, key in (("count", "count"), ("find", "count")):
            async with http.post(f"{server.url}/__admin/requests/{path}", data=body) as response:
                assert response.status == 200
                assert (await response.json())[key] == 1

"""Sessions over HTTP (mock_server.web: internals' routing, handlers, admin): the prefix and the
header reach the same session, through route_fixed_paths and through aiohttp's router alike."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from helpers import http_json as call

from mock_server import SESSION_HEADER, MockServer, MockSession, SessionError, create_app
from websim_core.routing import CHAT_PATH, IMAGE_PATH

CHAT = {"project_id": "ke3_xh5gai3gjkmruomu", "messages": [{"role": "user", "content": "hi"}]}
IMAGE = {"project_id": "kx0m131_rzz66qb2xoy7", "prompt": "a cat"}


@pytest.fixture(params=["fixed", "router"])
async def base(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A mock's URL: MockServer (route_fixed_paths), or create_app on aiohttp's own runner."""
    if request.param == "fixed":
        async with MockServer(max_sessions=3) as server:
            yield server.url
    else:
        server = TestServer(create_app(max_sessions=3), host="127.0.0.1")
        await server.start_server()
        try:
            yield str(server.make_url("")).rstrip("/")
        finally:
            await server.close()


async def test_prefix_and_header_reach_the_same_session(base: str) -> None:
    status, _ = await call(
        "POST", base + "/sessions/t1/__admin/scenarios", {"responses": [{"reply": "one"}, 503]}
    )
    assert status == 200
    assert await call("POST", base + CHAT_PATH, CHAT) != (200, {"content": "one"})  # not global
    assert await call("POST", base + "/sessions/t2" + CHAT_PATH, CHAT) != (200, {"content": "one"})
    assert await call("POST", base + "/sessions/t1" + CHAT_PATH, CHAT) == (200, {"content": "one"})
    status, _ = await call("POST", base + CHAT_PATH, CHAT, {SESSION_HEADER: "t1"})
    assert status == 503
    status, journal = await call("GET", base + "/sessions/t1/__admin/requests?limit=10")
    assert status == 200
    assert [(e["session"], e["response"]["status"]) for e in journal["requests"]] == [
        ("t1", 200),
        ("t1", 503),
    ]


async def test_image_urls_keep_the_session(base: str) -> None:
    status, answer = await call("POST", base + "/sessions/pics" + IMAGE_PATH, IMAGE)
    assert status == 200
    assert answer["url"].startswith(base + "/sessions/pics/images/")
    async with aiohttp.ClientSession() as http, http.get(answer["url"]) as response:
        assert (response.status, response.content_type) == (200, "image/png")
    _, journal = await call("GET", base + "/sessions/pics/__admin/requests")
    assert [e["endpoint"] for e in journal["requests"]] == ["image", None]


async def test_bad_input_gets_json_errors_naming_it(base: str) -> None:
    status, answer = await call("POST", base + "/sessions/a!b" + CHAT_PATH, CHAT)
    assert status == 400
    assert "'a!b'" in answer["message"]
    assert answer["field"] == "session"
    status, answer = await call("POST", base + CHAT_PATH, CHAT, {SESSION_HEADER: "x" * 65})
    assert (status, answer["field"]) == (400, "session")
    for method, path in (
        ("GET", "/sessions/nobody/__admin/requests"),
        ("GET", "/sessions/nobody/__admin/scenarios"),
        ("GET", "/__admin/sessions/nobody"),
        ("DELETE", "/__admin/sessions/nobody"),
    ):
        status, answer = await call(method, base + path)
        assert status == 404, path
        assert "'nobody'" in answer["message"]


async def test_sessions_are_listed_bounded_and_ended(base: str) -> None:
    for name in ("s1", "s2", "s3"):
        assert (await call("POST", base + f"/sessions/{name}" + CHAT_PATH, CHAT))[0] == 200
    status, answer = await call("POST", base + "/sessions/s4" + CHAT_PATH, CHAT)
    assert status == 503
    assert "3 sessions are live" in answer["message"]
    _, listed = await call("GET", base + "/__admin/sessions")
    assert [(s["name"], s["requests"]) for s in listed["sessions"]] == [
        ("s1", 1),
        ("s2", 1),
        ("s3", 1),
    ]
    assert await call("DELETE", base + "/__admin/sessions/s2") == (200, {"ended": "s2"})
    assert (await call("POST", base + "/sessions/s4" + CHAT_PATH, CHAT))[0] == 200
    _, mine = await call("GET", base + "/sessions/s4/__admin/sessions")
    assert [s["name"] for s in mine["sessions"]] == ["s4"]


async def test_session_reset_empties_its_view_only(base: str) -> None:
    await call("POST", base + "/sessions/r1" + CHAT_PATH, CHAT)
    await call("POST", base + "/sessions/r2" + CHAT_PATH, CHAT)
    assert (await call("POST", base + "/sessions/r1/__admin/reset"))[0] == 200
    _, r1 = await call("GET", base + "/sessions/r1/__admin/requests")
    _, r2 = await call("GET", base + "/sessions/r2/__admin/requests")
    assert (len(r1["requests"]), len(r2["requests"])) == (0, 1)


def test_mock_session_client_over_a_threaded_server() -> None:
    from mock_server import ThreadedMockServer

    with ThreadedMockServer() as server:
        session = MockSession(server.url, "client-1")
        session.reset()
        assert session.script("chat", [429, {"reply": "x"}]) == 2
        assert [p["step"]["status"] for p in session.pending[:1]] == [429]
        assert session.requests == []
        session.end()
        with pytest.raises(SessionError, match="404"):
            _ = session.requests
        session.end()  # already gone: nothing to do


async def test_a_sessions_stubs_are_its_own(base: str) -> None:
    """A stub put in force under a session's prefix answers that session only; the global
    stubs still answer it after its own, and the global list never shows the session's."""
    mine = {"match": {"last_user_message": {"contains": "hi"}}, "respond": {"reply": "mine"}}
    status, added = await call("POST", base + "/sessions/s1/__admin/stubs", mine)
    assert (status, added["count"]) == (200, 1)
    everyone = {"match": {}, "respond": {"reply": "global"}}
    assert (await call("POST", base + "/__admin/stubs", everyone))[0] == 200
    assert await call("POST", base + "/sessions/s1" + CHAT_PATH, CHAT) == (200, {"content": "mine"})
    headed = await call("POST", base + CHAT_PATH, CHAT, {SESSION_HEADER: "s1"})
    assert headed == (200, {"content": "mine"})
    for other in ("/sessions/s2", ""):  # another session, and the global space
        answer = await call("POST", base + other + CHAT_PATH, CHAT)
        assert answer == (200, {"content": "global"})
    _, listed = await call("GET", base + "/__admin/stubs")
    assert [stub["respond"]["reply"] for stub in listed["stubs"]] == ["global"]
    _, own = await call("GET", base + "/sessions/s1/__admin/stubs")
    assert [stub["id"] for stub in own["stubs"]] == added["ids"]
    assert (await call("GET", base + "/sessions/s2/__admin/stubs"))[1]["stubs"] == []
    _, journal = await call("GET", base + "/sessions/s1/__admin/requests")
    answered = [
        (e["session"], e["response"]["source"], e["response"]["stub"]) for e in journal["requests"]
    ]
    assert (
        answered
        == [
            ("s1", "stub", {"id": added["ids"][0], "name": None}),
        ]
        * 2
    )
    stub_id = added["ids"][0]
    assert (await call("DELETE", f"{base}/__admin/stubs/{stub_id}"))[0] == 404  # not global
    assert (await call("DELETE", f"{base}/sessions/s1/__admin/stubs/{stub_id}"))[0] == 200
    assert await call("POST", base + "/sessions/s1" + CHAT_PATH, CHAT) == (
        200,
        {"content": "global"},
    )


async def test_a_sessions_journal_comes_a_page_at_a_time(base: str) -> None:
    for _ in range(3):
        await call("POST", base + "/sessions/p1" + CHAT_PATH, CHAT)
        await call("POST", base + "/sessions/p2" + CHAT_PATH, CHAT)
    _, first = await call("GET", base + "/sessions/p1/__admin/requests?limit=2")
    assert [e["session"] for e in first["requests"]] == ["p1", "p1"]
    assert first["next"] == first["requests"][-1]["id"]
    _, rest = await call("GET", f"{base}/sessions/p1/__admin/requests?since={first['next']}")
    assert [e["session"] for e in rest["requests"]] == ["p1"]
    assert rest["requests"][0]["id"] > first["next"]


def test_the_session_client_stubs_its_own_and_reads_every_page() -> None:
    import urllib.error
    import urllib.request

    from mock_server import ThreadedMockServer

    with ThreadedMockServer() as server:
        session = MockSession(server.url, "client-2")
        stub_id = session.stub(match={"prompt": {"contains": "cat"}}, respond={"status": 503})
        assert stub_id.startswith("client-2.")
        with urllib.request.urlopen(server.url + "/__admin/stubs", timeout=10) as answer:
            assert json.loads(answer.read())["stubs"] == []  # not a global stub
        image = json.dumps(IMAGE).encode()
        for _ in range(1001):  # more than one page of the journal (1000 at most)
            request = urllib.request.Request(
                session.url + IMAGE_PATH, image, {"Content-Type": "application/json"}
            )
            with pytest.raises(urllib.error.HTTPError, match="503"):
                urllib.request.urlopen(request, timeout=10)
        entries = session.requests
        assert len(entries) == 1001
        assert {e["response"]["stub"]["id"] for e in entries} == {stub_id}

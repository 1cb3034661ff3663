"""MockServer.find and .verify (and a MockSession's, over HTTP): assert on what the app sent,
in the stubs' language; in a session, among its requests only."""

from __future__ import annotations

import json
import urllib.request

import pytest
from helpers import HELLO

from mock_server import MockServer, MockSession, SessionError, ThreadedMockServer
from mock_server.core.errors import FieldError
from websim_core import WebsimClient


async def test_verify_counts_and_explains_the_closest_misses() -> None:
    async with MockServer() as server, WebsimClient(server.url) as client:
        await client.chat([{"role": "user", "content": "weather in Paris"}])
        await client.chat([{"role": "user", "content": "unsubscribe me"}])
        await client.generate_image("a cat on a mat")
        weather = {"last_user_message": {"contains": "weather"}}
        assert [e.json["messages"][0]["content"] for e in server.find(weather)] == [
            "weather in Paris"
        ]
        assert len(server.verify(weather, times=1)) == 1
        server.verify({"endpoint": "image", "prompt": {"contains": "cat"}})
        server.verify({"last_user_message": {"contains": "refund"}}, at_most=0)
        with pytest.raises(AssertionError) as info:
            server.verify({"last_user_message": {"contains": "weather in Rome"}})
    message = str(info.value)
    assert message.startswith("expected at least 1 request(s) matching")
    assert "0 of the 3 journaled request(s) matched" in message
    assert "came 'weather in Paris'" in message


async def test_a_bad_match_or_bound_names_its_field() -> None:
    async with MockServer() as server:
        with pytest.raises(FieldError) as info:
            server.verify({"last_user_message": {"regex": "("}})
        assert info.value.field == "match.last_user_message.regex"
        with pytest.raises(FieldError) as bound:
            server.verify({}, times=-1)
        assert bound.value.field == "times"


def test_the_threaded_server_verifies_too() -> None:
    body = json.dumps({"project_id": "p_1", "messages": HELLO}).encode()
    with ThreadedMockServer() as server:
        request = urllib.request.Request(
            server.url + "/api/v1/inference/run_chat_completion", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        assert len(server.find({"endpoint": "chat"})) == 1
        server.verify({"endpoint": "chat"}, times=1)
        with pytest.raises(AssertionError, match="expected exactly 2"):
            server.verify({"endpoint": "chat"}, times=2)


def _post(url: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def _chat(text: str) -> dict[str, object]:
    return {"project_id": "p_1", "messages": [{"role": "user", "content": text}]}


def test_find_and_verify_read_one_sessions_journal() -> None:
    with ThreadedMockServer() as server:
        chat = "/api/v1/inference/run_chat_completion"
        _post(f"{server.url}/sessions/a{chat}", _chat("weather in Paris"))
        _post(f"{server.url}/sessions/b{chat}", _chat("weather in Rome"))
        _post(server.url + chat, _chat("weather at home"))
        weather = {"last_user_message": {"contains": "weather"}}
        assert len(server.find(weather)) == 3
        (mine,) = server.find(weather, session="a")
        assert mine.session == "a"
        server.verify(weather, times=1, session="b")
        with pytest.raises(AssertionError) as info:
            server.verify({"last_user_message": {"contains": "Rome"}}, session="a")
        assert "0 of the 1 journaled request(s) matched" in str(info.value)
        with pytest.raises(SessionError, match="'nobody'"):
            server.find({}, session="nobody")


def test_the_session_client_verifies_with_the_servers_report() -> None:
    with ThreadedMockServer() as server:
        session = MockSession(server.url, "verifying")
        session.reset()
        chat = "/api/v1/inference/run_chat_completion"
        for text in ("weather in Paris", "unsubscribe me", "weather in Oslo"):
            _post(session.url + chat, _chat(text))
        _post(server.url + chat, _chat("weather in Rome"))  # not this session's
        weather = {"last_user_message": {"contains": "weather"}}
        found = session.find(weather)
        assert [e["json"]["messages"][0]["content"] for e in found] == [
            "weather in Paris",
            "weather in Oslo",
        ]
        assert session.find(weather, since=found[0]["id"]) == found[1:]
        assert session.verify(weather, times=2) == found
        rome = {"last_user_message": {"contains": "weather in Rome"}}
        with pytest.raises(AssertionError) as client_side:
            session.verify(rome)
        with pytest.raises(AssertionError) as server_side:
            server.verify(rome, session="verifying")
        assert str(client_side.value) == str(server_side.value)
        assert "came 'weather in Paris'" in str(client_side.value)
        with pytest.raises(FieldError) as bad:
            session.verify({"turns": "many"})
        assert bad.value.field == "match.turns"
        with pytest.raises(FieldError) as bound:
            session.verify(weather, at_most=-1)
        assert bound.value.field == "at_most"

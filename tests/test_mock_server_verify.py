"""MockServer.find and .verify: assert on what the app sent, in the stubs' language."""

from __future__ import annotations

import json
import urllib.request

import pytest
from helpers import HELLO

from mock_server import MockServer, ThreadedMockServer
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

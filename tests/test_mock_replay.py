"""``websim-mock --cassettes``: besides the recorded answers it answers its own health check, an
honest OpenAPI document of what it replays, and the requests it served."""

from __future__ import annotations

from typing import Any

import aiohttp

from mock_server.replay import MAX_SEEN, ReplayServer
from websim_cassettes import cassette_dir
from websim_core.protocol import build_chat_request
from websim_core.routing import CHAT_PATH

OTTERS = [{"role": "user", "content": "Tell me one fun fact about otters."}]


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as response:
        return response.status, await response.json()


async def test_health_openapi_and_the_requests_served_are_answered() -> None:
    async with ReplayServer(cassette_dir()) as server, aiohttp.ClientSession() as session:
        status, health = await _get(session, server.url + "/healthz")
        assert status == 200
        assert health["status"] == "ok"
        assert health["interactions"] == server.index.size > 0

        status, document = await _get(session, server.url + "/openapi.json")
        assert status == 200
        assert document["openapi"].startswith("3.")
        assert "post" in document["paths"][CHAT_PATH]
        assert "/healthz" in document["paths"]

        body = build_chat_request(OTTERS, project_id="ke3_xh5gai3gjkmruomu").body()
        async with session.post(server.url + CHAT_PATH, data=body) as response:
            hit = response.status
        async with session.post(server.url + "/nowhere", data=b"{}") as response:
            assert response.status == 404
        status, served = await _get(session, server.url + "/__admin/requests")
        assert status == 200
        assert served["kept"] == MAX_SEEN
        first, second = served["requests"]
        assert (first["method"], first["path"]) == ("POST", CHAT_PATH)
        assert hit != 404
        assert first["replayed_from"].endswith(".yaml#0")
        assert second["path"] == "/nowhere"
        assert "miss" in second

"""The scripted-step queue (mock_server.core.queue): bounded, first in first out per scope."""

from __future__ import annotations

import aiohttp
import pytest

from mock_server import MockServer
from mock_server.core.errors import StepError
from mock_server.core.queue import MAX_PENDING_STEPS, ScriptQueue
from mock_server.core.state import MockState
from mock_server.core.steps import parse_steps


def test_the_queue_refuses_steps_past_its_limit_and_queues_none_of_them() -> None:
    queue = ScriptQueue(limit=5)
    assert queue.add("chat", parse_steps([200, 200, 200])) == 3
    with pytest.raises(StepError, match="at most 5 steps may wait"):
        queue.add("any", parse_steps([429, 429, 429]))
    assert len(queue) == 3
    assert queue.add("any", parse_steps([429, 429])) == 2  # exactly up to the limit
    assert queue.take("image") is not None


def test_state_refuses_a_flood_before_parsing_it() -> None:
    state = MockState()
    with pytest.raises(StepError, match=f"at most {MAX_PENDING_STEPS} steps"):
        state.script("chat", [0] * (MAX_PENDING_STEPS + 1))  # 0 is no valid step: not parsed
    assert len(state.scripts) == 0


async def test_a_post_past_the_limit_is_a_400_naming_it() -> None:
    flood = {"endpoint": "chat", "responses": [200] * (MAX_PENDING_STEPS // 2 + 1)}
    async with MockServer() as server, aiohttp.ClientSession() as session:
        url = f"{server.url}/__admin/scenarios"
        async with session.post(url, json=flood) as first:
            assert first.status == 200
        async with session.post(url, json=flood) as second:
            assert second.status == 400
            error = await second.json()
        assert str(MAX_PENDING_STEPS) in error["message"]
        assert error["field"] == "responses"
        assert len(server.state.scripts) == MAX_PENDING_STEPS // 2 + 1

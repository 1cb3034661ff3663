"""Tipster's tests: against the mock Websim (websim_server), and from a cassette offline."""

from __future__ import annotations

import os

import pytest
from tipster import TipsterError, tip

# Where the cassette test talks to: the live API's address, which the cassette answers for.
# To re-record against a mock: websim-mock --port 8765, then
# TIPSTER_RECORD_URL=http://127.0.0.1:8765 pytest --record-mode=rewrite -k cassette
RECORD_URL = os.environ.get("TIPSTER_RECORD_URL", "https://websim.ai")


async def test_the_tip_quotes_the_topic(websim_server):
    answer = await tip("sourdough", base_url=websim_server.url)
    assert "sourdough" in answer
    [entry] = websim_server.requests
    assert entry["json"]["messages"][-1]["content"] == "A tip about sourdough, please."


async def test_an_error_status_is_raised(websim_server):
    websim_server.script("chat", [500])
    with pytest.raises(TipsterError, match="Websim answered 500"):
        await tip("sourdough", base_url=websim_server.url)


@pytest.mark.vcr
async def test_a_tip_from_the_cassette():
    # tests/cassettes/test_tipster/test_a_tip_from_the_cassette.yaml, recorded against the
    # harness's mock (not the live API); it replays for https://websim.ai, network blocked.
    answer = await tip("sourdough", base_url=RECORD_URL)
    assert "sourdough" in answer

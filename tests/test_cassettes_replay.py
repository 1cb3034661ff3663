"""Every committed cassette replays offline through ``WebsimClient`` and gives its scenario's
outcome; the streamed one goes through the same SSE decoder as a live stream, with the same deltas.
"""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeSleep
from helpers import COMMITTED_CASSETTES

import websim_core.client
from websim_cassettes import load_cassette, make_vcr
from websim_cassettes.scenarios import SCENARIOS, Scenario, run_scenario, scenario_by_name
from websim_core import (
    CloudflareError,
    ImageResponse,
    RateLimitError,
    ResponseFormatError,
    RetryPolicy,
    WebsimClient,
)
from websim_core.sse import SSEDecoder, parse_delta

pytest_plugins = ["websim_cassettes.pytest_plugin"]

# The live API's URL: nothing may leave the machine, the cassettes answer everything.
LIVE = "https://websim.ai"


def _cassette(scenario: Scenario) -> Any:
    return pytest.param(
        scenario,
        id=scenario.name,
        marks=[pytest.mark.vcr, pytest.mark.default_cassette(scenario.cassette)],
    )


def _client(sleep: FakeSleep | None = None) -> WebsimClient:
    return WebsimClient(LIVE, retry=RetryPolicy(sleep=sleep or FakeSleep()))


@pytest.mark.parametrize("scenario", [_cassette(s) for s in SCENARIOS])
async def test_cassette_replays_its_scenario(scenario: Scenario) -> None:
    sleep = FakeSleep()
    async with _client(sleep) as client:
        outcome = await run_scenario(scenario, client, sleep.delays)
    assert scenario.expect(outcome) is None, outcome.describe()


def test_every_scenario_has_a_committed_cassette() -> None:
    names = {p.name for p in COMMITTED_CASSETTES.glob("*.yaml")}
    assert {s.cassette for s in SCENARIOS} <= names


def test_every_cassette_says_what_it_was_recorded_against() -> None:
    for scenario in SCENARIOS:
        block = load_cassette(COMMITTED_CASSETTES / scenario.cassette).provenance
        assert block["recorded_against"] in ("mock", "live"), scenario.name
        assert block["recorded_at"].endswith("Z")
        assert block["websim_harness_version"]
        assert block["vcrpy_version"]
        assert block["scenario"] == scenario.name
        assert ("arranged" in block) == (block["recorded_against"] == "mock" and scenario.arranged)


# --- what specific cassettes must show ----------------------------------------------------------


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_429_429_200.yaml")
async def test_429_twice_then_answer_waits_retry_after() -> None:
    sleep = FakeSleep()
    async with _client(sleep) as client:
        answer = await client.chat(
            [{"role": "user", "content": "Tell me one fun fact about otters."}]
        )
    assert answer
    assert sleep.delays == [1.0, 1.0]  # Retry-After: 1, honoured, and no real sleep


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_429_exhausted.yaml")
async def test_429_until_retries_are_exhausted() -> None:
    sleep = FakeSleep()
    async with _client(sleep) as client:
        with pytest.raises(RateLimitError, match="Response 429: Rate limit exceeded") as info:
            await client.chat([{"role": "user", "content": "What is the capital of Peru?"}])
    assert info.value.status == 429
    assert sleep.delays == [2.0, 4.0]  # g4f's back-off: 3 attempts in all


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_403_cloudflare.yaml")
async def test_cloudflare_page() -> None:
    async with _client() as client:
        with pytest.raises(CloudflareError, match="Response 403: Cloudflare detected"):
            await client.chat([{"role": "user", "content": "Are you a robot?"}])


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_non_json_body.yaml")
async def test_non_json_body_is_yielded_raw() -> None:
    async with _client() as client:
        answer = await client.chat([{"role": "user", "content": "Reply in plain text, please."}])
    assert answer == "This answer is plain text, not JSON."


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_non_ascii.yaml")
async def test_non_ascii_survives_the_cassette() -> None:
    messages = [
        {"role": "user", "content": "Привет, как дела? 你好，世界 🌍"},  # noqa: RUF001
        {"role": "assistant", "content": "Хорошо, а у тебя как?"},  # noqa: RUF001
    ]
    async with _client() as client:
        answer = await client.chat(messages)
    assert "Привет" in answer
    assert "🌍" in answer


@pytest.mark.vcr
@pytest.mark.default_cassette("image_16_9.yaml")
async def test_image_16_9() -> None:
    async with _client() as client:
        image = await client.generate_image("A lighthouse at dusk, wide shot", aspect_ratio="16:9")
    assert isinstance(image, ImageResponse)
    assert image.url.startswith(("http://", "https://"))
    assert image.alt.startswith("A lighthouse")


@pytest.mark.vcr
@pytest.mark.default_cassette("image_no_url.yaml")
async def test_image_without_url() -> None:
    async with _client() as client:
        with pytest.raises(ResponseFormatError, match="no 'url'"):
            await client.generate_image("A red bicycle")


# --- the stream ---------------------------------------------------------------------------------

STREAM = scenario_by_name("chat_stream")
STREAM_MESSAGES = [{"role": "user", "content": "Count from one to five, in words."}]


class CountingDecoder(SSEDecoder):
    """The client's own decoder, counting what it is fed."""

    fed: list[bytes] = []  # noqa: RUF012

    def feed(self, chunk: bytes) -> list[Any]:
        CountingDecoder.fed.append(chunk)
        return super().feed(chunk)


async def _deltas(base_url: str) -> list[str]:
    async with WebsimClient(base_url) as client:
        return [d async for d in client.stream_chat(STREAM_MESSAGES)]


async def test_replayed_stream_goes_through_the_sse_decoder_with_live_deltas(
    websim_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Live: the mock that recorded the cassette (same seed, deterministic answers).
    live = await _deltas(websim_server.url)
    monkeypatch.setattr(websim_core.client, "SSEDecoder", CountingDecoder)
    CountingDecoder.fed = []
    with make_vcr().use_cassette(STREAM.cassette) as cassette:
        replayed = await _deltas(LIVE)
    assert cassette.all_played
    assert CountingDecoder.fed, "the replayed stream did not go through SSEDecoder"
    assert replayed == live
    assert len(replayed) > 1

    # And byte by byte, the recorded body decodes to the same deltas.
    body = load_cassette(COMMITTED_CASSETTES / STREAM.cassette).interactions[0].response.body
    decoder = SSEDecoder()
    events = [e for i in range(len(body)) for e in decoder.feed(body[i : i + 1])]
    assert [parse_delta(e.data) for e in events] == [*live, None]

"""Chaos and latency models: the seeded choosers and samplers, then the server using them."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import aiohttp
import pytest

from mock_server import ConnectionReset, Delay, MockServer, StatusStep, StreamCut
from mock_server.core.chaos import DEFAULT_CHAOS_MIX, Chaos, parse_mix
from mock_server.core.config import MockConfig
from websim_core.routing import CHAT_PATH

# --- the mix ------------------------------------------------------------------------------------


def test_parse_mix() -> None:
    assert parse_mix("429:3, connection_reset, stream_cut:0.5") == (
        (StatusStep(429), 3.0),
        (ConnectionReset(), 1.0),
        (StreamCut(), 0.5),
    )
    mix = dict(parse_mix(DEFAULT_CHAOS_MIX))
    assert mix[StatusStep(429)] == 3
    assert Delay() in mix


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("418x:1", "unknown fault"),
        ("700", "between 200 and 599"),
        ("429:-1", "weight"),
        ("429:lots", "weight"),
        ("429:0", "add up to 0"),
    ],
)
def test_parse_mix_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mix(text)


# --- the draws ----------------------------------------------------------------------------------


def draws(chaos: Chaos, n: int) -> list[Any]:
    return [chaos.draw() for _ in range(n)]


def test_rate_zero_never_and_rate_one_always() -> None:
    assert draws(Chaos(0.0, seed=1), 1000) == [None] * 1000
    assert None not in draws(Chaos(1.0, seed=1), 1000)


def test_the_same_seed_gives_the_same_sequence() -> None:
    first = draws(Chaos(0.3, "429:1,500:1,connection_reset:1", seed=7), 500)
    assert first == draws(Chaos(0.3, "429:1,500:1,connection_reset:1", seed=7), 500)
    assert first != draws(Chaos(0.3, "429:1,500:1,connection_reset:1", seed=8), 500)
    chaos = Chaos(0.3, "429:1,500:1,connection_reset:1", seed=7)
    draws(chaos, 123)
    chaos.reset()
    assert draws(chaos, 500) == first


def test_rate_and_weights_are_respected() -> None:
    outcomes = draws(Chaos(0.2, "429:3,500:1", seed=3), 20_000)
    hit = [o for o in outcomes if o is not None]
    assert len(hit) / len(outcomes) == pytest.approx(0.2, abs=0.015)
    counts = Counter(hit)
    assert counts[StatusStep(429)] / len(hit) == pytest.approx(0.75, abs=0.03)


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_chaos_rate_is_a_fraction(rate: float) -> None:
    with pytest.raises(ValueError, match=r"0\.\.1"):
        Chaos(rate)
    with pytest.raises(ValueError, match="fraction"):
        MockConfig(chaos=rate)


# --- the server ---------------------------------------------------------------------------------


async def statuses(server: MockServer, n: int) -> list[tuple[int, str | None]]:
    """``n`` chat requests one after another; (status or 0 for a dropped one, source)."""
    body = json.dumps({"project_id": "a", "messages": [{"role": "user", "content": "Hi"}]})
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            try:
                async with session.post(server.url + CHAT_PATH, data=body) as resp:
                    await resp.read()
            except aiohttp.ClientError:
                pass
    return [(e["response"]["status"], e["response"]["source"]) for e in server.requests]


async def test_chaos_over_http_is_the_same_for_the_same_seed() -> None:
    mix = "429:2,503:1,connection_reset:1,empty_response:1,truncated_body:1,garbage:1"
    runs = []
    for seed in (11, 11, 12):
        async with MockServer(seed=seed, chaos=0.5, chaos_mix=mix) as server:
            runs.append(await statuses(server, 40))
            assert server.errors == []
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    sources = Counter(source for _, source in runs[0])
    assert 8 <= sources["chaos"] <= 32
    assert set(sources) == {"chaos", "reply"}
    assert {status for status, source in runs[0] if source == "chaos"} <= {429, 503, 0, 200}


async def test_scripts_win_over_chaos() -> None:
    async with MockServer(chaos=1.0, chaos_mix="503") as server:
        server.script("chat", [200])
        assert await statuses(server, 2) == [(200, "script"), (503, "chaos")]


async def test_latency_model_delays_inference_answers_only() -> None:
    body = json.dumps({"project_id": "a", "messages": [{"role": "user", "content": "Hi"}]})
    async with aiohttp.ClientSession() as session:
        async with MockServer(latency="uniform:40,60") as server:
            started = time.monotonic()
            async with session.post(server.url + CHAT_PATH, data=body) as resp:
                assert resp.status == 200
            assert time.monotonic() - started >= 0.039
        async with MockServer(latency="fixed:2000") as server:
            started = time.monotonic()
            async with session.get(server.url + "/healthz") as resp:
                assert resp.status == 200
            assert time.monotonic() - started < 1.0

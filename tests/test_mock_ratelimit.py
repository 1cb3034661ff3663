"""Rate limiting: the pure token bucket against a fake clock (hypothesis), then over HTTP."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from mock_server import MockServer, build_app, serve
from mock_server.core.config import MockConfig
from mock_server.core.ratelimit import (
    RateLimiter,
    TokenBucket,
    default_burst,
    parse_rate,
    retry_after_seconds,
)
from mock_server.core.state import MockState
from websim_core import RateLimitError, RetryPolicy, WebsimClient
from websim_core.routing import CHAT_PATH, IMAGE_PATH

HELLO = [{"role": "user", "content": "Hello"}]

# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("5/s", 5.0), ("300/min", 5.0), ("1/m", 1 / 60), (" 2 / sec ", 2.0), ("36/h", 0.01)],
)
def test_parse_rate(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("text", ["5", "5/x", "0/s", "-1/s", "s/5", "", "1e9/s", "nan/s"])
def test_parse_rate_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="rate limit must"):
        parse_rate(text)


def test_default_burst_is_one_seconds_worth() -> None:
    assert [default_burst(r) for r in (0.01, 1.0, 5.0, 2.5)] == [1, 1, 5, 3]
    assert retry_after_seconds(0.001) == 1
    assert retry_after_seconds(1.0) == 1
    assert retry_after_seconds(1.5) == 2


# --- the bucket, against a fake clock -----------------------------------------------------------

rates = st.sampled_from(["1/s", "2/s", "3/s", "10/s", "1/min", "7/min", "100/min", "5/h"])
# (milliseconds to wait, then take a token) — whole milliseconds, as clocks are read.
plans = st.lists(st.integers(0, 5_000), min_size=1, max_size=40)


@given(rates, st.integers(1, 5), plans)
def test_retry_after_is_exact_in_whole_seconds(rate_text: str, burst: int, plan: list[int]) -> None:
    """After a refusal with Retry-After R: waiting R seconds gets a token, R - 1 does not."""
    rate = parse_rate(rate_text)
    now = 1000.0
    bucket = TokenBucket(rate, burst, now)
    for wait_ms in plan:
        now += wait_ms / 1000
        wait = bucket.take(now)
        if wait == 0.0:
            continue
        seconds = retry_after_seconds(wait)
        later = copy.copy(bucket)
        assert later.take(now + seconds) == 0.0
        if seconds > 1:
            sooner = copy.copy(bucket)
            assert sooner.take(now + seconds - 1) > 0.0


@given(rates, st.integers(1, 5), plans)
def test_never_more_than_burst_plus_rate_times_elapsed(
    rate_text: str, burst: int, plan: list[int]
) -> None:
    rate = parse_rate(rate_text)
    start = now = 50.0
    bucket = TokenBucket(rate, burst, now)
    granted = 0
    for wait_ms in plan:
        now += wait_ms / 1000
        granted += bucket.take(now) == 0.0
        assert granted <= burst + rate * (now - start) + 1e-6


@given(rates, st.integers(1, 5), plans)
def test_a_token_that_is_there_is_granted(rate_text: str, burst: int, plan: list[int]) -> None:
    rate = parse_rate(rate_text)
    now = 0.0
    bucket = TokenBucket(rate, burst, now)
    for wait_ms in plan:
        now += wait_ms / 1000
        had = bucket.tokens(now)
        assert (bucket.take(now) == 0.0) == (had >= 1.0 - 1e-6 * rate)


def test_the_first_burst_goes_through_then_one_per_interval() -> None:
    bucket = TokenBucket(2.0, 3, 0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.5) == pytest.approx(0.5)
    assert bucket.take(100.0) == 0.0  # refilled, but never above the burst
    assert bucket.tokens(100.0) == pytest.approx(2.0)
    assert bucket.take(100.0) == bucket.take(100.0) == 0.0
    assert bucket.take(99.0) > 0  # a clock going backwards adds nothing


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_limiter_scopes() -> None:
    clock = FakeClock()
    shared = RateLimiter(1 / 60, 1, "global", clock)
    assert shared.check("a") is None
    assert shared.check("b") == 60  # one bucket for everybody
    own = RateLimiter(1 / 60, 1, "project", clock)
    assert own.check("a") is None
    assert own.check("b") is None
    assert own.check("a") == 60
    clock.now += 59.5
    assert own.check("a") == 1
    clock.now += 0.5
    assert own.check("a") is None
    own.reset()
    assert len(own) == 0
    with pytest.raises(ValueError, match="scope"):
        RateLimiter(1.0, 1, "user", clock)  # type: ignore[arg-type]


def test_per_project_buckets_stay_bounded() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1.0, 1, "project", clock)
    for i in range(25_000):
        limiter.check(f"p{i}")
    assert len(limiter) <= 10_000


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate_limit": "5/x"}, "rate limit must"),
        ({"rate_limit": "5/s", "rate_burst": 0}, "invalid rate_burst: must"),
        ({"rate_burst": 3}, "invalid rate_burst: needs rate_limit"),
        ({"rate_limit": "5/s", "rate_limit_scope": "user"}, "invalid rate_limit_scope: must"),
    ],
)
def test_config_refuses_bad_rate_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MockConfig(**options)  # type: ignore[arg-type]


# --- over HTTP ----------------------------------------------------------------------------------


@pytest.fixture
async def limited() -> AsyncIterator[tuple[str, FakeClock]]:
    """A mock limited to 1/s with a burst of 2, on a fake clock (no real waiting)."""
    clock = FakeClock()
    state = MockState(MockConfig(rate_limit="1/s", rate_burst=2), clock=clock)
    runner = web.AppRunner(build_app(state), access_log=None)
    await runner.setup()
    server = await serve(runner, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", clock
    finally:
        server.close()
        await runner.cleanup()


async def post_chat(
    session: aiohttp.ClientSession, url: str, project: str = "a"
) -> tuple[int, str, str | None]:
    body = json.dumps({"project_id": project, "messages": HELLO})
    async with session.post(url + CHAT_PATH, data=body) as resp:
        return resp.status, await resp.text(), resp.headers.get("Retry-After")


async def test_over_the_limit_is_a_429_with_an_accurate_retry_after(
    limited: tuple[str, FakeClock],
) -> None:
    url, clock = limited
    async with aiohttp.ClientSession() as session:
        assert (await post_chat(session, url))[0] == 200
        assert (await post_chat(session, url))[0] == 200
        status, text, retry_after = await post_chat(session, url)
        assert (status, json.loads(text), retry_after) == (
            429,
            {"message": "Rate limit exceeded"},
            "1",
        )
        clock.now += 0.5
        assert (await post_chat(session, url))[2] == "1"  # half a token: still 1 s (rounded up)
        clock.now += 0.5  # exactly the Retry-After since the first refusal
        assert (await post_chat(session, url))[0] == 200
        # the service routes are not limited
        for path in ("/healthz", "/openapi.json", "/__admin/requests"):
            async with session.get(url + path) as resp:
                assert resp.status == 200
        # images share the bucket
        image = json.dumps({"project_id": "a", "prompt": "a cat"})
        async with session.post(url + IMAGE_PATH, data=image) as resp:
            assert resp.status == 429
        async with session.get(url + "/__admin/requests") as resp:
            journal = (await resp.json())["requests"]
    sources = [e["response"]["source"] for e in journal if e["endpoint"] is not None]
    assert sources == ["reply", "reply", "rate_limit", "rate_limit", "reply", "rate_limit"]
    assert journal[2]["response"]["step"] == {"status": 429, "headers": {"Retry-After": "1"}}


async def test_the_client_sees_a_rate_limit_error_with_retry_after() -> None:
    async with MockServer(rate_limit="1/min", rate_burst=1) as server:
        once = RetryPolicy(max_attempts=1)
        async with WebsimClient(server.url, retry=once) as client:
            assert await client.chat(HELLO)
            with pytest.raises(RateLimitError) as info:
                await client.chat(HELLO)
        assert info.value.status == 429
        assert info.value.retry_after is not None
        assert 59 <= info.value.retry_after <= 60
        # scripted steps are the answer whatever the limit says
        server.script("chat", [200])
        async with aiohttp.ClientSession() as session:
            assert (await post_chat(session, server.url))[0] == 200
            assert (await post_chat(session, server.url))[0] == 429
            server.reset()  # refills the buckets
            assert (await post_chat(session, server.url))[0] == 200


async def test_project_scope_limits_each_project_alone() -> None:
    async with (
        MockServer(rate_limit="1/min", rate_limit_scope="project") as server,
        aiohttp.ClientSession() as session,
    ):
        assert (await post_chat(session, server.url, "a"))[0] == 200
        assert (await post_chat(session, server.url, "b"))[0] == 200
        assert (await post_chat(session, server.url, "a"))[0] == 429

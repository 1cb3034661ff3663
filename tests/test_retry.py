"""Retry policy and Retry-After: pure, total, and the documented delays (2 s, 4 s, capped)."""

from __future__ import annotations

import email.utils
import math
import os
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websim_core.errors import (
    CloudflareError,
    InvalidRequestError,
    MissingAuthError,
    RateLimitError,
    ResponseFormatError,
    ResponseStatusError,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
)
from websim_core.retry import RetryPolicy, parse_retry_after

NOW = 1_700_000_000.0  # an injected "now"; nothing here reads the real clock


def http_date(unix: float) -> str:
    return email.utils.formatdate(unix, usegmt=True)


# --- parse_retry_after ---------------------------------------------------------------------------


@given(value=st.text())
def test_retry_after_is_total_over_text(value: str) -> None:
    seconds = parse_retry_after(value, now=NOW)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


@given(
    value=st.one_of(
        st.from_regex(r"\s*[0-9]{1,30}\s*", fullmatch=True),
        st.from_regex(
            r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{1,2} [A-Z][a-z]{2} [0-9]{1,5} .*", fullmatch=True
        ),
        st.builds(http_date, st.floats(-1e10, 1e11)),
    ),
    now=st.floats(-1e12, 1e12),
)
def test_retry_after_is_total_near_the_two_forms(value: str, now: float) -> None:
    seconds = parse_retry_after(value, now=now)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


def test_retry_after_none_is_none() -> None:
    assert parse_retry_after(None, now=NOW) is None


@given(
    n=st.integers(0, 10**11), pad=st.sampled_from(["", " ", "\t", "  "]), zeros=st.integers(0, 20)
)
def test_delta_seconds(n: int, pad: str, zeros: int) -> None:
    assert parse_retry_after(f"{pad}{'0' * zeros}{n}{pad}", now=NOW) == float(n)


@given(n=st.integers(10**11, 10**40))
def test_huge_delta_seconds_are_capped_not_overflowing(n: int) -> None:
    assert parse_retry_after(str(n), now=NOW) == 1e11


@pytest.mark.parametrize("value", ["", " ", "-5", "+5", "1.5", "5s", "soon", "\u0665", "0x10"])
def test_not_a_retry_after(value: str) -> None:
    assert parse_retry_after(value, now=NOW) is None


@given(delta=st.integers(0, 10**8))
def test_http_date_in_the_future(delta: int) -> None:
    assert parse_retry_after(http_date(NOW + delta), now=NOW) == pytest.approx(delta)


@given(delta=st.integers(1, 10**8))
def test_http_date_in_the_past_is_zero(delta: int) -> None:
    assert parse_retry_after(http_date(NOW - delta), now=NOW) == 0.0


def test_known_http_date() -> None:
    # RFC 9110's example; 2015-10-21T07:28:00Z is Unix 1445412480.
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 30) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 +0100", now=1445412480.0 - 3630) == 30.0


@pytest.fixture
def far_timezone() -> Iterator[None]:
    """Run with a local zone far from UTC, to catch dates read as local time."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.mark.usefixtures("far_timezone")
def test_minus_zero_zone_is_utc_not_local_time() -> None:
    assert time.timezone != 0  # the fixture took effect
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 -0000", now=1445412480.0 - 30) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 30) == 30.0


# --- RetryPolicy ---------------------------------------------------------------------------------

ALL_ERRORS: list[WebsimError] = [
    InvalidRequestError("x", "y"),
    ResponseStatusError(500, "boom"),
    MissingAuthError(401, "auth"),
    CloudflareError(403, "cf"),
    ResponseFormatError("shape"),
    WebsimConnectionError("refused"),
    WebsimTimeoutError("slow"),
    RateLimitError(429, "slow down"),
    RateLimitError(402, "pay"),
    RateLimitError(504, "gateway"),
]


def test_default_backoff_is_two_then_four_seconds() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 3
    assert [policy.delay(1), policy.delay(2)] == [2.0, 4.0]


@pytest.mark.parametrize(
    "error", ALL_ERRORS, ids=lambda e: type(e).__name__ + str(getattr(e, "status", ""))
)
def test_only_the_rate_limit_family_is_retried(error: WebsimError) -> None:
    policy = RetryPolicy()
    expected = isinstance(error, RateLimitError)
    assert policy.should_retry(error, 1) is expected
    assert policy.should_retry(error, 2) is expected
    assert policy.should_retry(error, 3) is False


@given(max_attempts=st.integers(1, 50))
def test_attempts_in_all_never_exceed_max_attempts(max_attempts: int) -> None:
    policy = RetryPolicy(max_attempts=max_attempts)
    error = RateLimitError(429, "x")
    attempts = 1
    while policy.should_retry(error, attempts):
        attempts += 1
    assert attempts == max_attempts


@given(
    base=st.floats(0, 100),
    multiplier=st.floats(1, 1e6),
    cap=st.floats(0, 1e6),
    attempt=st.integers(-5, 10**6),
)
def test_backoff_is_bounded_and_non_decreasing(
    base: float, multiplier: float, cap: float, attempt: int
) -> None:
    policy = RetryPolicy(base_delay=base, multiplier=multiplier, max_delay=cap)
    delay = policy.delay(attempt)
    assert 0 <= delay <= cap
    assert math.isfinite(delay)
    assert policy.delay(attempt + 1) >= delay


@given(retry_after=st.floats(allow_nan=False), cap=st.floats(0, 1e6))
def test_retry_after_wins_but_is_capped(retry_after: float, cap: float) -> None:
    policy = RetryPolicy(max_delay=cap)
    delay = policy.delay(1, retry_after)
    assert delay == min(cap, max(0.0, retry_after))


def test_policy_uses_its_injected_clock_for_dates() -> None:
    policy = RetryPolicy(clock=lambda: NOW)
    assert policy.retry_after(http_date(NOW + 9)) == 9.0
    assert policy.retry_after("12") == 12.0
    assert policy.retry_after(None) is None


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base_delay": -1.0}, {"max_delay": -1.0}, {"multiplier": 0.5}],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_a_value_compared_without_its_callables() -> None:
    async def other_sleep(delay: float) -> None:
        return None

    assert RetryPolicy() == RetryPolicy(sleep=other_sleep, clock=lambda: 0.0)
    assert RetryPolicy() != RetryPolicy(max_attempts=4)


def test_parse_depends_only_on_value_and_now() -> None:
    date = http_date(NOW + 100)
    assert parse_retry_after(date, now=NOW) == parse_retry_after(date, now=NOW) == 100.0
    assert parse_retry_after(date, now=NOW + 50) == 50.0

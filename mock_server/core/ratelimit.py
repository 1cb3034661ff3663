"""Rate limiting for the mock, with no I/O: token buckets per project ID or one for the server.

The clock is injected (``time.monotonic`` by default) so tests drive it by hand. A refused
request learns when to come back: ``Retry-After`` is the smallest whole number of seconds after
which a token is there, so a client that waits exactly that long gets through (unless another
request took the token first).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Literal

__all__ = [
    "RATE_SCOPES",
    "RateLimiter",
    "RateScope",
    "TokenBucket",
    "default_burst",
    "parse_rate",
    "retry_after_seconds",
]

RateScope = Literal["global", "project"]
RATE_SCOPES: tuple[RateScope, ...] = ("global", "project")

# A token due within this many seconds counts as there: float clocks are not exact.
_SLACK = 1e-6
_RATE_RE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*/\s*([a-z]+)\s*", re.IGNORECASE)
_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}
_MAX_RATE = 1e6  # per second
_MAX_BUCKETS = 10_000  # per-project buckets kept before full (idle) ones are dropped


def parse_rate(text: str) -> float:
    """Requests per second from ``"5/s"``, ``"300/min"`` or ``"100/h"``; ValueError otherwise."""
    match = _RATE_RE.fullmatch(text)
    unit = _UNITS.get(match[2].lower()) if match else None
    if match is None or unit is None:
        raise ValueError(f"rate limit must look like 5/s, 300/min or 100/h, not {text!r:.40}")
    rate = float(match[1]) / unit
    if not 0 < rate <= _MAX_RATE:
        raise ValueError(f"rate limit must be above 0 and at most {_MAX_RATE:g}/s, not {text!r}")
    return rate


def default_burst(rate: float) -> int:
    """The burst when none is given: one second's worth of requests, at least 1."""
    return max(1, math.ceil(rate - _SLACK))


def retry_after_seconds(wait: float) -> int:
    """The ``Retry-After`` for a token due in ``wait`` seconds: the smallest whole number >= 1
    of seconds after which the bucket grants one (the same slack as ``TokenBucket.take``)."""
    return max(1, math.ceil(wait - _SLACK))


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; each request takes one."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if not rate > 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last = now

    def _refill(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed > 0:  # a clock going backwards adds nothing
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._last = now

    def tokens(self, now: float) -> float:
        """Tokens in the bucket at ``now``."""
        self._refill(now)
        return self._tokens

    def take(self, now: float) -> float:
        """Take a token: 0.0 if granted, else the seconds until one is there (> 0)."""
        self._refill(now)
        wait = (1.0 - self._tokens) / self.rate
        if wait <= _SLACK:
            self._tokens -= 1.0
            return 0.0
        return wait

    def full(self, now: float) -> bool:
        return self.tokens(now) >= self.burst


class RateLimiter:
    """Token buckets for the whole server (``scope="global"``) or one per project ID."""

    __slots__ = ("_buckets", "burst", "clock", "rate", "scope")

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        scope: RateScope = "global",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if scope not in RATE_SCOPES:
            raise ValueError(f"rate limit scope must be 'global' or 'project', not {scope!r}")
        self.rate = rate
        self.burst = default_burst(rate) if burst is None else burst
        if self.burst < 1:
            raise ValueError(f"rate burst must be >= 1, not {burst!r}")
        self.scope = scope
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, project_id: str) -> int | None:
        """None if the request may go on, else the ``Retry-After`` seconds for its 429."""
        key = project_id if self.scope == "project" else ""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._prune(now)
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        wait = bucket.take(now)
        return None if wait == 0.0 else retry_after_seconds(wait)

    def _prune(self, now: float) -> None:
        # A full bucket is the same as no bucket: forgetting it changes nothing. If too many
        # are still in use, the oldest go too (memory stays bounded; they restart full).
        for key in [k for k, b in self._buckets.items() if b.full(now)]:
            del self._buckets[key]
        excess = len(self._buckets) - _MAX_BUCKETS // 2
        for key in list(self._buckets)[: max(0, excess)]:
            del self._buckets[key]

    def reset(self) -> None:
        """Every bucket full again."""
        self._buckets.clear()

    def __len__(self) -> int:
        return len(self._buckets)

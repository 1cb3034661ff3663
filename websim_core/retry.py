"""When to retry and how long to wait: a pure policy, with the sleep and the clock injectable.

Only the rate-limit family (429, 402, 504) is retried, and only for chat; 3 attempts in all
by default, waiting ``Retry-After`` when the server sends one (capped), else 2 s, 4 s, ...
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .errors import RateLimitError, WebsimError

__all__ = ["RetryPolicy", "parse_retry_after"]

_MAX_RETRY_AFTER = 10**11


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP date), or None.

    Total: any string gives a finite number of seconds >= 0, or None when it is not one of
    the two forms. ``now`` is the Unix time used for dates.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # Leading zeros do not count towards the cap; more than 11 digits is over it anyway.
        digits = value.lstrip("0") or "0"
        return float(_MAX_RETRY_AFTER if len(digits) > 11 else min(int(digits), _MAX_RETRY_AFTER))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        # "-0000" (RFC 5322: UTC, local zone unknown) parses naive; never use the local zone.
        when = when.replace(tzinfo=datetime.timezone.utc)
    try:
        seconds = when.timestamp() - now
    except (OverflowError, OSError, ValueError):
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts, which delays, and the sleep and clock to use (inject them in tests)."""

    max_attempts: int = 3
    base_delay: float = 2.0
    multiplier: float = 2.0
    max_delay: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and the multiplier >= 1")

    def should_retry(self, error: WebsimError, attempt: int) -> bool:
        """After failed attempt number ``attempt`` (from 1), is another one due?"""
        return isinstance(error, RateLimitError) and attempt < self.max_attempts

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt``: Retry-After if given, else backoff."""
        if retry_after is not None:
            return min(self.max_delay, max(0.0, retry_after))
        if self.base_delay == 0:
            return 0.0
        try:
            backoff = self.base_delay * self.multiplier ** min(64, max(0, attempt - 1))
        except OverflowError:  # a large multiplier to a large power: past any cap
            return self.max_delay
        return min(self.max_delay, backoff)

    def retry_after(self, value: str | None) -> float | None:
        """Parse a ``Retry-After`` header against this policy's clock."""
        return parse_retry_after(value, now=self.clock())

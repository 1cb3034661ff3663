"""Latency models for the mock, with no I/O: how long to wait before each inference answer.

``fixed:MS``, ``uniform:LOW,HIGH`` (milliseconds) and ``lognormal:MEDIAN,SIGMA`` (median in
milliseconds; sigma of the underlying normal). Samples come from a ``random.Random`` the caller
seeds, so the same seed gives the same delays in the same order; each is capped at 60 s.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

__all__ = [
    "MAX_LATENCY_MS",
    "FixedLatency",
    "LatencyModel",
    "LogNormalLatency",
    "UniformLatency",
    "parse_latency",
]

MAX_LATENCY_MS = 60_000.0
_NUMBER = r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*"
_FIXED_RE = re.compile(rf"(?:fixed:)?{_NUMBER}", re.IGNORECASE)
_PAIR_RE = re.compile(rf"(uniform|lognormal):{_NUMBER},{_NUMBER}", re.IGNORECASE)


def _ms(value: float, what: str) -> float:
    if not 0 <= value <= MAX_LATENCY_MS:  # also refuses NaN
        raise ValueError(f"{what} must be 0..{MAX_LATENCY_MS:.0f} ms, not {value!r}")
    return value


@dataclass(frozen=True)
class FixedLatency:
    """The same delay every time."""

    ms: float

    def __post_init__(self) -> None:
        _ms(self.ms, "fixed latency")

    def sample(self, rng: random.Random) -> float:
        """Seconds to wait (``rng`` is not used)."""
        return self.ms / 1000


@dataclass(frozen=True)
class UniformLatency:
    """A delay drawn uniformly between ``low_ms`` and ``high_ms``."""

    low_ms: float
    high_ms: float

    def __post_init__(self) -> None:
        _ms(self.low_ms, "uniform latency low")
        _ms(self.high_ms, "uniform latency high")
        if self.low_ms > self.high_ms:
            raise ValueError(
                f"uniform latency must be low <= high, not {self.low_ms} > {self.high_ms}"
            )

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low_ms, self.high_ms) / 1000


@dataclass(frozen=True)
class LogNormalLatency:
    """A long-tailed delay: half the samples under ``median_ms``; ``sigma`` sets the tail."""

    median_ms: float
    sigma: float

    def __post_init__(self) -> None:
        _ms(self.median_ms, "lognormal latency median")
        if not 0 <= self.sigma <= 10:
            raise ValueError(f"lognormal latency sigma must be 0..10, not {self.sigma!r}")

    def sample(self, rng: random.Random) -> float:
        if self.median_ms == 0:
            return 0.0
        ms = rng.lognormvariate(math.log(self.median_ms), self.sigma)
        return min(ms, MAX_LATENCY_MS) / 1000


LatencyModel = FixedLatency | UniformLatency | LogNormalLatency


def parse_latency(text: str) -> LatencyModel:
    """``"100"``/``"fixed:100"``, ``"uniform:50,150"`` or ``"lognormal:100,0.5"``."""
    fixed = _FIXED_RE.fullmatch(text)
    if fixed:
        return FixedLatency(float(fixed[1]))
    pair = _PAIR_RE.fullmatch(text)
    if pair is None:
        raise ValueError(
            "latency must be fixed:MS, uniform:LOW_MS,HIGH_MS or lognormal:MEDIAN_MS,SIGMA,"
            f" not {text!r:.60}"
        )
    first, second = float(pair[2]), float(pair[3])
    if pair[1].lower() == "uniform":
        return UniformLatency(first, second)
    return LogNormalLatency(first, second)

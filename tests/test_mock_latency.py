"""Latency models (mock_server.core.latency): parsing, seeded samples and their bounds."""

from __future__ import annotations

import random
import statistics

import pytest

from mock_server.core.config import MockConfig
from mock_server.core.latency import (
    FixedLatency,
    LogNormalLatency,
    UniformLatency,
    parse_latency,
)

# --- latency models -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "model"),
    [
        ("100", FixedLatency(100)),
        ("fixed:2.5", FixedLatency(2.5)),
        ("uniform:50,150", UniformLatency(50, 150)),
        ("UNIFORM: 5 , 5", UniformLatency(5, 5)),
        ("lognormal:100,0.5", LogNormalLatency(100, 0.5)),
    ],
)
def test_parse_latency(text: str, model: object) -> None:
    assert parse_latency(text) == model


@pytest.mark.parametrize(
    "text", ["", "fast", "uniform:150,50", "uniform:1", "fixed:70000", "lognormal:100,11", "-5"]
)
def test_parse_latency_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="latency"):
        parse_latency(text)


def test_latency_samples() -> None:
    rng = random.Random(1)
    assert FixedLatency(250).sample(rng) == 0.25
    uniform = [UniformLatency(50, 150).sample(rng) for _ in range(2000)]
    assert min(uniform) >= 0.05
    assert max(uniform) <= 0.15
    lognormal = [LogNormalLatency(100, 0.5).sample(rng) for _ in range(4000)]
    assert statistics.median(lognormal) == pytest.approx(0.1, rel=0.08)
    assert max(lognormal) > 0.2  # a tail
    capped = [LogNormalLatency(50_000, 3).sample(rng) for _ in range(200)]
    assert max(capped) == 60.0
    again = random.Random(1)
    assert FixedLatency(250).sample(again) == 0.25
    assert [UniformLatency(50, 150).sample(again) for _ in range(2000)] == uniform


def test_latency_options() -> None:
    with pytest.raises(ValueError, match="not both"):
        MockConfig(latency="fixed:5", latency_ms=5)
    with pytest.raises(ValueError, match="invalid latency_ms: must be <="):
        MockConfig(latency_ms=1e9)

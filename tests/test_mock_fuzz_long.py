"""The seeded request fuzz of ``bench/fuzz.py``, short: 1,000 requests to an in-process mock.

The long run (10,000 requests or more) is ``python bench/fuzz.py --requests 10000 --seed 1``.
"""

from __future__ import annotations

import time

import pytest
from helpers import load_bench_script

import mock_server.core.decision

fuzz = load_bench_script("fuzz")


async def test_a_thousand_fuzzed_requests_get_no_5xx_and_break_nothing() -> None:
    report = await fuzz.run_fuzz(1000, seed=4, concurrency=8)
    assert report.ok, report.summary()
    assert report.server_5xx == 0
    assert report.healthz == 200
    # Every family of requests was sent, and the server answered most of them.
    assert set(report.families) == {
        "admin",
        "bytes",
        "deep",
        "directive",
        "encoded",
        "headers",
        "huge",
        "json",
        "paths",
        "raw",
        "shaped",
    }
    answered = sum(v for k, v in report.statuses.items() if k.isdigit())
    assert answered >= 950, report.statuses
    assert report.statuses["200"] > 100  # valid requests are in the mix, not only refusals
    assert report.statuses["413"] > 0  # bodies past the limit were sent


async def test_fuzzing_with_directives_rate_limit_and_chaos_on() -> None:
    report = await fuzz.run_fuzz(600, seed=5, concurrency=8, misbehaviour=True)
    assert report.ok, report.summary()
    assert report.journal_sources["directive"] > 0
    assert report.journal_sources["chaos"] > 0


def test_the_generator_is_seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    first = [fuzz.Generator(9).next() for _ in range(200)]
    later = time.time() + 5  # gzip stamps the clock into its header: not into ours
    monkeypatch.setattr(time, "time", lambda: later)
    again = [fuzz.Generator(9).next() for _ in range(200)]
    assert first == again
    assert first != [fuzz.Generator(10).next() for _ in range(200)]


async def test_the_fuzz_reports_a_broken_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks can fail: a handler that raises is reported, with its 500s."""

    def broken(*args: object) -> bytes:
        raise RuntimeError("planted bug")

    monkeypatch.setattr(mock_server.core.decision, "chat_answer", broken)
    report = await fuzz.run_fuzz(150, seed=4, concurrency=4)
    assert not report.ok
    assert report.server_5xx > 0
    assert any("planted bug" in e for e in report.handler_errors)
    assert report.error_logs  # the mock logs each one

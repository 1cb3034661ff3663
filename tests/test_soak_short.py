"""A short soak (``bench/soak.py``): 2,000 mixed calls at concurrency 64, faults mixed in.

The server runs as a child process (its descriptors and memory are read from /proc, Linux only).
The full run is ``python bench/soak.py --requests 50000 --concurrency 256``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import load_bench_script

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="reads descriptors and memory from /proc"
)


soak = load_bench_script("soak")


async def test_a_short_soak_has_no_unexpected_error_and_leaks_nothing() -> None:
    report = await soak.run_soak(2000, concurrency=64, fault_every=20, warmup=400, seed=3)
    assert report.ok, report.table()
    assert report.unexpected == []
    assert report.faults_scripted >= 70  # one call in 20 (but PNG downloads) scripts a step
    # Each kind of call was made, and some of each failed as scripted.
    assert set(report.calls) == {"chat", "stream", "image", "png"}
    failed = {
        key.split(":")[1] for key in report.outcomes if ":" in key and not key.endswith(":ok")
    }
    assert {"WebsimConnectionError", "ResponseFormatError", "ResponseStatusError"} <= failed
    assert report.outcomes["retried"] > 0  # rate-limited calls were retried (to success or not)


@pytest.mark.parametrize(
    ("kind", "steps", "expected"),
    [
        ("chat", [None], (None, 1)),
        ("image", [{"fault": "stream_cut"}], ("WebsimConnectionError", 1)),
        ("stream", [{"fault": "truncated_body"}], ("ResponseFormatError", 1)),
        ("chat", [{"status": 429}, None], (None, 2)),
        ("chat", [{"status": 429}, {"fault": "garbage"}], ("WebsimConnectionError", 2)),
        ("stream", [{"status": 504}] * 3, ("RateLimitError", 3)),
        ("image", [{"status": 429}], ("RateLimitError", 1)),
        ("chat", [{"status": 403}], ("CloudflareError", 1)),
        ("chat", [{"status": 403, "body": "no"}], ("ResponseStatusError", 1)),
        ("chat", [{"status": 429}], ("a retry that was never sent", 2)),
    ],
)
def test_the_expected_outcome_models_the_retry_policy(
    kind: str, steps: list[dict[str, object] | None], expected: tuple[str | None, int]
) -> None:
    assert soak.expected_outcome(kind, steps) == expected


def test_the_verdicts_flag_every_kind_of_unexpected_outcome() -> None:
    run = soak.Soak("http://127.0.0.1:1", concurrency=1, fault_every=0, seed=0)
    entry = 0

    def seen(project_id: str, *steps: dict[str, object] | None) -> None:
        nonlocal entry
        for step in steps:
            entry += 1
            run.journal.by_project.setdefault(project_id, []).append((entry, step))

    calls = [
        soak.Call(1, "chat", "a1"),  # fine
        soak.Call(2, "chat", "a2", outcome="ResponseFormatError"),  # wrong class
        soak.Call(3, "chat", "a3", outcome="WebsimConnectionError"),  # retried a fault
        soak.Call(4, "image", "a4"),  # never journaled
        soak.Call(5, "stream", "a5", detail="empty stream"),  # a bad answer
        soak.Call(6, "png", "", outcome="ClientOSError"),  # a PNG download failed
        soak.Call(7, "chat", "a7", outcome="RateLimitError"),  # 429 x3: as promised
    ]
    seen("a1", None)
    seen("a2", {"fault": "garbage"})
    seen("a3", {"fault": "connection_reset"}, {"fault": "connection_reset"})
    seen("a5", None)
    rate_limited: dict[str, object] = {"status": 429}
    seen("a7", rate_limited, rate_limited, rate_limited)
    outcomes, unexpected = run.verdicts(calls)
    assert [line.split(" ", 1)[0] for line in unexpected] == ["#2", "#3", "#4", "#5", "#6"]
    assert outcomes["chat:ok"] == 1
    assert outcomes["chat:RateLimitError"] == 1
    assert outcomes["retried"] == 2  # calls 3 and 7

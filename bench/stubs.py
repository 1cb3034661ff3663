"""What stubs cost: chat at 64 connections, a new conversation in every request, with 0, 100 and
1,000 stubs loaded (90% ``contains``, 10% ``regex``; the one that matches lowest in priority),
side by side in one run; and WireMock loaded with the equivalent 1,000 mappings when its jar is
installed (``npm install --prefix bench/.wiremock wiremock``).

    python bench/stubs.py [--duration 5] [--rounds 3] [--json]

Rounds alternate the servers so that a noisy neighbour slows them alike; the best round of each
counts (noise only ever slows down). Targets: 1,000 stubs at least 0.9x the 0-stub rps, and at
least 2x WireMock with 1,000 mappings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import CHAT_PATH, ServerProcess, best_of, mock_server_argv, run_load, scenario
from wiremock import WireMockServer, availability

CONCURRENCY = 64
MATCHING_TEXT = "Hello, how are you?"  # in bench's chat body (with a fresh ID after it)
ANSWER = "Stubbed answer."


def our_stubs(count: int) -> list[dict[str, Any]]:
    """``count`` stubs: 90% contains, 10% regex, none matching; then the one that matches, with
    the highest priority number (it loses to every other, so all are considered first)."""
    stubs: list[dict[str, Any]] = []
    for i in range(count - 1 if count else 0):
        if i % 10 == 9:
            test = {"regex": f"topic-{i:04d} about (\\w+)"}
        else:
            test = {"contains": f"keyword-{i:04d}"}
        stubs.append({"match": {"last_user_message": test}, "respond": {"reply": f"no {i}"}})
    if count:
        stubs.append(
            {
                "priority": 1_000_000,
                "match": {"last_user_message": {"contains": MATCHING_TEXT}},
                "respond": {"reply": ANSWER},
            }
        )
    return stubs


def wiremock_mappings(count: int) -> list[dict[str, Any]]:
    """The same stubs as WireMock mappings: bodyPatterns ``contains`` / ``matches``."""
    mappings = []
    for i in range(count - 1):
        if i % 10 == 9:
            pattern = {"matches": f".*topic-{i:04d} about (\\w+).*"}
        else:
            pattern = {"contains": f"keyword-{i:04d}"}
        mappings.append(
            {
                "priority": 1,
                "request": {"method": "POST", "urlPath": CHAT_PATH, "bodyPatterns": [pattern]},
                "response": {"status": 200, "jsonBody": {"content": f"no {i}"}},
            }
        )
    mappings.append(
        {
            "priority": 10,
            "request": {
                "method": "POST",
                "urlPath": CHAT_PATH,
                "bodyPatterns": [{"contains": MATCHING_TEXT}],
            },
            "response": {
                "status": 200,
                "headers": {"Content-Type": "application/json"},
                "jsonBody": {"content": ANSWER},
            },
        }
    )
    return mappings


def start_mock(tmp: Path, count: int) -> ServerProcess:
    extra: list[str] = ["--journal-size", "0"]
    if count:
        path = tmp / f"stubs-{count}.json"
        path.write_text(json.dumps(our_stubs(count)))
        extra += ["--stubs", str(path)]
    return ServerProcess(mock_server_argv(*extra)).start()


def start_wiremock(jar: Path, count: int) -> ServerProcess:
    server = WireMockServer(
        jar, content="", frames=b"", journal_entries=0, stubs=wiremock_mappings(count)
    )
    return server.start()


def check_answer(url: str, body: bytes) -> None:
    """The matching stub answers (so every run measures the stubbed path)."""
    request = subprocess.run(
        ["curl", "-s", "-X", "POST", "--data-binary", "@-", url + CHAT_PATH],
        input=body,
        capture_output=True,
        timeout=30,
    )
    answer = json.loads(request.stdout)
    assert answer["content"] in (ANSWER,) or "You wrote" in answer["content"], answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    _, body = scenario("chat", "varied")  # the fresh ID is in the message: a new conversation
    counts = (0, 100, 1000)
    jar, why = availability()
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="websim-bench-stubs-") as name:
        tmp = Path(name)
        servers: dict[str, ServerProcess] = {
            f"mock, {count} stubs": start_mock(tmp, count) for count in counts
        }
        if jar is not None:
            servers["WireMock, 1000 mappings"] = start_wiremock(jar, 1000)
        try:
            for server in servers.values():
                assert server.url is not None
                check_answer(server.url, body)
            for _ in range(args.rounds):
                for label, server in servers.items():
                    url = (server.url or "") + CHAT_PATH
                    result = run_load(url, body, concurrency=CONCURRENCY, duration=args.duration)
                    runs.setdefault(label, []).append(result)
        finally:
            for server in servers.values():
                server.stop()
    best = {label: best_of(results) for label, results in runs.items()}
    base = best["mock, 0 stubs"]["rps"]
    report = {
        label: {
            "rps": round(result["rps"], 1),
            "rps_runs": result["rps_runs"],
            "p99_ms": result.get("p99_ms"),
            "errors": result.get("errors"),
            "vs_0_stubs": round(result["rps"] / base, 3) if base else None,
        }
        for label, result in best.items()
    }
    if "WireMock, 1000 mappings" in best:
        ours = best["mock, 1000 stubs"]["rps"]
        report["mock 1000 / WireMock 1000"] = {
            "ratio": round(ours / best["WireMock, 1000 mappings"]["rps"], 2)
        }
    else:
        report["WireMock"] = {"skipped": why}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for label, row in report.items():
            print(f"{label:<28} {row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

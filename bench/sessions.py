"""Chat throughput with every request in one of 1,000 live sessions, beside the same run without.

``python bench/sessions.py [--sessions 1000] [--connections 64] [--duration 5] [--rounds 3]``

One ``websim-mock`` process; 1,000 sessions are begun first (one chat each), then wrk drives
chat at 64 connections, round-robin over ``/sessions/s{i}/...`` paths ("sessions"), and the
same Lua script over the plain path ("plain"), the two runs alternating so the machine's noise
hits both; each run's best is kept (noise only ever slows a run down), and the server's CPU time
per request is measured too (steadier when others load the machine). Target: sessions >= 0.95
times plain. Prints one JSON line with every run and the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import (
    CHAT_PATH,
    CONTENT_TYPE,
    SCENARIOS,
    ServerProcess,
    cpu_seconds,
    http_post,
    mock_server_argv,
    wrk_path,
)

# The same Lua for both runs: only the list of paths differs (one path, or one per session).
_LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
local f = io.open("{body_file}", "rb")
wrk.body = f:read("*a")
f:close()
local paths = {{}}
for i = 1, {count} do paths[i] = {prefix} .. "{chat}" end
local n = 0
request = function()
  n = n % {count} + 1
  return wrk.format(nil, paths[n])
end
function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format('WRKJSON {{"requests": %d, "errors": %d, "duration_s": %.6f}}\\n',
    summary.requests, errors, summary.duration / 1e6))
end
"""


def run_wrk(
    url: str, body: bytes, sessions: int, connections: int, duration: int
) -> tuple[float, int]:
    """Requests per second and requests of one wrk run (``sessions`` 0: the plain path)."""
    wrk = wrk_path()
    if wrk is None:
        raise SystemExit("wrk is not installed")
    with tempfile.TemporaryDirectory(prefix="websim-bench-") as tmp:
        body_file = Path(tmp, "body")
        body_file.write_bytes(body)
        prefix = '"/sessions/s" .. i' if sessions else '""'
        script = Path(tmp, "run.lua")
        script.write_text(
            _LUA.format(
                content_type=CONTENT_TYPE,
                body_file=body_file,
                count=max(1, sessions),
                prefix=prefix,
                chat=CHAT_PATH,
            )
        )
        argv = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(script), url]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    for line in result.stdout.splitlines():
        if line.startswith("WRKJSON "):
            data: dict[str, Any] = json.loads(line[len("WRKJSON ") :])
            if data["errors"] > data["requests"] / 100:  # (a few at the end of a run happen)
                raise RuntimeError(f"wrk saw {data['errors']} errors in {data['requests']}")
            return float(data["requests"] / data["duration_s"]), int(data["requests"])
    raise RuntimeError(f"wrk gave no result: {result.stderr[-500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    body = SCENARIOS["chat"][1]
    extra = ("--max-sessions", str(args.sessions))
    runs: dict[str, list[float]] = {"plain": [], "sessions": []}
    # The server's CPU time per request: steadier than throughput on a machine others load.
    cpu: dict[str, list[float]] = {"plain": [], "sessions": []}
    with ServerProcess(mock_server_argv(*extra, "--journal-size", "10000")) as server:
        assert server.url is not None
        for i in range(1, args.sessions + 1):  # begin them all: 1,000 live sessions
            status, _, answer = http_post(f"{server.url}/sessions/s{i}{CHAT_PATH}", body)
            if status != 200:
                raise RuntimeError(f"session s{i}: {status} {answer[:200]!r}")
        for round_ in range(args.rounds):
            order = ("plain", "sessions") if round_ % 2 == 0 else ("sessions", "plain")
            for name in order:
                count = args.sessions if name == "sessions" else 0
                before = cpu_seconds(server.pid)
                rps, done = run_wrk(server.url, body, count, args.connections, args.duration)
                cpu[name].append(round((cpu_seconds(server.pid) - before) / done * 1e6, 1))
                runs[name].append(round(rps, 1))
    best = {name: max(values) for name, values in runs.items()}
    result = {
        "connections": args.connections,
        "sessions": args.sessions,
        "rps_runs": runs,
        "best_rps": best,
        "ratio_best": round(best["sessions"] / best["plain"], 3),
        "ratio_per_round": [
            round(s / p, 3) for s, p in zip(runs["sessions"], runs["plain"], strict=True)
        ],
        "cpu_us_per_request": cpu,
        "cpu_ratio_best": round(min(cpu["plain"]) / min(cpu["sessions"]), 3),
        "cpu_ratio_median": round(
            statistics.median(cpu["plain"]) / statistics.median(cpu["sessions"]), 3
        ),
        "target": ">= 0.95 (throughput ratio; cpu ratio = plain cpu / sessions cpu)",
    }
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()

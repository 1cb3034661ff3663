"""Start-up time until ``/healthz`` answers, and resident memory at rest and under load.

Start-up: from spawning ``websim-mock --port P`` (the installed console script; P a free port)
to the first 200 from ``GET /healthz``, polled every 5 ms; the median and best of several
starts. For context the same is measured for the bare aiohttp server and for a bare
``python -c pass`` (the interpreter's own floor). Memory: VmRSS from ``/proc/PID/status``
(the process and its children) half a second after start-up, and the peak while a load
generator keeps 256 connections busy on the chat endpoint.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from _common import (
    PYTHON,
    SCENARIOS,
    RssSampler,
    ServerProcess,
    bare_server_argv,
    free_port,
    rss_kib,
    run_load,
    wait_http_ok,
    websim_mock_command,
)


def time_to_healthz(argv: Sequence[str], port: int, timeout: float = 30.0) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", timeout=timeout, interval=0.005)
        return time.perf_counter() - start
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def interpreter_floor() -> float:
    start = time.perf_counter()
    subprocess.run([PYTHON, "-c", "pass"], check=True, timeout=30)
    return time.perf_counter() - start


def startup_times(argv_for_port: Any, starts: int) -> dict[str, float]:
    times = []
    for _ in range(starts):
        port = free_port()
        times.append(time_to_healthz(argv_for_port(port), port))
    return {"median_s": statistics.median(times), "best_s": min(times)}


def memory(argv: Sequence[str], *, duration: float, tool: str) -> dict[str, Any]:
    with ServerProcess(argv) as server:
        assert server.url is not None
        wait_http_ok(server.url + "/healthz")
        time.sleep(0.5)
        at_rest = rss_kib(server.pid)
        path, body = SCENARIOS["chat"]
        with RssSampler(server.pid) as sampler:
            load = run_load(server.url + path, body, concurrency=256, duration=duration, tool=tool)
        return {
            "rss_rest_mib": at_rest / 1024,
            "rss_c256_mib": sampler.peak / 1024,
            "c256_rps": load["rps"],
            "c256_errors": load["errors"],
        }


def bench(
    *, starts: int = 5, load_duration: float = 3.0, tool: str = "auto", mock: bool = True
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "python_floor_s": statistics.median(interpreter_floor() for _ in range(starts)),
        "bare": startup_times(lambda port: [*bare_server_argv()[:-2], "--port", str(port)], starts),
    }
    result["bare"].update(memory(bare_server_argv(), duration=load_duration, tool=tool))
    if mock:
        command = websim_mock_command()
        result["mock_command"] = " ".join(command)
        result["mock"] = startup_times(lambda port: [*command, "--port", str(port)], starts)
        result["mock"].update(memory([*command, "--port", "0"], duration=load_duration, tool=tool))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--load-duration", type=float, default=3.0)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-mock", action="store_true", help="only the bare server")
    args = parser.parse_args(argv)
    result = bench(
        starts=args.starts,
        load_duration=args.load_duration,
        tool=args.loadgen,
        mock=not args.no_mock,
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

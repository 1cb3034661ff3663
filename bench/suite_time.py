"""Wall time of the offline test suite: ``python -m pytest -q -p no:cacheprovider``, once.

Run from the repository root with this interpreter; extra arguments go to pytest. Reports the
wall time, the exit code and pytest's summary line (and the output's tail when it fails).
Bounded by a timeout (default 300 s, the target is 120 s) that also stops what the tests started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from _common import PYTHON, ROOT

TARGET_S = 120.0


def bench(extra: list[str] | None = None, timeout: float = 300.0) -> dict[str, Any]:
    if not (ROOT / "tests").is_dir() or not any((ROOT / "tests").glob("test_*.py")):
        return {"skipped": "no tests/test_*.py yet"}
    argv = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(extra or [])]
    start = time.perf_counter()
    # A session of its own, so a timeout also stops the servers the tests started.
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    timed_out = False
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate(timeout=30)
    wall = time.perf_counter() - start
    lines = [line for line in (output or "").splitlines() if line.strip()]
    result: dict[str, Any] = {
        "command": " ".join(["python", *argv[1:]]),
        "wall_s": wall,
        "returncode": None if timed_out else proc.returncode,
        "summary": f"timed out after {timeout:.0f} s"
        if timed_out
        else (lines[-1] if lines else ""),
        "target_s": TARGET_S,
    }
    if timed_out or proc.returncode != 0:
        result["output_tail"] = lines[-30:]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=300.0)
    args, extra = parser.parse_known_args(argv)
    print(json.dumps(bench(extra, args.timeout), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

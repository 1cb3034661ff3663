"""Wall time of the offline test suite: ``python -m pytest -q -p no:cacheprovider``, once.

Run from the repository root with this interpreter; extra arguments go to pytest. Reports the
wall time, the exit code and pytest's summary line. Bounded by a timeout (default 600 s).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from _common import PYTHON, ROOT

TARGET_S = 120.0


def bench(extra: list[str] | None = None, timeout: float = 600.0) -> dict[str, Any]:
    if not (ROOT / "tests").is_dir() or not any((ROOT / "tests").glob("test_*.py")):
        return {"skipped": "no tests/test_*.py yet"}
    argv = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(extra or [])]
    start = time.perf_counter()
    try:
        result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"wall_s": time.perf_counter() - start, "returncode": None, "timed_out": True}
    wall = time.perf_counter() - start
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return {
        "command": " ".join(["python", *argv[1:]]),
        "wall_s": wall,
        "returncode": result.returncode,
        "summary": lines[-1] if lines else result.stderr.strip()[-200:],
        "target_s": TARGET_S,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=600.0)
    args, extra = parser.parse_known_args(argv)
    print(json.dumps(bench(extra, args.timeout), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

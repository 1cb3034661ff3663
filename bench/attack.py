"""Hostile input, on loopback: every attack of issue 15, each one row: figure, limit, verdict.

    python bench/attack.py                       # every section, full size (a few minutes)
    python bench/attack.py --short               # small numbers (what the test suite runs)
    python bench/attack.py --only proxy,slowloris   # sections and/or single attacks
    python bench/attack.py --checkout DIR        # another checkout's mock (see --help)

Sections: ``mock`` (memory, connections and protocol; bench/attack_mock.py), ``proxy`` (the
recording proxy; bench/attack_proxy.py), ``replay`` (the replay server and cassette loading;
bench/attack_replay.py), ``client`` (hostile servers against WebsimClient;
bench/attack_client.py). Everything binds 127.0.0.1, is bounded in count, bytes and seconds,
and stops by itself. Each row is ``held`` or ``FAILED``; the exit code is 1 when any row FAILED.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))
import attack_client
import attack_mock
import attack_proxy
import attack_replay
from _attack import Row
from _common import ROOT

SECTIONS: dict[str, ModuleType] = {
    "mock": attack_mock,
    "proxy": attack_proxy,
    "replay": attack_replay,
    "client": attack_client,
}


def select(only: str) -> dict[str, list[str]]:
    """Section -> the attacks to run, from ``--only`` (section or attack names, or nothing);
    raises ValueError naming what is unknown."""
    wanted = [w for w in only.split(",") if w]
    chosen: dict[str, list[str]] = {}
    for section, module in SECTIONS.items():
        names = list(module.NAMES)
        picked = names if not wanted or section in wanted else [n for n in names if n in wanted]
        if picked:
            chosen[section] = picked
    known = set(SECTIONS) | {n for m in SECTIONS.values() for n in m.NAMES}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise ValueError(f"unknown sections or attacks: {', '.join(unknown)}")
    return chosen


def run(only: str = "", *, short: bool = False, checkout: Path = ROOT) -> list[tuple[str, Row]]:
    """(section, row) for every attack chosen, in order."""
    rows = []
    for section, names in select(only).items():
        for row in SECTIONS[section].run(names, short, checkout):
            rows.append((section, row))
    return rows


def table(rows: list[tuple[str, Row]]) -> str:
    width = max(len(row.attack) for _, row in rows)
    lines = []
    for section, row in rows:
        lines.append(
            f"{section:<7}{row.attack:<{width + 2}}{row.verdict:<8}{row.figure}   [limit: {row.limit}]"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="small numbers (seconds)")
    parser.add_argument("--only", default="", help="comma-separated sections or attacks")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="the checkout whose websim-mock the attacks start as a process (the mock section,"
        " proxy-sigkill-temps, proxy-upstream-gzip-bomb); the rest run this checkout's code",
    )
    args = parser.parse_args(argv)
    try:
        select(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    started = time.monotonic()
    rows = run(args.only, short=args.short, checkout=args.checkout.resolve())
    print(table(rows))
    bad = [row.attack for _, row in rows if row.verdict == "FAILED"]
    print(f"{len(rows)} attacks in {time.monotonic() - started:.0f} s; FAILED: {bad or 'none'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

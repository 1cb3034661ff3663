"""bench/attack.py's replay section: the replay server (``--cassettes``) and cassette loading.

Misses against a large cassette (``bench/replay.py``'s cassette and timings), recorded answers
HTTP cannot carry, and a YAML alias bomb; all in this process, on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replay
from _attack import Row, failed

from websim_cassettes import (
    CassetteLoadError,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    ReplayIndex,
    dump_cassette,
    provenance,
)
from websim_core.routing import CHAT_PATH


@dataclass(frozen=True)
class Sizes:
    interactions: int = 20_000  # in the cassette the misses are looked up in
    misses: int = 40
    rounds: int = 10  # of a hit sent together with four misses


SHORT = Sizes(interactions=500, misses=10, rounds=2)


def _cassette(directory: Path, size: int) -> Path:
    """``bench/replay.py``'s cassette of ``size`` interactions, alone in a folder (written once
    per run)."""
    folder = directory / f"only_{size}"
    if folder.is_dir():
        return next(folder.iterdir())
    folder.mkdir()
    return replay.write_cassette(folder, size)


def miss(sizes: Sizes, tmp: Path) -> Row:
    """A request that matches nothing, near-miss report built (the index alone)."""
    path = _cassette(tmp, sizes.interactions)
    seconds = replay.bench_miss(path, sizes.interactions, sizes.misses)
    figure = f"{seconds * 1000:.1f} ms a miss at {sizes.interactions:,} interactions (median)"
    return Row("replay-miss", figure, "< 50 ms", seconds < 0.050)


def hit_behind_misses(sizes: Sizes, tmp: Path) -> Row:
    """A hit sent to the replay server together with four misses, over HTTP."""
    path = _cassette(tmp, sizes.interactions)
    seconds = asyncio.run(replay.bench_hit_behind_misses(path, sizes.interactions, sizes.rounds))
    figure = f"{seconds * 1000:.1f} ms for the hit at {sizes.interactions:,} (median)"
    return Row("replay-hit-behind-misses", figure, "< 250 ms (5 x a miss's)", seconds < 0.250)


# Recorded answers HTTP cannot carry: (status, reason, headers).
UNSENDABLE = {
    "status-42": (42, "OK", {}),
    "status-1000": (1000, "OK", {}),
    "crlf-in-header": (200, "OK", {"X-Note": ["a\r\nSet-Cookie: planted=1"]}),
    "crlf-in-reason": (200, "OK\r\nX-Injected: 1", {}),
}


def _write_unsendable(folder: Path, name: str) -> Path:
    status, reason, headers = UNSENDABLE[name]
    request = RecordedRequest("POST", "http://127.0.0.1:9" + CHAT_PATH, b"{}", {})
    good = RecordedResponse(200, "OK", {}, b'{"content": "hi"}')
    bad = RecordedResponse(status, reason, headers, b'{"content": "hi"}')
    block = provenance(recorded_against="mock", base_url="http://127.0.0.1:9", tool="bench")
    path = folder / f"{name}.yaml"
    text = dump_cassette([Interaction(request, good), Interaction(request, bad)], block)
    path.write_text(text, encoding="utf-8")
    return path


def unsendable(sizes: Sizes, tmp: Path) -> Row:
    """Each cassette's second interaction cannot be sent: the load must refuse it, saying where."""
    refused = []
    for name in UNSENDABLE:
        folder = tmp / name
        folder.mkdir()
        path = _write_unsendable(folder, name)
        try:
            ReplayIndex.from_directory(folder)
        except CassetteLoadError as exc:
            message = str(exc)
            if str(path) in message and "interaction 1" in message and "\n" not in message:
                refused.append(name)
    figure = (
        f"{len(refused)}/{len(UNSENDABLE)} refused at load in one line naming file and interaction"
    )
    return Row("replay-unsendable", figure, "every one refused so", len(refused) == len(UNSENDABLE))


def alias_bomb_text(levels: int = 9) -> str:
    """A "billion laughs" cassette: 9 levels of 9 aliases each, about 600 bytes."""
    lines = ["l0: &l0 [" + ",".join(['"lol"'] * 9) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    lines += [
        f"top: &top [*l{levels - 1}]",
        "interactions:",
        "- request: {body: *top, headers: {}, method: POST, uri: 'http://x/'}",
        "  response: {status: {code: 200, message: OK}, headers: {}, body: {string: ''}}",
        "version: 1",
    ]
    return "\n".join(lines) + "\n"


def alias_bomb(sizes: Sizes, tmp: Path) -> Row:
    """Loading a directory holding a 600-byte alias bomb, as the replay server does."""
    folder = tmp / "bomb"
    folder.mkdir()
    text = alias_bomb_text()
    (folder / "bomb.yaml").write_text(text, encoding="utf-8")
    started = time.perf_counter()
    try:
        ReplayIndex.from_directory(folder)
        outcome = "loaded"
    except CassetteLoadError:
        outcome = "refused"
    seconds = time.perf_counter() - started
    figure = f"{len(text)} bytes {outcome} in {seconds:.3f} s"
    return Row(
        "replay-alias-bomb", figure, "refused within 1 s", outcome == "refused" and seconds < 1
    )


ATTACKS: dict[str, Callable[[Sizes, Path], Row]] = {
    "replay-miss": miss,
    "replay-hit-behind-misses": hit_behind_misses,
    "replay-unsendable": unsendable,
    "replay-alias-bomb": alias_bomb,
}
NAMES = tuple(ATTACKS)


def run(names: list[str], short: bool, checkout: Path) -> list[Row]:
    """The replay attacks ``names``, one after another, with this checkout's code."""
    sizes = SHORT if short else Sizes()
    rows = []
    with tempfile.TemporaryDirectory(prefix="websim-attack-replay-") as tmp:
        for name in names:
            try:
                rows.append(ATTACKS[name](sizes, Path(tmp)))
            except Exception as exc:  # reported as a FAILED row, whatever it is
                rows.append(failed(name, "(the attack's own)", exc))
    return rows

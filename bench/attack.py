"""Hostile input against the mock, on loopback: each attack prints held/failed with its figure.

    python bench/attack.py                  # every attack, full size (about two minutes)
    python bench/attack.py --short          # small numbers (what tests/test_bench_attack.py runs)
    python bench/attack.py --checkout DIR   # the mock of another checkout (a baseline worktree)
    python bench/attack.py --only slowloris,not-http

Every attack starts its own ``python -m mock_server`` (the connection attacks with short
``--idle-timeout``/``--read-timeout`` when that mock has them; the same waits either way), is
bounded in connections, bytes and seconds, and stops by itself. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PYTHON, ROOT, rss_kib

CHAT = "/api/v1/inference/run_chat_completion"


@dataclass(frozen=True)
class Sizes:
    """How hard each attack pushes; ``--short`` shrinks all of them."""

    header_requests: int = 200
    answers: int = 100
    admin_entries: int = 1000
    floods: int = 8
    slow: int = 200
    idle: int = 1000
    fd_limit: int = 1024
    fd_extra: int = 100
    timeout: float = 1.0  # --idle-timeout and --read-timeout for the connection attacks
    wait: float = 3.0  # how long the connection attacks hold on


SHORT = Sizes(
    header_requests=20,
    answers=10,
    admin_entries=60,
    floods=2,
    slow=20,
    idle=50,
    fd_limit=256,
    timeout=0.3,
    wait=1.2,
)


@dataclass
class Outcome:
    name: str
    held: bool
    figure: str


class Mock:
    """``python -m mock_server`` of a checkout, its output in a file (every line counted)."""

    def __init__(self, checkout: Path, *flags: str, nofile: int | None = None) -> None:
        self.checkout = checkout
        log_fd, self.log = tempfile.mkstemp(prefix="attack-", suffix=".log")
        has = _help(checkout)
        usable = [f for f in flags if not f.startswith("--") or f in has]
        argv = [PYTHON, "-m", "mock_server", "--port", "0", *_with_values(flags, usable)]

        env = {**os.environ, "PYTHONPATH": str(checkout)}
        self.proc = subprocess.Popen(
            argv, stdout=log_fd, stderr=subprocess.STDOUT, cwd=checkout, env=env,
            start_new_session=True,
        )  # fmt: skip
        os.close(log_fd)
        if nofile is not None:  # (long before it listens: starting takes a good 100 ms)
            resource.prlimit(self.proc.pid, resource.RLIMIT_NOFILE, (nofile, nofile))
        self.port = self._port()

    def _port(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = re.search(r"listening on http://[^:]+:(\d+)", self.output())
            if found:
                return int(found[1])
            time.sleep(0.05)
        raise RuntimeError(f"the mock did not start:\n{self.output()[-2000:]}")

    def output(self) -> str:
        return Path(self.log).read_text(errors="replace")

    def rss_mib(self) -> float:
        return rss_kib(self.proc.pid) / 1024

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        Path(self.log).unlink(missing_ok=True)


@functools.cache
def _help(checkout: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    argv = [PYTHON, "-m", "mock_server", "--help"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=checkout, timeout=60)
    return done.stdout


def _with_values(flags: tuple[str, ...], usable: list[str]) -> list[str]:
    """``flags`` (each ``--flag value``) without the flags this mock does not have."""
    out, skip = [], False
    for flag in flags:
        if flag.startswith("--"):
            skip = flag not in usable
        if not skip:
            out.append(flag)
    return out


@contextlib.asynccontextmanager
async def running(checkout: Path, *flags: str, nofile: int | None = None) -> AsyncIterator[Mock]:
    mock = await asyncio.to_thread(Mock, checkout, *flags, nofile=nofile)
    try:
        yield mock
    finally:
        await asyncio.to_thread(mock.stop)


# --- raw HTTP on loopback ----------------------------------------------------------------------


async def exchange(port: int, data: bytes, within: float = 10.0) -> tuple[int, bytes]:
    """One request on its own connection (``Connection: close`` expected in ``data``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        answer = await asyncio.wait_for(reader.read(), within)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    return status, body


def request(method: str, path: str, body: bytes = b"", headers: bytes = b"") -> bytes:
    return b"%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n%s\r\n%s" % (
        method.encode(),
        path.encode(),
        len(body),
        headers,
        body,
    )


async def healthz_seconds(port: int, within: float = 10.0) -> float:
    started = time.monotonic()
    try:
        status, _ = await exchange(port, request("GET", "/healthz"), within)
    except (OSError, TimeoutError):
        return float("inf")
    return time.monotonic() - started if status == 200 else float("inf")


async def open_count(conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> int:
    """Connections the server has not closed (a read at EOF or reset means closed)."""
    still = 0
    for reader, _ in conns:
        try:
            await asyncio.wait_for(reader.read(65536), 0.001)
            if not reader.at_eof():
                still += 1
        except TimeoutError:
            still += 1
        except OSError:
            pass
    return still


def chat_body(size: int = 0) -> bytes:
    pad = "x" * size
    return json.dumps(
        {"project_id": "p_1", "messages": [{"role": "user", "content": "hi" + pad}]}
    ).encode()


# --- memory ------------------------------------------------------------------------------------


async def journal_headers(mock: Mock, sizes: Sizes) -> Outcome:
    """126 headers of 8 KB per request: the journal kept all of them (1 MiB an entry)."""
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 8000) for i in range(120))
    before = mock.rss_mib()
    for _ in range(sizes.header_requests):
        await exchange(mock.port, request("POST", CHAT, chat_body(), headers))
    grown = mock.rss_mib() - before
    per = grown * 1024 / sizes.header_requests
    return Outcome("journal-headers", per < 512, f"+{grown:.0f} MiB ({per:.0f} KiB a request)")


async def journal_answers(mock: Mock, sizes: Sizes) -> Outcome:
    """Scripted answers of 900 KB each, all kept whole by the journal."""
    step = json.dumps({"endpoint": "chat", "responses": [{"status": 200, "body": "a" * 900_000}]})
    before = mock.rss_mib()
    for _ in range(sizes.answers):
        await exchange(mock.port, request("POST", "/__admin/scenarios", step.encode()))
        await exchange(mock.port, request("POST", CHAT, chat_body()))
    grown = mock.rss_mib() - before
    per = grown * 1024 / sizes.answers
    return Outcome("journal-answers", per < 512, f"+{grown:.0f} MiB ({per:.0f} KiB an answer)")


async def admin_read(mock: Mock, sizes: Sizes) -> Outcome:
    """A journal of 64 KiB bodies read through the admin API while /healthz is asked."""
    body = chat_body(64 * 1024)
    for _ in range(sizes.admin_entries):
        await exchange(mock.port, request("POST", CHAT, body))
    before = mock.rss_mib()
    read = asyncio.ensure_future(
        exchange(mock.port, request("GET", "/__admin/requests?limit=1000"), 120.0)
    )
    worst = 0.0
    peak = before
    while not read.done():
        worst = max(worst, await healthz_seconds(mock.port))
        peak = max(peak, mock.rss_mib())
    status, _ = await read
    after = mock.rss_mib()
    held = worst < 1.0 and peak - before < 100 and after - before < 50 and status == 200
    figure = (
        f"/healthz worst {worst:.2f} s; +{peak - before:.0f} MiB peak, +{after - before:.0f} kept"
    )
    return Outcome("admin-read", held, figure)


async def queue_flood(mock: Mock, sizes: Sizes) -> Outcome:
    """1 MiB POSTs of [200, 200, ...] to the script queue."""
    flood = ("[" + ",".join(["200"] * 262_000) + "]").encode()
    payload = b'{"endpoint": "chat", "responses": ' + flood + b"}"
    queued = 0
    statuses = set()
    for _ in range(sizes.floods):
        status, answer = await exchange(mock.port, request("POST", "/__admin/scenarios", payload))
        statuses.add(status)
        if status == 200:
            queued += json.loads(answer)["queued"]
    return Outcome("queue-flood", queued <= 10_000, f"{queued:,} steps queued, answers {statuses}")


# --- connections -------------------------------------------------------------------------------


async def _hold(
    mock: Mock, count: int, first: bytes, each: bytes | None, wait: float
) -> tuple[int, int]:
    """``count`` connections that send ``first``, then ``each`` every 0.1 s, for ``wait`` s;
    returns (opened, still open at the end)."""
    conns = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", mock.port)
        writer.write(first)
        conns.append((reader, writer))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if each is not None:
            for _, writer in conns:
                if not writer.is_closing():
                    with contextlib.suppress(OSError):
                        writer.write(each)
    still = await open_count(conns)
    for _, writer in conns:
        writer.close()
    return count, still


async def slowloris(mock: Mock, sizes: Sizes) -> Outcome:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    opened, still = await _hold(mock, sizes.slow, head, b"X-Slow: 1\r\n", sizes.wait)
    return Outcome("slowloris", still == 0, f"{still}/{opened} open after {sizes.wait:g} s")


async def slow_body(mock: Mock, sizes: Sizes) -> Outcome:
    head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{" % CHAT.encode()
    opened, still = await _hold(mock, sizes.slow, head, b" ", sizes.wait)
    return Outcome("slow-body", still == 0, f"{still}/{opened} open after {sizes.wait:g} s")


async def idle_keepalive(mock: Mock, sizes: Sizes) -> Outcome:
    first = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    opened, still = await _hold(mock, sizes.idle, first, None, sizes.wait)
    return Outcome("idle-keepalive", still == 0, f"{still}/{opened} open after {sizes.wait:g} s")


async def not_http(mock: Mock, sizes: Sizes) -> Outcome:
    """A TLS ClientHello, an SSH banner, SMTP and junk: each should get a 400 at once."""
    probes = {
        "tls": bytes.fromhex("16030100a5010000a10303") + bytes(32),
        "ssh": b"SSH-2.0-OpenSSH_9.6\r\n",
        "smtp": b"EHLO example.com\r\n",
        "junk": b"\x00\xff junk without a blank line",
    }
    answered = []
    for name, data in probes.items():
        with contextlib.suppress(TimeoutError, OSError):
            status, _ = await exchange(mock.port, data, within=2.0)
            if status == 400:
                answered.append(name)
    figure = f"{len(answered)}/{len(probes)} answered 400 within 2 s ({', '.join(answered)})"
    return Outcome("not-http", len(answered) == len(probes), figure)


async def fd_exhaustion(mock: Mock, sizes: Sizes) -> Outcome:
    """More connections than the server has descriptors; then /healthz, and the log's size."""
    conns = []
    for _ in range(sizes.fd_limit + sizes.fd_extra):
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", mock.port)
            conns.append((reader, writer))
    await asyncio.sleep(sizes.wait)
    healthz = await healthz_seconds(mock.port, within=5)
    for _, writer in conns:
        writer.close()
    await asyncio.sleep(0.5)
    after = await healthz_seconds(mock.port, within=5)
    lines = mock.output().count("\n")
    held = healthz < 1 and after < 1 and lines < 50
    figure = (
        f"{len(conns)} connections at a limit of {sizes.fd_limit}: /healthz {healthz:.2f} s"
        f" during, {after:.2f} s after; {lines} log lines"
    )
    return Outcome("fd-exhaustion", held, figure)


Attack = Callable[[Mock, Sizes], Awaitable[Outcome]]
# name -> (attack, whether its mock gets the short --idle-timeout and --read-timeout)
ATTACKS: dict[str, tuple[Attack, bool]] = {
    "journal-headers": (journal_headers, False),
    "journal-answers": (journal_answers, False),
    "admin-read": (admin_read, False),
    "queue-flood": (queue_flood, False),
    "slowloris": (slowloris, True),
    "slow-body": (slow_body, True),
    "idle-keepalive": (idle_keepalive, True),
    "not-http": (not_http, False),
    "fd-exhaustion": (fd_exhaustion, True),
}


async def run_attack(name: str, checkout: Path, sizes: Sizes) -> Outcome:
    attack, timed = ATTACKS[name]
    nofile = sizes.fd_limit if name == "fd-exhaustion" else None
    seconds = str(sizes.timeout)
    flags = ("--idle-timeout", seconds, "--read-timeout", seconds) if timed else ()
    async with running(checkout, *flags, nofile=nofile) as mock:
        try:
            return await asyncio.wait_for(attack(mock, sizes), 300)
        except (OSError, TimeoutError) as exc:
            return Outcome(name, False, f"the attack itself failed: {exc!r:.120}")


def run(names: list[str], checkout: Path, sizes: Sizes, *, parallel: bool = False) -> list[Outcome]:
    """Each attack against a fresh mock (``parallel``: all at once); raises the
    file-descriptor limit this process needs first."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(sizes.idle, sizes.fd_limit + sizes.fd_extra) + 200
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    async def attacks() -> list[Outcome]:
        if parallel:
            return list(await asyncio.gather(*(run_attack(n, checkout, sizes) for n in names)))
        return [await run_attack(name, checkout, sizes) for name in names]

    return asyncio.run(attacks())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="small numbers (seconds)")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the mock's checkout")
    parser.add_argument("--only", default="", help="comma-separated attack names")
    parser.add_argument("--parallel", action="store_true", help="run the attacks at once")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(ATTACKS)
    unknown = sorted(set(names) - set(ATTACKS))
    if unknown:
        parser.error(f"unknown attacks {unknown} (known: {', '.join(ATTACKS)})")
    sizes = SHORT if args.short else Sizes()
    outcomes = run(names, args.checkout.resolve(), sizes, parallel=args.parallel)
    for outcome in outcomes:
        print(f"{outcome.name:16} {'held' if outcome.held else 'FAILED':7} {outcome.figure}")
    return 0 if all(o.held for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())

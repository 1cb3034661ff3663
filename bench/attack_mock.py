"""bench/attack.py's mock section: memory, connections and protocol attacks on ``websim-mock``.

Every attack starts its own ``python -m mock_server`` of a checkout (the connection attacks with
short ``--idle-timeout``/``--read-timeout`` when that mock has them; the same waits either way),
is bounded in connections, bytes and seconds, and stops by itself. Nothing leaves 127.0.0.1.
``--short`` shares one mock between the attacks that need the same flags (fewer processes).
"""

from __future__ import annotations

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
from _attack import Row, failed, raise_fd_limit
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
    isolated: bool = True  # a fresh mock for every attack


SHORT = Sizes(
    header_requests=20,
    answers=10,
    admin_entries=60,
    floods=2,
    slow=20,
    idle=50,
    fd_limit=256,
    timeout=0.3,
    wait=1.0,
    isolated=False,
)


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
    """``--help`` of that checkout's mock (this checkout's without starting a process)."""
    if checkout == ROOT:
        from mock_server.cli_args import parser

        return parser().format_help()
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


async def journal_headers(mock: Mock, sizes: Sizes) -> Row:
    """126 headers of 8 KB per request: the journal kept all of them (1 MiB an entry)."""
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 8000) for i in range(120))
    before = mock.rss_mib()
    for _ in range(sizes.header_requests):
        await exchange(mock.port, request("POST", CHAT, chat_body(), headers))
    return _growth("journal-headers", mock.rss_mib() - before, sizes.header_requests, "a request")


async def journal_answers(mock: Mock, sizes: Sizes) -> Row:
    """Scripted answers of 900 KB each, all kept whole by the journal."""
    step = json.dumps({"endpoint": "chat", "responses": [{"status": 200, "body": "a" * 900_000}]})
    before = mock.rss_mib()
    for _ in range(sizes.answers):
        await exchange(mock.port, request("POST", "/__admin/scenarios", step.encode()))
        await exchange(mock.port, request("POST", CHAT, chat_body()))
    return _growth("journal-answers", mock.rss_mib() - before, sizes.answers, "an answer")


def _growth(name: str, grown: float, count: int, each: str) -> Row:
    """The mock grew ``grown`` MiB over ``count`` requests: under 512 KiB ``each`` holds."""
    per = grown * 1024 / count
    figure = f"{count:,} sent: +{grown:.0f} MiB ({per:.0f} KiB {each})"
    return Row(name, figure, f"< 512 KiB {each}", per < 512)


async def admin_read(mock: Mock, sizes: Sizes) -> Row:
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
        f"{sizes.admin_entries:,} entries of 64 KiB read: /healthz worst {worst:.2f} s;"
        f" +{peak - before:.0f} MiB peak, +{after - before:.0f} kept"
    )
    return Row("admin-read", figure, "/healthz < 1 s; +100 MiB peak, +50 kept; 200", held)


async def queue_flood(mock: Mock, sizes: Sizes) -> Row:
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
    figure = f"{queued:,} steps queued, answers {sorted(statuses)}"
    return Row("queue-flood", figure, "<= 10,000 steps queued", queued <= 10_000)


# --- connections -------------------------------------------------------------------------------


async def _hold(
    name: str, mock: Mock, sizes: Sizes, count: int, first: bytes, each: bytes | None
) -> Row:
    """``count`` connections that send ``first``, then ``each`` every 0.1 s, for ``sizes.wait``
    s; held if the mock closed every one of them."""
    conns = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", mock.port)
        writer.write(first)
        conns.append((reader, writer))
    deadline = time.monotonic() + sizes.wait
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
    figure = f"{still}/{count} open after {sizes.wait:g} s"
    return Row(name, figure, f"0 open (timeouts {sizes.timeout:g} s)", still == 0)


async def slowloris(mock: Mock, sizes: Sizes) -> Row:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    return await _hold("slowloris", mock, sizes, sizes.slow, head, b"X-Slow: 1\r\n")


async def slow_body(mock: Mock, sizes: Sizes) -> Row:
    head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{" % CHAT.encode()
    return await _hold("slow-body", mock, sizes, sizes.slow, head, b" ")


async def idle_keepalive(mock: Mock, sizes: Sizes) -> Row:
    first = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    return await _hold("idle-keepalive", mock, sizes, sizes.idle, first, None)


async def not_http(mock: Mock, sizes: Sizes) -> Row:
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
    return Row("not-http", figure, "every probe a 400 within 2 s", len(answered) == len(probes))


async def fd_exhaustion(mock: Mock, sizes: Sizes) -> Row:
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
    return Row("fd-exhaustion", figure, "/healthz < 1 s during and after; < 50 log lines", held)


# --- requests the mock must refuse in JSON ----------------------------------------------------


async def first_answer(port: int, data: bytes, within: float = 5.0) -> tuple[int, bytes]:
    """The first answer to ``data`` (head, then Content-Length bytes): (status, body);
    (0, b"") when none came within ``within`` s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), within)
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        body = await asyncio.wait_for(reader.readexactly(int(length[1])), within) if length else b""
    except (TimeoutError, asyncio.IncompleteReadError, OSError):
        return 0, b""
    finally:
        writer.close()
    return int(head.split()[1]), body


def _field(body: bytes) -> str | None:
    """The ``field`` the mock's JSON error names, or "(not JSON)"."""
    try:
        answer = json.loads(body)
        return str(answer["field"]) if isinstance(answer, dict) and "message" in answer else None
    except ValueError:
        return "(not JSON)"


def _probe(name: str, data: bytes, status: int, field: str) -> Attack:
    async def attack(mock: Mock, sizes: Sizes) -> Row:
        got, body = await first_answer(mock.port, data)
        figure = f"{got or 'no answer'}, field {_field(body)}" if got else "no answer in 5 s"
        limit = f"JSON {status}, field {field}"
        return Row(name, figure, limit, got == status and _field(body) == field)

    attack.__name__ = name
    return attack


_CHAT_HEAD = b"POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" % CHAT.encode()
PROBES = {
    "options-star": (b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, "path"),
    "connect": (
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n",
        404,
        "path",
    ),
    "expect-unknown": (
        _CHAT_HEAD + b"Expect: 200-ok\r\nContent-Length: 2\r\n\r\n{}",
        417,
        "expect",
    ),
    # No body sent: a mock that answers 100 Continue first fails (its first answer is the 100).
    "expect-100-over-limit": (
        _CHAT_HEAD + b"Expect: 100-continue\r\nContent-Length: 2000000\r\n\r\n",
        413,
        "content-length",
    ),
    "te-gzip-chunked": (
        _CHAT_HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        400,
        "transfer-encoding",
    ),
}


async def pipelined_before_malformed(mock: Mock, sizes: Sizes) -> Row:
    """A valid request and malformed bytes in one write: aiohttp's parser alone drops the
    valid one (the mock hands it one request at a time)."""
    data = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /x\x01 HTTP/1.1\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", mock.port)
    try:
        writer.write(data)
        answer = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    statuses = [int(s) for s in re.findall(rb"HTTP/1\.[01] (\d{3}) ", answer)]
    figure = f"answers {statuses}"
    return Row("pipelined-before-malformed", figure, "[200, 400]", statuses == [200, 400])


Attack = Callable[[Mock, Sizes], Awaitable[Row]]
# name -> (attack, the mock it needs: "plain", "timed" (short --idle-timeout and --read-timeout)
# or "fd" (timed, and few descriptors; the timed attacks fit in them too))
ATTACKS: dict[str, tuple[Attack, str]] = {
    "journal-headers": (journal_headers, "plain"),
    "journal-answers": (journal_answers, "plain"),
    "admin-read": (admin_read, "plain"),
    "queue-flood": (queue_flood, "plain"),
    "slowloris": (slowloris, "timed"),
    "slow-body": (slow_body, "timed"),
    "idle-keepalive": (idle_keepalive, "timed"),
    "not-http": (not_http, "plain"),
    "fd-exhaustion": (fd_exhaustion, "fd"),
    **{name: (_probe(name, *probe), "plain") for name, probe in PROBES.items()},
    "pipelined-before-malformed": (pipelined_before_malformed, "plain"),
}
NAMES = tuple(ATTACKS)


async def _run_group(names: list[str], checkout: Path, sizes: Sizes) -> list[Row]:
    """The attacks ``names`` against one mock: the connection attacks (which count only their
    own connections) at once, then the others one after another."""
    kinds = {ATTACKS[name][1] for name in names}
    seconds = str(sizes.timeout)
    flags = ("--idle-timeout", seconds, "--read-timeout", seconds) if kinds != {"plain"} else ()
    nofile = sizes.fd_limit if "fd" in kinds else None

    async def one(mock: Mock, name: str) -> Row:
        try:
            return await asyncio.wait_for(ATTACKS[name][0](mock, sizes), 300)
        except (OSError, TimeoutError) as exc:
            return failed(name, "(the attack's own)", exc)

    timed = [name for name in names if ATTACKS[name][1] == "timed"]
    async with running(checkout, *flags, nofile=nofile) as mock:
        rows = list(await asyncio.gather(*(one(mock, name) for name in timed)))
        for name in names:
            if name not in timed:
                rows.append(await one(mock, name))
    return rows


def run(names: list[str], short: bool, checkout: Path) -> list[Row]:
    """The attacks ``names`` against the mock of ``checkout``: one after another, each against
    a fresh mock; or (``--short``) at once, one mock for each kind of mock they need."""
    sizes = SHORT if short else Sizes()
    raise_fd_limit(max(sizes.idle, sizes.fd_limit + sizes.fd_extra) + 200)
    groups: dict[str, list[str]] = {}
    for name in names:  # --short: one mock for memory and protocol, one for connections
        group = name if sizes.isolated else ATTACKS[name][1] == "plain"
        groups.setdefault(str(group), []).append(name)

    async def attacks() -> list[Row]:
        runs = [_run_group(group, checkout, sizes) for group in groups.values()]
        if sizes.isolated:  # one at a time: each attack's memory and time its own
            done = [await each for each in runs]
        else:
            done = await asyncio.gather(*runs)
        by_name = {row.attack: row for rows in done for row in rows}
        return [by_name[name] for name in names]

    return asyncio.run(attacks())

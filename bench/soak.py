"""Soak the mock server: many mixed requests at high concurrency, scripted faults mixed in.

``python bench/soak.py --requests 50000 --concurrency 256`` starts ``python -m mock_server
--port 0`` as a child process (so its descriptors and memory can be read from /proc), warms it
up, then sends REQUESTS calls through ``websim_core.WebsimClient`` (chat, streamed chat, image)
and plain aiohttp GETs of the generated PNGs, CONCURRENCY at a time. Every ``--fault-every``-th
call first scripts one fault or error status through the admin API (``/__admin/scenarios``).

Under concurrency another call may take a step scripted for someone else, so the expected
outcome of each call is worked out afterwards from the server's journal (read as the run goes,
joined to the calls by their project IDs): the steps a call met, through the retry policy and
the documented fault table, give the one exception it must raise, or success, and the number
of attempts it must make. An unexpected error is any call whose outcome differs: an exception
where none is due, the wrong class, the wrong number of attempts, or a bad answer.

Before and after the load (the client closed, the server given a moment to close its side):
the server's open file descriptors and VmRSS, and this process's descriptors. Prints a table,
writes JSON to ``bench/results/soak.json``, exits 1 when a check fails:

- 0 unexpected errors, every scripted step consumed, no handler error in the server's log;
- server descriptors back within ``--fd-slack`` (3) of the start, this process's too;
- server VmRSS within ``--rss-slack-mib`` (50 MiB) of the start. The journal is bounded
  (``--journal-size``, 2,000 here: the soak reads it every 500 calls), and the start is measured
  after a warm-up that fills it, so what is left is growth.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from websim_core import RetryPolicy, WebsimClient
from websim_core.ids import generate_project_id

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, ServerProcess, mock_server_argv, rss_kib

RESULTS = ROOT / "bench" / "results"
KINDS = ("chat", "stream", "image", "png")
MIX = (35, 30, 20, 15)  # percent of calls of each kind
HELLO = "Hello, how are you?"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RETRIED = ("chat", "stream")  # the rate-limit family is retried for these, 3 attempts in all
MAX_ATTEMPTS = 3

# The faults and statuses scripted, by endpoint (stream faults cannot be scripted for images).
# Rate-limit statuses carry Retry-After: 0, so a retry does not wait.
_NOW = {"Retry-After": "0"}
CHAT_STEPS: tuple[Any, ...] = (
    "connection_reset",
    "empty_response",
    {"fault": "garbage", "size": 64},
    "truncated_body",
    {"fault": "delay", "delay_ms": 50},
    {"fault": "dribble", "chunks": 5, "duration_ms": 50},
    {"fault": "stream_cut", "after_events": 1},
    "stream_malformed",
    {"status": 429, "headers": _NOW},
    {"status": 504, "headers": _NOW},
    {"status": 402, "headers": _NOW},
    500,
    502,
    401,
    403,
)
IMAGE_STEPS: tuple[Any, ...] = tuple(
    s for s in CHAT_STEPS if not json.dumps(s).lstrip('{"fault: ').startswith("stream")
)

CONN, FORMAT = "WebsimConnectionError", "ResponseFormatError"
# fault -> what chat(), stream_chat() and generate_image() raise (None: they succeed), as
# documented in docs/misbehaviour.md; tests/test_fault_matrix.py checks each cell.
FAULTS: dict[str, dict[str, str | None]] = {
    "connection_reset": {"chat": CONN, "stream": CONN, "image": CONN},
    "empty_response": {"chat": CONN, "stream": CONN, "image": CONN},
    "garbage": {"chat": CONN, "stream": CONN, "image": CONN},
    "truncated_body": {"chat": CONN, "stream": FORMAT, "image": CONN},
    "delay": {"chat": None, "stream": None, "image": None},
    "dribble": {"chat": None, "stream": None, "image": None},
    "stream_cut": {"chat": FORMAT, "stream": FORMAT, "image": CONN},
    "stream_malformed": {"chat": FORMAT, "stream": FORMAT, "image": FORMAT},
}
RATE_LIMITED = (429, 402, 504)


def step_outcome(step: dict[str, Any] | None, kind: str) -> str | None:
    """What one attempt that met ``step`` (journal form; None: a normal answer) raises."""
    if step is None or "reply" in step:
        return None
    if "fault" in step:
        return FAULTS[step["fault"]][kind]
    status = step["status"]
    if status == 200:
        return None
    if status in RATE_LIMITED:
        return "RateLimitError"
    if status == 401:
        return "MissingAuthError"
    if status == 403 and "body" not in step:
        return "CloudflareError"  # the built-in 403 is a Cloudflare challenge page
    return "ResponseStatusError"


def expected_outcome(kind: str, steps: Sequence[dict[str, Any] | None]) -> tuple[str | None, int]:
    """(what the call raises, attempts it makes) for the steps its attempts met, in order.

    Models ``WebsimClient``: only the rate-limit family is retried, for chat and streams, up to
    3 attempts; everything else ends the call at once.
    """
    outcome: str | None = None
    for attempt, step in enumerate(steps, 1):
        outcome = step_outcome(step, kind)
        retry = outcome == "RateLimitError" and kind in RETRIED and attempt < MAX_ATTEMPTS
        if not retry:
            return outcome, attempt
    return "a retry that was never sent", len(steps) + 1


# --- measuring ------------------------------------------------------------------------------------


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Sampler:
    """Peak VmRSS (KiB) and open descriptors of ``pid``, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_fds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        with contextlib.suppress(OSError):
            self.peak_rss = max(self.peak_rss, rss_kib(self.pid, tree=False))
            self.peak_fds = max(self.peak_fds, open_fds(self.pid))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> Sampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sample()


@dataclass
class Snapshot:
    server_fds: int
    server_rss_kib: int
    client_fds: int
    client_rss_kib: int

    @classmethod
    def take(cls, server_pid: int) -> Snapshot:
        return cls(
            open_fds(server_pid),
            rss_kib(server_pid, tree=False),
            open_fds(os.getpid()),
            rss_kib(os.getpid(), tree=False),
        )


# --- the load -------------------------------------------------------------------------------------


@dataclass
class Call:
    """One call made, and what came of it."""

    n: int
    kind: str
    project_id: str
    scripted: Any = None  # the step this call's job scripted first (someone else may take it)
    outcome: str | None = None  # the exception's class name; None: success
    detail: str = ""


@dataclass
class Journal:
    """The server's journal, read as the run goes; entries kept by the project ID they carry."""

    by_project: dict[str, list[tuple[int, dict[str, Any] | None]]] = field(default_factory=dict)
    sources: Counter[str] = field(default_factory=Counter)
    scripted: int = 0
    last_id: int = 0
    gaps: int = 0  # entries dropped by the server before they were read
    reads: int = 0

    def merge(self, entries: list[dict[str, Any]]) -> None:
        fresh = [e for e in entries if e["id"] > self.last_id]
        if not fresh:
            return
        if self.last_id and fresh[0]["id"] != self.last_id + 1:
            self.gaps += fresh[0]["id"] - self.last_id - 1
        self.last_id = fresh[-1]["id"]
        self.reads += 1
        for entry in fresh:
            response = entry["response"]
            self.sources[response["source"]] += 1
            body = entry.get("json")
            if not isinstance(body, dict) or not isinstance(body.get("project_id"), str):
                continue
            step = response["step"] if response["source"] == "script" else None
            self.scripted += step is not None
            self.by_project.setdefault(body["project_id"], []).append((entry["id"], step))


@dataclass
class SoakReport:
    requests: int
    concurrency: int
    warmup: int
    seconds: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    faults_scripted: int = 0
    unexpected: list[str] = field(default_factory=list)
    pending_steps: int = -1
    journal_gaps: int = 0
    journal_sources: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    before: Snapshot | None = None
    after: Snapshot | None = None
    peak_server_rss_kib: int = 0
    peak_server_fds: int = 0
    fd_slack: int = 3
    rss_slack_mib: float = 50.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def checks(self) -> dict[str, bool]:
        assert self.before is not None
        assert self.after is not None
        rss_growth = (self.after.server_rss_kib - self.before.server_rss_kib) / 1024
        return {
            "0 unexpected errors": not self.unexpected,
            "every scripted step consumed": self.pending_steps == 0,
            "journal read without gaps": self.journal_gaps == 0,
            "no handler error logged by the server": not self.server_errors,
            f"server fds back within {self.fd_slack}": self.after.server_fds
            <= self.before.server_fds + self.fd_slack,
            f"client fds back within {self.fd_slack}": self.after.client_fds
            <= self.before.client_fds + self.fd_slack,
            f"server RSS within +{self.rss_slack_mib:g} MiB": rss_growth <= self.rss_slack_mib,
        }

    @property
    def ok(self) -> bool:
        return all(self.checks().values())

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "concurrency": self.concurrency,
            "warmup_requests": self.warmup,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps),
            "calls": dict(self.calls),
            "outcomes": dict(sorted(self.outcomes.items())),
            "faults_scripted": self.faults_scripted,
            "unexpected_errors": len(self.unexpected),
            "unexpected": self.unexpected[:50],
            "pending_steps": self.pending_steps,
            "journal_gaps": self.journal_gaps,
            "journal_sources": dict(self.journal_sources),
            "server_errors": self.server_errors[:20],
            "before": self.before.__dict__ if self.before else None,
            "after": self.after.__dict__ if self.after else None,
            "peak_server_rss_kib": self.peak_server_rss_kib,
            "peak_server_fds": self.peak_server_fds,
            "checks": self.checks(),
            "ok": self.ok,
        }

    def table(self) -> str:
        assert self.before is not None
        assert self.after is not None
        b, a = self.before, self.after
        rows = [
            ("", "before", "after", "peak"),
            ("server fds", b.server_fds, a.server_fds, self.peak_server_fds),
            (
                "server RSS MiB",
                f"{b.server_rss_kib / 1024:.1f}",
                f"{a.server_rss_kib / 1024:.1f}",
                f"{self.peak_server_rss_kib / 1024:.1f}",
            ),
            ("client fds", b.client_fds, a.client_fds, ""),
            (
                "client RSS MiB",
                f"{b.client_rss_kib / 1024:.1f}",
                f"{a.client_rss_kib / 1024:.1f}",
                "",
            ),
        ]
        lines = [
            f"soak: {self.requests} calls at concurrency {self.concurrency} "
            f"(after {self.warmup} warm-up calls) in {self.seconds:.1f} s = {self.rps:.0f} calls/s",
            "calls: " + ", ".join(f"{k} {v}" for k, v in self.calls.items()),
            f"faults scripted: {self.faults_scripted}; calls retried: {self.outcomes['retried']}; "
            "outcomes: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()) if ":" in k),
            f"unexpected errors: {len(self.unexpected)}; steps left pending: {self.pending_steps}; "
            f"journal gaps: {self.journal_gaps}; server errors logged: {len(self.server_errors)}",
            "journal sources: " + ", ".join(f"{k} {v}" for k, v in self.journal_sources.items()),
        ]
        lines += ["  " + "".join(f"{c!s:>16}" for c in row) for row in rows]
        lines += [f"  [{'ok' if v else 'FAIL'}] {k}" for k, v in self.checks().items()]
        lines += [f"  UNEXPECTED {u}" for u in self.unexpected[:20]]
        lines += [f"  SERVER ERROR {e}" for e in self.server_errors[:10]]
        return "\n".join(lines)


class Soak:
    """The load against one server: calls, scripted faults, journal reads, verdicts."""

    def __init__(self, url: str, *, concurrency: int, fault_every: int, seed: int) -> None:
        self.url = url
        self.concurrency = concurrency
        self.fault_every = fault_every
        self.rng = random.Random(seed)
        self.ids: set[str] = set()
        self.journal = Journal()
        self.png_urls: list[str] = []
        self.calls: list[Call] = []
        self.read_every = 500
        self._done_since_read = 0
        self._read_due = asyncio.Event()

    def project_id(self, kind: str) -> str:
        while True:
            pid = generate_project_id("image" if kind == "image" else "chat", rng=self.rng)
            if pid not in self.ids:
                self.ids.add(pid)
                return pid

    def jobs(self, count: int, first: int) -> list[Call]:
        out = []
        for n in range(first, first + count):
            kind = self.rng.choices(KINDS, MIX)[0]
            # A PNG job made before any image URL is known becomes an image call, hence the ID.
            call = Call(n, kind, self.project_id("image" if kind == "png" else kind))
            if self.fault_every and n % self.fault_every == 0 and kind != "png":
                call.scripted = self.rng.choice(IMAGE_STEPS if kind == "image" else CHAT_STEPS)
            out.append(call)
        return out

    async def run(self, count: int, first: int = 1) -> float:
        """Make ``count`` calls; returns the seconds it took."""
        jobs = iter(self.jobs(count, first))
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        timeout = aiohttp.ClientTimeout(total=60)
        reader = asyncio.create_task(self._read_journal_when_due())
        start = time.perf_counter()
        try:
            async with (
                aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
                aiohttp.ClientSession(timeout=timeout) as admin,
            ):
                policy = RetryPolicy(base_delay=0.0)
                async with WebsimClient(
                    self.url, session=session, retry=policy, timeout=60.0
                ) as client:

                    async def worker() -> None:
                        for call in jobs:
                            await self._one(client, session, admin, call)

                    await asyncio.gather(*(worker() for _ in range(self.concurrency)))
                elapsed = time.perf_counter() - start
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                await self.read_journal(admin)
        finally:
            reader.cancel()
        return elapsed

    async def _one(
        self,
        client: WebsimClient,
        session: aiohttp.ClientSession,
        admin: aiohttp.ClientSession,
        call: Call,
    ) -> None:
        if call.scripted is not None:
            scope = "image" if call.kind == "image" else "chat"
            body = {"endpoint": scope, "responses": [call.scripted]}
            async with admin.post(self.url + "/__admin/scenarios", json=body) as response:
                if response.status != 200:
                    raise RuntimeError(f"scripting {body} failed: {await response.text()}")
        if call.kind == "png" and not self.png_urls:
            call.kind = "image"
        messages = [{"role": "user", "content": f"{HELLO} ({call.n})"}]
        try:
            if call.kind == "chat":
                text = await client.chat(messages, project_id=call.project_id)
                if not text:
                    call.detail = "empty answer"
            elif call.kind == "stream":
                deltas = [d async for d in client.stream_chat(messages, project_id=call.project_id)]
                if not "".join(deltas).strip():
                    call.detail = "empty stream"
            elif call.kind == "image":
                image = await client.generate_image(
                    f"A cat in space ({call.n % 50})", project_id=call.project_id
                )
                url = image.urls[0]
                if not url.startswith(self.url + "/images/"):
                    call.detail = f"odd url {url!r}"
                elif len(self.png_urls) < 50:
                    self.png_urls.append(url)
            else:
                url = self.rng.choice(self.png_urls)
                async with session.get(url) as response:
                    data = await response.read()
                    if response.status != 200 or not data.startswith(PNG_SIGNATURE):
                        call.detail = f"GET {url}: {response.status}, {data[:20]!r}"
        except Exception as exc:
            call.outcome = type(exc).__name__
            call.detail = str(exc)[:200]
        self.calls.append(call)
        self._done_since_read += 1
        if self._done_since_read >= self.read_every:
            self._done_since_read = 0
            self._read_due.set()

    async def _read_journal_when_due(self) -> None:
        async with aiohttp.ClientSession() as admin:
            while True:
                await self._read_due.wait()
                self._read_due.clear()
                await self.read_journal(admin)

    async def read_journal(self, admin: aiohttp.ClientSession) -> None:
        """What the journal holds since the last read, a page at a time (the admin API pages
        it). Reading from the start every time fell behind under load: the journal dropped
        entries (it keeps --journal-size) before the reader reached them, a gap in the soak."""
        since: int | None = self.journal.last_id
        while since is not None:
            params = {"since": str(since), "limit": "1000"}
            async with admin.get(self.url + "/__admin/requests", params=params) as response:
                data = await response.json()
            self.journal.merge(data["requests"])
            since = data.get("next")

    async def pending_steps(self) -> int:
        async with (
            aiohttp.ClientSession() as admin,
            admin.get(self.url + "/__admin/scenarios") as response,
        ):
            data = await response.json()
            return int(data.get("waiting", len(data["pending"])))  # (a page, with the count)

    def verdicts(self, calls: list[Call]) -> tuple[Counter[str], list[str]]:
        """Outcome counts, and one line per call whose outcome is not the expected one.

        ``outcomes["retried"]`` counts the calls that made more than one attempt.
        """
        outcomes: Counter[str] = Counter()
        unexpected: list[str] = []
        for call in calls:
            outcomes[f"{call.kind}:{call.outcome or 'ok'}"] += 1
            if call.kind == "png":
                if call.outcome or call.detail:
                    unexpected.append(f"#{call.n} png: {call.outcome} {call.detail}")
                continue
            seen = self.journal.by_project.get(call.project_id, [])
            steps = [step for _, step in sorted(seen, key=lambda t: t[0])]
            if not steps:
                unexpected.append(f"#{call.n} {call.kind}: never reached the server's journal")
                continue
            want, attempts = expected_outcome(call.kind, steps)
            outcomes["retried"] += len(steps) > 1
            if call.outcome != want or len(steps) != attempts or (not want and call.detail):
                unexpected.append(
                    f"#{call.n} {call.kind}: raised {call.outcome} ({call.detail}), expected "
                    f"{want} after {attempts} attempt(s); the server saw {len(steps)}: {steps}"
                )
        return outcomes, unexpected


async def run_soak(
    requests: int = 50_000,
    *,
    concurrency: int = 256,
    fault_every: int = 25,
    warmup: int | None = None,
    seed: int = 1,
    journal_size: int = 2000,
    fd_slack: int = 3,
    rss_slack_mib: float = 50.0,
    settle_seconds: float = 10.0,
    progress: bool = False,
) -> SoakReport:
    """Start a server process, warm it up, soak it; the report holds the verdicts."""
    warmup = warmup if warmup is not None else max(500, min(5000, requests // 10))
    report = SoakReport(requests, concurrency, warmup, fd_slack=fd_slack)
    report.rss_slack_mib = rss_slack_mib
    argv = mock_server_argv("--journal-size", str(journal_size))
    server = ServerProcess(argv, ready_timeout=30)
    await asyncio.to_thread(server.start)
    try:
        assert server.url is not None
        pid = server.pid
        soak = Soak(server.url, concurrency=concurrency, fault_every=fault_every, seed=seed)
        if progress:
            print(f"server pid {pid} at {server.url}; warming up ({warmup} calls)", file=sys.stderr)
        await soak.run(warmup)
        warm_calls = list(soak.calls)
        await _settle(pid, None, settle_seconds)
        gc.collect()
        report.before = Snapshot.take(pid)
        soak.calls.clear()
        if progress:
            print(f"before: {report.before}; soaking ({requests} calls)", file=sys.stderr)
        with Sampler(pid) as sampler:
            report.seconds = await soak.run(requests, first=warmup + 1)
        report.peak_server_rss_kib = sampler.peak_rss
        report.peak_server_fds = sampler.peak_fds
        await _settle(pid, report.before.server_fds + fd_slack, settle_seconds)
        gc.collect()
        report.after = Snapshot.take(pid)
        report.pending_steps = await soak.pending_steps()
        report.journal_gaps = soak.journal.gaps
        report.journal_sources = soak.journal.sources
        # The warm-up calls are judged too: an unexpected error there counts.
        _, warm_unexpected = soak.verdicts(warm_calls)
        report.outcomes, report.unexpected = soak.verdicts(soak.calls)
        report.unexpected = [f"warm-up {u}" for u in warm_unexpected] + report.unexpected
        report.calls = Counter(call.kind for call in soak.calls)
        report.faults_scripted = sum(call.scripted is not None for call in soak.calls)
    finally:
        await asyncio.to_thread(_stop, server)
    report.server_errors = [
        line for line in server.output if "ERROR" in line or "Traceback" in line
    ]
    return report


def _stop(server: ServerProcess) -> None:
    """Stop the server, and close our end of its output pipe once the reader has drained it."""
    server.stop()
    drain = server._drain
    if drain is not None:
        drain.join(10)
    if server.proc is not None and server.proc.stdout is not None:
        server.proc.stdout.close()


async def _settle(pid: int, fds_at_most: int | None, within: float) -> None:
    """Give the server a moment to close the connections the client just closed."""
    deadline = time.monotonic() + within
    previous = -1
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        now = open_fds(pid)
        if (fds_at_most is not None and now <= fds_at_most) or now == previous:
            return
        previous = now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--fault-every", type=int, default=25, help="0: no faults")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--journal-size", type=int, default=2000)
    parser.add_argument("--fd-slack", type=int, default=3)
    parser.add_argument("--rss-slack-mib", type=float, default=50.0)
    parser.add_argument("--json", default=str(RESULTS / "soak.json"), metavar="FILE")
    args = parser.parse_args(argv)
    report = asyncio.run(
        run_soak(
            args.requests,
            concurrency=args.concurrency,
            fault_every=args.fault_every,
            warmup=args.warmup,
            seed=args.seed,
            journal_size=args.journal_size,
            fd_slack=args.fd_slack,
            rss_slack_mib=args.rss_slack_mib,
            progress=True,
        )
    )
    print(report.table())
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = report.to_json()
    data["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"written to {out}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""A mock server's mutable state, with no I/O: its options, scripts, journal and the seeded
generators and buckets that misbehaviour needs between requests."""

from __future__ import annotations

import time
from collections.abc import Callable

from .chaos import Chaos
from .config import MockConfig
from .journal import Journal
from .latency import FixedLatency, LatencyModel, parse_latency
from .queue import ScriptQueue
from .ratelimit import RateLimiter, RateScope, parse_rate
from .seeds import seeded_random, session_seed
from .sessions import Session, SessionTable
from .steps import check_image_steps, parse_scope, parse_steps
from .stubs import parse_stubs
from .stubset import StubSet

__all__ = ["MockState"]


class MockState:
    """A server's mutable state: its options, the script queue, the journal, handler errors,
    and what misbehaviour needs between requests (rate-limit buckets, seeded generators)."""

    __slots__ = (
        "chaos",
        "config",
        "errors",
        "fault_rng",
        "journal",
        "latency",
        "latency_rng",
        "limiter",
        "own",
        "public_url",
        "scripts",
        "sessions",
        "standing",
        "stubs",
    )

    def __init__(
        self, config: MockConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config = config or MockConfig()
        # Where image URLs point when a request has no usable Host header; set once listening.
        self.public_url = config.public_url
        self.scripts = ScriptQueue()
        self.stubs = StubSet()
        # The stubs a reset goes back to: the configured ones, or the last file loaded.
        self.standing: object = config.stubs
        if config.stubs is not None:
            self.stubs.add(parse_stubs(config.stubs))
        # With several workers nobody could read a worker's journal (the admin API refuses).
        journal_size = config.journal_size if config.workers == 1 else 0
        self.journal = Journal(journal_size, config.journal_body_bytes, config.journal_bytes)
        # Unexpected exceptions from handlers, for the pytest plugin to re-raise at teardown.
        self.errors: list[BaseException] = []
        self.latency: LatencyModel | None = None
        if config.latency is not None:
            self.latency = parse_latency(config.latency)
        elif config.latency_ms:
            self.latency = FixedLatency(config.latency_ms)
        self.limiter = self._limiter(clock)
        self.chaos = self._chaos(self._draw_seed)
        # The server's own pieces, as the decision takes a session's.
        self.own = Session(
            "", scripts=self.scripts, stubs=self.stubs, limiter=self.limiter, chaos=self.chaos
        )
        self.sessions = SessionTable(
            self.new_session,
            max_sessions=config.max_sessions,
            idle_seconds=config.session_idle_seconds,
            clock=clock,
        )
        self._reseed()

    def _limiter(self, clock: Callable[[], float]) -> RateLimiter | None:
        config = self.config
        if config.rate_limit is None:
            return None
        scope: RateScope = "project" if config.rate_limit_scope == "project" else "global"
        # Split between the workers: each allows its share of the rate and of the burst.
        rate = parse_rate(config.rate_limit) / config.workers
        burst = config.rate_burst
        if burst is not None:
            burst = max(1, -(-burst // config.workers))
        return RateLimiter(rate, burst, scope, clock)

    def _chaos(self, seed: int) -> Chaos | None:
        config = self.config
        return Chaos(config.chaos, config.chaos_mix, seed) if config.chaos else None

    def new_session(self, name: str, now: float) -> Session:
        """A session's own pieces, begun at ``now``: empty steps and stubs (the server's stubs
        answer after its own), full buckets (on the same clock as the server's), and chaos
        draws seeded from the server's seed and its name."""
        limiter = self.limiter
        return Session(
            name,
            stubs=StubSet(prefix=f"{name}."),
            limiter=None if limiter is None else self._limiter(limiter.clock),
            chaos=self._chaos(session_seed(self._draw_seed, name)),
            floor=self.journal.last_id,
            now=now,
        )

    @property
    def _draw_seed(self) -> int:
        """The seed of what misbehaviour draws (not of the answers): one stream per worker."""
        return self.config.seed + self.config.worker

    def _reseed(self) -> None:
        self.latency_rng = seeded_random("latency", self._draw_seed)
        self.fault_rng = seeded_random("faults", self._draw_seed)
        if self.chaos is not None:
            self.chaos.reset()

    def script(self, scope: object, steps: object, session: Session | None = None) -> int:
        """Parse and queue steps for ``"chat"``, ``"image"`` or ``"any"`` (of ``session``, else
        the server's own); returns the count.

        Stream faults scripted for ``"image"`` are refused (an image answer is no stream).
        """
        where = parse_scope(scope)
        if isinstance(steps, list):  # refuse a flood before parsing it
            (session or self.own).scripts.check_room(len(steps))
        parsed = parse_steps(steps)
        if where == "image":
            check_image_steps(parsed)
        return (session or self.own).scripts.add(where, parsed)

    def add_stubs(self, data: object, session: Session | None = None) -> list[str]:
        """Parse one stub or a list (all or none: ``StubError``) and put them in force (in
        ``session``, else for every request); their ids."""
        return (session or self.own).stubs.add(parse_stubs(data))

    def load_stubs(self, data: object) -> list[str]:
        """Replace the whole set with these (a stubs file, read again); a reset comes back here."""
        parsed = parse_stubs(data)
        self.standing = data
        return self.stubs.replace(parsed)

    def reset(self) -> None:
        """Empty the journal and the scripts, end every session, put back the standing stubs
        (those configured or loaded from a file), refill the rate-limit buckets and start the
        seeded sequences (chaos, latency, garbage) over; handler errors are kept for the
        teardown check."""
        self.sessions.clear()
        self.scripts.clear()
        self.stubs.replace(parse_stubs(self.standing) if self.standing is not None else ())
        self.journal.clear()
        if self.limiter is not None:
            self.limiter.reset()
        self._reseed()

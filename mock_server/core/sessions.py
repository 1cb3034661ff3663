"""Sessions, with no I/O: one mock per test on a shared server.

A session is a name (from the ``/sessions/{name}`` prefix or the ``X-Websim-Mock-Session``
header) with its own scripted steps, rate-limit buckets, chaos draws and view of the journal,
decided by the same ``Decider`` as the server's own requests. ``SessionTable`` keeps at most
``max_sessions`` of them and forgets one idle for ``idle_seconds`` (the clock is injected).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, KeysView

from .chaos import Chaos
from .errors import RequestRefused
from .journal import JournalEntry
from .queue import ScriptQueue
from .ratelimit import RateLimiter
from .stubset import StubSet

__all__ = [
    "SESSION_HEADER",
    "SESSION_NAME_RE",
    "SESSION_PREFIX",
    "Session",
    "SessionTable",
    "check_session_name",
    "split_session_path",
]

SESSION_HEADER = "X-Websim-Mock-Session"
SESSION_PREFIX = "/sessions/"
SESSION_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_NAME_RULE = "1 to 64 characters from A-Z a-z 0-9 _ . -"


def check_session_name(name: str) -> str:
    """``name`` if it is a valid session name; else ``RequestRefused`` (400) naming it."""
    if SESSION_NAME_RE.fullmatch(name) is None or name in (".", ".."):
        raise RequestRefused("session", f"{name[:80]!r} is not a session name ({_NAME_RULE})")
    return name


def split_session_path(path: str) -> tuple[str, str] | None:
    """``("name", "/rest")`` for ``/sessions/name/rest``; None for any other path."""
    if not path.startswith(SESSION_PREFIX):
        return None
    name, slash, rest = path[len(SESSION_PREFIX) :].partition("/")
    return name, slash + rest


class Session:
    """What a session has of its own; the server's own requests use one named ``""`` (whose
    ``stubs`` are the global ones; a session's own stubs answer before those).
    """

    __slots__ = ("chaos", "floor", "last_used", "limiter", "name", "scripts", "stubs")

    def __init__(
        self,
        name: str,
        *,
        scripts: ScriptQueue | None = None,
        stubs: StubSet | None = None,
        limiter: RateLimiter | None = None,
        chaos: Chaos | None = None,
        floor: int = 0,
        now: float = 0.0,
    ) -> None:
        self.name = name
        self.scripts = ScriptQueue() if scripts is None else scripts
        self.stubs = StubSet() if stubs is None else stubs
        self.limiter = limiter
        self.chaos = chaos
        # Journal ids up to here came before the session began (or was reset): not its own.
        self.floor = floor
        self.last_used = now

    def reset(self, floor: int) -> None:
        """Empty its steps, stubs and journal view, refill its buckets, start its chaos over."""
        self.scripts.clear()
        self.stubs.clear()
        if self.limiter is not None:
            self.limiter.reset()
        if self.chaos is not None:
            self.chaos.reset()
        self.floor = floor

    def view(self, entries: Iterable[JournalEntry]) -> list[JournalEntry]:
        """The entries of the journal that are this session's."""
        name, floor = self.name, self.floor
        return [e for e in entries if e.session == name and e.id > floor]


class SessionTable:
    """The live sessions, least recently used first: at most ``max_sessions``, each forgotten
    once idle for ``idle_seconds`` (then its name starts a fresh session)."""

    __slots__ = ("_clock", "_factory", "_live", "idle_seconds", "max_sessions")

    def __init__(
        self,
        factory: Callable[[str, float], Session],
        *,
        max_sessions: int,
        idle_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self._live: OrderedDict[str, Session] = OrderedDict()
        self._clock = clock
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds

    def use(self, name: str) -> Session:
        """The session named so, begun now if it is not live; ``RequestRefused`` for a bad name
        (400) or when ``max_sessions`` are live and none is idle (503)."""
        now = self._clock()
        session = self._live.get(name)
        if session is not None and now - session.last_used <= self.idle_seconds:
            session.last_used = now
            self._live.move_to_end(name)
            return session
        check_session_name(name)
        self.expire(now)
        if len(self._live) >= self.max_sessions:
            raise RequestRefused(
                "session",
                f"cannot begin session {name!r}: {self.max_sessions} sessions are live"
                " (end some with DELETE /__admin/sessions/{name}, or raise --max-sessions)",
                status=503,
            )
        session = self._live[name] = self._factory(name, now)
        return session

    def get(self, name: str) -> Session | None:
        """The live session named so, without beginning one (or using it)."""
        now = self._clock()
        self.expire(now)
        return self._live.get(name)

    def end(self, name: str) -> bool:
        """Forget a session; whether it was live."""
        self.expire(self._clock())
        return self._live.pop(name, None) is not None

    def expire(self, now: float) -> list[str]:
        """Forget the sessions idle for longer than ``idle_seconds``; their names."""
        live, gone = self._live, []
        # Least recently used first: stop at the first one still in use.
        for name, session in live.items():
            if now - session.last_used <= self.idle_seconds:
                break
            gone.append(name)
        for name in gone:
            del live[name]
        return gone

    def idle(self, session: Session) -> float:
        """Seconds since ``session`` was last used."""
        return max(0.0, self._clock() - session.last_used)

    def clear(self) -> None:
        self._live.clear()

    @property
    def names(self) -> KeysView[str]:
        """The names in the table, a live view (a name there is a valid one)."""
        return self._live.keys()

    def __iter__(self) -> Iterator[Session]:
        self.expire(self._clock())
        return iter(list(self._live.values()))

    def __len__(self) -> int:
        return len(self._live)

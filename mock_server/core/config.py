"""The mock's options: one typed, frozen object, validated here and nowhere else.

``MockServer``, ``ThreadedMockServer``, ``create_app``, the pytest fixture and ``websim-mock``
all build a ``MockConfig``; a bad value raises ``ConfigError`` naming the option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .chaos import parse_mix
from .errors import ConfigError, StepError
from .latency import MAX_LATENCY_MS, parse_latency
from .ratelimit import RATE_SCOPES, parse_rate
from .stubs import parse_stubs

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_JOURNAL_BODY_BYTES",
    "DEFAULT_JOURNAL_BYTES",
    "DEFAULT_JOURNAL_SIZE",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_SESSION_IDLE_SECONDS",
    "UNMATCHED_MODES",
    "MockConfig",
    "config_of",
]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_JOURNAL_SIZE = 10_000
DEFAULT_JOURNAL_BODY_BYTES = 64 * 1024
DEFAULT_MAX_SESSIONS = 1000
DEFAULT_SESSION_IDLE_SECONDS = 600
# The journal's whole memory: about a thousand entries with full 64 KiB bodies, or the default
# 10,000 entries of ordinary requests (a few KiB each).
DEFAULT_JOURNAL_BYTES = 64 * 1024 * 1024
# Seconds a keep-alive connection may wait for its next request (aiohttp's own default is an
# hour; 75 s is nginx's), and seconds a request's head and body may take to arrive.
DEFAULT_IDLE_TIMEOUT = 75.0
DEFAULT_READ_TIMEOUT = 30.0
UNMATCHED_MODES = ("generate", "404")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_at_least(name: str, value: object, lo: int) -> None:
    if not _is_int(value) or value < lo:  # type: ignore[operator]
        raise ConfigError(name, f"must be an integer >= {lo}, not {value!r:.40}")


def _seconds(name: str, value: object) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not 0 < value <= 86_400:  # type: ignore[operator]  # (NaN fails too)
        raise ConfigError(name, f"must be a number of seconds > 0 and <= 86400, not {value!r:.40}")


def _parsed(name: str, parse: Any, text: object) -> None:
    """Check a text option with its parser; the parser's ValueError names the problem."""
    if not isinstance(text, str):
        raise ConfigError(name, f"must be a string, not {type(text).__name__}")
    try:
        parse(text)
    except (ValueError, StepError) as exc:
        raise ConfigError(name, str(exc)) from None


@dataclass(frozen=True)
class MockConfig:
    """The server's options; ``MockServer(**options)`` and the CLI flags build one."""

    seed: int = 0
    strict_ids: bool = False
    latency_ms: float = 0.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    journal_size: int = DEFAULT_JOURNAL_SIZE
    journal_body_bytes: int = DEFAULT_JOURNAL_BODY_BYTES
    journal_bytes: int = DEFAULT_JOURNAL_BYTES
    admin_loopback_only: bool = True
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    # The origin image URLs point at when a request carries no usable Host header.
    public_url: str | None = None
    # Misbehaviour on demand (all off by default). latency: "fixed:MS", "uniform:LOW,HIGH",
    # "lognormal:MEDIAN,SIGMA"; rate_limit: "5/s", "300/min"; chaos: the fraction of requests
    # that get an outcome from chaos_mix ("429:3,connection_reset:1", see core.chaos).
    latency: str | None = None
    rate_limit: str | None = None
    rate_burst: int | None = None
    rate_limit_scope: str = "global"
    chaos: float = 0.0
    chaos_mix: str | None = None
    directives: bool = False
    # Sessions (/sessions/{name}/..., X-Websim-Mock-Session): how many may be live at once,
    # and after how many idle seconds one is forgotten (see core.sessions).
    max_sessions: int = DEFAULT_MAX_SESSIONS
    session_idle_seconds: int = DEFAULT_SESSION_IDLE_SECONDS
    # Lets non-loopback clients use the admin API with "Authorization: Bearer <token>".
    admin_token: str | None = None
    # Set by `websim-mock --workers N` in each of its N processes (see mock_server.workers):
    # with workers > 1 the journal is off, the admin API's stateful endpoints answer 409,
    # the rate limit is split N ways, and chaos, latency and fault bytes are seeded with
    # seed + worker (the answers themselves only depend on seed).
    workers: int = 1
    worker: int = 0
    # What a request that no directive, scripted step or stub arranged gets: "generate" (the
    # generated answer) or "404" (a JSON 404 listing the closest stubs; see core.nearmiss).
    unmatched: str = "generate"
    # Stubs in force from the start (their JSON form: one or a list); a reset restores them.
    stubs: Any = None

    def __post_init__(self) -> None:
        if not _is_int(self.seed):
            raise ConfigError("seed", f"must be an integer, not {self.seed!r:.40}")
        self._check_latency()
        self._check_rate_limit()
        chaos = self.chaos
        if isinstance(chaos, bool) or not isinstance(chaos, (int, float)) or not 0 <= chaos <= 1:
            raise ConfigError("chaos", f"must be a fraction 0..1, not {chaos!r:.40}")
        if self.chaos_mix is not None:
            _parsed("chaos_mix", parse_mix, self.chaos_mix)
        token = self.admin_token
        if token is not None and not (isinstance(token, str) and token.strip()):
            raise ConfigError("admin_token", "must be a non-empty string")
        _int_at_least("workers", self.workers, 1)
        if not _is_int(self.worker) or not 0 <= self.worker < self.workers:
            raise ConfigError("worker", f"must be an integer 0..workers-1, not {self.worker!r}")
        _int_at_least("max_body_bytes", self.max_body_bytes, 1)
        _int_at_least("journal_size", self.journal_size, 0)
        _int_at_least("journal_body_bytes", self.journal_body_bytes, 0)
        _int_at_least("max_sessions", self.max_sessions, 1)
        _int_at_least("session_idle_seconds", self.session_idle_seconds, 1)
        _int_at_least("journal_bytes", self.journal_bytes, 0)
        for name in ("idle_timeout", "read_timeout"):
            _seconds(name, getattr(self, name))
        if self.unmatched not in UNMATCHED_MODES:
            raise ConfigError(
                "unmatched", f"must be 'generate' or '404', not {self.unmatched!r:.40}"
            )
        if isinstance(self.stubs, str) or hasattr(self.stubs, "__fspath__"):
            raise ConfigError(
                "stubs",
                "a stubs file's path is read by MockServer(stubs=PATH) and websim-mock --stubs "
                "PATH; MockConfig takes the stubs themselves",
            )
        if self.stubs is not None:
            try:
                parse_stubs(self.stubs)
            except StepError as exc:
                raise ConfigError(exc.field, exc.problem) from None

    def _check_latency(self) -> None:
        ms = self.latency_ms
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or math.isnan(ms) or ms < 0:
            raise ConfigError("latency_ms", f"must be a number >= 0, not {ms!r:.40}")
        if ms > MAX_LATENCY_MS:
            raise ConfigError("latency_ms", f"must be <= {MAX_LATENCY_MS:.0f}, not {ms!r}")
        if self.latency is not None:
            if ms:
                raise ConfigError("latency", "give latency_ms or latency, not both")
            _parsed("latency", parse_latency, self.latency)

    def _check_rate_limit(self) -> None:
        if self.rate_limit is not None:
            _parsed("rate_limit", parse_rate, self.rate_limit)
        elif self.rate_burst is not None:
            raise ConfigError("rate_burst", "needs rate_limit")
        if self.rate_burst is not None:
            _int_at_least("rate_burst", self.rate_burst, 1)
        if self.rate_limit_scope not in RATE_SCOPES:
            raise ConfigError(
                "rate_limit_scope", f"must be 'global' or 'project', not {self.rate_limit_scope!r}"
            )


def config_of(config: MockConfig | None, options: dict[str, Any]) -> MockConfig:
    """``config``, or one built from its fields given as ``options``; not both."""
    if config is None:
        return MockConfig(**options)
    if options:
        raise TypeError(
            f"give a MockConfig or its fields as keywords, not both ({sorted(options)})"
        )
    if not isinstance(config, MockConfig):
        raise TypeError(f"config must be a MockConfig, not {type(config).__name__}")
    return config

"""The ``websim-mock`` command line: its flags, converted but not checked (``MockConfig`` checks
the values, in one place; ``mock_server.cli`` maps its errors back to the flags)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from websim_core import __version__

from .cassette_cli import add_cassette_arguments
from .core.chaos import DEFAULT_CHAOS_MIX
from .core.config import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_JOURNAL_BYTES,
    DEFAULT_JOURNAL_SIZE,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_SESSION_IDLE_SECONDS,
)
from .workers import MAX_WORKERS, WORKER_FLAG

__all__ = ["parser"]

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0..65535, not {text!r}")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be an integer 1..{MAX_WORKERS}, not {text!r}")
    return value


def _number(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse type that only converts: the range is MockConfig's to check."""

    def convert(text: str) -> int | float:
        try:
            return kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from None

    return convert


def parser() -> argparse.ArgumentParser:
    """The ``websim-mock`` command line; values are only converted here, MockConfig checks them."""
    parser = argparse.ArgumentParser(
        prog="websim-mock",
        description="Serve a local imitation of the Websim inference API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=8787, help="port to bind; 0 picks a free one (default 8787)"
    )
    _answer_arguments(parser)
    _limit_arguments(parser)
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=_LEVELS,
        default="WARNING",
        help="logging level; DEBUG also logs every request (default WARNING)",
    )
    _misbehaviour_arguments(parser)
    _process_arguments(parser)
    parser.add_argument(WORKER_FLAG, help=argparse.SUPPRESS)
    add_cassette_arguments(parser)
    return parser


def _answer_arguments(parser: argparse.ArgumentParser) -> None:
    integer, number = _number(int), _number(float)
    parser.add_argument(
        "--seed", type=integer, default=0, help="seed of the generated answers (default 0)"
    )
    parser.add_argument(
        "--strict-ids",
        action="store_true",
        help="accept only canonical project IDs (chat 3_16, image 7_12)",
    )
    parser.add_argument(
        "--latency-ms",
        type=number,
        default=0.0,
        help="delay before each inference answer, in milliseconds (default 0)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=integer,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"larger request bodies get a 413 (default {DEFAULT_MAX_BODY_BYTES})",
    )
    parser.add_argument(
        "--stubs",
        metavar="PATH",
        help="a YAML or JSON file of stubs, or a folder of them (see docs/stubs.md);"
        " reloaded whole when a file changes",
    )
    parser.add_argument(
        "--unmatched",
        metavar="generate|404",
        default="generate",
        help="what a request no stub, scripted step or directive arranged gets: the generated"
        " answer (default), or a JSON 404 listing the closest stubs (see docs/verification.md)",
    )


def _limit_arguments(parser: argparse.ArgumentParser) -> None:
    integer, number = _number(int), _number(float)
    parser.add_argument(
        "--journal-size",
        type=integer,
        default=DEFAULT_JOURNAL_SIZE,
        help=f"requests kept in the journal, oldest dropped first (default {DEFAULT_JOURNAL_SIZE})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=number,
        default=DEFAULT_IDLE_TIMEOUT,
        help="seconds a keep-alive connection may wait for its next request"
        f" (default {DEFAULT_IDLE_TIMEOUT:g})",
    )
    parser.add_argument(
        "--read-timeout",
        type=number,
        default=DEFAULT_READ_TIMEOUT,
        help="seconds a request's head and body may take to arrive; slower ones get a 408"
        f" (default {DEFAULT_READ_TIMEOUT:g})",
    )
    parser.add_argument(
        "--journal-bytes",
        type=integer,
        default=DEFAULT_JOURNAL_BYTES,
        help="memory the journal may hold, oldest requests dropped first"
        f" (default {DEFAULT_JOURNAL_BYTES}, 64 MiB)",
    )
    parser.add_argument(
        "--max-sessions",
        type=integer,
        default=DEFAULT_MAX_SESSIONS,
        help="sessions (/sessions/NAME/...) live at once; one more gets a 503 until one ends or"
        f" idles out (default {DEFAULT_MAX_SESSIONS})",
    )
    parser.add_argument(
        "--session-idle-seconds",
        type=integer,
        default=DEFAULT_SESSION_IDLE_SECONDS,
        help="a session unused this long is forgotten: its steps, stubs and journal view go"
        f" (default {DEFAULT_SESSION_IDLE_SECONDS})",
    )


def _misbehaviour_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("misbehaviour (off by default; see docs/misbehaviour.md)")
    group.add_argument(
        "--latency",
        metavar="MODEL",
        help="delay before each inference answer: fixed:MS, uniform:LOW,HIGH or"
        " lognormal:MEDIAN,SIGMA (milliseconds; seeded by --seed)",
    )
    group.add_argument(
        "--rate-limit",
        metavar="RATE",
        help="token bucket on the inference endpoints, e.g. 5/s or 300/min; over it: 429"
        ' {"message": "Rate limit exceeded"} with Retry-After',
    )
    group.add_argument(
        "--rate-burst",
        type=_number(int),
        metavar="N",
        help="requests allowed at once (the bucket's size; default: one second's worth, >= 1)",
    )
    group.add_argument(
        "--rate-limit-scope",
        choices=("global", "project"),
        default="global",
        help="one bucket for the server (default) or one per project_id",
    )
    group.add_argument(
        "--chaos",
        type=_number(float),
        default=0.0,
        metavar="RATE",
        help="fraction 0..1 of inference requests that get an error status or a fault from"
        " --chaos-mix (seeded by --seed)",
    )
    group.add_argument(
        "--chaos-mix",
        metavar="MIX",
        help=f"weighted outcomes for --chaos (default {DEFAULT_CHAOS_MIX})",
    )
    group.add_argument(
        "--directives",
        action="store_true",
        help="obey [[websim-mock: status=429]] / [[websim-mock: fault=stream_cut after=2]] at"
        " the start of the last user message (or of an image prompt)",
    )
    group.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="let non-loopback clients use the admin API with 'Authorization: Bearer TOKEN'"
        " (default: $WEBSIM_MOCK_ADMIN_TOKEN; without one, loopback clients only)",
    )


def _process_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("processes")
    group.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="N processes answering on one port (Linux, SO_REUSEPORT), for throughput. Each has"
        " its own state: with N > 1 scripted scenarios and the journal are unavailable (the"
        " admin API answers 409), --rate-limit is split N ways (a client on one keep-alive"
        " connection meets one worker, so it sees rate/N), chaos/latency/fault bytes are seeded"
        " per worker; answers are the same (default 1)",
    )
    group.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop: asyncio (default) or uvloop (pip install 'websim-harness[uvloop]')",
    )

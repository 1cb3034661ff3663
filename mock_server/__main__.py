"""The ``websim-mock`` command (also ``python -m mock_server``): serve a mock Websim until stopped.

Prints ``websim mock server listening on <url>`` once ready; SIGINT or SIGTERM stop it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from .cassette_cli import add_cassette_arguments, cassette_server
from .chaos import DEFAULT_CHAOS_MIX, parse_mix
from .latency import parse_latency
from .ratelimit import parse_rate
from .server import BACKLOG, AppServer, MockServer, is_loopback_host
from .state import DEFAULT_JOURNAL_SIZE, DEFAULT_MAX_BODY_BYTES, MockConfig
from .workers import MAX_WORKERS, WORKER_FLAG, Workers, WorkerSpec, unsupported

__all__ = ["main", "mock_options"]

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction 0..1, not {text}")
    return value


def _checked(parse: Callable[[str], Any]) -> Callable[[str], str]:
    """An argparse type that keeps the text once ``parse`` accepts it."""

    def check(text: str) -> str:
        try:
            parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    check.__name__ = parse.__name__.removeprefix("parse_")
    return check


def _workers(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_WORKERS}, not {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, not {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="websim-mock",
        description="Serve a local imitation of the Websim inference API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=8787, help="port to bind; 0 picks a free one (default 8787)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the generated answers (default 0)"
    )
    parser.add_argument(
        "--strict-ids",
        action="store_true",
        help="accept only canonical project IDs (chat 3_16, image 7_12)",
    )
    parser.add_argument(
        "--latency-ms",
        type=_non_negative_float,
        default=0.0,
        help="delay before each inference answer, in milliseconds (default 0)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"larger request bodies get a 413 (default {DEFAULT_MAX_BODY_BYTES})",
    )
    parser.add_argument(
        "--journal-size",
        type=_non_negative_int,
        default=DEFAULT_JOURNAL_SIZE,
        help=f"requests kept in the journal, oldest dropped first (default {DEFAULT_JOURNAL_SIZE})",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=_LEVELS,
        default="WARNING",
        help="logging level; DEBUG also logs every request (default WARNING)",
    )
    misbehave = parser.add_argument_group(
        "misbehaviour (off by default; see the README's 'Misbehaviour on demand')"
    )
    misbehave.add_argument(
        "--latency",
        type=_checked(parse_latency),
        metavar="MODEL",
        help="delay before each inference answer: fixed:MS, uniform:LOW,HIGH or"
        " lognormal:MEDIAN,SIGMA (milliseconds; seeded by --seed)",
    )
    misbehave.add_argument(
        "--rate-limit",
        type=_checked(parse_rate),
        metavar="RATE",
        help="token bucket on the inference endpoints, e.g. 5/s or 300/min; over it: 429"
        " 'Rate limit exceeded' with Retry-After",
    )
    misbehave.add_argument(
        "--rate-burst",
        type=_positive_int,
        metavar="N",
        help="requests allowed at once (the bucket's size; default: one second's worth, >= 1)",
    )
    misbehave.add_argument(
        "--rate-limit-scope",
        choices=("global", "project"),
        default="global",
        help="one bucket for the server (default) or one per project_id",
    )
    misbehave.add_argument(
        "--chaos",
        type=_fraction,
        default=0.0,
        metavar="RATE",
        help="fraction 0..1 of inference requests that get an error status or a fault from"
        " --chaos-mix (seeded by --seed)",
    )
    misbehave.add_argument(
        "--chaos-mix",
        type=_checked(parse_mix),
        metavar="MIX",
        help=f"weighted outcomes for --chaos (default {DEFAULT_CHAOS_MIX})",
    )
    misbehave.add_argument(
        "--directives",
        action="store_true",
        help="obey [[websim-mock: status=429]] / [[websim-mock: fault=stream_cut after=2]] at"
        " the start of the last user message (or of an image prompt)",
    )
    misbehave.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="let non-loopback clients use the admin API with 'Authorization: Bearer TOKEN'"
        " (default: $WEBSIM_MOCK_ADMIN_TOKEN; without one, loopback clients only)",
    )
    processes = parser.add_argument_group("processes")
    processes.add_argument(
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
    processes.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop: asyncio (default) or uvloop (pip install 'websim-harness[uvloop]')",
    )
    parser.add_argument(WORKER_FLAG, help=argparse.SUPPRESS)
    add_cassette_arguments(parser)
    return parser


_MISBEHAVIOUR = ("latency", "rate_limit", "rate_burst", "chaos_mix", "admin_token")


def _refuse_with_cassettes(args: argparse.Namespace) -> None:
    given = [name for name in _MISBEHAVIOUR if getattr(args, name) is not None]
    given += [name for name in ("chaos", "directives") if getattr(args, name)]
    if args.rate_limit_scope != "global":
        given.append("rate_limit_scope")
    if given and (args.cassettes is not None or args.record_to is not None):
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise SystemExit(
            f"websim-mock: error: {flags} go with the generated answers, not cassettes"
        )


def _warn_if_exposed(host: str) -> None:
    if not is_loopback_host(host):
        print(
            f"websim-mock: warning: listening on {host or 'every interface'} exposes the mock"
            " beyond this machine; the admin API still answers loopback clients only, unless"
            " --admin-token is given",
            file=sys.stderr,
            flush=True,
        )


def mock_options(args: argparse.Namespace) -> dict[str, Any]:
    """``MockServer`` keywords for the parsed flags (the admin token may come from the env)."""
    return {
        "host": args.host,
        "port": args.port,
        "access_log": args.log_level == "DEBUG",
        **_config_options(args),
    }


def _config_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``MockConfig`` keywords among the parsed flags."""
    return {
        "seed": args.seed,
        "strict_ids": args.strict_ids,
        "latency_ms": args.latency_ms,
        "max_body_bytes": args.max_body_bytes,
        "journal_size": args.journal_size,
        "latency": args.latency,
        "rate_limit": args.rate_limit,
        "rate_burst": args.rate_burst,
        "rate_limit_scope": args.rate_limit_scope,
        "chaos": args.chaos,
        "chaos_mix": args.chaos_mix,
        "directives": args.directives,
        "admin_token": args.admin_token or os.environ.get("WEBSIM_MOCK_ADMIN_TOKEN") or None,
    }


async def _serve(
    args: argparse.Namespace, server: AppServer, worker: WorkerSpec | None = None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises instead
            loop.add_signal_handler(sig, stop.set)
    if worker is not None:
        lifeline = worker.lifeline_fd

        def parent_gone() -> None:  # its end of the pipe closed: EOF here
            loop.remove_reader(lifeline)
            stop.set()

        loop.add_reader(lifeline, parent_gone)
    try:
        async with server:
            if worker is None:
                print(f"websim mock server listening on {server.url}", flush=True)
            else:
                worker.ready()
            await stop.wait()
            logging.getLogger("mock_server").info("stopping")
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)


def _run(args: argparse.Namespace, coro: Coroutine[Any, Any, None]) -> None:
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


def _main_workers(
    command: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]
) -> int:
    """The parent of ``--workers N``: start them, print the URL, wait (see mock_server.workers)."""
    why = unsupported()
    if why is not None:
        command.error(why)
    if args.cassettes is not None or args.record_to is not None:
        command.error("--workers above 1 serves the generated answers, not cassettes")
    try:  # refuse bad options once, here, rather than in every worker
        MockConfig(**_config_options(args), workers=args.workers)
    except ValueError as exc:
        print(f"websim-mock: error: {exc}", file=sys.stderr)
        return 2
    workers = Workers(argv, args.workers, host=args.host, port=args.port, backlog=BACKLOG)
    try:
        workers.start()
    except OSError as exc:
        print(
            f"websim-mock: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    except RuntimeError as exc:
        print(f"websim-mock: error: {exc}", file=sys.stderr)
        return 1
    print(f"websim mock server listening on {workers.url} ({args.workers} workers)", flush=True)
    return workers.wait()


def main(argv: Sequence[str] | None = None) -> int:
    command = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = command.parse_args(argv)
    if args.rate_burst is not None and args.rate_limit is None:
        command.error("--rate-burst needs --rate-limit")
    if args.latency is not None and args.latency_ms:
        command.error("--latency and --latency-ms exclude each other")
    if args.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        command.error("--loop uvloop needs uvloop: pip install 'websim-harness[uvloop]'")
    _refuse_with_cassettes(args)
    worker = WorkerSpec.parse(args.worker_of) if args.worker_of else None
    if worker is None:
        _warn_if_exposed(args.host)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.workers > 1 and worker is None:
        return _main_workers(command, args, argv)
    server = cassette_server(args)  # None: the generated answers
    if server is None:
        options = mock_options(args)
        if worker is not None:
            options.update(workers=worker.count, worker=worker.index, sock=worker.socket())
        try:
            server = MockServer(**options)
        except ValueError as exc:  # an option MockConfig refuses (the flags' types check most)
            print(f"websim-mock: error: {exc}", file=sys.stderr)
            return 2
    try:
        _run(args, _serve(args, server) if worker is None else _serve(args, server, worker))
    except OSError as exc:
        print(
            f"websim-mock: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

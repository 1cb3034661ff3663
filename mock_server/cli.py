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
import re
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from websim_core import __version__

from .cassette_cli import add_cassette_arguments, cassette_server
from .core.chaos import DEFAULT_CHAOS_MIX
from .core.config import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_JOURNAL_BYTES,
    DEFAULT_JOURNAL_SIZE,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_SESSION_IDLE_SECONDS,
    MockConfig,
)
from .core.errors import ConfigError, StubError
from .server import AppServer, MockServer, is_loopback_host
from .stubfiles import read_stubs_path, watch_stub_files
from .web.listen import BACKLOG
from .workers import MAX_WORKERS, WORKER_FLAG, Workers, WorkerSpec, unsupported

__all__ = ["main", "mock_config", "mock_options"]

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Ctrl-C wants the prompt back: an answer still in flight (a scripted delay, a dribble) gets
# this long, then its connection is closed. aiohttp waits up to twice the runner's timeout
# (once for the handler, once after cancelling it), so the library default of 2 s was 4 s here.
STOP_GRACE = 0.1


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


def _parser() -> argparse.ArgumentParser:
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


_MISBEHAVIOUR = ("latency", "rate_limit", "rate_burst", "chaos_mix", "admin_token")


def _refuse_with_cassettes(args: argparse.Namespace) -> None:
    given = [name for name in _MISBEHAVIOUR if getattr(args, name) is not None]
    given += [name for name in ("chaos", "directives") if getattr(args, name)]
    if args.rate_limit_scope != "global":
        given.append("rate_limit_scope")
    if args.stubs is not None:
        given.append("stubs")
    if given and (args.cassettes is not None or args.record_to is not None):
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise SystemExit(
            f"websim-mock: error: {flags} go with the generated answers, not cassettes"
        )


def _warn_if_exposed(host: str, admin_token: str | None) -> None:
    if is_loopback_host(host):
        return
    if admin_token:
        admin = "other clients that send 'Authorization: Bearer <the admin token>'"
    else:
        admin = "no other client (set --admin-token or WEBSIM_MOCK_ADMIN_TOKEN to let one in)"
    print(
        f"websim-mock: warning: listening on {host or 'every interface'} exposes the mock"
        f" beyond this machine; the admin API answers loopback clients and {admin}",
        file=sys.stderr,
        flush=True,
    )


def _admin_token(args: argparse.Namespace) -> str | None:
    return args.admin_token or os.environ.get("WEBSIM_MOCK_ADMIN_TOKEN") or None


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
        "max_sessions": args.max_sessions,
        "session_idle_seconds": args.session_idle_seconds,
        "journal_bytes": args.journal_bytes,
        "idle_timeout": args.idle_timeout,
        "read_timeout": args.read_timeout,
        "latency": args.latency,
        "rate_limit": args.rate_limit,
        "rate_burst": args.rate_burst,
        "rate_limit_scope": args.rate_limit_scope,
        "chaos": args.chaos,
        "chaos_mix": args.chaos_mix,
        "directives": args.directives,
        "admin_token": _admin_token(args),
    }


def _stub_files(command: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """``{"stubs": [...]}`` from ``--stubs PATH`` (nothing without it); a usage error if bad."""
    if args.stubs is None:
        return {}
    try:
        args.stubs_seen, stubs = read_stubs_path(Path(args.stubs))
    except StubError as exc:
        command.error(f"argument --stubs: {exc}")
    return {"stubs": stubs}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def mock_config(
    command: argparse.ArgumentParser, args: argparse.Namespace, **extra: Any
) -> MockConfig:
    """The options for the parsed flags, checked by ``MockConfig`` (the one place that checks
    them); a bad one stops with a usage error naming its flag."""
    try:
        return MockConfig(**_config_options(args), **extra)
    except ConfigError as exc:
        problem = re.sub(r"\b[a-z]+(?:_[a-z]+)+\b", lambda m: _flag(m[0]), exc.problem)
        command.error(f"argument {_flag(exc.field)}: {problem}")


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
    watcher = None
    server.shutdown_timeout = STOP_GRACE
    try:
        async with server:
            if args.stubs is not None and isinstance(server, MockServer):
                watcher = asyncio.create_task(
                    watch_stub_files(server.state, Path(args.stubs), args.stubs_seen)
                )
            if worker is None:
                print(f"websim mock server listening on {server.url}", flush=True)
            else:
                worker.ready()
            await stop.wait()
            logging.getLogger("mock_server").info("stopping")
    finally:
        if watcher is not None:
            watcher.cancel()
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
    mock_config(command, args, workers=args.workers, **_stub_files(command, args))  # once, here
    workers = Workers(argv, args.workers, host=args.host, port=args.port, backlog=BACKLOG)
    try:
        workers.start()
    except OSError as exc:
        return _cannot_listen(args, exc)
    except RuntimeError as exc:
        print(f"websim-mock: error: {exc}", file=sys.stderr)
        return 1
    print(f"websim mock server listening on {workers.url} ({args.workers} workers)", flush=True)
    return workers.wait()


def _cannot_listen(args: argparse.Namespace, exc: OSError) -> int:
    print(f"websim-mock: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``websim-mock`` with ``argv`` (default: the command line); returns the exit code."""
    command = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = command.parse_args(argv)
    if args.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        command.error("--loop uvloop needs uvloop: pip install 'websim-harness[uvloop]'")
    _refuse_with_cassettes(args)
    worker = WorkerSpec.parse(args.worker_of) if args.worker_of else None
    if worker is None:
        _warn_if_exposed(args.host, _admin_token(args))
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.workers > 1 and worker is None:
        return _main_workers(command, args, argv)
    server = cassette_server(args)  # None: the generated answers
    if server is None:
        extra: dict[str, Any] = _stub_files(command, args)
        if worker is not None:
            extra.update(workers=worker.count, worker=worker.index)
        server = MockServer(
            mock_config(command, args, **extra),
            host=args.host,
            port=args.port,
            access_log=args.log_level == "DEBUG",
            sock=None if worker is None else worker.socket(),
        )
    try:
        _run(args, _serve(args, server) if worker is None else _serve(args, server, worker))
    except OSError as exc:
        return _cannot_listen(args, exc)
    except KeyboardInterrupt:
        pass
    return 0

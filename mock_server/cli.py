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
from collections.abc import Coroutine, Sequence
from typing import Any

from .app_server import AppServer, is_loopback_host
from .cassette_cli import cassette_server
from .cli_args import parser
from .core.config import (
    MockConfig,
)
from .core.errors import ConfigError
from .server import MockServer
from .stubfiles import StubsFile, stubs_option
from .web.listen import BACKLOG
from .workers import Workers, WorkerSpec, unsupported

__all__ = ["main", "mock_config", "mock_options"]

# Ctrl-C wants the prompt back: an answer still in flight (a scripted delay, a dribble) gets
# this long, then its connection is closed. aiohttp waits up to twice the runner's timeout
# (once for the handler, once after cancelling it), so the library default of 2 s was 4 s here.
STOP_GRACE = 0.1


_MISBEHAVIOUR = ("latency", "rate_limit", "rate_burst", "chaos_mix", "admin_token")


def _refuse_with_cassettes(args: argparse.Namespace) -> None:
    given = [name for name in _MISBEHAVIOUR if getattr(args, name) is not None]
    given += [name for name in ("chaos", "directives") if getattr(args, name)]
    if args.rate_limit_scope != "global":
        given.append("rate_limit_scope")
    if args.stubs is not None:
        given.append("stubs")
    if args.unmatched != "generate":
        given.append("unmatched")
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
        "unmatched": args.unmatched,
        "admin_token": _admin_token(args),
    }


def _stub_files(
    command: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[dict[str, Any], StubsFile | None]:
    """``{"stubs": [...]}`` from ``--stubs PATH`` (nothing without it) and the file to watch,
    read as ``MockServer(stubs=PATH)`` reads it; a usage error if bad."""
    if args.stubs is None:
        return {}, None
    try:
        return stubs_option({"stubs": args.stubs})
    except ConfigError as exc:
        command.error(f"argument --stubs: {exc}")


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
    server.shutdown_timeout = STOP_GRACE
    try:
        async with server:  # (a MockServer watches its stubs file itself)
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
    mock_config(command, args, workers=args.workers, **_stub_files(command, args)[0])  # once, here
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
    command = parser()
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
        extra, stubs_file = _stub_files(command, args)
        if worker is not None:
            extra.update(workers=worker.count, worker=worker.index)
        server = MockServer(
            mock_config(command, args, **extra),
            host=args.host,
            port=args.port,
            access_log=args.log_level == "DEBUG",
            sock=None if worker is None else worker.socket(),
        )
        server.stubs_file = stubs_file
    try:
        _run(args, _serve(args, server) if worker is None else _serve(args, server, worker))
    except OSError as exc:
        return _cannot_listen(args, exc)
    except KeyboardInterrupt:
        pass
    return 0

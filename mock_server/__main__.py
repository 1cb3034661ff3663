"""The ``websim-mock`` command (also ``python -m mock_server``): serve a mock Websim until stopped.

Prints ``websim mock server listening on <url>`` once ready; SIGINT or SIGTERM stop it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from .cassette_cli import add_cassette_arguments, cassette_server
from .server import MockServer
from .state import DEFAULT_JOURNAL_SIZE, DEFAULT_MAX_BODY_BYTES

__all__ = ["main"]

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
    add_cassette_arguments(parser)
    return parser


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises instead
            loop.add_signal_handler(sig, stop.set)
    try:
        async with cassette_server(args) or MockServer(
            host=args.host,
            port=args.port,
            seed=args.seed,
            strict_ids=args.strict_ids,
            latency_ms=args.latency_ms,
            max_body_bytes=args.max_body_bytes,
            journal_size=args.journal_size,
            access_log=args.log_level == "DEBUG",
        ) as server:
            print(f"websim mock server listening on {server.url}", flush=True)
            await stop.wait()
            logging.getLogger("mock_server").info("stopping")
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_serve(args))
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

"""The cassette modes of ``websim-mock``: ``--cassettes DIR`` (replay) and ``--record-to DIR
--upstream URL`` (recording proxy). ``__main__`` adds these flags and asks for the server here.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_cassette_arguments", "cassette_server"]


def add_cassette_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cassettes (instead of the generated answers)")
    group.add_argument(
        "--cassettes",
        metavar="DIR",
        help="answer from the vcrpy cassettes in DIR (404 with the closest requests otherwise)",
    )
    group.add_argument(
        "--repeat",
        choices=("last", "cycle", "none"),
        default="last",
        help="once a request's recorded answers are played: keep the last (default), "
        "start again, or 404",
    )
    group.add_argument(
        "--record-to",
        metavar="DIR",
        help="forward every request to --upstream and record scrubbed cassettes into DIR",
    )
    group.add_argument("--upstream", metavar="URL", help="where --record-to forwards requests")
    group.add_argument(
        "--cassette",
        metavar="NAME",
        help="cassette file for --record-to (default recording-<time>.yaml; the "
        "X-Websim-Cassette request header overrides it)",
    )


def _fail(message: str) -> SystemExit:
    return SystemExit(f"websim-mock: error: {message}")


def cassette_server(args: argparse.Namespace) -> Any:
    """A not-yet-started replay or proxy server for these flags, or None for the normal mock.

    Bad combinations and unloadable cassettes exit with one ``websim-mock: error:`` line.
    """
    replay, record_to, upstream = args.cassettes, args.record_to, args.upstream
    if replay is None and record_to is None:
        if upstream is not None or args.cassette is not None:
            raise _fail("--upstream and --cassette go with --record-to")
        return None
    if replay is not None and record_to is not None:
        raise _fail("--cassettes and --record-to exclude each other")
    if record_to is not None:
        if upstream is None:
            raise _fail("--record-to needs --upstream URL")
        from .record_proxy import ProxyServer

        try:
            return ProxyServer(
                upstream, record_to, cassette=args.cassette, host=args.host, port=args.port
            )
        except ValueError as exc:
            raise _fail(str(exc)) from None
    try:
        from websim_cassettes import CassetteLoadError

        from .replay import ReplayServer
    except ImportError as exc:  # vcrpy is an extra
        raise _fail(f"--cassettes needs vcrpy ({exc})") from None
    try:
        server = ReplayServer(
            replay,
            host=args.host,
            port=args.port,
            repeat=args.repeat,
            strict_ids=args.strict_ids,
        )
    except CassetteLoadError as exc:
        raise _fail(str(exc)) from None
    index = server.index
    print(
        f"replaying {index.size} interaction(s) from {len(index.cassettes)} cassette(s) in {replay}",
        file=sys.stderr,
    )
    for rejected in index.rejected:
        print(f"websim-mock: warning: {rejected}", file=sys.stderr)
    return server

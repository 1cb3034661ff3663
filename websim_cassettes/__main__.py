"""``websim-cassettes`` / ``python -m websim_cassettes``: check, record, list.

``check [DIR]`` validates the cassettes under DIR, subfolders included (exit 0 clean, 1 findings); ``record`` re-records every
cassette against ``WEBSIM_BASE_URL`` with a drift report; ``list`` names the scenarios;
``stubs CASSETTE`` prints the mock stubs (YAML) that answer a cassette's requests as recorded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from websim_core import __version__
from websim_core.pipes import reader_gone

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="websim-cassettes", description="Check and re-record the Websim vcrpy cassettes."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate cassettes against the protocol, find secrets")
    check.add_argument(
        "directory", nargs="?", help="default: $WEBSIM_CASSETTE_DIR, else ./cassettes"
    )
    check.add_argument(
        "--strict-ids",
        action="store_true",
        help="only canonical project IDs, as websim-mock --strict-ids accepts",
    )
    check.add_argument(
        "--require-provenance",
        action="store_true",
        help="a cassette without a websim_harness: block (what it was recorded against) is a "
        "finding; for cassettes the harness records, not plain vcrpy / pytest-recording ones",
    )
    record = sub.add_parser(
        "record", help="re-record every cassette, check it, report drift against the committed"
    )
    record.add_argument(
        "--base-url", help="target (default: $WEBSIM_BASE_URL, else the live https://websim.ai)"
    )
    record.add_argument(
        "--cassettes",
        type=Path,
        help="committed cassettes (default: $WEBSIM_CASSETTE_DIR, else ./cassettes)",
    )
    record.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="just this scenario (repeatable)",
    )
    record.add_argument(
        "--target",
        choices=("auto", "mock", "live"),
        default="auto",
        help="what the base URL is (auto: asks for the mock's admin API)",
    )
    record.add_argument(
        "--accept", action="store_true", help="replace the committed cassettes (atomically)"
    )
    record.add_argument("--keep", type=Path, help="also copy the new recordings here")
    record.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS")
    record.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS")
    sub.add_parser("list", help="the scenarios, one per cassette")
    stubs = sub.add_parser(
        "stubs", help="print mock stubs (YAML) answering a cassette's requests as recorded"
    )
    stubs.add_argument("cassette", type=Path, help="a cassette file")
    return parser


def _stubs(path: Path) -> int:
    import yaml

    from .files import CassetteLoadError, load_cassette
    from .tostubs import cassette_stubs

    try:
        cassette = load_cassette(path)
    except (OSError, CassetteLoadError) as exc:
        print(f"websim-cassettes stubs: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    stubs = cassette_stubs(cassette)
    print(f"# websim-mock --stubs: {len(stubs)} stub(s) from {path.name}")
    print(yaml.safe_dump(stubs, sort_keys=False, allow_unicode=True, width=100), end="")
    return 0


def _check(directory: str | None, *, strict_ids: bool, require_provenance: bool) -> int:
    from .check import check_directory
    from .config import cassette_dir

    root = cassette_dir(directory)
    findings = check_directory(root, strict_ids=strict_ids, require_provenance=require_provenance)
    for finding in findings:
        print(finding.line())
    if findings:
        print(f"{len(findings)} finding(s) in {root}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code = _command(args)
        sys.stdout.flush()  # inside the try: `websim-cassettes list | head -1` is no error
    except BrokenPipeError:
        return reader_gone()
    return code


def _command(args: argparse.Namespace) -> int:
    try:
        import vcr  # noqa: F401
    except ImportError:
        print(
            "websim-cassettes: vcrpy is not installed (pip install vcrpy)",
            file=sys.stderr,
        )
        return 2
    if args.command == "check":
        return _check(
            args.directory, strict_ids=args.strict_ids, require_provenance=args.require_provenance
        )
    if args.command == "stubs":
        return _stubs(args.cassette)
    if args.command == "list":
        from .scenarios import SCENARIOS

        for scenario in SCENARIOS:
            live = "" if scenario.live else "  [mock only: arranged]"
            print(f"{scenario.cassette:<28} {scenario.description}{live}")
        return 0
    from .record import RecordOptions
    from .record import main as record_main

    options = RecordOptions(
        base_url=args.base_url,
        cassettes=args.cassettes,
        only=tuple(args.only),
        target=args.target,
        accept=args.accept,
        keep=args.keep,
        connect_timeout=args.connect_timeout,
        timeout=args.timeout,
    )
    try:
        return record_main(options)
    except KeyboardInterrupt:
        print(
            "websim-cassettes record: interrupted; committed cassettes untouched", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())

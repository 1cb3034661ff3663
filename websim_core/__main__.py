"""The ``websim`` command: ``websim chat "Hello"`` or ``websim image "A cat" --aspect-ratio 16:9``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from . import __version__
from .client import WebsimClient
from .errors import WebsimError
from .pipes import reader_gone
from .protocol import DEFAULT_ASPECT_RATIO
from .retry import RetryPolicy
from .routing import DEFAULT_IMAGE_MODEL, DEFAULT_MODEL, IMAGE_MODELS

__all__ = ["main"]


def _connection_options(*, in_subcommand: bool) -> argparse.ArgumentParser:
    # Accepted before and after the subcommand (`websim chat "Hi" --base-url URL`); in the
    # subcommand the defaults are suppressed so they cannot overwrite a value given before it.
    def default(value: object) -> object:
        return argparse.SUPPRESS if in_subcommand else value

    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--base-url",
        default=default(None),
        help="API base URL (default: $WEBSIM_BASE_URL or https://websim.ai)",
    )
    options.add_argument(
        "--timeout",
        type=float,
        default=default(120.0),
        help="seconds per request (default 120)",
    )
    options.add_argument("--proxy", default=default(None), help="HTTP proxy URL")
    return options


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="websim",
        description="Talk to the Websim inference API.",
        parents=[_connection_options(in_subcommand=False)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    common = [_connection_options(in_subcommand=True)]
    chat = sub.add_parser("chat", parents=common, help="send one user message, print the answer")
    chat.add_argument("message")
    chat.add_argument("--model", default=DEFAULT_MODEL)
    chat.add_argument("--system", help="a system message to send first")
    chat.add_argument("--stream", action="store_true", help="ask for a streamed answer")
    image = sub.add_parser("image", parents=common, help="generate an image, print its Markdown")
    image.add_argument("prompt")
    image.add_argument("--model", default=DEFAULT_IMAGE_MODEL, choices=IMAGE_MODELS)
    image.add_argument("--aspect-ratio", default=DEFAULT_ASPECT_RATIO)
    image.add_argument("--project-id")
    return parser


async def _announced_sleep(seconds: float) -> None:
    # A rate-limited call waits seconds before retrying: say so rather than look hung.
    print(f"websim: rate limited; retrying in {seconds:g} s", file=sys.stderr, flush=True)
    await asyncio.sleep(seconds)


async def _run(args: argparse.Namespace) -> None:
    retry = RetryPolicy(sleep=_announced_sleep)
    async with WebsimClient(
        args.base_url, timeout=args.timeout, proxy=args.proxy, retry=retry
    ) as client:
        if args.command == "image":
            result = await client.generate_image(
                args.prompt, aspect_ratio=args.aspect_ratio, project_id=args.project_id
            )
            print(result)
            return
        messages = [{"role": "user", "content": args.message}]
        if args.system:
            messages.insert(0, {"role": "system", "content": args.system})
        if args.stream:
            async for delta in client.stream_chat(messages, model=args.model):
                print(delta, end="", flush=True)
            print()
        else:
            print(await client.chat(messages, model=args.model))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_run(args))
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at exit
    except BrokenPipeError:
        return reader_gone()
    except WebsimError as exc:
        # One line whatever the message holds (a server's text, an aiohttp error).
        print(f"websim: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""SSE decoding throughput: ``websim_core.sse.SSEDecoder`` against httpx-sse on the same bytes.

The input is one chat answer stream as the mock server frames it (``data: {"content": ...}``
events, some non-ASCII text, a final ``data: [DONE]``), cut into chunks three ways: one chunk
per event (what a server's writes look like), fixed 4 KiB chunks (splits inside lines and
inside UTF-8 characters), and the whole stream at once. Three pipelines, bytes in, events out:

- ``websim_core``: ``SSEDecoder().feed(chunk)`` per chunk.
- ``httpx-sse``: what ``EventSource.iter_sse`` does once httpx has the bytes: an incremental
  UTF-8 decoder (as httpx's ``TextDecoder``), httpx-sse's ``SSELineDecoder``, then its
  ``SSEDecoder.decode(line)`` per line. This is the decoder-to-decoder comparison (the target).
- ``httpx-sse+httpx``: ``EventSource(httpx.Response(..., content=chunks)).iter_sse()``, the
  same plus httpx's response streaming; shown for context.

Every pipeline must produce the same event data before anything is timed. Each timing is the
best of several interleaved repeats.
"""

from __future__ import annotations

import argparse
import codecs
import json
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from websim_core.sse import SSEDecoder

WORDS = (
    "Hello there, ",
    "how are you today? ",
    "Привет, как дела? ",
    "Хорошо, а у тебя как? ",  # noqa: RUF001
    "A cat in space 🐱🚀. ",
    "Multiple\nlines\nhere. ",
    'quotes " and \\ backslashes. ',
)


def make_stream(events: int = 2000) -> bytes:
    parts = [
        b"data: "
        + json.dumps({"content": WORDS[i % len(WORDS)]}, ensure_ascii=False).encode()
        + b"\n\n"
        for i in range(events)
    ]
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def chunkings(stream: bytes) -> dict[str, list[bytes]]:
    per_event = [part + b"\n\n" for part in stream.split(b"\n\n")[:-1]]
    assert b"".join(per_event) == stream
    return {
        "per-event": per_event,
        "4KiB": [stream[i : i + 4096] for i in range(0, len(stream), 4096)],
        "whole": [stream],
    }


def decode_websim(chunks: Iterable[bytes]) -> list[str]:
    decoder = SSEDecoder()
    out: list[str] = []
    for chunk in chunks:
        for event in decoder.feed(chunk):
            out.append(event.data)
    decoder.close()
    return out


def _httpx_sse() -> tuple[Any, Any]:
    from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
    from httpx_sse._decoders import SSELineDecoder

    return HttpxSSEDecoder, SSELineDecoder


def decode_httpx_sse(chunks: Iterable[bytes]) -> list[str]:
    decoder_cls, line_decoder_cls = _httpx_sse()
    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines = line_decoder_cls()
    decoder = decoder_cls()
    out: list[str] = []

    def handle(line_list: list[str]) -> None:
        for line in line_list:
            sse = decoder.decode(line.rstrip("\n"))
            if sse is not None:
                out.append(sse.data)

    for chunk in chunks:
        text = text_decoder.decode(chunk)
        if text:
            handle(lines.decode(text))
    tail = text_decoder.decode(b"", True)
    if tail:
        handle(lines.decode(tail))
    handle(lines.flush())
    return out


def decode_httpx_sse_response(chunks: Iterable[bytes]) -> list[str]:
    import httpx
    from httpx_sse import EventSource

    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=iter(list(chunks))
    )
    return [sse.data for sse in EventSource(response).iter_sse()]


PIPELINES: dict[str, Callable[[Iterable[bytes]], list[str]]] = {
    "websim_core": decode_websim,
    "httpx-sse": decode_httpx_sse,
    "httpx-sse+httpx": decode_httpx_sse_response,
}


def httpx_sse_available() -> str | None:
    """None when httpx-sse (and httpx) import, else why not."""
    try:
        _httpx_sse()
        import httpx  # noqa: F401
    except ImportError as exc:
        return f"httpx-sse unavailable ({exc}); pip install 'websim-harness[bench]'"
    return None


def bench(events: int = 2000, repeats: int = 9, min_time: float = 0.1) -> dict[str, Any]:
    why = httpx_sse_available()
    if why:
        return {"skipped": why}
    stream = make_stream(events)
    results: dict[str, Any] = {
        "stream_bytes": len(stream),
        "events": events + 1,
        "chunkings": {},
    }
    for chunking, chunks in chunkings(stream).items():
        expected = decode_websim(chunks)
        for name, pipeline in PIPELINES.items():
            got = pipeline(chunks)
            if got != expected:
                raise AssertionError(f"{name} decodes the {chunking} stream differently")
        # Loops per timing so one timing lasts about min_time.
        start = time.perf_counter()
        decode_httpx_sse(chunks)
        loops = max(1, int(min_time / max(time.perf_counter() - start, 1e-6)))
        best = dict.fromkeys(PIPELINES, float("inf"))
        for _ in range(repeats):
            for name, pipeline in PIPELINES.items():
                start = time.perf_counter()
                for _ in range(loops):
                    pipeline(chunks)
                best[name] = min(best[name], (time.perf_counter() - start) / loops)
        row = {
            name: {
                "s_per_stream": seconds,
                "mb_per_s": len(stream) / seconds / 1e6,
                "events_per_s": (events + 1) / seconds,
            }
            for name, seconds in best.items()
        }
        row["ratio_vs_httpx_sse"] = best["httpx-sse"] / best["websim_core"]
        row["ratio_vs_httpx_sse_response"] = best["httpx-sse+httpx"] / best["websim_core"]
        row["chunks"] = len(chunks)
        results["chunkings"][chunking] = row
    results["ratio_min"] = min(row["ratio_vs_httpx_sse"] for row in results["chunkings"].values())
    return results


def long_line_seconds(mib: int, chunk: int = 64 * 1024, *, baseline: bool = False) -> float:
    """Seconds ``SSEDecoder`` takes for one ``data:`` line of ``mib`` MiB fed in ``chunk``-byte
    pieces (the line length bound lifted). ``baseline``: the least work with those bytes
    instead (keep the chunks, join, decode), whose time grows linearly by construction."""
    piece = b"a" * chunk
    count = (mib << 20) // chunk
    started = time.perf_counter()
    if baseline:
        kept = [b"data: "]
        for _ in range(count):
            kept.append(piece)
        data = b"".join(kept).decode("utf-8")[6:]
    else:
        decoder = SSEDecoder(max_line_length=(mib + 1) << 20)
        decoder.feed(b"data: ")
        for _ in range(count):
            decoder.feed(piece)
        (event,) = decoder.feed(b"\n\n")
        data = event.data
    seconds = time.perf_counter() - started
    assert len(data) == mib << 20
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    result = bench(args.events, args.repeats)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

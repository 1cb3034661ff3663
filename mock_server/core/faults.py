"""The bytes of each fault, with no I/O: what goes on the wire before the mock closes the socket.

``mock_server.app`` writes these and closes; everything here is a pure function of the normal
answer, the fault's parameters and (for ``garbage``) a seeded ``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .steps import StreamMalformed

__all__ = [
    "MALFORMED_EVENT",
    "cut_events",
    "garbage_bytes",
    "malformed_body",
    "malformed_events",
    "raw_head",
    "split_evenly",
    "truncate",
]

# An event whose data is not JSON: what the `stream_malformed` fault slips into a stream.
MALFORMED_EVENT = b"data: {not json\n\n"
# Not a byte any HTTP/1.x status line starts with ('H'), nor whitespace a parser might skip.
_FIRST_BYTES = bytes(b for b in range(256) if b not in b"Hh \t\r\n")


def garbage_bytes(rng: random.Random, size: int) -> bytes:
    """``size`` random bytes that cannot be read as the start of an HTTP response."""
    if size < 1:
        raise ValueError("garbage needs at least one byte")
    first = _FIRST_BYTES[rng.randrange(len(_FIRST_BYTES))]
    return bytes([first]) + rng.randbytes(size - 1)


def truncate(body: bytes, keep: int | None) -> bytes:
    """The part of ``body`` a truncated answer sends: ``keep`` bytes (default half), never all."""
    most = max(0, len(body) - 1)
    return body[: min(most, len(body) // 2 if keep is None else keep)]


def raw_head(status: int, reason: str, content_type: str | None, length: int) -> bytes:
    """An HTTP/1.1 response head announcing ``length`` bytes of body and a closing connection."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"Content-Length: {length}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def cut_events(events: Sequence[bytes], after: int) -> list[bytes]:
    """The first ``after`` events of a stream, never its final ``[DONE]`` (the last event)."""
    return list(events[: min(after, len(events) - 1)])


def malformed_events(events: Sequence[bytes], step: StreamMalformed) -> list[bytes]:
    """The stream with ``MALFORMED_EVENT`` after ``step.after_events`` events (default: the
    middle of the deltas); ``[DONE]`` stays last."""
    deltas = len(events) - 1
    at = deltas // 2 if step.after_events is None else min(step.after_events, deltas)
    return [*events[:at], MALFORMED_EVENT, *events[at:]]


def malformed_body(body: bytes) -> bytes:
    """A complete answer that is not JSON: the first half of the JSON body."""
    return truncate(body, None)


def split_evenly(data: bytes, chunks: int) -> list[bytes]:
    """``data`` in ``chunks`` pieces (fewer if it is shorter), sizes differing by at most one."""
    count = max(1, min(chunks, len(data)))
    size, extra = divmod(len(data), count)
    out: list[bytes] = []
    pos = 0
    for i in range(count):
        end = pos + size + (1 if i < extra else 0)
        out.append(data[pos:end])
        pos = end
    return out

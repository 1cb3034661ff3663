"""How a journal entry is packed in memory: one bytes object and a shared answer tuple.

``pack_entry`` turns what a request left behind into the bytes (id, time, path, header block,
body, the answer's body, each cut to the journal's bounds) and the tuple saying how it was
answered; ``unpack_entry`` gives the ``JournalEntry`` back. Only ``Journal`` packs; the field
indexes let it filter on the answer tuple without decoding anything.
"""

from __future__ import annotations

import struct
from itertools import chain
from typing import Any

from .journal_entry import JournalEntry, StubRef
from .steps import ReplyStep, StatusStep, Step

__all__ = [
    "ANSWER_FIELDS",
    "ENDPOINT_FIELD",
    "MISSED_FIELD",
    "SESSION_FIELD",
    "SOURCE_FIELD",
    "Recorded",
    "entry_id_of",
    "pack_entry",
    "unpack_entry",
]

# A journal entry packed: id, time, then the sizes of the path, the header block (as kept), the
# body (before it was cut) and the answer's body (as kept), then the header block's and the
# answer's sizes before they were cut; followed by those bytes (the answer's last).
_PACKED = struct.Struct("<qdIIIIII")
_ODD_HEADERS = 0xFFFFFFFF  # header size meaning "kept apart": a name or value holds CRLF
# An answer tuple: method, endpoint, status, type, source, step, stub, session, missed; one
# more when the headers are kept apart (_ODD_HEADERS).
ANSWER_FIELDS = 9
ENDPOINT_FIELD = 1
SOURCE_FIELD = 4
SESSION_FIELD = 7
MISSED_FIELD = 8
_NO_ANSWER = 0xFFFFFFFF  # answer size meaning "no body was sent" (None)

# What a request left behind, as ``Journal.record`` takes it: time, method, path, raw header
# lines, body, endpoint, status, the answer's type and body, source, step, stub, session, missed.
Recorded = tuple[
    float,
    str,
    str,
    tuple[tuple[bytes, bytes], ...],
    bytes,
    "str | None",
    int,
    "str | None",
    "bytes | None",
    str,
    "Step | None",
    "StubRef | None",
    "str | None",
    bool,
]


def entry_id_of(packed: bytes) -> int:
    """The id of a packed entry."""
    entry_id: int = _PACKED.unpack_from(packed)[0]
    return entry_id


def _cut_headers(
    raw_headers: tuple[tuple[bytes, bytes], ...], limit: int
) -> tuple[tuple[bytes, bytes], ...]:
    """The first header lines that fit in ``limit`` bytes (each counted with ": " and CRLF)."""
    kept, used = [], 0
    for name, value in raw_headers:
        used += len(name) + len(value) + 4
        if used > limit:
            break
        kept.append((name, value))
    return tuple(kept)


def _cut_step(step: Step | None, limit: int) -> Step | None:
    """A step whose answer was cut, cut alike: its text or text body to ``limit`` characters,
    a JSON body left out (the answer's first bytes are journaled with it)."""
    if isinstance(step, ReplyStep) and step.text is not None and len(step.text) > limit:
        return ReplyStep(step.text[:limit], step.headers)
    if isinstance(step, StatusStep) and step.body is not None:
        body = step.body[:limit] if isinstance(step.body, str) else None
        return StatusStep(step.status, step.headers, body)
    return step


def pack_entry(
    entry_id: int, pending: Recorded, max_body: int, max_headers: int
) -> tuple[bytes, tuple[Any, ...]]:
    """The packed bytes and the answer tuple of one recorded request (its ``Recorded``
    fields); the tuple has ``ANSWER_FIELDS + 1`` items when the header lines are
    kept apart (a name or value holds CRLF, so the block could not be split again)."""
    (
        when, method, path, raw_headers, body, endpoint, status,
        response_type, response_body, source, step, stub, session, missed,
    ) = pending  # fmt: skip
    target = path.encode("utf-8", "surrogatepass")
    block = b"\r\n".join(chain.from_iterable(raw_headers))
    block_size = headers_size = len(block)
    if block_size > max_headers:  # rare: cut, then pack as usual
        raw_headers = _cut_headers(raw_headers, max_headers)
        block = b"\r\n".join(chain.from_iterable(raw_headers))
        block_size = len(block)
    kept_answer = answer_size = _NO_ANSWER
    if response_body is not None:
        kept_answer = answer_size = len(response_body)
        if answer_size > max_body:
            response_body, step = response_body[:max_body], _cut_step(step, max_body)
            kept_answer = max_body
    answer: tuple[Any, ...]
    answer = (method, endpoint, status, response_type, source, step, stub, session, missed)
    if raw_headers and block.count(b"\r\n") != 2 * len(raw_headers) - 1:
        block, block_size, answer = b"", _ODD_HEADERS, (*answer, raw_headers)
    head = _PACKED.pack(
        entry_id, when, len(target), block_size, len(body), kept_answer, headers_size, answer_size
    )
    return b"".join((head, target, block, body[:max_body], response_body or b"")), answer


def unpack_entry(packed: bytes, answer: tuple[Any, ...]) -> JournalEntry:
    """A packed entry and its answer tuple as a ``JournalEntry``."""
    (entry_id, time, path_size, block_size, size, response_size, headers_size, answer_size) = (
        _PACKED.unpack_from(packed)
    )
    start = _PACKED.size + path_size
    path = packed[_PACKED.size : start].decode("utf-8", "surrogatepass")
    if block_size == _ODD_HEADERS:
        raw_headers = answer[ANSWER_FIELDS]
        block_size = 0
        headers_truncated = len(b"\r\n".join(chain.from_iterable(raw_headers))) < headers_size
    else:
        fields = packed[start : start + block_size].split(b"\r\n") if block_size else []
        raw_headers = tuple(zip(fields[0::2], fields[1::2], strict=True))
        headers_truncated = block_size < headers_size
    end = len(packed)
    response_body: bytes | None = None
    if response_size != _NO_ANSWER:
        end -= response_size
        response_body = packed[end:]
    method, endpoint, status, response_type, source, step, stub, session, missed = answer[
        :ANSWER_FIELDS
    ]
    return JournalEntry(
        entry_id,
        time,
        method,
        path,
        raw_headers,
        packed[start + block_size : end],
        size,
        endpoint,
        status,
        response_type,
        response_body,
        source,
        step,
        headers_truncated,
        None if answer_size == response_size else answer_size,
        stub,
        session,
        missed,
    )

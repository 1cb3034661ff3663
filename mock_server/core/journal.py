"""The journal: the last requests the mock received and how it answered, packed in memory.

The hot path only queues references (``Journal.record``); entries are packed in batches and
decoded only when read (``Journal.entries``, ``JournalEntry.to_json``). Memory is bounded three
ways: at most ``maxlen`` entries, each body, header block and answer cut to ``max_body`` bytes
(headers to at least ``MIN_HEADER_BYTES``), and at most ``max_bytes`` in all, oldest dropped
first.
"""

from __future__ import annotations

import base64
import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

from .config import DEFAULT_JOURNAL_BODY_BYTES, DEFAULT_JOURNAL_BYTES, DEFAULT_JOURNAL_SIZE
from .jsonbody import parse_json_strictly
from .steps import ReplyStep, StatusStep, Step

__all__ = ["MIN_HEADER_BYTES", "Journal", "JournalEntry"]

# A header block is cut like a body, but never below this: with journal_body_bytes=0 (no
# bodies) the headers a test looks at are still there. aiohttp takes up to 128 lines of 8 KiB.
MIN_HEADER_BYTES = 8 * 1024


def _header_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _body_json(body: bytes) -> tuple[str, str]:
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


@dataclass(slots=True)
class JournalEntry:
    """One request received and what was answered; ``to_json()`` gives its admin-API form.

    The hot path only packs bytes (see ``Journal``); decoding and JSON parsing happen when
    someone reads the journal.
    """

    id: int
    time: float
    method: str
    path: str
    raw_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    body_size: int
    endpoint: str | None
    status: int
    response_type: str | None
    response_body: bytes | None
    source: str
    step: Step | None = None
    headers_truncated: bool = False  # later header lines were left out (see MIN_HEADER_BYTES)
    response_size: int | None = None  # the answer's size when it was cut; None when whole
    stub: str | None = None  # the id of the stub that answered
    session: str | None = None  # the session it came in (None: the server's own)

    @property
    def headers(self) -> dict[str, str]:
        """Header names lowercased; repeated headers joined with ", "."""
        out: dict[str, str] = {}
        for raw_name, raw_value in self.raw_headers:
            name = _header_text(raw_name).lower()
            value = _header_text(raw_value)
            out[name] = f"{out[name]}, {value}" if name in out else value
        return out

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not (or was cut by the journal)."""
        if not self.body or len(self.body) < self.body_size:
            return None
        try:
            return parse_json_strictly(self.body)
        except ValueError:
            return None

    def to_json(self) -> dict[str, Any]:
        body, encoding = _body_json(self.body)
        answer: str | None = None
        answer_encoding: str | None = None
        if self.response_body is not None:
            answer, answer_encoding = _body_json(self.response_body)
        return {
            "id": self.id,
            "session": self.session,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "headers": self.headers,
            "headers_truncated": self.headers_truncated,
            "body": body,
            "body_encoding": encoding,
            "body_size": self.body_size,
            "body_truncated": len(self.body) < self.body_size,
            "json": self.json,
            "response": {
                "status": self.status,
                "content_type": self.response_type,
                "body": answer,
                "body_encoding": answer_encoding,
                "body_truncated": self.response_size is not None,
                "source": self.source,
                "step": None if self.step is None else self.step.to_json(),
                "stub": self.stub,
            },
        }


# A journal entry packed: id, time, then the sizes of the path, the header block (as kept), the
# body (before it was cut) and the answer's body (as kept), then the header block's and the
# answer's sizes before they were cut; followed by those bytes (the answer's last).
_PACKED = struct.Struct("<qdIIIIII")
_ODD_HEADERS = 0xFFFFFFFF  # header size meaning "kept apart": a name or value holds CRLF
# An answer tuple: method, endpoint, status, type, source, step, stub, session; one more when
# the headers are kept apart (_ODD_HEADERS).
_ANSWER_FIELDS = 8
_SESSION_FIELD = 7
_NO_ANSWER = 0xFFFFFFFF  # answer size meaning "no body was sent" (None)
# Answers are shared per session too: room for ~1,000 live sessions' few kinds of answer each.
_MAX_SHARED_ANSWERS = 4096
_PACK_EVERY = 64
_BATCHED_HEADERS = 16  # a request with more header lines (up to 128 of 8 KiB) is packed at once
# What an entry costs besides its packed bytes (the bytes object, its deque slots, its share
# of an answer tuple): counted against max_bytes so that tiny entries are bounded too.
ENTRY_OVERHEAD = 128


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


def _unpack(packed: bytes, answer: tuple[Any, ...]) -> JournalEntry:
    """A packed entry and its answer tuple as a ``JournalEntry``."""
    (
        entry_id,
        time,
        path_size,
        block_size,
        size,
        response_size,
        headers_size,
        answer_size,
    ) = _PACKED.unpack_from(packed)
    start = _PACKED.size + path_size
    path = packed[_PACKED.size : start].decode("utf-8", "surrogatepass")
    if block_size == _ODD_HEADERS:
        raw_headers = answer[_ANSWER_FIELDS]
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
    method, endpoint, status, response_type, source, step, stub, session = answer[:_ANSWER_FIELDS]
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
    )


class Journal:
    """The last ``maxlen`` requests, oldest first, in at most ``max_bytes``; older ones are
    dropped and counted.

    Under load a full journal drops an entry per request, and what it frees has gone cold in
    the CPU caches by then (ten thousand requests later); the fifteen or so objects a request
    leaves behind (header tuples, body, path, time...) made that the larger part of the
    journal's cost (issue 7). So ``record`` only queues the request's pieces, and every
    ``_PACK_EVERY`` requests (or when read) they are packed, in one loop that stays in the
    caches, into one bytes object per entry (id, time, path, header block, body, the answer's
    body) and a tuple saying how it was answered, which entries answered alike share (the
    answer's body is packed so that they do). ``entries()`` unpacks them into ``JournalEntry``
    objects; nothing is decoded or parsed before that. A request with something to cut (a
    body or answer over ``max_body``, more than ``_BATCHED_HEADERS`` header lines) is packed
    at once, so the batch never holds much more than the cut entries will.
    """

    __slots__ = (
        "_answers",
        "_bytes",
        "_next_id",
        "_packed",
        "_pending",
        "_shared",
        "max_body",
        "max_bytes",
        "total",
    )

    def __init__(
        self,
        maxlen: int = DEFAULT_JOURNAL_SIZE,
        max_body: int = DEFAULT_JOURNAL_BODY_BYTES,
        max_bytes: int = DEFAULT_JOURNAL_BYTES,
    ) -> None:
        self._packed: deque[bytes] = deque(maxlen=maxlen)
        self._answers: deque[tuple[Any, ...]] = deque(maxlen=maxlen)
        self._pending: list[tuple[Any, ...]] = []
        self._shared: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._next_id = 1
        self.max_body = max_body
        self.max_bytes = max_bytes
        self._bytes = 0
        self.total = 0  # recorded since the last clear, dropped ones included

    @property
    def maxlen(self) -> int:
        maxlen = self._packed.maxlen
        assert maxlen is not None
        return maxlen

    @property
    def held_bytes(self) -> int:
        """What the kept entries cost: their packed bytes plus ``ENTRY_OVERHEAD`` each."""
        self._pack()
        return self._bytes

    @property
    def dropped(self) -> int:
        return self.total - len(self)

    def record(
        self,
        *,
        time: float,
        method: str,
        path: str,
        raw_headers: tuple[tuple[bytes, bytes], ...],
        body: bytes,
        endpoint: str | None,
        status: int,
        response_type: str | None = None,
        response_body: bytes | None = None,
        source: str = "reply",
        step: Step | None = None,
        stub: str | None = None,
        session: str | None = None,
    ) -> int:
        """Add an entry (its body cut to ``max_body`` bytes); returns its id."""
        entry_id = self._next_id
        self._next_id = entry_id + 1
        self.total += 1
        pending = self._pending
        pending.append(
            (
                time,
                method,
                path,
                raw_headers,
                body,
                endpoint,
                status,
                response_type,
                response_body,
                source,
                step,
                stub,
                session,
            )
        )
        # Pack now what will be cut: the batch never holds more than the cut sizes allow.
        if (
            len(pending) >= _PACK_EVERY
            or len(body) > self.max_body
            or len(raw_headers) > _BATCHED_HEADERS
            or (response_body is not None and len(response_body) > self.max_body)
        ):
            self._pack()
        return entry_id

    def _pack(self) -> None:
        pending = self._pending
        if not pending:
            return
        if not self.maxlen:
            pending.clear()
            return
        max_body, shared = self.max_body, self._shared
        max_headers = max(max_body, MIN_HEADER_BYTES)
        packed, answers = self._packed, self._answers
        maxlen, max_bytes, size = self.maxlen, self.max_bytes, self._bytes
        entry_id = self._next_id - len(pending)
        for (
            when,
            method,
            path,
            raw_headers,
            body,
            endpoint,
            status,
            response_type,
            response_body,
            source,
            step,
            stub,
            session,
        ) in pending:
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
            answer: tuple[Any, ...] = (
                method,
                endpoint,
                status,
                response_type,
                source,
                step,
                stub,
                session,
            )
            if raw_headers and block.count(b"\r\n") != 2 * len(raw_headers) - 1:
                block, block_size, answer = b"", _ODD_HEADERS, (*answer, raw_headers)
                size += max_headers  # kept apart, at most this long
            elif step is None:  # hashable: share the answer with the entries answered alike
                answer = shared.setdefault(answer, answer)
                if len(shared) > _MAX_SHARED_ANSWERS:
                    shared.clear()
            head = _PACKED.pack(
                entry_id,
                when,
                len(target),
                block_size,
                len(body),
                kept_answer,
                headers_size,
                answer_size,
            )
            entry = b"".join((head, target, block, body[:max_body], response_body or b""))
            if len(packed) == maxlen:  # the deques drop their oldest on append: count it out
                size -= len(packed[0]) + ENTRY_OVERHEAD
                if len(answers[0]) > _ANSWER_FIELDS:  # headers kept apart
                    size -= max_headers
            packed.append(entry)
            answers.append(answer)
            size += len(entry) + ENTRY_OVERHEAD
            entry_id += 1
            if size > max_bytes:
                size = self._drop_oldest(size)
        self._bytes = size
        pending.clear()

    def _drop_oldest(self, size: int) -> int:
        """Drop entries, oldest first, until the rest fit in max_bytes; returns what they cost
        (``size``: what all of them did)."""
        packed, answers = self._packed, self._answers
        odd = max(self.max_body, MIN_HEADER_BYTES)
        while packed and size > self.max_bytes:
            size -= len(packed.popleft()) + ENTRY_OVERHEAD
            if len(answers.popleft()) > _ANSWER_FIELDS:  # headers kept apart
                size -= odd
        return size

    def entries(self) -> list[JournalEntry]:
        return list(self.page())

    @property
    def last_id(self) -> int:
        """The id of the newest entry recorded (0 before the first)."""
        return self._next_id - 1

    def page(
        self, since: int = 0, limit: int | None = None, session: str | None = None
    ) -> Iterator[JournalEntry]:
        """The entries with ids above ``since``, oldest first, at most ``limit`` of them; with
        ``session``, only the entries that came in that session.

        Which entries is decided now (references only); each is decoded as it is consumed, so
        a reader never holds more than the entry it is writing out.
        """
        self._pack()
        packed = self._packed
        start = 0
        if packed and since > 0:
            start = max(0, since + 1 - _PACKED.unpack_from(packed[0])[0])
        pairs: Iterator[tuple[bytes, tuple[Any, ...]]]
        pairs = islice(zip(packed, self._answers, strict=True), start, None)
        if session is not None:  # read from the answer tuple: nothing is decoded to filter
            pairs = (pair for pair in pairs if pair[1][_SESSION_FIELD] == session)
        chosen = list(islice(pairs, limit))
        return (_unpack(entry, answer) for entry, answer in chosen)

    def clear(self) -> None:
        """Forget every entry; ids keep counting up, so an old id never names a new request."""
        self._pending.clear()
        self._packed.clear()
        self._answers.clear()
        self._shared.clear()
        self._bytes = 0
        self.total = 0

    def __len__(self) -> int:
        self._pack()
        return len(self._packed)

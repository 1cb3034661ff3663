"""The journal: the last requests the mock received and how it answered, packed in memory.

The hot path only queues references (``Journal.record``); entries are packed in batches and
decoded only when read (``Journal.entries``, ``JournalEntry.to_json``). Memory is bounded three
ways: at most ``maxlen`` entries, each body, header block and answer cut to ``max_body`` bytes
(headers to at least ``MIN_HEADER_BYTES``), and at most ``max_bytes`` in all, oldest dropped
first.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Any

from .config import DEFAULT_JOURNAL_BODY_BYTES, DEFAULT_JOURNAL_BYTES, DEFAULT_JOURNAL_SIZE
from .journal_entry import JournalEntry, StubRef
from .journal_packing import (
    ANSWER_FIELDS,
    ENDPOINT_FIELD,
    MISSED_FIELD,
    SESSION_FIELD,
    SOURCE_FIELD,
    Recorded,
    entry_id_of,
    pack_entry,
    unpack_entry,
)
from .steps import Step

__all__ = ["MIN_HEADER_BYTES", "Journal", "JournalEntry", "Recorded", "StubRef"]

# A header block is cut like a body, but never below this: with journal_body_bytes=0 (no
# bodies) the headers a test looks at are still there. aiohttp takes up to 128 lines of 8 KiB.
MIN_HEADER_BYTES = 8 * 1024


# Answers are shared per session too: room for ~1,000 live sessions' few kinds of answer each.
_MAX_SHARED_ANSWERS = 4096
_PACK_EVERY = 64
_BATCHED_HEADERS = 16  # a request with more header lines (up to 128 of 8 KiB) is packed at once
# What an entry costs besides its packed bytes (the bytes object, its deque slots, its share
# of an answer tuple): counted against max_bytes so that tiny entries are bounded too.
ENTRY_OVERHEAD = 128


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
        self._pending: list[Recorded] = []
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
        stub: StubRef | None = None,
        session: str | None = None,
        missed: bool = False,
    ) -> int:
        """Add an entry (its body cut to ``max_body`` bytes); returns its id."""
        return self.add(
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
                missed,
            )
        )

    def add(self, fields: Recorded) -> int:
        """``record`` with its fields in a tuple, in its order: what the server calls for every
        request (a call with fourteen keywords costs more than the rest of this)."""
        entry_id = self._next_id
        self._next_id = entry_id + 1
        self.total += 1
        pending = self._pending
        pending.append(fields)
        # Pack now what will be cut: the batch never holds more than the cut sizes allow.
        if (
            len(pending) >= _PACK_EVERY
            or len(fields[4]) > self.max_body
            or len(fields[3]) > _BATCHED_HEADERS
            or (fields[8] is not None and len(fields[8]) > self.max_body)
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
        for fields in pending:
            entry, answer = pack_entry(entry_id, fields, max_body, max_headers)
            if len(answer) > ANSWER_FIELDS:  # header lines kept apart, at most this long
                size += max_headers
            elif answer[5] is None:  # no step: hashable, shared with the entries answered alike
                answer = shared.setdefault(answer, answer)
                if len(shared) > _MAX_SHARED_ANSWERS:
                    shared.clear()
            if len(packed) == maxlen:  # the deques drop their oldest on append: count it out
                size -= len(packed[0]) + ENTRY_OVERHEAD
                if len(answers[0]) > ANSWER_FIELDS:
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
            if len(answers.popleft()) > ANSWER_FIELDS:  # headers kept apart
                size -= odd
        return size

    def entries(self) -> list[JournalEntry]:
        return list(self.page())

    @property
    def last_id(self) -> int:
        """The id of the newest entry recorded (0 before the first)."""
        return self._next_id - 1

    def page(
        self,
        since: int = 0,
        limit: int | None = None,
        session: str | None = None,
        *,
        endpoint: str | None = None,
        source: str | None = None,
        missed: bool = False,
    ) -> Iterator[JournalEntry]:
        """The entries with ids above ``since``, oldest first, at most ``limit`` of them; with
        ``session``, only the entries that came in that session; with ``endpoint`` (``chat``,
        ``image``, or ``other`` for any other path) or ``source``, only those; with ``missed``,
        only the requests no stub matched while stubs were in force.

        Which entries is decided now, from the answer tuples (references only, nothing
        decoded); each is decoded as it is consumed, so a reader never holds more than the
        entry it is writing out.
        """
        self._pack()
        packed = self._packed
        start = 0
        if packed and since > 0:
            start = max(0, since + 1 - entry_id_of(packed[0]))
        pairs: Iterator[tuple[bytes, tuple[Any, ...]]]
        pairs = islice(zip(packed, self._answers, strict=True), start, None)
        tests: list[tuple[int, object]] = []
        if session is not None:
            tests.append((SESSION_FIELD, session))
        if endpoint is not None:
            tests.append((ENDPOINT_FIELD, None if endpoint == "other" else endpoint))
        if source is not None:
            tests.append((SOURCE_FIELD, source))
        if missed:
            tests.append((MISSED_FIELD, True))
        for index, value in tests:
            pairs = _where(pairs, index, value)
        chosen = list(islice(pairs, limit))
        return (unpack_entry(entry, answer) for entry, answer in chosen)

    def session_counts(self, floors: Mapping[str, int]) -> Counter[str]:
        """How many entries each session named in ``floors`` has with ids above its floor,
        read from the answer tuples (nothing decoded)."""
        self._pack()
        counts: Counter[str] = Counter()
        for packed, answer in zip(self._packed, self._answers, strict=True):
            name = answer[SESSION_FIELD]
            if name in floors and entry_id_of(packed) > floors[name]:
                counts[name] += 1
        return counts

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


def _where(
    pairs: Iterator[tuple[bytes, tuple[Any, ...]]], index: int, value: object
) -> Iterator[tuple[bytes, tuple[Any, ...]]]:
    return (pair for pair in pairs if pair[1][index] == value)

"""The journal: the last requests the mock received and how it answered, packed in memory.

The hot path only queues references (``Journal.record``); entries are packed in batches and
decoded only when read (``Journal.entries``, ``JournalEntry.to_json``).
"""

from __future__ import annotations

import base64
import struct
from collections import deque
from dataclasses import dataclass
from itertools import chain
from typing import Any

from .config import DEFAULT_JOURNAL_BODY_BYTES, DEFAULT_JOURNAL_SIZE
from .jsonbody import parse_json_strictly
from .steps import Step

__all__ = ["Journal", "JournalEntry"]


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
    stub: str | None = None  # the id of the stub that answered

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
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "headers": self.headers,
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
                "source": self.source,
                "step": None if self.step is None else self.step.to_json(),
                "stub": self.stub,
            },
        }


# A journal entry packed: id, time, then the sizes of the path, the header block, the body
# (before it was cut) and the answer's body, followed by those bytes (the answer's last).
_PACKED = struct.Struct("<qdIIII")
_ODD_HEADERS = 0xFFFFFFFF  # header size meaning "kept apart": a name or value holds CRLF
_NO_ANSWER = 0xFFFFFFFF  # answer size meaning "no body was sent" (None)
_MAX_SHARED_ANSWERS = 256
_PACK_EVERY = 64


class Journal:
    """The last ``maxlen`` requests, oldest first; older ones are dropped and counted.

    Under load a full journal drops an entry per request, and what it frees has gone cold in
    the CPU caches by then (ten thousand requests later); the fifteen or so objects a request
    leaves behind (header tuples, body, path, time...) made that the larger part of the
    journal's cost (issue 7). So ``record`` only queues the request's pieces, and every
    ``_PACK_EVERY`` requests (or when read) they are packed, in one loop that stays in the
    caches, into one bytes object per entry (id, time, path, header block, body, the answer's
    body) and a tuple saying how it was answered, which entries answered alike share (the
    answer's body is packed so that they do). ``entries()`` unpacks them into ``JournalEntry``
    objects; nothing is decoded or parsed before that.
    """

    __slots__ = ("_answers", "_next_id", "_packed", "_pending", "_shared", "max_body", "total")

    def __init__(
        self, maxlen: int = DEFAULT_JOURNAL_SIZE, max_body: int = DEFAULT_JOURNAL_BODY_BYTES
    ) -> None:
        self._packed: deque[bytes] = deque(maxlen=maxlen)
        self._answers: deque[tuple[Any, ...]] = deque(maxlen=maxlen)
        self._pending: list[tuple[Any, ...]] = []
        self._shared: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._next_id = 1
        self.max_body = max_body
        self.total = 0  # recorded since the last clear, dropped ones included

    @property
    def maxlen(self) -> int:
        maxlen = self._packed.maxlen
        assert maxlen is not None
        return maxlen

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
            )
        )
        if len(pending) >= _PACK_EVERY:
            self._pack()
        return entry_id

    def _pack(self) -> None:
        pending = self._pending
        if not pending:
            return
        max_body, shared = self.max_body, self._shared
        packed, answers = self._packed, self._answers
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
        ) in pending:
            target = path.encode("utf-8", "surrogatepass")
            block = b"\r\n".join(chain.from_iterable(raw_headers))
            block_size = len(block)
            answer: tuple[Any, ...] = (method, endpoint, status, response_type, source, step, stub)
            if raw_headers and block.count(b"\r\n") != 2 * len(raw_headers) - 1:
                block, block_size, answer = b"", _ODD_HEADERS, (*answer, raw_headers)
            elif (
                step is None and stub is None
            ):  # hashable: share the answer with the entries answered alike
                answer = shared.setdefault(answer, answer)
                if len(shared) > _MAX_SHARED_ANSWERS:
                    shared.clear()
            if response_body is None:
                response_body, response_size = b"", _NO_ANSWER
            else:
                response_size = len(response_body)
            head = _PACKED.pack(entry_id, when, len(target), block_size, len(body), response_size)
            packed.append(b"".join((head, target, block, body[:max_body], response_body)))
            answers.append(answer)
            entry_id += 1
        pending.clear()

    def entries(self) -> list[JournalEntry]:
        self._pack()
        out = []
        for packed, answer in zip(self._packed, self._answers, strict=True):
            entry_id, time, path_size, block_size, size, response_size = _PACKED.unpack_from(packed)
            start = _PACKED.size + path_size
            path = packed[_PACKED.size : start].decode("utf-8", "surrogatepass")
            if block_size == _ODD_HEADERS:
                raw_headers = answer[7]
                block_size = 0
            else:
                fields = packed[start : start + block_size].split(b"\r\n") if block_size else []
                raw_headers = tuple(zip(fields[0::2], fields[1::2], strict=True))
            end = len(packed)
            response_body: bytes | None = None
            if response_size != _NO_ANSWER:
                end -= response_size
                response_body = packed[end:]
            body = packed[start + block_size : end]
            method, endpoint, status, response_type, source, step, stub = answer[:7]
            out.append(
                JournalEntry(
                    entry_id,
                    time,
                    method,
                    path,
                    raw_headers,
                    body,
                    size,
                    endpoint,
                    status,
                    response_type,
                    response_body,
                    source,
                    step,
                    stub,
                )
            )
        return out

    def clear(self) -> None:
        """Forget every entry; ids keep counting up, so an old id never names a new request."""
        self._pending.clear()
        self._packed.clear()
        self._answers.clear()
        self._shared.clear()
        self.total = 0

    def __len__(self) -> int:
        self._pack()
        return len(self._packed)

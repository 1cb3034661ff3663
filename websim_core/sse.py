"""Server-sent events: an incremental decoder (WHATWG rules) and the framing the server uses.

Contract: ``feed(bytes)`` returns the events completed by those bytes, whatever the chunking
(a split inside a UTF-8 character or between CR and LF changes nothing); bytes that are not
UTF-8 raise ``ResponseFormatError``. An event cut off by the end of the stream is dropped.
"""

from __future__ import annotations

import codecs
import json
from typing import NamedTuple

from .errors import ResponseFormatError

__all__ = [
    "DONE",
    "DONE_EVENT",
    "SSEDecoder",
    "ServerSentEvent",
    "encode_delta",
    "encode_event",
    "parse_delta",
]

DONE = "[DONE]"
DONE_EVENT = b"data: [DONE]\n\n"


class ServerSentEvent(NamedTuple):
    """One dispatched event (a NamedTuple: immutable, and cheaper to make than a dataclass)."""

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    """Bytes in, events out; keeps the partial line and the event being built between feeds."""

    __slots__ = ("_data", "_event", "_last_id", "_retry", "_skip_lf", "_started", "_tail", "_utf8")

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self._tail = ""
        self._skip_lf = False  # the last chunk ended in CR: a leading LF belongs to it
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._last_id = ""
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        try:
            text = self._utf8.decode(chunk)
        except UnicodeDecodeError as exc:
            raise ResponseFormatError(f"event stream is not UTF-8 ({exc.reason})", chunk) from None
        return self._lines(text)

    def close(self) -> list[ServerSentEvent]:
        """End of stream: check the UTF-8 is complete; a half-built event is dropped."""
        try:
            self._utf8.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise ResponseFormatError(
                f"event stream ends inside a character ({exc.reason})"
            ) from None
        self._tail = ""
        self._data = []
        self._event = ""
        return []

    def _lines(self, text: str) -> list[ServerSentEvent]:
        if not text:
            return []
        if not self._started:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf and text[:1] == "\n":
            text = text[1:]
        if "\r" in text:
            self._skip_lf = text.endswith("\r")
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        else:
            self._skip_lf = False
        lines = (self._tail + text).split("\n")
        self._tail = lines.pop()
        events: list[ServerSentEvent] = []
        for line in lines:
            if line[:6] == "data: ":  # nearly every line of a real stream
                self._data.append(line[6:])
                continue
            if not line:
                if self._data:
                    events.append(
                        ServerSentEvent(
                            "\n".join(self._data),
                            self._event or "message",
                            self._last_id,
                            self._retry,
                        )
                    )
                self._data = []
                self._event = ""
                continue
            if line[0] == ":":
                continue
            name, colon, value = line.partition(":")
            if colon and value[:1] == " ":
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            elif name == "id":
                if "\0" not in value:
                    self._last_id = value
            elif name == "retry" and value.isascii() and value.isdigit():
                self._retry = int(value)
        return events


def parse_delta(data: str) -> str | None:
    """The text of one stream event: ``{"content": ...}`` gives the delta, ``[DONE]`` None."""
    if data == DONE:
        return None
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):
        raise ResponseFormatError(f"stream event is not JSON: {data[:80]!r}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("content"), str):
        raise ResponseFormatError(f"stream event has no string 'content': {data[:80]!r}")
    content: str = payload["content"]
    return content


def encode_event(data: str) -> bytes:
    """One event: a ``data:`` line per line of ``data``, then the blank line."""
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return ("".join(f"data: {line}\n" for line in lines) + "\n").encode("utf-8")


def encode_delta(text: str) -> bytes:
    """The event carrying one chunk of a streamed chat answer."""
    return encode_event(json.dumps({"content": text}, ensure_ascii=False))

"""Server-sent events: an incremental decoder (WHATWG rules) and the framing the server uses.

Contract: ``feed(bytes)`` returns the events completed by those bytes, whatever the chunking
(a split inside a UTF-8 character or between CR and LF changes nothing); bytes that are not
UTF-8 raise ``ResponseFormatError``. An event cut off by the end of the stream is dropped.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from typing import NamedTuple

from .errors import InvalidRequestError, ResponseFormatError

__all__ = [
    "DEFAULT_MAX_LINE_LENGTH",
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
# The longest line a decoder accepts by default, in characters. A streamed chat answer has one
# small event per delta; even a server that sends the whole answer as one event (a long
# completion is well under 1 MB of JSON) stays far below this, and a held line of 8 Mi
# characters costs at most 32 MiB (4 bytes a character) while it waits for its end.
DEFAULT_MAX_LINE_LENGTH = 8 * 1024 * 1024
_MERGE_EVERY = 256


class ServerSentEvent(NamedTuple):
    """One dispatched event (a NamedTuple: immutable, and cheaper to make than a dataclass)."""

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    """Bytes in, events out; keeps the partial line and the event being built between feeds.

    No line may be longer than ``max_line_length`` characters (default
    ``DEFAULT_MAX_LINE_LENGTH``): past it ``feed`` raises ``ResponseFormatError`` naming the
    limit, whatever the chunking, so a line that never ends cannot take all the memory. A
    decoder that raised is done; make a new one for another stream.
    """

    __slots__ = (
        "_data",
        "_event",
        "_held",
        "_held_len",
        "_last_id",
        "_max_line",
        "_merged",
        "_retry",
        "_skip_lf",
        "_started",
        "_utf8",
    )

    def __init__(self, *, max_line_length: int = DEFAULT_MAX_LINE_LENGTH) -> None:
        if isinstance(max_line_length, bool) or not isinstance(max_line_length, int):
            raise InvalidRequestError("max_line_length", "must be an int")
        if max_line_length < 1:
            raise InvalidRequestError(
                "max_line_length", f"must be at least 1, not {max_line_length}"
            )
        self._max_line = max_line_length
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        # The line not ended yet, in pieces: joining it on every feed made a long line cost
        # quadratic time. Recent pieces are merged 256 at a time into ``_merged``, so a line
        # fed a byte at a time does not cost an object per byte either; every character is
        # copied at most twice before the line ends.
        self._held: list[str] = []
        self._merged: list[str] = []
        self._held_len = 0
        self._skip_lf = False  # the last chunk ended in CR: a leading LF belongs to it
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._last_id = ""
        self._retry: int | None = None

    @property
    def max_line_length(self) -> int:
        """The longest line accepted, in characters (the CR/LF not counted)."""
        return self._max_line

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
        self._take()
        self._data = []
        self._event = ""
        return []

    def _hold(self, text: str) -> None:
        """Keep the start of a line whose end has not come yet."""
        self._held_len += len(text)
        if self._held_len > self._max_line:
            raise self._too_long()
        held = self._held
        held.append(text)
        if len(held) >= _MERGE_EVERY:
            self._merged.append("".join(held))
            held.clear()

    def _take(self) -> str:
        """The held start of the line, as one string; nothing is held afterwards."""
        text = "".join(self._merged) + "".join(self._held) if self._merged else "".join(self._held)
        self._merged = []
        self._held = []
        self._held_len = 0
        return text

    def _end_held(self, lines: list[str], size: int) -> None:
        """Off the fast path: join a held line to its end, and check the lines are not too long."""
        if not lines:
            return
        if self._held_len:
            first = lines[0] = self._take() + lines[0]
            if len(first) > self._max_line:
                raise self._too_long()
        if size > self._max_line and any(len(line) > self._max_line for line in lines):
            raise self._too_long()

    def _too_long(self) -> ResponseFormatError:
        return ResponseFormatError(
            f"event stream has a line longer than max_line_length ({self._max_line} characters)"
        )

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
        # Only this chunk is searched and split: a held line is joined once, when it ends.
        lines = text.split("\n")
        tail = lines.pop()
        if self._held_len or len(text) > self._max_line:
            self._end_held(lines, len(text))
        if tail:
            self._hold(tail)
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


# json.dumps(text, ensure_ascii=False) without the encoder's set-up (the C escaper it calls).
_json_utf8: Callable[[str], str] = json.encoder.encode_basestring


def encode_delta(text: str) -> bytes:
    """The event carrying one chunk of a streamed chat answer."""
    # encode_event(json.dumps({"content": text}, ensure_ascii=False)): JSON escapes CR and LF, so
    # the data is one line. A mock stream is a dozen of these per answer.
    return f'data: {{"content": {_json_utf8(text)}}}\n\n'.encode()

"""Bytes on the wire, with no I/O: accept the header names real clients send, decode bodies.

aiohttp (both its C and pure-Python parsers) answers 400 to a header name that is not an RFC 9110
token, but gpt4free's provider sends ``websim-flags;: `` and the live service accepts it. Before
the bytes reach aiohttp, ``HeaderFixer`` percent-encodes the offending bytes of such names
(``websim-flags;`` becomes ``websim-flags%3B``, a valid token), and leaves everything else as is.

Contract: ``feed(bytes)`` returns the bytes to hand to the parser, whatever the chunking; it
follows request framing (Content-Length) to know where each header block starts. A request
with Transfer-Encoding or Upgrade, or anything it cannot frame, switches it to pass-through for
the rest of the connection, so it can only ever be less strict than aiohttp, never break it.
One exception: bytes that cannot begin an HTTP request (a TLS ClientHello, an SSH or SMTP
banner) are not held until a blank line that never comes: ``feed`` returns nothing and
``refused`` names the problem, for the caller to answer 400 and close.
"""

from __future__ import annotations

import re
import zlib
from itertools import pairwise

from ..core.errors import RequestRefused

__all__ = [
    "MAX_HEAD_BYTES",
    "HeaderFixer",
    "decode_body",
    "fix_header_names",
    "not_a_request",
]

MAX_HEAD_BYTES = 64 * 1024
_TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NOT_TOKEN_RE = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
# A line whose name (the part before the first colon) holds a byte that is not a token byte.
_SUSPECT_RE = re.compile(rb"\n[^:\r\n]*[^!#$%&'*+\-.^_`|~0-9A-Za-z:\r\n]")
_FRAMING_RE = re.compile(
    rb"\n(content-length|transfer-encoding|upgrade)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE
)
# The common head in one pass (the fast path of HeaderFixer.feed): a request line, header lines
# whose names are tokens (none of them Transfer-Encoding or Upgrade), at most one Content-Length
# with a plain number (group 1), CRLF line ends, and the blank line. Whatever it matches, the
# general path would pass through unchanged and frame the same way; anything else takes it.
_OTHER_LINE = (
    rb"(?!(?:content-length|transfer-encoding|upgrade):)[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n]*\r\n"
)
_SIMPLE_HEAD_RE = re.compile(
    rb"(?!connect )[^\r\n]+\r\n(?:%s)*(?:content-length:[ \t]*([0-9]{1,18})[ \t]*\r\n(?:%s)*)?\r\n"
    % (_OTHER_LINE, _OTHER_LINE),
    re.IGNORECASE,
)


_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_TARGET = rb"[^\x00-\x20\x7f]"
# A whole request line, and any beginning of one (what an incomplete head may start with).
_REQUEST_LINE_RE = re.compile(rb"%s+ %s+ HTTP/[0-9]\.[0-9]\r?\n" % (_TOKEN, _TARGET))
_REQUEST_LINE_START_RE = re.compile(
    rb"%s*(?: %s*(?: (?:H(?:T(?:T(?:P(?:/(?:[0-9](?:\.(?:[0-9]\r?)?)?)?)?)?)?)?)?)?)?"
    % (_TOKEN, _TARGET)
)
_MAX_REQUEST_LINE = 8190  # aiohttp's limit: past it, it answers 431 itself


def not_a_request(data: bytes) -> str | None:
    """Why the start of a header block cannot be an HTTP request, or None if it may be one."""
    line = data.lstrip(b"\r\n")
    eol = line.find(b"\n", 0, _MAX_REQUEST_LINE + 2)
    if eol >= 0:
        if _REQUEST_LINE_RE.fullmatch(line, 0, eol + 1):
            return None
    elif len(line) > _MAX_REQUEST_LINE or _REQUEST_LINE_START_RE.fullmatch(line):
        return None
    if line[:1] == b"\x16":
        return "the bytes look like TLS: this server speaks plain HTTP (use http://, not https://)"
    return (
        "the bytes are not an HTTP/1.1 request"
        f" (a request line is 'METHOD /path HTTP/1.1', not {line[:40]!r})"
    )


def _escape(match: re.Match[bytes]) -> bytes:
    return b"%%%02X" % match[0][0]


def fix_header_names(head: bytes) -> bytes:
    """A header block with every non-token byte of a header name percent-encoded.

    The request line, folded lines and lines without a colon are left alone (aiohttp judges
    those). Returns ``head`` itself when nothing needed fixing.
    """
    if _SUSPECT_RE.search(head) is None:
        return head
    lines = head.split(b"\r\n")
    start = 0
    while start < len(lines) and not lines[start]:
        start += 1  # empty lines before the request line
    changed = False
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line or line[:1] in (b" ", b"\t"):
            continue
        colon = line.find(b":")
        if colon <= 0 or _TOKEN_RE.fullmatch(line, 0, colon):
            continue
        lines[i] = _NOT_TOKEN_RE.sub(_escape, line[:colon]) + line[colon:]
        changed = True
    return b"\r\n".join(lines) if changed else head


def _body_length(head: bytes) -> int | None:
    """Bytes of body after this header block, or None when it cannot be framed simply."""
    start = head if head[:1] != b"\r" else head.lstrip(b"\r\n")
    if start[:8].upper() == b"CONNECT ":
        return None
    length: bytes | None = None
    for name, value in _FRAMING_RE.findall(head):
        if name.lower() != b"content-length":
            return None  # chunked, or an upgrade: leave the rest of the connection alone
        value = value.strip()
        if not value.isdigit() or len(value) > 18 or (length is not None and value != length):
            return None
        length = value
    return 0 if length is None else int(length)


def _head_end(data: bytes) -> int:
    """Where the header block ends (after its blank line): > 0, 0 if not yet, -1 if unframeable.

    The block ends at the first blank line; only a CRLF CRLF ending is handled, a bare-LF one
    (or a block longer than MAX_HEAD_BYTES) is left to aiohttp. Decided on the first blank line
    seen, so the answer does not depend on how the bytes were chunked.
    """
    bare = data.find(b"\n\n")
    crlf = data.find(b"\n\r\n")
    if crlf < 0 and bare < 0:
        return 0
    if crlf < 0 or (0 <= bare < crlf) or crlf == 0 or data[crlf - 1 : crlf] != b"\r":
        return -1
    end = crlf + 3
    return end if end <= MAX_HEAD_BYTES else -1


def _same_lines(data: bytes, lines: bytes) -> int:
    """The size of ``data``'s head if it is a simple request line followed by ``lines`` (a head
    seen before, from its first CRLF on): what ``_SIMPLE_HEAD_RE`` would say of it; else -1."""
    end = data.find(b"\r")  # the request line holds no CR or LF
    if end <= 0 or not lines or not data.startswith(lines, end) or data.find(b"\n", 0, end) >= 0:
        return -1
    if data[0] in b"cC" and data[:8].lower() == b"connect ":
        return -1
    size = end + len(lines)
    return size if size <= MAX_HEAD_BYTES else -1


class HeaderFixer:
    """Per connection: bytes from the socket in, bytes for aiohttp's parser out."""

    __slots__ = ("_body_left", "_buffer", "_passthrough", "_simple", "pieces", "refused")

    def __init__(self) -> None:
        self._buffer = b""  # an incomplete header block
        self._body_left = 0  # body bytes of the current request still to pass through
        self._passthrough = False
        # The last simple head seen, its body length, and where its header lines start.
        self._simple = (b"", 0, b"")
        self.refused: str | None = None  # why the bytes are not HTTP; nothing passes after
        # Set when what ``feed`` returned holds more than one request's bytes: the same bytes
        # cut where each request begins, to hand to the parser one at a time (its C parser
        # drops every request of a read that ends in a malformed one). The reader clears it.
        self.pieces: list[bytes] | None = None

    @property
    def passthrough(self) -> bool:
        return self._passthrough

    @property
    def reading(self) -> bool:
        """Whether a request has begun and not all of it arrived (framed requests only)."""
        return bool(self._buffer or self._body_left) and not self._passthrough

    def feed(self, data: bytes) -> bytes:
        if self._passthrough:
            return data if self.refused is None else b""
        if not self._buffer and not self._body_left:
            # Fast path: the chunk starts with a simple head and ends within its body (a client
            # sending one request at a time). A client repeats its head (fresh IDs keep the
            # length), so the last one is compared first, then its header lines under another
            # request line (a client going through sessions, /sessions/{name}/...); then one
            # regex; else the general loop.
            head, length, lines = self._simple
            if head and data.startswith(head):
                size = len(head)
            else:
                size = _same_lines(data, lines)
                if size < 0:
                    simple = _SIMPLE_HEAD_RE.match(data)
                    if simple is None or simple.end() > MAX_HEAD_BYTES:
                        return self._feed(data)
                    size, length = simple.end(), int(simple[1] or 0)
                    self._simple = (data[:size], length, data[data.index(b"\r\n") : size])
            left = length - (len(data) - size)
            if left >= 0:
                self._body_left = left
                return data
        return self._feed(data)

    def _feed(self, data: bytes) -> bytes:
        """The general path: any chunking, pipelined requests, names to fix."""
        original = data
        changed = bool(self._buffer)
        if self._buffer:
            data, self._buffer = self._buffer + data, b""
        out: list[bytes] = []
        starts: list[int] = []  # where in out each request begins
        while data:
            if self._body_left:
                if len(data) <= self._body_left:
                    self._body_left -= len(data)
                    out.append(data)
                    break
                out.append(data[: self._body_left])
                data = data[self._body_left :]
                self._body_left = 0
                continue
            end = _head_end(data)
            if end == 0:  # incomplete: wait for more, unless it is already too long
                self.refused = not_a_request(data)
                if self.refused is not None:
                    self._passthrough, self._buffer = True, b""
                    self._cut(out, starts)
                    return b"".join(out)  # what came before it, whole requests
                if len(data) > MAX_HEAD_BYTES:
                    self._passthrough = True
                    starts.append(len(out))
                    out.append(data)
                else:
                    self._buffer = data
                    changed = True
                break
            if end < 0:
                self._passthrough = True  # not a head we can frame: aiohttp decides
                starts.append(len(out))
                out.append(data)
                break
            head = data[:end]
            fixed = fix_header_names(head)
            changed = changed or fixed is not head
            starts.append(len(out))
            out.append(fixed)
            data = data[end:]
            length = _body_length(fixed)
            if length is None:
                self._passthrough = True
                out.append(data)
                break
            self._body_left = length
        self._cut(out, starts)
        return b"".join(out) if changed else original

    def _cut(self, out: list[bytes], starts: list[int]) -> None:
        """Set ``pieces`` if ``out`` holds bytes of more than one request."""
        if len(starts) > 1 or (starts and starts[0] > 0):
            bounds = [0, *(start for start in starts if start > 0), len(out)]
            self.pieces = [b"".join(out[a:b]) for a, b in pairwise(bounds)]

    def flush(self) -> bytes:
        """At end of stream: whatever is still held back, unchanged."""
        data, self._buffer = self._buffer, b""
        return data


# --- request bodies -------------------------------------------------------------------------------
# aiohttp's own request decompression is turned off for the mock (see web.app.build_app): its
# failures surface outside the handlers, as plain-text 400s or a hang on a truncated gzip body.
# Decoding here makes every bad body a JSON 4xx from the handler instead.


def _inflate(body: bytes, wbits: int, limit: int, coding: str) -> bytes:
    decoder = zlib.decompressobj(wbits)
    try:
        out = decoder.decompress(body, limit + 1)
    except zlib.error as exc:
        raise RequestRefused("body", f"is not valid {coding} data ({exc})") from None
    if len(out) > limit:
        raise RequestRefused("body", f"is larger than {limit} bytes once decompressed", 413)
    if not decoder.eof:
        raise RequestRefused("body", f"is truncated {coding} data")
    return out


def decode_body(body: bytes, content_encoding: str, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate, identity, in any order), at most ``limit`` bytes."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):  # the last coding applied is listed last
        if coding == "identity":
            continue
        if coding in ("gzip", "x-gzip"):
            body = _inflate(body, 16 + zlib.MAX_WBITS, limit, coding)
        elif coding == "deflate":
            # RFC 9110 deflate is zlib-wrapped; some clients send a raw stream.
            wbits = zlib.MAX_WBITS if body[:1] and (body[0] & 0x0F) == 8 else -zlib.MAX_WBITS
            body = _inflate(body, wbits, limit, coding)
        else:
            raise RequestRefused(
                "content-encoding", f"{coding[:40]!r} is not supported (gzip, deflate)", 415
            )
    return body
